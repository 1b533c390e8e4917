// The Fetch Standard's body: extracting a body from BodyInit (string,
// BufferSource, Blob, FormData, URLSearchParams, ReadableStream) and the
// Body mixin (text, json, arrayBuffer, bytes, blob, formData, body,
// bodyUsed) of Request and Response. A body read once is used up:
// reading again is a TypeError.

// Whether `x` is an instance of the class `name` of a chunk that loads on
// first use (streams, blob): until it has, no value can be one.
const isA = (x, name) => shared[name] !== undefined && x instanceof shared[name];

function extractBody(init) {
  if (isA(init, 'ReadableStream')) {
    const rs = shared.rsOf(init);
    if (init.locked || rs.disturbed) throw new TypeError('The ReadableStream body is locked or disturbed');
    return { stream: init, bytes: null, type: null };
  }
  if (typeof init === 'string') return { stream: null, bytes: utf8Encode(init), type: 'text/plain;charset=UTF-8' };
  if (isA(init, 'URLSearchParams')) {
    return { stream: null, bytes: utf8Encode(init.toString()), type: 'application/x-www-form-urlencoded;charset=UTF-8' };
  }
  if (isA(init, 'Blob')) return { stream: null, bytes: shared.blobBytes(init), type: init.type || null };
  if (isBufferSource(init)) return { stream: null, bytes: copyOf(init), type: null };
  if (isA(init, 'FormData')) {
    const boundary = `----formdata-mcp-v8-${ops.uuid().replaceAll('-', '')}`;
    return { stream: null, bytes: multipartEncode(init, boundary), type: `multipart/form-data; boundary=${boundary}` };
  }
  return { stream: null, bytes: utf8Encode(String(init)), type: 'text/plain;charset=UTF-8' };
}

// A body: `bytes` until someone asks for `body` (then `stream`).
function newBody(extracted) {
  if (!extracted) return null;
  return { stream: extracted.stream, bytes: extracted.bytes, consumed: false };
}

function bodyStream(b) {
  if (!b) return null;
  if (!b.stream) {
    const bytes = b.bytes;
    b.bytes = null;
    const used = b.consumed;
    b.stream = need('streams').createReadable(() => undefined, (c) => {
      if (bytes.byteLength > 0) c.enqueue(bytes);
      c.close();
    }, () => undefined, 0);
    if (used) shared.rsOf(b.stream).disturbed = true;
  }
  return b.stream;
}

function bodyUsed(b) {
  if (!b) return false;
  return b.consumed || (b.stream !== null && shared.rsOf(b.stream).disturbed);
}

// All the bytes of a body, once.
function consumeBody(b) {
  if (!b) return Promise.resolve(new Uint8Array(0));
  if (bodyUsed(b) || (b.stream && b.stream.locked)) {
    return rejected(new TypeError('Body is unusable: Body has already been read'));
  }
  if (!b.stream) {
    b.consumed = true;
    return Promise.resolve(b.bytes);
  }
  const reader = b.stream.getReader();
  const chunks = [];
  let total = 0;
  const pump = () => reader.read().then(({ value, done }) => {
    if (done) return concatBytes(chunks, total);
    if (!(value instanceof Uint8Array)) {
      const e = new TypeError('Body stream chunks must be Uint8Arrays');
      reader.cancel(e);
      throw e;
    }
    chunks.push(value);
    total += value.byteLength;
    return pump();
  });
  return pump();
}

// `[stream1, stream2]` for clone(): tees the body.
function cloneBody(b) {
  if (!b) return null;
  if (bodyUsed(b) || (b.stream && b.stream.locked)) throw new TypeError('Body has already been used');
  if (!b.stream) return { stream: null, bytes: b.bytes, consumed: false };
  const [one, two] = b.stream.tee();
  b.stream = one;
  return { stream: two, bytes: null, consumed: false };
}

function mimeEssence(type) {
  return (type ?? '').split(';')[0].trim().toLowerCase();
}

// The Body mixin's methods, on a body's state `s` (`{ body, headers }`).
// Request and Response each define the eight members as one-liners that
// call these: cheaper to set up per isolate than copying them in a loop.
const bodyArrayBuffer = (s) => consumeBody(s.body)
  .then((u) => (u.byteOffset === 0 && u.byteLength === u.buffer.byteLength ? u.buffer : u.slice().buffer));
const bodyBytes = (s) => consumeBody(s.body).then((u) => u.slice());
const bodyText = (s) => consumeBody(s.body).then(utf8Decode);
const bodyJson = (s) => bodyText(s).then((t) => JSON.parse(t));
function bodyBlob(s) {
  const type = s.headers.get('content-type') ?? '';
  return consumeBody(s.body).then((u) => new (need('blob').Blob)([u], { type }));
}
function bodyFormData(s) {
  const type = s.headers.get('content-type') ?? '';
  return consumeBody(s.body).then((u) => {
    const essence = mimeEssence(type);
    if (essence === 'multipart/form-data') return multipartDecode(u, type);
    if (essence === 'application/x-www-form-urlencoded') {
      const fd = new (need('blob').FormData)();
      for (const [n, v] of new (need('url').URLSearchParams)(utf8Decode(u))) fd.append(n, v);
      return fd;
    }
    throw new TypeError(`Could not parse content as FormData (content-type ${type || 'missing'})`);
  });
}

const escapeName = (s) => s.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22');

function multipartEncode(form, boundary) {
  const chunks = [];
  for (const [name, value] of form) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(name.replace(/\r\n|\r|\n/g, '\r\n'))}"`;
    if (typeof value === 'string') {
      chunks.push(utf8Encode(`${head}\r\n\r\n${value.replace(/\r\n|\r|\n/g, '\r\n')}\r\n`));
    } else {
      head += `; filename="${escapeName(value.name)}"\r\nContent-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`;
      chunks.push(utf8Encode(head), shared.blobBytes(value), utf8Encode('\r\n'));
    }
  }
  chunks.push(utf8Encode(`--${boundary}--\r\n`));
  return concatBytes(chunks);
}

function indexOfBytes(hay, needle, from) {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function multipartDecode(bytes, type) {
  const m = /;\s*boundary=("([^"]*)"|[^;]*)/i.exec(type);
  const boundary = m ? (m[2] ?? m[1]).trim() : '';
  if (!boundary) throw new TypeError('multipart/form-data without a boundary');
  const delim = utf8Encode(`--${boundary}`);
  const crlf2 = utf8Encode('\r\n\r\n');
  const fd = new (need('blob').FormData)();
  let at = indexOfBytes(bytes, delim, 0);
  if (at < 0) throw new TypeError('multipart body has no boundary');
  for (;;) {
    at += delim.length;
    if (bytes[at] === 0x2d && bytes[at + 1] === 0x2d) return fd; // "--": the end
    if (bytes[at] === 0x0d && bytes[at + 1] === 0x0a) at += 2;
    const headEnd = indexOfBytes(bytes, crlf2, at);
    if (headEnd < 0) throw new TypeError('malformed multipart part');
    const head = utf8Decode(bytes.subarray(at, headEnd));
    const next = indexOfBytes(bytes, delim, headEnd + 4);
    if (next < 0) throw new TypeError('multipart body is truncated');
    let end = next;
    if (bytes[end - 2] === 0x0d && bytes[end - 1] === 0x0a) end -= 2;
    const content = bytes.slice(headEnd + 4, end);
    const headers = new Map();
    for (const line of head.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    const disp = headers.get('content-disposition') ?? '';
    const name = /;\s*name="([^"]*)"/i.exec(disp)?.[1];
    if (name === undefined) throw new TypeError('multipart part without a name');
    const filename = /;\s*filename="([^"]*)"/i.exec(disp)?.[1];
    if (filename !== undefined) {
      fd.append(name, new shared.File([content], filename, { type: headers.get('content-type') ?? '' }));
    } else {
      fd.append(name, utf8Decode(content));
    }
    at = next;
  }
}
