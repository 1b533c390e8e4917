// structuredClone, performance, navigator, self, CompressionStream and
// DecompressionStream.

// The key of the illegal constructors below.
const INTERNAL = Symbol('internal');

function structuredClone(value, options = undefined) {
  requireArgs(arguments.length, 1, "Failed to execute 'structuredClone'");
  const transfer = options?.transfer === undefined ? [] : [...options.transfer];
  if (new Set(transfer).size !== transfer.length) {
    throw newDOMException('An ArrayBuffer is duplicated in the transfer list', 'DataCloneError');
  }
  const result = ops.clone(value, transfer);
  if (typeof result === 'string') throw newDOMException(result, 'DataCloneError');
  return result[0];
}
expose('structuredClone', structuredClone);

class Performance extends EventTarget {
  constructor(key) {
    if (key !== INTERNAL) throw new TypeError('Illegal constructor');
    super();
  }
  get timeOrigin() { return ops.timeOrigin(); }
  now() { return ops.now(); }
  toJSON() { return { timeOrigin: this.timeOrigin }; }
}
brand(Performance);
expose('Performance', Performance);
defineProperty(global, 'performance', { value: new Performance(INTERNAL), writable: true, configurable: true, enumerable: true });

class Navigator {
  constructor(key) { if (key !== INTERNAL) throw new TypeError('Illegal constructor'); }
  get userAgent() { return USER_AGENT; }
  get hardwareConcurrency() { return 1; }
  get language() { return 'en-US'; }
  get languages() { return ['en-US']; }
}
brand(Navigator);
expose('Navigator', Navigator);
defineProperty(global, 'navigator', { value: new Navigator(INTERNAL), writable: true, configurable: true, enumerable: true });
defineProperty(global, 'self', { value: global, writable: true, configurable: true, enumerable: true });

const FORMATS = ['gzip', 'deflate', 'deflate-raw'];
const CODEC_OUT = 65536;

// A TransformStream running a flate2 codec (see web/compress.rs).
function codecStream(format, compress, what) {
  format = String(format);
  if (!FORMATS.includes(format)) {
    throw new TypeError(`Failed to construct '${what}': Unsupported compression format: '${format}'`);
  }
  let id = 0;
  const run = (c, input, finish) => {
    if (id === 0) id = ops.codecNew(format, compress);
    let offset = 0;
    for (;;) {
      const out = new Uint8Array(CODEC_OUT);
      const [consumed, written] = ops.codecPush(id, input, finish ? -1 : offset, out);
      offset += consumed;
      if (written > 0) c.enqueue(written === CODEC_OUT ? out : out.slice(0, written));
      if (finish) {
        if (written === 0) break;
      } else if (written === 0 && (consumed === 0 || offset >= input.byteLength)) {
        if (offset < input.byteLength) throw new TypeError('Junk found after the end of the compressed data');
        break;
      }
    }
  };
  return need('streams').transformOf(
    (chunk, c) => run(c, viewOf(chunk, 'chunk'), false),
    (c) => { run(c, new Uint8Array(0), true); ops.codecClose(id); },
    () => { if (id) ops.codecClose(id); });
}

class CompressionStream {
  #transform;
  constructor(format) {
    requireArgs(arguments.length, 1, "Failed to construct 'CompressionStream'");
    this.#transform = codecStream(format, true, 'CompressionStream');
  }
  get readable() { return this.#transform.readable; }
  get writable() { return this.#transform.writable; }
}
brand(CompressionStream);

class DecompressionStream {
  #transform;
  constructor(format) {
    requireArgs(arguments.length, 1, "Failed to construct 'DecompressionStream'");
    this.#transform = codecStream(format, false, 'DecompressionStream');
  }
  get readable() { return this.#transform.readable; }
  get writable() { return this.#transform.writable; }
}
brand(DecompressionStream);

expose('CompressionStream', CompressionStream);
expose('DecompressionStream', DecompressionStream);
