// URL and URLSearchParams (WHATWG URL Standard; parsing, setters, IDNA
// and percent-encoding by the `url` crate). URLPattern is not provided.

let urlUpdateFromParams; // (url) after its searchParams changed
let paramsAttach; // (params, url, query) links params to a URL


class URL {
  #parts;
  #params = null;
  constructor(url, base = undefined) {
    requireArgs(arguments.length, 1, "Failed to construct 'URL'");
    const parts = ops.urlParse(toUSV(url), base === undefined ? undefined : toUSV(base));
    if (parts === undefined) {
      const err = new TypeError(`Invalid URL: ${String(url)}${base === undefined ? '' : ` (base ${String(base)})`}`);
      err.code = 'ERR_INVALID_URL';
      throw err;
    }
    this.#parts = parts;
  }
  static parse(url, base = undefined) {
    requireArgs(arguments.length, 1, "Failed to execute 'parse' on 'URL'");
    try { return new URL(url, base); } catch { return null; }
  }
  static canParse(url, base = undefined) {
    requireArgs(arguments.length, 1, "Failed to execute 'canParse' on 'URL'");
    return ops.urlParse(toUSV(url), base === undefined ? undefined : toUSV(base)) !== undefined;
  }
  #set(which, value) {
    this.#parts = ops.urlSet(this.#parts[HREF], which, toUSV(value));
    if (which === 7 && this.#params) paramsAttach(this.#params, this, this.#parts[SEARCH]);
  }
  get href() { return this.#parts[HREF]; }
  set href(value) {
    const parts = ops.urlParse(toUSV(value));
    if (parts === undefined) throw new TypeError(`Invalid URL: ${String(value)}`);
    this.#parts = parts;
    if (this.#params) paramsAttach(this.#params, this, parts[SEARCH]);
  }
  get origin() { return this.#parts[ORIGIN]; }
  get protocol() { return this.#parts[PROTOCOL]; }
  set protocol(v) { this.#set(0, v); }
  get username() { return this.#parts[USERNAME]; }
  set username(v) { this.#set(1, v); }
  get password() { return this.#parts[PASSWORD]; }
  set password(v) { this.#set(2, v); }
  get host() { return this.#parts[HOST]; }
  set host(v) { this.#set(3, v); }
  get hostname() { return this.#parts[HOSTNAME]; }
  set hostname(v) { this.#set(4, v); }
  get port() { return this.#parts[PORT]; }
  set port(v) { this.#set(5, v); }
  get pathname() { return this.#parts[PATHNAME]; }
  set pathname(v) { this.#set(6, v); }
  get search() { return this.#parts[SEARCH]; }
  set search(v) { this.#set(7, v); }
  get hash() { return this.#parts[HASH]; }
  set hash(v) { this.#set(8, v); }
  get searchParams() {
    if (!this.#params) {
      this.#params = new URLSearchParams();
      paramsAttach(this.#params, this, this.#parts[SEARCH]);
    }
    return this.#params;
  }
  toString() { return this.#parts[HREF]; }
  toJSON() { return this.#parts[HREF]; }
  static {
    urlUpdateFromParams = (url, query) => {
      // An empty query removes the `?` entirely (URL Standard).
      url.#parts = ops.urlSet(url.#parts[HREF], 7, query);
    };
  }
}
brand(URL);

class URLSearchParams {
  #list = []; // [[name, value], ...]
  #url = null;
  constructor(init = undefined) {
    if (init === undefined || init === null) return;
    if (typeof init === 'object' || typeof init === 'function') {
      if (typeof init[Symbol.iterator] === 'function') {
        for (const pair of init) {
          const p = [...pair];
          if (p.length !== 2) throw new TypeError("Failed to construct 'URLSearchParams': Sequence initializer must only contain pair elements");
          this.#list.push([toUSV(p[0]), toUSV(p[1])]);
        }
      } else {
        for (const key of Reflect.ownKeys(init)) {
          const desc = Reflect.getOwnPropertyDescriptor(init, key);
          if (typeof key === 'string' && desc?.enumerable) this.#list.push([toUSV(key), toUSV(init[key])]);
        }
      }
      return;
    }
    let s = toUSV(init);
    if (s.startsWith('?')) s = s.slice(1);
    this.#parse(s);
  }
  #parse(s) {
    const flat = ops.formParse(s);
    this.#list = [];
    for (let i = 0; i < flat.length; i += 2) this.#list.push([flat[i], flat[i + 1]]);
  }
  #update() {
    if (this.#url) urlUpdateFromParams(this.#url, this.toString());
  }
  get size() { return this.#list.length; }
  append(name, value) {
    requireArgs(arguments.length, 2, "Failed to execute 'append' on 'URLSearchParams'");
    this.#list.push([toUSV(name), toUSV(value)]);
    this.#update();
  }
  delete(name, value = undefined) {
    requireArgs(arguments.length, 1, "Failed to execute 'delete' on 'URLSearchParams'");
    name = toUSV(name);
    const v = value === undefined ? undefined : toUSV(value);
    this.#list = this.#list.filter(([n, val]) => !(n === name && (v === undefined || val === v)));
    this.#update();
  }
  get(name) {
    requireArgs(arguments.length, 1, "Failed to execute 'get' on 'URLSearchParams'");
    name = toUSV(name);
    return this.#list.find(([n]) => n === name)?.[1] ?? null;
  }
  getAll(name) {
    requireArgs(arguments.length, 1, "Failed to execute 'getAll' on 'URLSearchParams'");
    name = toUSV(name);
    return this.#list.filter(([n]) => n === name).map(([, v]) => v);
  }
  has(name, value = undefined) {
    requireArgs(arguments.length, 1, "Failed to execute 'has' on 'URLSearchParams'");
    name = toUSV(name);
    const v = value === undefined ? undefined : toUSV(value);
    return this.#list.some(([n, val]) => n === name && (v === undefined || val === v));
  }
  set(name, value) {
    requireArgs(arguments.length, 2, "Failed to execute 'set' on 'URLSearchParams'");
    name = toUSV(name);
    value = toUSV(value);
    const i = this.#list.findIndex(([n]) => n === name);
    if (i < 0) this.#list.push([name, value]);
    else {
      this.#list[i][1] = value;
      this.#list = this.#list.filter(([n], j) => j <= i || n !== name);
    }
    this.#update();
  }
  sort() {
    // Stable sort by UTF-16 code units of the names.
    this.#list = this.#list
      .map((pair, i) => [pair, i])
      .sort(([a, i], [b, j]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : i - j))
      .map(([pair]) => pair);
    this.#update();
  }
  forEach(callback, thisArg = undefined) {
    if (typeof callback !== 'function') throw new TypeError("parameter 1 is not of type 'Function'");
    for (let i = 0; i < this.#list.length; i++) {
      const [n, v] = this.#list[i];
      callback.call(thisArg, v, n, this);
    }
  }
  *entries() { for (let i = 0; i < this.#list.length; i++) yield [...this.#list[i]]; }
  *keys() { for (let i = 0; i < this.#list.length; i++) yield this.#list[i][0]; }
  *values() { for (let i = 0; i < this.#list.length; i++) yield this.#list[i][1]; }
  [Symbol.iterator]() { return this.entries(); }
  toString() { return ops.formSerialize(this.#list.flat()); }
  static {
    paramsAttach = (params, url, search) => {
      params.#url = url;
      params.#parse(search.startsWith('?') ? search.slice(1) : search);
    };
  }
}
brand(URLSearchParams);

expose('URL', URL);
expose('URLSearchParams', URLSearchParams);
