// Blob, File and FormData. A Blob holds its bytes in one Uint8Array,
// copied when the Blob is made (Blobs are immutable).

let blobBytes; // blob -> its Uint8Array (not a copy: do not modify)

function normalizeType(type) {
  const t = String(type ?? '');
  return /^[\x20-\x7e]*$/.test(t) ? t.toLowerCase() : '';
}

class Blob {
  #bytes;
  #type;
  constructor(parts = undefined, options = undefined) {
    const chunks = [];
    if (parts !== undefined) {
      if (parts === null || typeof parts !== 'object' || typeof parts[Symbol.iterator] !== 'function') {
        throw new TypeError("Failed to construct 'Blob': The provided value cannot be converted to a sequence.");
      }
      const native = options?.endings === 'native';
      for (const part of parts) {
        if (part instanceof Blob) chunks.push(part.#bytes);
        else if (isBufferSource(part)) chunks.push(copyOf(part));
        else {
          let s = toUSV(part);
          if (native) s = s.replace(/\r\n|\r/g, '\n');
          chunks.push(utf8Encode(s));
        }
      }
    }
    this.#bytes = chunks.length === 1 ? chunks[0].slice() : concatBytes(chunks);
    this.#type = normalizeType(options?.type);
  }
  get size() { return this.#bytes.byteLength; }
  get type() { return this.#type; }
  slice(start = undefined, end = undefined, contentType = undefined) {
    const size = this.#bytes.byteLength;
    const clamp = (v, d) => {
      if (v === undefined) return d;
      v = Math.trunc(Number(v)) || 0;
      return v < 0 ? Math.max(size + v, 0) : Math.min(v, size);
    };
    const from = clamp(start, 0);
    const to = clamp(end, size);
    const blob = new Blob([], { type: contentType });
    blob.#bytes = this.#bytes.slice(from, Math.max(from, to));
    return blob;
  }
  text() { return Promise.resolve(new TextDecoder().decode(this.#bytes)); }
  arrayBuffer() { return Promise.resolve(this.#bytes.slice().buffer); }
  bytes() { return Promise.resolve(this.#bytes.slice()); }
  stream() {
    const bytes = this.#bytes;
    let at = 0;
    return need('streams').createReadable(() => undefined, (c) => {
      if (at >= bytes.byteLength) { c.close(); return; }
      const n = Math.min(65536, bytes.byteLength - at);
      c.enqueue(bytes.slice(at, at + n));
      at += n;
    }, () => undefined, 0);
  }
  static {
    blobBytes = (b) => b.#bytes;
  }
}
brand(Blob);

class File extends Blob {
  #name;
  #lastModified;
  constructor(bits, name, options = undefined) {
    requireArgs(arguments.length, 2, "Failed to construct 'File'");
    super(bits, options);
    this.#name = toUSV(name);
    this.#lastModified = options?.lastModified === undefined ? Date.now() : Math.trunc(Number(options.lastModified)) || 0;
  }
  get name() { return this.#name; }
  get lastModified() { return this.#lastModified; }
  get webkitRelativePath() { return ''; }
}
brand(File);

function formEntry(name, value, filename) {
  name = toUSV(name);
  if (value instanceof Blob) {
    if (!(value instanceof File) || filename !== undefined) {
      const fname = filename !== undefined ? toUSV(filename) : value instanceof File ? value.name : 'blob';
      value = new File([value], fname, { type: value.type, lastModified: value instanceof File ? value.lastModified : undefined });
    }
    return [name, value];
  }
  return [name, toUSV(value)];
}

class FormData {
  #list = [];
  constructor(form = undefined, submitter = undefined) {
    if (form !== undefined) throw new TypeError("Failed to construct 'FormData': there are no HTML forms here");
  }
  append(name, value, filename = undefined) {
    requireArgs(arguments.length, 2, "Failed to execute 'append' on 'FormData'");
    this.#list.push(formEntry(name, value, filename));
  }
  delete(name) {
    requireArgs(arguments.length, 1, "Failed to execute 'delete' on 'FormData'");
    name = toUSV(name);
    this.#list = this.#list.filter(([n]) => n !== name);
  }
  get(name) {
    requireArgs(arguments.length, 1, "Failed to execute 'get' on 'FormData'");
    name = toUSV(name);
    return this.#list.find(([n]) => n === name)?.[1] ?? null;
  }
  getAll(name) {
    requireArgs(arguments.length, 1, "Failed to execute 'getAll' on 'FormData'");
    name = toUSV(name);
    return this.#list.filter(([n]) => n === name).map(([, v]) => v);
  }
  has(name) {
    requireArgs(arguments.length, 1, "Failed to execute 'has' on 'FormData'");
    name = toUSV(name);
    return this.#list.some(([n]) => n === name);
  }
  set(name, value, filename = undefined) {
    requireArgs(arguments.length, 2, "Failed to execute 'set' on 'FormData'");
    const entry = formEntry(name, value, filename);
    const i = this.#list.findIndex(([n]) => n === entry[0]);
    if (i < 0) this.#list.push(entry);
    else {
      this.#list[i] = entry;
      this.#list = this.#list.filter(([n], j) => j <= i || n !== entry[0]);
    }
  }
  forEach(callback, thisArg = undefined) {
    if (typeof callback !== 'function') throw new TypeError("parameter 1 is not of type 'Function'");
    for (let i = 0; i < this.#list.length; i++) callback.call(thisArg, this.#list[i][1], this.#list[i][0], this);
  }
  *entries() { for (let i = 0; i < this.#list.length; i++) yield [...this.#list[i]]; }
  *keys() { for (let i = 0; i < this.#list.length; i++) yield this.#list[i][0]; }
  *values() { for (let i = 0; i < this.#list.length; i++) yield this.#list[i][1]; }
  [Symbol.iterator]() { return this.entries(); }
}
brand(FormData);

expose('Blob', Blob);
expose('File', File);
expose('FormData', FormData);
