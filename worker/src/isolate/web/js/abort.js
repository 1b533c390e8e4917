// AbortController and AbortSignal (with `timeout` and `any`).

let signalAbort; // (signal, reason) runs the abort steps
let newSignal;

class AbortSignal extends EventTarget {
  #aborted = false;
  #reason = undefined;
  #algorithms = new Set(); // internal abort steps (streams, any())
  constructor(key) {
    if (key !== newSignal) throw new TypeError('Illegal constructor');
    super();
  }
  get aborted() { return this.#aborted; }
  get reason() { return this.#reason; }
  throwIfAborted() { if (this.#aborted) throw this.#reason; }
  static abort(reason = undefined) {
    const s = new AbortSignal(newSignal);
    s.#aborted = true;
    s.#reason = reason === undefined ? newDOMException('This operation was aborted', 'AbortError') : reason;
    return s;
  }
  static timeout(ms) {
    requireArgs(arguments.length, 1, "Failed to execute 'timeout' on 'AbortSignal'");
    ms = Number(ms);
    if (!Number.isFinite(ms) || ms < 0 || ms > Number.MAX_SAFE_INTEGER) {
      throw new TypeError("The provided value is outside the range of 'unsigned long long'");
    }
    const s = new AbortSignal(newSignal);
    // A weak timer: it does not keep the run alive, like Node's unref'd one.
    ops.weakTimer(() => {
      signalAbort(s, newDOMException('The operation was aborted due to timeout', 'TimeoutError'));
    }, ms);
    return s;
  }
  static any(signals) {
    requireArgs(arguments.length, 1, "Failed to execute 'any' on 'AbortSignal'");
    const list = [...signals];
    for (const s of list) {
      if (!(s instanceof AbortSignal)) throw new TypeError("parameter 1 is not of type 'AbortSignal'");
    }
    const result = new AbortSignal(newSignal);
    const done = list.find((s) => s.aborted);
    if (done) {
      result.#aborted = true;
      result.#reason = done.reason;
      return result;
    }
    for (const s of list) {
      s.#algorithms.add(() => signalAbort(result, s.reason));
    }
    return result;
  }
  static {
    newSignal = Symbol('new AbortSignal');
    signalAbort = (s, reason) => {
      if (s.#aborted) return;
      s.#aborted = true;
      s.#reason = reason === undefined ? newDOMException('This operation was aborted', 'AbortError') : reason;
      const steps = [...s.#algorithms];
      s.#algorithms.clear();
      for (const step of steps) step();
      s.dispatchEvent(new Event('abort'));
    };
  }
  // Internal: runs `fn` when aborted; returns a function that undoes it.
  static addAlgorithm(signal, fn) {
    signal.#algorithms.add(fn);
    return () => signal.#algorithms.delete(fn);
  }
}
const addAbortAlgorithm = AbortSignal.addAlgorithm;
delete AbortSignal.addAlgorithm;
eventHandler(AbortSignal.prototype, 'abort');
brand(AbortSignal);

class AbortController {
  #signal = new AbortSignal(newSignal);
  get signal() { return this.#signal; }
  abort(reason = undefined) { signalAbort(this.#signal, reason); }
}
brand(AbortController);

expose('AbortSignal', AbortSignal);
expose('AbortController', AbortController);
