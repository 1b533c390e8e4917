// URLPattern (the WHATWG URL Pattern standard) over the `urlpattern` ops.
// The object keeps the JSON of its constructor's arguments, which `exec`
// hands back to the op to compile the pattern again: nothing native is
// held, so a URLPattern lives in a session heap like any object.

const PATTERN_PARTS = ['protocol', 'username', 'password', 'hostname', 'port', 'pathname', 'search', 'hash'];

// A string stays a string; a dictionary keeps only its known string members.
function patternInput(input) {
  if (typeof input === 'string') return input;
  if (input === undefined || input === null) return {};
  if (typeof input !== 'object') return String(input);
  const init = {};
  for (const key of [...PATTERN_PARTS, 'baseURL']) {
    if (input[key] !== undefined) init[key] = String(input[key]);
  }
  return init;
}

// `null` groups (did not take part) become `undefined`, as in browsers.
function patternResult(json) {
  const result = JSON.parse(json);
  for (const part of PATTERN_PARTS) {
    const groups = result[part].groups;
    for (const key of Object.keys(groups)) if (groups[key] === null) groups[key] = undefined;
  }
  return result;
}

class URLPattern {
  #source; #parts;
  constructor(input = {}, baseURL = undefined, options = undefined) {
    if (baseURL !== null && typeof baseURL === 'object') { options = baseURL; baseURL = undefined; }
    const base = baseURL === undefined ? null : String(baseURL);
    const source = JSON.stringify({ input: patternInput(input), base, ignore_case: !!options?.ignoreCase });
    this.#parts = JSON.parse(ops.urlPatternParse(source));
    this.#source = source;
  }
  get protocol() { return this.#parts.protocol; }
  get username() { return this.#parts.username; }
  get password() { return this.#parts.password; }
  get hostname() { return this.#parts.hostname; }
  get port() { return this.#parts.port; }
  get pathname() { return this.#parts.pathname; }
  get search() { return this.#parts.search; }
  get hash() { return this.#parts.hash; }
  get hasRegExpGroups() { return this.#parts.has_regexp_groups; }
  test(input = {}, baseURL = undefined) { return this.exec(input, baseURL) !== null; }
  exec(input = {}, baseURL = undefined) {
    const base = baseURL === undefined ? null : String(baseURL);
    const out = ops.urlPatternExec(this.#source, JSON.stringify({ input: patternInput(input), base }));
    return out === undefined ? null : patternResult(out);
  }
}
brand(URLPattern);
expose('URLPattern', URLPattern);
