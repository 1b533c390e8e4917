// Headers and Response (Fetch Standard), and what `fetch(url)` needs to
// turn a host call's answer into a Response (`fetchReply`): the http chunk.
// Request and the full path of fetch are the request chunk's
// (request.js), which a plain `fetch(url)` does not load.

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
let headersGuard; // (headers, guard) sets 'none' | 'immutable'
let headersList;
// (list) -> immutable Headers over a network response's `[[name, value],
// ...]`, taken as it is: the supervisor's names are lower-case and hyper
// has already checked names and values.
let networkHeaders;

// No regular expressions on this path: each would be compiled anew in
// every isolate that makes a Headers (tokens are checked natively).
const isHttpSpace = (c) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
function normalizeValue(v) {
  v = String(v);
  let from = 0;
  let to = v.length;
  while (from < to && isHttpSpace(v.charCodeAt(from))) from++;
  while (to > from && isHttpSpace(v.charCodeAt(to - 1))) to--;
  return from === 0 && to === v.length ? v : v.slice(from, to);
}
function checkHeader(name, value) {
  if (!ops.httpToken(name)) throw new TypeError(`Header name "${name}" is not a valid HTTP token`);
  if (value.includes('\0') || value.includes('\r') || value.includes('\n')) {
    throw new TypeError(`Header value for "${name}" contains a forbidden character`);
  }
}
// A reason phrase: HTAB, SP, VCHAR or obs-text (RFC 9112, 4).
function isReasonPhrase(t) {
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c !== 0x09 && (c < 0x20 || c === 0x7f || c > 0xff)) return false;
  }
  return true;
}

class Headers {
  #list = []; // [[lower-case name, value], ...] in insertion order
  #guard = 'none';
  constructor(init = undefined) {
    if (init === undefined || init === null) return;
    if (typeof init !== 'object' && typeof init !== 'function') {
      throw new TypeError("Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'");
    }
    if (init instanceof Headers) {
      for (const [n, v] of init.#list) this.#list.push([n, v]);
    } else if (typeof init[Symbol.iterator] === 'function') {
      for (const pair of init) {
        const p = [...pair];
        if (p.length !== 2) throw new TypeError("Failed to construct 'Headers': a header init pair must have two items");
        this.append(p[0], p[1]);
      }
    } else {
      for (const key of Reflect.ownKeys(init)) {
        const desc = Reflect.getOwnPropertyDescriptor(init, key);
        if (typeof key === 'string' && desc?.enumerable) this.append(key, init[key]);
      }
    }
  }
  #mutable() {
    if (this.#guard === 'immutable') throw new TypeError('Headers are immutable');
  }
  append(name, value) {
    requireArgs(arguments.length, 2, "Failed to execute 'append' on 'Headers'");
    name = String(name);
    value = normalizeValue(value);
    checkHeader(name, value);
    this.#mutable();
    this.#list.push([name.toLowerCase(), value]);
  }
  delete(name) {
    requireArgs(arguments.length, 1, "Failed to execute 'delete' on 'Headers'");
    name = String(name);
    checkHeader(name, '');
    this.#mutable();
    const lower = name.toLowerCase();
    this.#list = this.#list.filter(([n]) => n !== lower);
  }
  get(name) {
    requireArgs(arguments.length, 1, "Failed to execute 'get' on 'Headers'");
    name = String(name);
    checkHeader(name, '');
    const lower = name.toLowerCase();
    const values = this.#list.filter(([n]) => n === lower).map(([, v]) => v);
    return values.length ? values.join(', ') : null;
  }
  getSetCookie() {
    return this.#list.filter(([n]) => n === 'set-cookie').map(([, v]) => v);
  }
  has(name) {
    requireArgs(arguments.length, 1, "Failed to execute 'has' on 'Headers'");
    name = String(name);
    checkHeader(name, '');
    const lower = name.toLowerCase();
    return this.#list.some(([n]) => n === lower);
  }
  set(name, value) {
    requireArgs(arguments.length, 2, "Failed to execute 'set' on 'Headers'");
    name = String(name);
    value = normalizeValue(value);
    checkHeader(name, value);
    this.#mutable();
    const lower = name.toLowerCase();
    const i = this.#list.findIndex(([n]) => n === lower);
    if (i < 0) this.#list.push([lower, value]);
    else {
      this.#list[i] = [lower, value];
      this.#list = this.#list.filter(([n], j) => j <= i || n !== lower);
    }
  }
  // The sorted, combined view the iterators walk (set-cookie kept apart).
  #sorted() {
    const names = [...new Set(this.#list.map(([n]) => n))].sort();
    const out = [];
    for (const n of names) {
      if (n === 'set-cookie') for (const v of this.getSetCookie()) out.push([n, v]);
      else out.push([n, this.get(n)]);
    }
    return out;
  }
  forEach(callback, thisArg = undefined) {
    if (typeof callback !== 'function') throw new TypeError("parameter 1 is not of type 'Function'");
    for (const [n, v] of this.#sorted()) callback.call(thisArg, v, n, this);
  }
  *entries() { yield* this.#sorted(); }
  *keys() { for (const [n] of this.#sorted()) yield n; }
  *values() { for (const [, v] of this.#sorted()) yield v; }
  [Symbol.iterator]() { return this.entries(); }
  static {
    headersGuard = (h, guard) => { h.#guard = guard; };
    headersList = (h) => h.#list.map(([n, v]) => [n, v]);
    networkHeaders = ((list) => {
      const h = new Headers();
      h.#list = list;
      h.#guard = 'immutable';
      return h;
    });
  }
}
brand(Headers);

let responseState;
function initResponse(s, init) {
  init = init ?? {};
  const status = init.status === undefined ? 200 : Number(init.status);
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new RangeError(`Failed to construct 'Response': The status provided (${init.status}) is outside the range [200, 599].`);
  }
  const statusText = init.statusText === undefined ? '' : String(init.statusText);
  if (!isReasonPhrase(statusText)) throw new TypeError("Failed to construct 'Response': Invalid statusText");
  s.status = status;
  s.statusText = statusText;
  if (init.headers !== undefined) s.headers = new Headers(init.headers);
}

class Response {
  #s;
  constructor(body = null, init = undefined) {
    const s = { type: 'default', url: '', redirected: false, status: 200, statusText: '', headers: new Headers(), body: null };
    initResponse(s, init);
    if (body !== null && body !== undefined) {
      if (NULL_BODY_STATUS.has(s.status)) throw new TypeError(`Failed to construct 'Response': Response with null body status cannot have body`);
      const extracted = extractBody(body);
      if (extracted.type && !s.headers.has('content-type')) s.headers.append('content-type', extracted.type);
      s.body = newBody(extracted);
    }
    this.#s = s;
  }
  static error() {
    const r = new Response();
    Object.assign(r.#s, { type: 'error', status: 0 });
    headersGuard(r.#s.headers, 'immutable');
    return r;
  }
  static redirect(url, status = 302) {
    const parsed = ops.urlParse(toUSV(url), undefined);
    if (parsed === undefined) throw new TypeError(`Failed to execute 'redirect' on 'Response': Invalid URL ${url}`);
    status = Number(status);
    if (!REDIRECT_STATUS.has(status)) throw new RangeError(`Failed to execute 'redirect' on 'Response': Invalid status code ${status}`);
    const r = new Response(null, { status });
    r.#s.headers.set('location', parsed[HREF]);
    headersGuard(r.#s.headers, 'immutable');
    return r;
  }
  static json(data, init = undefined) {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError("Failed to execute 'json' on 'Response': The data is not JSON serializable");
    const r = new Response(text, init);
    if (!(init?.headers && new Headers(init.headers).has('content-type'))) r.#s.headers.set('content-type', 'application/json');
    return r;
  }
  get type() { return this.#s.type; }
  get url() { return this.#s.url; }
  get redirected() { return this.#s.redirected; }
  get status() { return this.#s.status; }
  get ok() { return this.#s.status >= 200 && this.#s.status <= 299; }
  get statusText() { return this.#s.statusText; }
  get headers() { return this.#s.headers; }
  clone() {
    const s = this.#s;
    const copy = new Response(null, { status: s.status === 0 ? 200 : s.status, statusText: s.statusText, headers: s.headers });
    Object.assign(copy.#s, { type: s.type, url: s.url, redirected: s.redirected, status: s.status, body: cloneBody(s.body) });
    return copy;
  }
  get body() { return bodyStream(this.#s.body); }
  get bodyUsed() { return bodyUsed(this.#s.body); }
  arrayBuffer() { return bodyArrayBuffer(this.#s); }
  bytes() { return bodyBytes(this.#s); }
  text() { return bodyText(this.#s); }
  json() { return bodyJson(this.#s); }
  blob() { return bodyBlob(this.#s); }
  formData() { return bodyFormData(this.#s); }
  static { responseState = (r) => r.#s; }
}
brand(Response);

// The Response of a host call's answer, `[status, statusText, headers,
// url, redirected, body]` (fetch.rs): `headers` a list of [name, value],
// `body` a Uint8Array. This and `fetchReply` run only once a supervisor
// answered, which the code cache's exercise has none of: parenthesised,
// as is `networkHeaders`, V8 compiles them with the chunk and the cache
// keeps their bytecode (compiled from source in every fetch, they cost
// 0.19 M instructions).
const responseFromRaw = ((raw) => {
  const status = raw[0];
  const r = new Response(null, { status: status < 200 ? 200 : status, statusText: raw[1] });
  const s = responseState(r);
  Object.assign(s, { type: 'basic', url: raw[3], redirected: raw[4], status, headers: networkHeaders(raw[2]) });
  if (!NULL_BODY_STATUS.has(status)) s.body = newBody({ stream: null, bytes: raw[5] });
  return r;
});

// The Response for the host call `fetch` started itself (no signal, so
// nothing aborts it): `pending` settles with the answer.
const fetchReply = (async function (pending) { return responseFromRaw(await pending); });

expose('Headers', Headers);
expose('Response', Response);
