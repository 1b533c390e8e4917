// TextEncoder, TextDecoder (every WHATWG encoding via encoding_rs), their
// stream forms, atob and btoa.

class TextEncoder {
  get encoding() { return 'utf-8'; }
  encode(input = '') { return utf8Encode(input); }
  encodeInto(source, destination) {
    requireArgs(arguments.length, 2, "Failed to execute 'encodeInto' on 'TextEncoder'");
    if (!(destination instanceof Uint8Array)) {
      throw new TypeError("Failed to execute 'encodeInto' on 'TextEncoder': parameter 2 is not of type 'Uint8Array'");
    }
    const [read, written] = ops.encodeInto(toUSV(source), destination);
    return { read, written };
  }
}
brand(TextEncoder);

const BOM_ENCODINGS = new Set(['utf-8', 'utf-16le', 'utf-16be']);

class TextDecoder {
  #encoding; #fatal; #ignoreBOM;
  #pending = null; // bytes kept between streaming calls
  #started = false; // whether output began (BOM stripped only at the start)
  constructor(label = 'utf-8', options = undefined) {
    const name = ops.encodingName(String(label).trim());
    if (name === undefined) {
      throw new RangeError(`Failed to construct 'TextDecoder': The encoding label provided ('${label}') is invalid.`);
    }
    this.#encoding = name;
    this.#fatal = !!options?.fatal;
    this.#ignoreBOM = !!options?.ignoreBOM;
  }
  get encoding() { return this.#encoding; }
  get fatal() { return this.#fatal; }
  get ignoreBOM() { return this.#ignoreBOM; }
  decode(input = undefined, options = undefined) {
    const stream = !!options?.stream;
    let bytes = input === undefined ? new Uint8Array(0) : viewOf(input, "parameter 1");
    if (this.#pending) {
      bytes = concatBytes([this.#pending, bytes]);
      this.#pending = null;
    }
    const result = ops.decode(this.#encoding, bytes, this.#fatal, stream);
    if (result === undefined) {
      this.#started = false;
      throw new TypeError(`Failed to execute 'decode' on 'TextDecoder': The encoded data was not valid for encoding ${this.#encoding}`);
    }
    let [text, kept] = result;
    if (kept > 0) this.#pending = bytes.slice(bytes.length - kept);
    if (!this.#started && !this.#ignoreBOM && BOM_ENCODINGS.has(this.#encoding) && text.charCodeAt(0) === 0xfeff) {
      text = text.slice(1);
    }
    if (text.length > 0) this.#started = true;
    if (!stream) { this.#started = false; this.#pending = null; }
    return text;
  }
}
brand(TextDecoder);

class TextEncoderStream {
  #transform;
  #carry = ''; // a lone high surrogate at the end of a chunk
  constructor() {
    this.#transform = need('streams').transformOf((chunk, c) => {
      let s = this.#carry + String(chunk);
      this.#carry = '';
      const last = s.charCodeAt(s.length - 1);
      if (last >= 0xd800 && last <= 0xdbff) { this.#carry = s.slice(-1); s = s.slice(0, -1); }
      if (s.length > 0) c.enqueue(utf8Encode(s));
    }, (c) => {
      if (this.#carry) c.enqueue(new Uint8Array([0xef, 0xbf, 0xbd]));
    });
  }
  get encoding() { return 'utf-8'; }
  get readable() { return this.#transform.readable; }
  get writable() { return this.#transform.writable; }
}
brand(TextEncoderStream);

class TextDecoderStream {
  #decoder;
  #transform;
  constructor(label = 'utf-8', options = undefined) {
    this.#decoder = new TextDecoder(label, options);
    this.#transform = need('streams').transformOf((chunk, c) => {
      const s = this.#decoder.decode(chunk, { stream: true });
      if (s) c.enqueue(s);
    }, (c) => {
      const s = this.#decoder.decode();
      if (s) c.enqueue(s);
    });
  }
  get encoding() { return this.#decoder.encoding; }
  get fatal() { return this.#decoder.fatal; }
  get ignoreBOM() { return this.#decoder.ignoreBOM; }
  get readable() { return this.#transform.readable; }
  get writable() { return this.#transform.writable; }
}
brand(TextDecoderStream);

function atob(data) {
  requireArgs(arguments.length, 1, "Failed to execute 'atob'");
  const out = ops.atob(String(data));
  if (out === undefined) {
    throw newDOMException("Failed to execute 'atob': The string to be decoded is not correctly encoded.", 'InvalidCharacterError');
  }
  return out;
}
function btoa(data) {
  requireArgs(arguments.length, 1, "Failed to execute 'btoa'");
  const out = ops.btoa(String(data));
  if (out === undefined) {
    throw newDOMException("Failed to execute 'btoa': The string to be encoded contains characters outside of the Latin1 range.", 'InvalidCharacterError');
  }
  return out;
}

expose('TextEncoder', TextEncoder);
expose('TextDecoder', TextDecoder);
expose('TextEncoderStream', TextEncoderStream);
expose('TextDecoderStream', TextDecoderStream);
expose('atob', atob);
expose('btoa', btoa);
