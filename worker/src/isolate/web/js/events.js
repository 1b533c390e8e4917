// Event, CustomEvent and EventTarget (DOM Standard, without the tree:
// an event is dispatched to its target only).

let eventSet; // (event, field, value) for the dispatch algorithm
let eventGet;

class Event {
  #type; #bubbles; #cancelable; #composed; #timeStamp;
  #defaultPrevented = false; #stop = false; #stopImmediate = false;
  #target = null; #currentTarget = null; #phase = 0; #dispatching = false;
  #passive = false; #initialized = true;
  constructor(type, init = undefined) {
    requireArgs(arguments.length, 1, "Failed to construct 'Event'");
    this.#type = String(type);
    init = init ?? {};
    this.#bubbles = !!init.bubbles;
    this.#cancelable = !!init.cancelable;
    this.#composed = !!init.composed;
    this.#timeStamp = ops.now();
  }
  get type() { return this.#type; }
  get target() { return this.#target; }
  get srcElement() { return this.#target; }
  get currentTarget() { return this.#currentTarget; }
  get eventPhase() { return this.#phase; }
  get bubbles() { return this.#bubbles; }
  get cancelable() { return this.#cancelable; }
  get composed() { return this.#composed; }
  get defaultPrevented() { return this.#defaultPrevented; }
  get isTrusted() { return false; }
  get timeStamp() { return this.#timeStamp; }
  get cancelBubble() { return this.#stop; }
  set cancelBubble(v) { if (v) this.#stop = true; }
  get returnValue() { return !this.#defaultPrevented; }
  set returnValue(v) { if (!v) this.preventDefault(); }
  composedPath() { return this.#currentTarget ? [this.#currentTarget] : []; }
  preventDefault() { if (this.#cancelable && !this.#passive) this.#defaultPrevented = true; }
  stopPropagation() { this.#stop = true; }
  stopImmediatePropagation() { this.#stop = true; this.#stopImmediate = true; }
  static {
    eventGet = (e, f) => {
      if (!(e !== null && typeof e === 'object' && #type in e)) {
        throw new TypeError("parameter 1 is not of type 'Event'");
      }
      switch (f) {
        case 'dispatching': return e.#dispatching;
        case 'stopImmediate': return e.#stopImmediate;
        default: return undefined;
      }
    };
    eventSet = (e, f, v) => {
      switch (f) {
        case 'target': e.#target = v; break;
        case 'currentTarget': e.#currentTarget = v; break;
        case 'phase': e.#phase = v; break;
        case 'dispatching': e.#dispatching = v; break;
        case 'passive': e.#passive = v; break;
        case 'reset': e.#stop = false; e.#stopImmediate = false; break;
      }
    };
  }
}
for (const [name, value] of [['NONE', 0], ['CAPTURING_PHASE', 1], ['AT_TARGET', 2], ['BUBBLING_PHASE', 3]]) {
  defineProperty(Event, name, { value, enumerable: true });
  defineProperty(Event.prototype, name, { value, enumerable: true });
}
brand(Event);

class CustomEvent extends Event {
  #detail;
  constructor(type, init = undefined) {
    requireArgs(arguments.length, 1, "Failed to construct 'CustomEvent'");
    super(type, init);
    this.#detail = init?.detail ?? null;
  }
  get detail() { return this.#detail; }
}
brand(CustomEvent);

function listenerOptions(options) {
  if (typeof options === 'boolean' || options === undefined || options === null) {
    return { capture: !!options, once: false, passive: false, signal: undefined };
  }
  return { capture: !!options.capture, once: !!options.once, passive: !!options.passive, signal: options.signal };
}

class EventTarget {
  #listeners = new Map();
  constructor() {}
  addEventListener(type, callback, options = undefined) {
    requireArgs(arguments.length, 2, "Failed to execute 'addEventListener' on 'EventTarget'");
    if (callback === null || callback === undefined) return;
    if (typeof callback !== 'function' && typeof callback !== 'object') {
      throw new TypeError("The \"listener\" argument must be an instance of EventListener");
    }
    const opts = listenerOptions(options);
    if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
      throw new TypeError("The \"signal\" option must be an AbortSignal");
    }
    if (opts.signal?.aborted) return;
    type = String(type);
    let list = this.#listeners.get(type);
    if (!list) { list = []; this.#listeners.set(type, list); }
    if (list.some((l) => l.callback === callback && l.capture === opts.capture)) return;
    const entry = { callback, ...opts, removed: false };
    list.push(entry);
    if (opts.signal) {
      opts.signal.addEventListener('abort', () => this.removeEventListener(type, callback, opts));
    }
  }
  removeEventListener(type, callback, options = undefined) {
    requireArgs(arguments.length, 2, "Failed to execute 'removeEventListener' on 'EventTarget'");
    const list = this.#listeners.get(String(type));
    if (!list) return;
    const capture = listenerOptions(options).capture;
    const i = list.findIndex((l) => l.callback === callback && l.capture === capture);
    if (i >= 0) { list[i].removed = true; list.splice(i, 1); }
  }
  dispatchEvent(event) {
    requireArgs(arguments.length, 1, "Failed to execute 'dispatchEvent' on 'EventTarget'");
    if (eventGet(event, 'dispatching')) {
      throw newDOMException('The event is already being dispatched.', 'InvalidStateError');
    }
    eventSet(event, 'dispatching', true);
    eventSet(event, 'target', this);
    eventSet(event, 'currentTarget', this);
    eventSet(event, 'phase', 2);
    const list = this.#listeners.get(event.type);
    try {
      for (const l of list ? list.slice() : []) {
        if (l.removed) continue;
        if (l.once) this.removeEventListener(event.type, l.callback, l);
        eventSet(event, 'passive', l.passive);
        try {
          if (typeof l.callback === 'function') l.callback.call(this, event);
          else if (typeof l.callback.handleEvent === 'function') l.callback.handleEvent(event);
        } catch (e) {
          reportError(e);
        }
        eventSet(event, 'passive', false);
        if (eventGet(event, 'stopImmediate')) break;
      }
    } finally {
      eventSet(event, 'dispatching', false);
      eventSet(event, 'currentTarget', null);
      eventSet(event, 'phase', 0);
      eventSet(event, 'reset');
    }
    return !event.defaultPrevented;
  }
}
brand(EventTarget);

// `on<type>` event handler attributes on a prototype.
function eventHandler(proto, type) {
  const handlers = new WeakMap();
  defineProperty(proto, `on${type}`, {
    get() { return handlers.get(this)?.fn ?? null; },
    set(fn) {
      let h = handlers.get(this);
      if (!h) {
        h = { fn: null, listener: (e) => (typeof h.fn === 'function' ? h.fn.call(this, e) : undefined) };
        handlers.set(this, h);
        this.addEventListener(type, h.listener);
      }
      h.fn = typeof fn === 'function' ? fn : null;
    },
    configurable: true,
    enumerable: true,
  });
}

expose('Event', Event);
expose('CustomEvent', CustomEvent);
expose('EventTarget', EventTarget);
