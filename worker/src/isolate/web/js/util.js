// Shared helpers of the web glue, and DOMException. The glue comes in
// chunks that load on first use (see `CHUNKS` in glue.rs); each chunk is
// one function whose files share its scope. Names other chunks use are
// exported into `shared`, a null-prototype object of the context that no
// script can reach, and imported from it by name.

const global = globalThis;
// `enqueueMicrotask` and `con` (the console) are parameters of the glue,
// captured at start-up, so that scripts replacing the globals do not
// change how the glue behaves.
const { defineProperty, freeze } = Object;
const AsyncIteratorPrototype = Object.getPrototypeOf(
  Object.getPrototypeOf(async function* () {}).prototype);

// `shared`, with `chunk` loaded first (for names used only when called,
// such as the streams a body makes on demand).
function need(chunk) {
  if (shared[`#${chunk}`] !== true) ops.need(chunk);
  return shared;
}

// Defines a global the way Web IDL does: writable, configurable, not
// enumerable.
function expose(name, value) {
  defineProperty(global, name, { value, writable: true, configurable: true, enumerable: false });
}

// Makes the named prototype members enumerable-less and names the class
// for Object.prototype.toString.
function brand(cls, tag = cls.name) {
  defineProperty(cls.prototype, Symbol.toStringTag, { value: tag, configurable: true });
}

// A promise with its resolve/reject and a synchronous `settled` flag.
function deferred() {
  const d = { settled: false };
  d.promise = new Promise((res, rej) => {
    d.resolve = (v) => { d.settled = true; res(v); };
    d.reject = (e) => { d.settled = true; rej(e); };
  });
  return d;
}

// A promise that is rejected without an unhandled-rejection report.
function rejected(reason) {
  const p = Promise.reject(reason);
  p.catch(() => {});
  return p;
}

function markHandled(promise) {
  promise.catch(() => {});
  return promise;
}

function requireArgs(count, min, what) {
  if (count < min) {
    throw new TypeError(`${what}: ${min} argument${min > 1 ? 's' : ''} required, but only ${count} present.`);
  }
}

function isBufferSource(x) {
  return x instanceof ArrayBuffer || ArrayBuffer.isView(x) ||
    (typeof SharedArrayBuffer === 'function' && x instanceof SharedArrayBuffer);
}

// A Uint8Array view over a BufferSource (no copy).
function viewOf(x, what = 'value') {
  if (x instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && x instanceof SharedArrayBuffer)) {
    return new Uint8Array(x);
  }
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  throw new TypeError(`${what} is not of type '(ArrayBuffer or ArrayBufferView)'`);
}

// A fresh copy of a BufferSource's bytes.
function copyOf(x, what) {
  return viewOf(x, what).slice();
}

function concatBytes(chunks, total) {
  if (total === undefined) total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.byteLength; }
  return out;
}

const toUSV = (s) => String(s).toWellFormed();

function utf8Encode(input) {
  const s = toUSV(input);
  const out = new Uint8Array(ops.utf8Length(s));
  ops.encodeInto(s, out);
  return out;
}

// The Encoding Standard's "UTF-8 decode" (a leading BOM is dropped), for
// bodies; TextDecoder is the encoding chunk's.
function utf8Decode(bytes) {
  const text = ops.decode('utf-8', bytes, false, false)[0];
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

// Indexes of the parts `ops.urlParse` returns (`components` in
// url_ops.rs), shared by URL and by fetch, which parses URLs without
// loading the URL class.
const HREF = 0, ORIGIN = 1, PROTOCOL = 2, USERNAME = 3, PASSWORD = 4, HOST = 5, HOSTNAME = 6,
  PORT = 7, PATHNAME = 8, SEARCH = 9, HASH = 10;

const DOM_CODES = {
  IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
  NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InUseAttributeError: 10,
  InvalidStateError: 11, SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14,
  InvalidAccessError: 15, TypeMismatchError: 17, SecurityError: 18, NetworkError: 19,
  AbortError: 20, URLMismatchError: 21, QuotaExceededError: 22, TimeoutError: 23,
  InvalidNodeTypeError: 24, DataCloneError: 25,
};

class DOMException extends Error {
  #name;
  #message;
  constructor(message = '', options = 'Error') {
    super();
    defineDOMExceptionConstants();
    this.#message = String(message);
    if (options !== null && typeof options === 'object') {
      this.#name = 'name' in options ? String(options.name) : 'Error';
      if ('cause' in options) {
        defineProperty(this, 'cause', { value: options.cause, writable: true, configurable: true });
      }
    } else {
      this.#name = String(options);
    }
  }
  get name() { return this.#name; }
  get message() { return this.#message; }
  get code() { return DOM_CODES[this.#name] ?? 0; }
}
brand(DOMException);
// The legacy code constants, on the interface and its prototype (Web IDL:
// enumerable, read-only), defined when the first DOMException is made or
// the `DOMException` global is first read (the domexception chunk),
// whichever comes first: no script can see them before. Defining these 50
// read-only properties was a tenth of this chunk's first use.
let domExceptionConstants = false;
function defineDOMExceptionConstants() {
  if (domExceptionConstants) return;
  domExceptionConstants = true;
  const constants = {
    INDEX_SIZE_ERR: { value: 1, enumerable: true },
    DOMSTRING_SIZE_ERR: { value: 2, enumerable: true },
    HIERARCHY_REQUEST_ERR: { value: 3, enumerable: true },
    WRONG_DOCUMENT_ERR: { value: 4, enumerable: true },
    INVALID_CHARACTER_ERR: { value: 5, enumerable: true },
    NO_DATA_ALLOWED_ERR: { value: 6, enumerable: true },
    NO_MODIFICATION_ALLOWED_ERR: { value: 7, enumerable: true },
    NOT_FOUND_ERR: { value: 8, enumerable: true },
    NOT_SUPPORTED_ERR: { value: 9, enumerable: true },
    INUSE_ATTRIBUTE_ERR: { value: 10, enumerable: true },
    INVALID_STATE_ERR: { value: 11, enumerable: true },
    SYNTAX_ERR: { value: 12, enumerable: true },
    INVALID_MODIFICATION_ERR: { value: 13, enumerable: true },
    NAMESPACE_ERR: { value: 14, enumerable: true },
    INVALID_ACCESS_ERR: { value: 15, enumerable: true },
    VALIDATION_ERR: { value: 16, enumerable: true },
    TYPE_MISMATCH_ERR: { value: 17, enumerable: true },
    SECURITY_ERR: { value: 18, enumerable: true },
    NETWORK_ERR: { value: 19, enumerable: true },
    ABORT_ERR: { value: 20, enumerable: true },
    URL_MISMATCH_ERR: { value: 21, enumerable: true },
    QUOTA_EXCEEDED_ERR: { value: 22, enumerable: true },
    TIMEOUT_ERR: { value: 23, enumerable: true },
    INVALID_NODE_TYPE_ERR: { value: 24, enumerable: true },
    DATA_CLONE_ERR: { value: 25, enumerable: true },
  };
  Object.defineProperties(DOMException, constants);
  Object.defineProperties(DOMException.prototype, constants);
}

// `reportError(e)`: an error nobody can catch. It ends the run like an
// uncaught exception (there is no window to dispatch an `error` event on).
function reportError(error) {
  requireArgs(arguments.length, 1, 'reportError');
  enqueueMicrotask(() => { throw error; });
}
expose('reportError', reportError);
