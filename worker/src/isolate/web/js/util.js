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

// `new DOMException(message, name)` for the glue: the class is the
// domexception chunk's, loaded on the first one made (or the first read of
// the `DOMException` global), so a first use that throws none does not
// pay for it.
function newDOMException(message, name) {
  return new (need('domexception').DOMException)(message, name);
}

// `reportError(e)`: an error nobody can catch. It ends the run like an
// uncaught exception (there is no window to dispatch an `error` event on).
function reportError(error) {
  requireArgs(arguments.length, 1, 'reportError');
  enqueueMicrotask(() => { throw error; });
}
expose('reportError', reportError);
