// Request (Fetch Standard) and the full path of fetch: the request chunk,
// loaded by the first `new Request` or by a fetch that has an init, a
// Request or a URL object (fetch.js). Headers, Response and the bodies are
// the http chunk's (fetch_types.js, body.js).

const METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH']);
function normalizeMethod(m) {
  m = String(m);
  if (!ops.httpToken(m)) throw new TypeError(`'${m}' is not a valid HTTP method`);
  const upper = m.toUpperCase();
  if (['CONNECT', 'TRACE', 'TRACK'].includes(upper)) throw new TypeError(`'${m}' HTTP method is unsupported`);
  return METHODS.has(upper) ? upper : m;
}

let requestState;
class Request {
  #s;
  constructor(input, init = undefined) {
    requireArgs(arguments.length, 1, "Failed to construct 'Request'");
    init = init ?? {};
    let s;
    if (input instanceof Request) {
      const from = input.#s;
      s = { ...from, headers: new Headers(from.headers), body: from.body };
      if (init.body === undefined && from.body && bodyUsed(from.body)) {
        throw new TypeError("Failed to construct 'Request': Cannot construct a Request with a Request object that has already been used.");
      }
    } else {
      const parsed = ops.urlParse(toUSV(input), undefined);
      if (parsed === undefined) throw new TypeError(`Failed to construct 'Request': Invalid URL ${String(input)}`);
      if (parsed[USERNAME] || parsed[PASSWORD]) {
        throw new TypeError("Failed to construct 'Request': Request cannot be constructed from a URL that includes credentials");
      }
      s = {
        method: 'GET', url: parsed[HREF], headers: new Headers(), body: null, redirect: 'follow',
        mode: 'cors', credentials: 'same-origin', cache: 'default', referrer: 'about:client',
        referrerPolicy: '', integrity: '', keepalive: false, signal: null, duplex: 'half',
      };
    }
    if (init.method !== undefined) s.method = normalizeMethod(init.method);
    for (const k of ['redirect', 'mode', 'credentials', 'cache', 'referrerPolicy', 'integrity']) {
      if (init[k] !== undefined) s[k] = String(init[k]);
    }
    if (init.referrer !== undefined) s.referrer = String(init.referrer) === '' ? '' : 'about:client';
    if (init.keepalive !== undefined) s.keepalive = !!init.keepalive;
    if (init.headers !== undefined) s.headers = new Headers(init.headers);
    // Without a parent signal, the request's own is made on first use
    // (`signal`), so a Request alone does not load the events chunk. (An
    // input Request without one has nothing that could abort it.)
    const parent = init.signal !== undefined ? init.signal : input instanceof Request ? requestState(input).signal : null;
    s.signal = null;
    if (parent) {
      const { AbortController, AbortSignal, addAbortAlgorithm } = need('events');
      if (!(parent instanceof AbortSignal)) throw new TypeError("Failed to construct 'Request': member signal is not of type AbortSignal.");
      const controller = new AbortController();
      if (parent.aborted) controller.abort(parent.reason);
      else addAbortAlgorithm(parent, () => controller.abort(parent.reason));
      s.signal = controller.signal;
    }
    if (init.body !== undefined && init.body !== null) {
      if (s.method === 'GET' || s.method === 'HEAD') {
        throw new TypeError("Failed to construct 'Request': Request with GET/HEAD method cannot have body.");
      }
      const extracted = extractBody(init.body);
      if (extracted.stream && init.duplex !== 'half') {
        throw new TypeError("Failed to construct 'Request': The `duplex` member must be specified for a request with a streaming body");
      }
      if (extracted.type && !s.headers.has('content-type')) s.headers.append('content-type', extracted.type);
      s.body = newBody(extracted);
    } else if (input instanceof Request && input.#s.body) {
      // The new request takes the body over; the old one becomes used.
      const old = input.#s.body;
      s.body = { stream: old.stream, bytes: old.bytes, consumed: false };
      old.consumed = true;
    }
    this.#s = s;
  }
  get method() { return this.#s.method; }
  get url() { return this.#s.url; }
  get headers() { return this.#s.headers; }
  get destination() { return ''; }
  get referrer() { return this.#s.referrer; }
  get referrerPolicy() { return this.#s.referrerPolicy; }
  get mode() { return this.#s.mode; }
  get credentials() { return this.#s.credentials; }
  get cache() { return this.#s.cache; }
  get redirect() { return this.#s.redirect; }
  get integrity() { return this.#s.integrity; }
  get keepalive() { return this.#s.keepalive; }
  get signal() {
    const s = this.#s;
    if (s.signal === null) s.signal = new (need('events').AbortController)().signal;
    return s.signal;
  }
  get duplex() { return 'half'; }
  clone() {
    const s = this.#s;
    const copy = new Request(s.url, { method: s.method, headers: s.headers, signal: s.signal, redirect: s.redirect });
    copy.#s.body = cloneBody(s.body);
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
  static { requestState = (r) => r.#s; }
}
brand(Request);

// For fetch: what a Request asks for. `body` is null or `{stream, bytes}`
// (the request body is marked used).
function requestParts(request) {
  const s = requestState(request);
  let body = null;
  if (s.body) {
    if (bodyUsed(s.body)) throw new TypeError('Request body has already been used');
    body = { stream: s.body.stream, bytes: s.body.bytes };
    s.body.consumed = true;
  }
  return {
    method: s.method, url: s.url, headers: headersList(s.headers), body, signal: s.signal,
    redirect: s.redirect, credentials: s.credentials, keepalive: s.keepalive,
  };
}

// fetch(), the full path: WHATWG semantics on Request/Response. The
// request is sent to the supervisor as a host call (ops.fetchStart); the
// supervisor applies the network policy and does the IO. An AbortSignal
// gives up on the host call (ops.fetchAbort), which makes the supervisor
// drop the connection. The `fetch` global (fetch.js) calls this for every
// fetch it does not start itself.

const NETWORK_SCHEMES = new Set(['http:', 'https:']);

async function fetchRequest(input, init = undefined) {
  requireArgs(arguments.length, 1, "Failed to execute 'fetch'");
  const request = new Request(input, init);
  const parts = requestParts(request);
  const signal = parts.signal; // null: the request has none yet, so nothing aborts it
  if (signal?.aborted) throw signal.reason;
  const scheme = parts.url.slice(0, parts.url.indexOf(':') + 1); // a serialised URL
  if (!NETWORK_SCHEMES.has(scheme)) {
    throw new TypeError(`fetch failed: the ${scheme} scheme is not supported, only http: and https:`);
  }
  const body = parts.body === null ? undefined
    : parts.body.bytes !== null ? parts.body.bytes
    : await consumeBody({ stream: parts.body.stream, bytes: null, consumed: false });
  if (signal?.aborted) throw signal.reason;
  const [id, pending] = ops.fetchStart(parts.method, parts.url, parts.headers, body, parts.redirect);
  let raw;
  if (signal === null) {
    raw = await pending;
  } else {
    const aborted = deferred();
    const undo = need('events').addAbortAlgorithm(signal, () => {
      ops.fetchAbort(id);
      aborted.reject(signal.reason);
    });
    try {
      raw = await Promise.race([pending, aborted.promise]);
    } finally {
      undo();
    }
  }
  return responseFromRaw(raw);
}

expose('Request', Request);
