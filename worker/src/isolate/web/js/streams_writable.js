// WritableStream with its default writer and controller (Streams
// Standard), and `createWritable` to build one from algorithms.

let wsOf;
const closeSentinel = Symbol('close');
const newWritableKey = Symbol('internal WritableStream');

function wsCloseQueuedOrInFlight(ws) {
  return ws.closeRequest !== null || ws.inFlightCloseRequest !== null;
}
function wsHasInFlight(ws) {
  return ws.inFlightWriteRequest !== null || ws.inFlightCloseRequest !== null;
}
function wsAbort(ws, reason) {
  if (ws.state === 'closed' || ws.state === 'errored') return Promise.resolve();
  ws.controller.abortController.abort(reason);
  if (ws.state === 'closed' || ws.state === 'errored') return Promise.resolve();
  if (ws.pendingAbortRequest) return ws.pendingAbortRequest.d.promise;
  const wasAlreadyErroring = ws.state === 'erroring';
  if (wasAlreadyErroring) reason = undefined;
  const d = deferred();
  ws.pendingAbortRequest = { d, reason, wasAlreadyErroring };
  if (!wasAlreadyErroring) wsStartErroring(ws, reason);
  return d.promise;
}
function wsClose(ws) {
  if (ws.state === 'closed' || ws.state === 'errored') {
    return rejected(new TypeError('The stream is closed or errored'));
  }
  const d = deferred();
  ws.closeRequest = d;
  if (ws.writer && ws.backpressure && ws.state === 'writable') ws.writer.ready.resolve();
  const c = ws.controller;
  c.queue.push({ chunk: closeSentinel, size: 0 });
  wcAdvance(c);
  return d.promise;
}
function wsDealWithRejection(ws, e) {
  if (ws.state === 'writable') wsStartErroring(ws, e);
  else wsFinishErroring(ws);
}
function wsStartErroring(ws, reason) {
  ws.state = 'erroring';
  ws.storedError = reason;
  if (ws.writer) writerRejectReady(ws.writer, reason);
  if (!wsHasInFlight(ws) && ws.controller.started) wsFinishErroring(ws);
}
function wsFinishErroring(ws) {
  ws.state = 'errored';
  const c = ws.controller;
  c.queue = [];
  c.queueSize = 0;
  for (const r of ws.writeRequests) r.reject(ws.storedError);
  ws.writeRequests = [];
  const abort = ws.pendingAbortRequest;
  if (!abort) { wsRejectCloseAndClosed(ws); return; }
  ws.pendingAbortRequest = null;
  if (abort.wasAlreadyErroring) {
    abort.d.reject(ws.storedError);
    wsRejectCloseAndClosed(ws);
    return;
  }
  let p;
  try { p = Promise.resolve(c.abort(abort.reason)); } catch (e) { p = Promise.reject(e); }
  wcClearAlgorithms(c);
  p.then(() => { abort.d.resolve(); wsRejectCloseAndClosed(ws); },
    (r) => { abort.d.reject(r); wsRejectCloseAndClosed(ws); });
}
function wsRejectCloseAndClosed(ws) {
  if (ws.closeRequest) { ws.closeRequest.reject(ws.storedError); ws.closeRequest = null; }
  if (ws.writer) { ws.writer.closed.reject(ws.storedError); markHandled(ws.writer.closed.promise); }
}
function wsUpdateBackpressure(ws, bp) {
  if (ws.writer && bp !== ws.backpressure) {
    if (bp) ws.writer.ready = deferred();
    else ws.writer.ready.resolve();
  }
  ws.backpressure = bp;
}
function writerRejectReady(w, reason) {
  if (w.ready.settled) w.ready = deferred();
  w.ready.reject(reason);
  markHandled(w.ready.promise);
}

// --- controller
function wcDesiredSize(c) { return c.hwm - c.queueSize; }
function wcClearAlgorithms(c) {
  c.write = () => undefined;
  c.close = () => undefined;
  c.abort = () => undefined;
  c.size = () => 1;
}
function wcErrorIfNeeded(c, e) {
  if (c.ws.state === 'writable') { wcClearAlgorithms(c); wsStartErroring(c.ws, e); }
}
function wcAdvance(c) {
  const ws = c.ws;
  if (!c.started || ws.inFlightWriteRequest !== null) return;
  if (ws.state === 'erroring') { wsFinishErroring(ws); return; }
  if (c.queue.length === 0) return;
  const { chunk } = c.queue[0];
  if (chunk === closeSentinel) {
    ws.inFlightCloseRequest = ws.closeRequest;
    ws.closeRequest = null;
    c.queue.shift();
    const close = c.close;
    wcClearAlgorithms(c);
    let p;
    try { p = Promise.resolve(close()); } catch (e) { p = Promise.reject(e); }
    p.then(() => {
      ws.inFlightCloseRequest.resolve();
      ws.inFlightCloseRequest = null;
      if (ws.state === 'erroring') {
        ws.storedError = undefined;
        if (ws.pendingAbortRequest) { ws.pendingAbortRequest.d.resolve(); ws.pendingAbortRequest = null; }
      }
      ws.state = 'closed';
      if (ws.writer) ws.writer.closed.resolve();
    }, (e) => {
      ws.inFlightCloseRequest.reject(e);
      ws.inFlightCloseRequest = null;
      if (ws.pendingAbortRequest) { ws.pendingAbortRequest.d.reject(e); ws.pendingAbortRequest = null; }
      wsDealWithRejection(ws, e);
    });
    return;
  }
  ws.inFlightWriteRequest = ws.writeRequests.shift();
  let p;
  try { p = Promise.resolve(c.write(chunk, c.controller)); } catch (e) { p = Promise.reject(e); }
  p.then(() => {
    ws.inFlightWriteRequest.resolve();
    ws.inFlightWriteRequest = null;
    const { size } = c.queue.shift();
    c.queueSize -= size;
    if (c.queue.length === 0) c.queueSize = 0;
    if (!wsCloseQueuedOrInFlight(ws) && ws.state === 'writable') {
      wsUpdateBackpressure(ws, wcDesiredSize(c) <= 0);
    }
    wcAdvance(c);
  }, (e) => {
    if (ws.state === 'writable') wcClearAlgorithms(c);
    ws.inFlightWriteRequest.reject(e);
    ws.inFlightWriteRequest = null;
    wsDealWithRejection(ws, e);
  });
}
function wcWrite(c, chunk) {
  let size;
  try {
    size = Number(c.size(chunk));
    if (Number.isNaN(size) || size < 0 || size === Infinity) throw new RangeError('invalid chunk size');
  } catch (e) {
    wcErrorIfNeeded(c, e);
    return;
  }
  c.queue.push({ chunk, size });
  c.queueSize += size;
  const ws = c.ws;
  if (!wsCloseQueuedOrInFlight(ws) && ws.state === 'writable') {
    wsUpdateBackpressure(ws, wcDesiredSize(c) <= 0);
  }
  wcAdvance(c);
}

function setupWritable(stream, start, write, close, abort, hwm, size) {
  const ws = wsOf(stream);
  const c = {
    ws, queue: [], queueSize: 0, started: false, hwm, size, write, close, abort,
    abortController: new AbortController(), controller: null,
  };
  c.controller = new WritableStreamDefaultController(newWritableKey, c);
  ws.controller = c;
  wsUpdateBackpressure(ws, wcDesiredSize(c) <= 0);
  let startResult;
  try { startResult = start(c.controller); } catch (e) { startResult = Promise.reject(e); }
  Promise.resolve(startResult).then(() => { c.started = true; wcAdvance(c); },
    (e) => { c.started = true; wsDealWithRejection(ws, e); });
}

function createWritable(start, write, close, abort, hwm = 1, size = () => 1) {
  const stream = new WritableStream(newWritableKey);
  setupWritable(stream, start, write, close, abort, hwm, size);
  return stream;
}

class WritableStreamDefaultController {
  #c;
  constructor(key, c) {
    if (key !== newWritableKey) throw new TypeError('Illegal constructor');
    this.#c = c;
  }
  get signal() { return this.#c.abortController.signal; }
  error(e = undefined) {
    if (this.#c.ws.state !== 'writable') return;
    wcClearAlgorithms(this.#c);
    wsStartErroring(this.#c.ws, e);
  }
}
brand(WritableStreamDefaultController);

class WritableStream {
  #ws;
  constructor(sink = undefined, strategy = undefined) {
    this.#ws = {
      state: 'writable', storedError: undefined, writer: null, controller: null, writeRequests: [],
      inFlightWriteRequest: null, closeRequest: null, inFlightCloseRequest: null,
      pendingAbortRequest: null, backpressure: false,
    };
    if (sink === newWritableKey) return;
    sink = sink ?? {};
    if (sink.type !== undefined) throw new RangeError('invalid type');
    const hwm = extractHWM(strategy, 1);
    const size = extractSize(strategy);
    setupWritable(this,
      (c) => (sink.start ? sink.start(c) : undefined),
      (chunk, c) => (sink.write ? sink.write(chunk, c) : undefined),
      () => (sink.close ? sink.close() : undefined),
      (r) => (sink.abort ? sink.abort(r) : undefined),
      hwm, size);
  }
  static {
    wsOf = (x) => {
      if (x === null || typeof x !== 'object' || !(#ws in x)) {
        throw new TypeError('Illegal invocation: not a WritableStream');
      }
      return x.#ws;
    };
  }
  get locked() { return this.#ws.writer !== null; }
  abort(reason = undefined) {
    if (this.locked) return rejected(new TypeError('Cannot abort a locked stream'));
    return wsAbort(this.#ws, reason);
  }
  close() {
    if (this.locked) return rejected(new TypeError('Cannot close a locked stream'));
    if (wsCloseQueuedOrInFlight(this.#ws)) return rejected(new TypeError('The stream is already closing'));
    return wsClose(this.#ws);
  }
  getWriter() { return new WritableStreamDefaultWriter(this); }
}
brand(WritableStream);

function settledDeferred(ok, value) {
  const d = deferred();
  if (ok) d.resolve(value); else { d.reject(value); markHandled(d.promise); }
  return d;
}

class WritableStreamDefaultWriter {
  #w;
  constructor(stream) {
    requireArgs(arguments.length, 1, "Failed to construct 'WritableStreamDefaultWriter'");
    const ws = wsOf(stream);
    if (ws.writer) throw new TypeError('WritableStream is locked');
    const w = { ws, ready: null, closed: null };
    this.#w = w;
    ws.writer = w;
    const state = ws.state;
    if (state === 'writable') {
      w.ready = !wsCloseQueuedOrInFlight(ws) && ws.backpressure ? deferred() : settledDeferred(true);
      w.closed = deferred();
    } else if (state === 'erroring') {
      w.ready = settledDeferred(false, ws.storedError);
      w.closed = deferred();
    } else if (state === 'closed') {
      w.ready = settledDeferred(true);
      w.closed = settledDeferred(true);
    } else {
      w.ready = settledDeferred(false, ws.storedError);
      w.closed = settledDeferred(false, ws.storedError);
    }
  }
  get closed() { return this.#w.closed.promise; }
  get ready() { return this.#w.ready.promise; }
  get desiredSize() {
    const ws = this.#w.ws;
    if (!ws) throw new TypeError('The writer was released');
    if (ws.state === 'errored' || ws.state === 'erroring') return null;
    if (ws.state === 'closed') return 0;
    return wcDesiredSize(ws.controller);
  }
  abort(reason = undefined) {
    if (!this.#w.ws) return rejected(new TypeError('The writer was released'));
    return wsAbort(this.#w.ws, reason);
  }
  close() {
    const ws = this.#w.ws;
    if (!ws) return rejected(new TypeError('The writer was released'));
    if (wsCloseQueuedOrInFlight(ws)) return rejected(new TypeError('The stream is already closing'));
    return wsClose(ws);
  }
  write(chunk = undefined) {
    const ws = this.#w.ws;
    if (!ws) return rejected(new TypeError('The writer was released'));
    const c = ws.controller;
    if (ws.state === 'errored' || ws.state === 'erroring') return rejected(ws.storedError);
    if (wsCloseQueuedOrInFlight(ws) || ws.state === 'closed') {
      return rejected(new TypeError('The stream is closing or closed'));
    }
    const d = deferred();
    ws.writeRequests.push(d);
    wcWrite(c, chunk);
    return d.promise;
  }
  releaseLock() {
    const w = this.#w;
    const ws = w.ws;
    if (!ws) return;
    const err = new TypeError('The writer was released');
    writerRejectReady(w, err);
    if (ws.state === 'writable' || wsHasInFlight(ws)) w.closed.reject(err);
    else w.closed = settledDeferred(false, err);
    markHandled(w.closed.promise);
    ws.writer = null;
    w.ws = null;
  }
}
brand(WritableStreamDefaultWriter);

expose('WritableStream', WritableStream);
expose('WritableStreamDefaultWriter', WritableStreamDefaultWriter);
expose('WritableStreamDefaultController', WritableStreamDefaultController);
