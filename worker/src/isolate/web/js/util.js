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
// enumerable, read-only). Written out: deriving them from the names at
// load time ran a regular expression 25 times in every context.
{
  const constants = {};
  for (const [name, value] of [
    ['INDEX_SIZE_ERR', 1], ['DOMSTRING_SIZE_ERR', 2], ['HIERARCHY_REQUEST_ERR', 3],
    ['WRONG_DOCUMENT_ERR', 4], ['INVALID_CHARACTER_ERR', 5], ['NO_DATA_ALLOWED_ERR', 6],
    ['NO_MODIFICATION_ALLOWED_ERR', 7], ['NOT_FOUND_ERR', 8], ['NOT_SUPPORTED_ERR', 9],
    ['INUSE_ATTRIBUTE_ERR', 10], ['INVALID_STATE_ERR', 11], ['SYNTAX_ERR', 12],
    ['INVALID_MODIFICATION_ERR', 13], ['NAMESPACE_ERR', 14], ['INVALID_ACCESS_ERR', 15],
    ['VALIDATION_ERR', 16], ['TYPE_MISMATCH_ERR', 17], ['SECURITY_ERR', 18], ['NETWORK_ERR', 19],
    ['ABORT_ERR', 20], ['URL_MISMATCH_ERR', 21], ['QUOTA_EXCEEDED_ERR', 22], ['TIMEOUT_ERR', 23],
    ['INVALID_NODE_TYPE_ERR', 24], ['DATA_CLONE_ERR', 25],
  ]) constants[name] = { value, enumerable: true };
  Object.defineProperties(DOMException, constants);
  Object.defineProperties(DOMException.prototype, constants);
}
expose('DOMException', DOMException);

// `reportError(e)`: an error nobody can catch. It ends the run like an
// uncaught exception (there is no window to dispatch an `error` event on).
function reportError(error) {
  requireArgs(arguments.length, 1, 'reportError');
  enqueueMicrotask(() => { throw error; });
}
expose('reportError', reportError);
