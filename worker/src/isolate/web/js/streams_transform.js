// TransformStream (Streams Standard) and pipeTo/pipeThrough.

const newTransformKey = Symbol('internal TransformStream');

function tsSetBackpressure(t, bp) {
  if (t.backpressureChange) t.backpressureChange.resolve();
  t.backpressureChange = deferred();
  t.backpressure = bp;
}
function tsUnblockWrite(t) {
  if (t.backpressure) tsSetBackpressure(t, false);
}
function tsClearAlgorithms(t) {
  t.transform = () => undefined;
  t.flush = () => undefined;
  t.cancel = () => undefined;
}
function tsErrorWritableAndUnblockWrite(t, e) {
  tsClearAlgorithms(t);
  wcErrorIfNeeded(wsOf(t.writable).controller, e);
  tsUnblockWrite(t);
}
function tsError(t, e) {
  rcError(rsOf(t.readable).controller, e);
  tsErrorWritableAndUnblockWrite(t, e);
}
function tsEnqueue(t, chunk) {
  const rc = rsOf(t.readable).controller;
  if (!rcCanCloseOrEnqueue(rc)) throw new TypeError('The readable side is not in a state that permits enqueue');
  try {
    rcEnqueue(rc, chunk);
  } catch (e) {
    tsErrorWritableAndUnblockWrite(t, e);
    throw rsOf(t.readable).storedError;
  }
  const bp = !rcShouldPull(rc);
  if (bp !== t.backpressure) tsSetBackpressure(t, true);
}
function tsTerminate(t) {
  rcClose(rsOf(t.readable).controller);
  tsErrorWritableAndUnblockWrite(t, new TypeError('The transform stream was terminated'));
}
function tsPerform(t, chunk) {
  let p;
  try { p = Promise.resolve(t.transform(chunk, t.controller)); } catch (e) { p = Promise.reject(e); }
  return p.catch((r) => { tsError(t, r); throw r; });
}

class TransformStreamDefaultController {
  #t;
  constructor(key, t) {
    if (key !== newTransformKey) throw new TypeError('Illegal constructor');
    this.#t = t;
  }
  get desiredSize() { return rcDesiredSize(rsOf(this.#t.readable).controller); }
  enqueue(chunk = undefined) { tsEnqueue(this.#t, chunk); }
  error(e = undefined) { tsError(this.#t, e); }
  terminate() { tsTerminate(this.#t); }
}
brand(TransformStreamDefaultController);

class TransformStream {
  #t;
  constructor(transformer = undefined, writableStrategy = undefined, readableStrategy = undefined) {
    transformer = transformer ?? {};
    if (transformer.readableType !== undefined) throw new RangeError('invalid readableType');
    if (transformer.writableType !== undefined) throw new RangeError('invalid writableType');
    const t = {
      readable: null, writable: null, backpressure: undefined, backpressureChange: null,
      controller: null, finish: null,
      transform: transformer.transform
        ? (chunk, c) => transformer.transform(chunk, c)
        : (chunk) => tsEnqueue(t, chunk),
      flush: transformer.flush ? (c) => transformer.flush(c) : () => undefined,
      cancel: transformer.cancel ? (r) => transformer.cancel(r) : () => undefined,
    };
    this.#t = t;
    const started = deferred();
    t.writable = createWritable(() => started.promise,
      (chunk) => {
        if (t.backpressure) {
          return t.backpressureChange.promise.then(() => {
            const ws = wsOf(t.writable);
            if (ws.state === 'erroring') throw ws.storedError;
            return tsPerform(t, chunk);
          });
        }
        return tsPerform(t, chunk);
      },
      () => {
        if (t.finish) return t.finish.promise;
        const rs = rsOf(t.readable);
        t.finish = deferred();
        let p;
        try { p = Promise.resolve(t.flush(t.controller)); } catch (e) { p = Promise.reject(e); }
        tsClearAlgorithms(t);
        p.then(() => {
          if (rs.state === 'errored') t.finish.reject(rs.storedError);
          else { rcClose(rs.controller); t.finish.resolve(); }
        }, (r) => { rcError(rs.controller, r); t.finish.reject(r); });
        return t.finish.promise;
      },
      (reason) => {
        if (t.finish) return t.finish.promise;
        const rs = rsOf(t.readable);
        t.finish = deferred();
        let p;
        try { p = Promise.resolve(t.cancel(reason)); } catch (e) { p = Promise.reject(e); }
        tsClearAlgorithms(t);
        p.then(() => {
          if (rs.state === 'errored') t.finish.reject(rs.storedError);
          else { rcError(rs.controller, reason); t.finish.resolve(); }
        }, (r) => { rcError(rs.controller, r); t.finish.reject(r); });
        return t.finish.promise;
      },
      extractHWM(writableStrategy, 1), extractSize(writableStrategy));
    t.readable = createReadable(() => started.promise,
      () => { tsSetBackpressure(t, false); return t.backpressureChange.promise; },
      (reason) => {
        if (t.finish) return t.finish.promise;
        const ws = wsOf(t.writable);
        t.finish = deferred();
        let p;
        try { p = Promise.resolve(t.cancel(reason)); } catch (e) { p = Promise.reject(e); }
        tsClearAlgorithms(t);
        p.then(() => {
          if (ws.state === 'errored') t.finish.reject(ws.storedError);
          else { wcErrorIfNeeded(ws.controller, reason); tsUnblockWrite(t); t.finish.resolve(); }
        }, (r) => { wcErrorIfNeeded(ws.controller, r); tsUnblockWrite(t); t.finish.reject(r); });
        return t.finish.promise;
      },
      extractHWM(readableStrategy, 0), extractSize(readableStrategy));
    tsSetBackpressure(t, true);
    t.controller = new TransformStreamDefaultController(newTransformKey, t);
    let startResult;
    try {
      startResult = transformer.start ? transformer.start(t.controller) : undefined;
    } catch (e) {
      startResult = Promise.reject(e);
    }
    Promise.resolve(startResult).then(started.resolve, started.reject);
  }
  get readable() { return this.#t.readable; }
  get writable() { return this.#t.writable; }
}
brand(TransformStream);

// A TransformStream whose algorithms are functions of the glue: the
// streams of TextEncoderStream, TextDecoderStream, CompressionStream.
function transformOf(transform, flush, cancel) {
  return new TransformStream({
    transform: (chunk, c) => transform(chunk, c),
    flush: flush ? (c) => flush(c) : undefined,
    cancel: cancel ? (r) => cancel(r) : undefined,
  });
}

// ReadableStream.prototype.pipeTo: moves chunks while respecting the
// destination's back-pressure; errors, closes and aborts travel as the
// options allow.
function pipeStreams(source, dest, options) {
  const preventClose = !!options.preventClose;
  const preventAbort = !!options.preventAbort;
  const preventCancel = !!options.preventCancel;
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    return rejected(new TypeError("Failed to execute 'pipeTo': parameter 2 has an invalid 'signal'"));
  }
  const reader = source.getReader();
  const writer = dest.getWriter();
  const rs = rsOf(source);
  const ws = wsOf(dest);
  rs.disturbed = true;
  const done = deferred();
  let shuttingDown = false;
  let lastWrite = Promise.resolve();
  const finalize = (isError, error) => {
    writer.releaseLock();
    reader.releaseLock();
    if (isError) done.reject(error); else done.resolve();
  };
  const shutdown = (action, isError, error) => {
    if (shuttingDown) return;
    shuttingDown = true;
    const wait = ws.state === 'writable' && !wsCloseQueuedOrInFlight(ws)
      ? lastWrite.catch(() => {}) : Promise.resolve();
    wait.then(() => (action ? action() : undefined)).then(
      () => finalize(isError, error), (e) => finalize(true, e));
  };
  let removeAbort = () => {};
  if (signal) {
    const abort = () => {
      const error = signal.reason;
      shutdown(() => Promise.all([
        !preventAbort && ws.state === 'writable' ? wsAbort(ws, error) : undefined,
        !preventCancel && rs.state === 'readable' ? rsCancel(rs, error) : undefined,
      ]), true, error);
    };
    if (signal.aborted) { abort(); return done.promise; }
    removeAbort = addAbortAlgorithm(signal, abort);
  }
  done.promise.then(removeAbort, removeAbort);
  // Errors and closes, in whichever order they come.
  const watch = () => {
    if (rs.state === 'errored') {
      const e = rs.storedError;
      shutdown(preventAbort ? null : () => wsAbort(ws, e), true, e);
    } else if (ws.state === 'errored' || ws.state === 'erroring') {
      const e = ws.storedError;
      shutdown(preventCancel ? null : () => rsCancel(rs, e), true, e);
    } else if (rs.state === 'closed') {
      shutdown(preventClose ? null : () => writer.close(), false);
    } else if (ws.state === 'closed' || wsCloseQueuedOrInFlight(ws)) {
      const e = new TypeError('the destination stream closed before all data could be piped to it');
      shutdown(preventCancel ? null : () => rsCancel(rs, e), true, e);
    }
  };
  reader.closed.then(watch, watch);
  writer.closed.then(watch, watch);
  const step = () => {
    if (shuttingDown) return;
    writer.ready.then(() => {
      if (shuttingDown) return undefined;
      return reader.read().then(({ value, done: end }) => {
        if (end || shuttingDown) { watch(); return; }
        lastWrite = writer.write(value);
        markHandled(lastWrite);
        step();
      });
    }).catch(() => watch());
  };
  watch();
  step();
  return done.promise;
}

expose('TransformStream', TransformStream);
expose('TransformStreamDefaultController', TransformStreamDefaultController);
