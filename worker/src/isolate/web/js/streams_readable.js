// ReadableStream (Streams Standard, default controller and reader), the
// queuing strategies, tee, async iteration and ReadableStream.from.
// Internal state lives in plain objects reached through private fields;
// `createReadable` builds a stream from algorithms (used by Response
// bodies, TransformStream and the encoding/compression streams).
// Not implemented: byte streams (`type: 'bytes'`) and BYOB readers.

let rsOf; // stream -> internal state (brand check)
let readerOf;
const newReadableKey = Symbol('internal ReadableStream');

function extractHWM(strategy, fallback) {
  const hwm = strategy?.highWaterMark;
  if (hwm === undefined) return fallback;
  const n = Number(hwm);
  if (Number.isNaN(n) || n < 0) throw new RangeError('highWaterMark must be a non-negative number');
  return n;
}
function extractSize(strategy) {
  const size = strategy?.size;
  if (size === undefined) return () => 1;
  if (typeof size !== 'function') throw new TypeError('size must be a function');
  return (chunk) => size(chunk);
}

// --- controller operations
function rcShouldPull(c) {
  const rs = c.rs;
  if (rs.state !== 'readable' || c.closeRequested || !c.started) return false;
  if (rs.reader && rs.reader.requests.length > 0) return true;
  return rcDesiredSize(c) > 0;
}
function rcDesiredSize(c) {
  if (c.rs.state === 'errored') return null;
  if (c.rs.state === 'closed') return 0;
  return c.hwm - c.queueSize;
}
function rcCanCloseOrEnqueue(c) {
  return !c.closeRequested && c.rs.state === 'readable';
}
function rcPullIfNeeded(c) {
  if (!rcShouldPull(c)) return;
  if (c.pulling) { c.pullAgain = true; return; }
  c.pulling = true;
  let p;
  try { p = Promise.resolve(c.pull(c.controller)); } catch (e) { p = Promise.reject(e); }
  p.then(() => {
    c.pulling = false;
    if (c.pullAgain) { c.pullAgain = false; rcPullIfNeeded(c); }
  }, (e) => rcError(c, e));
}
function rcClearAlgorithms(c) {
  c.pull = () => undefined;
  c.cancel = () => undefined;
  c.size = () => 1;
}
function rcClose(c) {
  if (!rcCanCloseOrEnqueue(c)) return;
  c.closeRequested = true;
  if (c.queue.length === 0) { rcClearAlgorithms(c); rsClose(c.rs); }
}
function rcEnqueue(c, chunk) {
  if (!rcCanCloseOrEnqueue(c)) return;
  const rs = c.rs;
  if (rs.reader && rs.reader.requests.length > 0) {
    rs.reader.requests.shift().chunk(chunk);
  } else {
    let size;
    try {
      size = Number(c.size(chunk));
      if (Number.isNaN(size) || size < 0 || size === Infinity) throw new RangeError('invalid chunk size');
    } catch (e) {
      rcError(c, e);
      throw e;
    }
    c.queue.push({ chunk, size });
    c.queueSize += size;
  }
  rcPullIfNeeded(c);
}
function rcError(c, e) {
  if (c.rs.state !== 'readable') return;
  c.queue = [];
  c.queueSize = 0;
  rcClearAlgorithms(c);
  rsError(c.rs, e);
}
// The reader asks for a chunk.
function rcPullSteps(c, request) {
  if (c.queue.length > 0) {
    const { chunk, size } = c.queue.shift();
    c.queueSize -= size;
    if (c.queue.length === 0) c.queueSize = 0;
    if (c.closeRequested && c.queue.length === 0) { rcClearAlgorithms(c); rsClose(c.rs); }
    else rcPullIfNeeded(c);
    request.chunk(chunk);
  } else {
    c.rs.reader.requests.push(request);
    rcPullIfNeeded(c);
  }
}

// --- stream operations
function rsClose(rs) {
  rs.state = 'closed';
  const reader = rs.reader;
  if (!reader) return;
  reader.closed.resolve();
  const requests = reader.requests;
  reader.requests = [];
  for (const r of requests) r.close();
}
function rsError(rs, e) {
  rs.state = 'errored';
  rs.storedError = e;
  const reader = rs.reader;
  if (!reader) return;
  reader.closed.reject(e);
  markHandled(reader.closed.promise);
  const requests = reader.requests;
  reader.requests = [];
  for (const r of requests) r.error(e);
}
function rsCancel(rs, reason) {
  rs.disturbed = true;
  if (rs.state === 'closed') return Promise.resolve();
  if (rs.state === 'errored') return rejected(rs.storedError);
  rsClose(rs);
  const c = rs.controller;
  c.queue = [];
  c.queueSize = 0;
  let p;
  try { p = Promise.resolve(c.cancel(reason)); } catch (e) { p = Promise.reject(e); }
  rcClearAlgorithms(c);
  return p.then(() => undefined);
}

// Builds a readable stream from algorithms: start(controller) may return
// a promise; pull(controller) and cancel(reason) return promises.
function createReadable(start, pull, cancel, hwm = 1, size = () => 1) {
  const stream = new ReadableStream(newReadableKey);
  const rs = rsOf(stream);
  const c = {
    rs, queue: [], queueSize: 0, started: false, closeRequested: false, pulling: false,
    pullAgain: false, hwm, size, pull, cancel, controller: null,
  };
  c.controller = new ReadableStreamDefaultController(newReadableKey, c);
  rs.controller = c;
  let startResult;
  try { startResult = start(c.controller); } catch (e) { startResult = Promise.reject(e); }
  Promise.resolve(startResult).then(() => { c.started = true; rcPullIfNeeded(c); }, (e) => rcError(c, e));
  return stream;
}

class ReadableStreamDefaultController {
  #c;
  constructor(key, c) {
    if (key !== newReadableKey) throw new TypeError('Illegal constructor');
    this.#c = c;
  }
  get desiredSize() { return rcDesiredSize(this.#c); }
  close() {
    if (!rcCanCloseOrEnqueue(this.#c)) throw new TypeError('The stream is not in a state that permits close');
    rcClose(this.#c);
  }
  enqueue(chunk = undefined) {
    if (!rcCanCloseOrEnqueue(this.#c)) throw new TypeError('The stream is not in a state that permits enqueue');
    rcEnqueue(this.#c, chunk);
  }
  error(e = undefined) { rcError(this.#c, e); }
}
brand(ReadableStreamDefaultController);

class ReadableStream {
  #rs;
  constructor(source = undefined, strategy = undefined) {
    this.#rs = { state: 'readable', reader: null, storedError: undefined, disturbed: false, controller: null };
    if (source === newReadableKey) return;
    source = source ?? {};
    if (source.type !== undefined) {
      if (String(source.type) === 'bytes') throw new RangeError("byte streams (type: 'bytes') are not supported");
      throw new TypeError(`invalid type ${source.type}`);
    }
    const hwm = extractHWM(strategy, 1);
    const size = extractSize(strategy);
    const c = {
      rs: this.#rs, queue: [], queueSize: 0, started: false, closeRequested: false, pulling: false,
      pullAgain: false, hwm, size, controller: null,
      pull: source.pull ? (ctl) => source.pull(ctl) : () => undefined,
      cancel: source.cancel ? (r) => source.cancel(r) : () => undefined,
    };
    c.controller = new ReadableStreamDefaultController(newReadableKey, c);
    this.#rs.controller = c;
    const startResult = source.start ? source.start(c.controller) : undefined;
    Promise.resolve(startResult).then(() => { c.started = true; rcPullIfNeeded(c); }, (e) => rcError(c, e));
  }
  static {
    rsOf = (x) => {
      if (x === null || typeof x !== 'object' || !(#rs in x)) {
        throw new TypeError("Illegal invocation: not a ReadableStream");
      }
      return x.#rs;
    };
  }
  get locked() { return this.#rs.reader !== null; }
  cancel(reason = undefined) {
    if (this.#rs.reader) return rejected(new TypeError('Cannot cancel a locked stream'));
    return rsCancel(this.#rs, reason);
  }
  getReader(options = undefined) {
    const mode = options?.mode;
    if (mode !== undefined) {
      if (String(mode) === 'byob') throw new TypeError('BYOB readers are not supported');
      throw new TypeError(`invalid mode ${mode}`);
    }
    return new ReadableStreamDefaultReader(this);
  }
  tee() { return teeStream(this); }
  pipeTo(dest, options = undefined) {
    try {
      rsOf(this);
      wsOf(dest);
    } catch (e) {
      return rejected(e);
    }
    if (this.locked) return rejected(new TypeError('The source stream is locked'));
    if (dest.locked) return rejected(new TypeError('The destination stream is locked'));
    return pipeStreams(this, dest, options ?? {});
  }
  pipeThrough(transform, options = undefined) {
    const { writable, readable } = transform ?? {};
    wsOf(writable);
    rsOf(readable);
    if (this.locked) throw new TypeError('The source stream is locked');
    if (writable.locked) throw new TypeError('The destination stream is locked');
    markHandled(pipeStreams(this, writable, options ?? {}));
    return readable;
  }
  values(options = undefined) {
    const reader = this.getReader();
    const preventCancel = !!options?.preventCancel;
    const it = Object.create(ReadableStreamAsyncIteratorPrototype);
    let done = false;
    it.next = () => {
      if (done) return Promise.resolve({ value: undefined, done: true });
      return reader.read().then((r) => {
        if (r.done) { done = true; reader.releaseLock(); }
        return r;
      }, (e) => { done = true; reader.releaseLock(); throw e; });
    };
    it.return = (value) => {
      if (done) return Promise.resolve({ value, done: true });
      done = true;
      if (!preventCancel) {
        const p = reader.cancel(value);
        reader.releaseLock();
        return p.then(() => ({ value, done: true }));
      }
      reader.releaseLock();
      return Promise.resolve({ value, done: true });
    };
    return it;
  }
  [Symbol.asyncIterator](options = undefined) { return this.values(options); }
  static from(iterable) {
    if (iterable instanceof ReadableStream) return iterable;
    let it;
    if (iterable != null && typeof iterable[Symbol.asyncIterator] === 'function') {
      it = iterable[Symbol.asyncIterator]();
    } else if (iterable != null && typeof iterable[Symbol.iterator] === 'function') {
      const sync = iterable[Symbol.iterator]();
      it = {
        next: () => Promise.resolve(sync.next()).then(async (r) => ({ value: await r.value, done: r.done })),
        return: (v) => Promise.resolve(typeof sync.return === 'function' ? sync.return(v) : { done: true }),
      };
    } else {
      throw new TypeError('ReadableStream.from: argument is not iterable');
    }
    return createReadable(() => undefined, (c) => Promise.resolve(it.next()).then((r) => {
      if (r === null || typeof r !== 'object') throw new TypeError('iterator result is not an object');
      if (r.done) c.close();
      else c.enqueue(r.value);
    }), (reason) => {
      if (typeof it.return !== 'function') return undefined;
      return Promise.resolve(it.return(reason)).then((r) => {
        if (r === null || typeof r !== 'object') throw new TypeError('iterator result is not an object');
      });
    }, 0);
  }
}
brand(ReadableStream);
const ReadableStreamAsyncIteratorPrototype = Object.create(AsyncIteratorPrototype);

class ReadableStreamDefaultReader {
  #r;
  constructor(stream) {
    requireArgs(arguments.length, 1, "Failed to construct 'ReadableStreamDefaultReader'");
    const rs = rsOf(stream);
    if (rs.reader) throw new TypeError('ReadableStream is locked');
    this.#r = { rs, requests: [], closed: deferred() };
    rs.reader = this.#r;
    if (rs.state === 'closed') this.#r.closed.resolve();
    if (rs.state === 'errored') { this.#r.closed.reject(rs.storedError); markHandled(this.#r.closed.promise); }
  }
  static { readerOf = (x) => x.#r; }
  get closed() { return this.#r.closed.promise; }
  read() {
    const r = this.#r;
    if (!r.rs) return rejected(new TypeError('The reader was released'));
    const rs = r.rs;
    rs.disturbed = true;
    if (rs.state === 'closed') return Promise.resolve({ value: undefined, done: true });
    if (rs.state === 'errored') return rejected(rs.storedError);
    const d = deferred();
    rcPullSteps(rs.controller, {
      chunk: (value) => d.resolve({ value, done: false }),
      close: () => d.resolve({ value: undefined, done: true }),
      error: (e) => d.reject(e),
    });
    return d.promise;
  }
  cancel(reason = undefined) {
    if (!this.#r.rs) return rejected(new TypeError('The reader was released'));
    return rsCancel(this.#r.rs, reason);
  }
  releaseLock() {
    const r = this.#r;
    if (!r.rs) return;
    const err = new TypeError('The reader was released');
    if (r.rs.state === 'readable') r.closed.reject(err);
    else { r.closed = deferred(); r.closed.reject(err); }
    markHandled(r.closed.promise);
    const requests = r.requests;
    r.requests = [];
    for (const q of requests) q.error(err);
    r.rs.reader = null;
    r.rs = null;
  }
}
brand(ReadableStreamDefaultReader);

function teeStream(stream) {
  const reader = stream.getReader();
  const rs = rsOf(stream);
  let reading = false, readAgain = false, canceled1 = false, canceled2 = false;
  let reason1, reason2, branch1, branch2;
  const cancelDone = deferred();
  const pull = () => {
    if (reading) { readAgain = true; return Promise.resolve(); }
    reading = true;
    rcPullSteps(rs.controller, {
      chunk: (chunk) => enqueueMicrotask(() => {
        readAgain = false;
        if (!canceled1) rcEnqueue(rsOf(branch1).controller, chunk);
        if (!canceled2) rcEnqueue(rsOf(branch2).controller, chunk);
        reading = false;
        if (readAgain) pull();
      }),
      close: () => {
        reading = false;
        if (!canceled1) rcClose(rsOf(branch1).controller);
        if (!canceled2) rcClose(rsOf(branch2).controller);
        if (!canceled1 || !canceled2) cancelDone.resolve();
      },
      error: () => { reading = false; },
    });
    return Promise.resolve();
  };
  const cancelBoth = () => {
    const p = rsCancel(rs, [reason1, reason2]);
    p.then(cancelDone.resolve, cancelDone.reject);
  };
  branch1 = createReadable(() => undefined, pull, (r) => {
    canceled1 = true; reason1 = r;
    if (canceled2) cancelBoth();
    return cancelDone.promise;
  });
  branch2 = createReadable(() => undefined, pull, (r) => {
    canceled2 = true; reason2 = r;
    if (canceled1) cancelBoth();
    return cancelDone.promise;
  });
  readerOf(reader).closed.promise.catch((e) => {
    rcError(rsOf(branch1).controller, e);
    rcError(rsOf(branch2).controller, e);
    if (!canceled1 || !canceled2) cancelDone.resolve();
  });
  return [branch1, branch2];
}

class CountQueuingStrategy {
  #hwm;
  constructor(init) {
    requireArgs(arguments.length, 1, "Failed to construct 'CountQueuingStrategy'");
    this.#hwm = Number(init.highWaterMark);
  }
  get highWaterMark() { return this.#hwm; }
  get size() { return countSize; }
}
const countSize = function size() { return 1; };
brand(CountQueuingStrategy);

class ByteLengthQueuingStrategy {
  #hwm;
  constructor(init) {
    requireArgs(arguments.length, 1, "Failed to construct 'ByteLengthQueuingStrategy'");
    this.#hwm = Number(init.highWaterMark);
  }
  get highWaterMark() { return this.#hwm; }
  get size() { return byteSize; }
}
const byteSize = function size(chunk) { return chunk.byteLength; };
brand(ByteLengthQueuingStrategy);

expose('ReadableStream', ReadableStream);
expose('ReadableStreamDefaultReader', ReadableStreamDefaultReader);
expose('ReadableStreamDefaultController', ReadableStreamDefaultController);
expose('CountQueuingStrategy', CountQueuingStrategy);
expose('ByteLengthQueuingStrategy', ByteLengthQueuingStrategy);
