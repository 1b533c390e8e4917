// crypto: getRandomValues, randomUUID and a subset of crypto.subtle
// (digest with SHA-1/256/384/512; HMAC generateKey, importKey, exportKey,
// sign, verify; AES-GCM generateKey, importKey, exportKey, encrypt,
// decrypt with 128/256-bit keys, 96-bit IVs, 128-bit tags). Other
// algorithms reject with NotSupportedError.

const newCryptoKey = Symbol('internal CryptoKey');
const HASHES = new Map([['SHA-1', 64], ['SHA-256', 64], ['SHA-384', 128], ['SHA-512', 128]]);
const INTEGER_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array,
  Int32Array, Uint32Array, BigInt64Array, BigUint64Array];

function algorithmName(alg) {
  const name = typeof alg === 'string' ? alg : alg?.name;
  if (name === undefined) throw new TypeError('Algorithm: name is missing');
  return String(name);
}
function hashName(alg) {
  const name = algorithmName(alg).toUpperCase();
  if (!HASHES.has(name)) throw newDOMException(`Unrecognized hash algorithm: ${algorithmName(alg)}`, 'NotSupportedError');
  return name;
}
function notSupported(what) {
  return rejected(newDOMException(`${what} is not supported by this runtime`, 'NotSupportedError'));
}

let keyData;
class CryptoKey {
  #type; #extractable; #algorithm; #usages; #data;
  constructor(key, type, extractable, algorithm, usages, data) {
    if (key !== newCryptoKey) throw new TypeError('Illegal constructor');
    this.#type = type;
    this.#extractable = extractable;
    this.#algorithm = freeze(algorithm);
    this.#usages = freeze([...usages]);
    this.#data = data;
  }
  get type() { return this.#type; }
  get extractable() { return this.#extractable; }
  get algorithm() { return this.#algorithm; }
  get usages() { return this.#usages; }
  static { keyData = (k) => k.#data; }
}
brand(CryptoKey);

function checkUsages(usages, allowed) {
  const list = [...usages].map(String);
  for (const u of list) {
    if (!allowed.includes(u)) throw newDOMException(`Invalid key usage: ${u}`, 'SyntaxError');
  }
  if (list.length === 0) throw newDOMException('Usages cannot be empty', 'SyntaxError');
  return list;
}
function hmacKey(alg, bytes, extractable, usages) {
  const hash = hashName(alg.hash);
  let length = bytes.byteLength * 8;
  if (alg.length !== undefined) {
    length = Number(alg.length);
    if (length === 0 || length > bytes.byteLength * 8 || length <= (bytes.byteLength - 1) * 8) {
      throw newDOMException('Invalid HMAC key length', 'DataError');
    }
  }
  return new CryptoKey(newCryptoKey, 'secret', !!extractable,
    { name: 'HMAC', hash: { name: hash }, length }, checkUsages(usages, ['sign', 'verify']), bytes);
}
function aesKey(bytes, extractable, usages) {
  if (bytes.byteLength !== 16 && bytes.byteLength !== 32) {
    throw newDOMException(`AES-GCM keys are 128 or 256 bits, not ${bytes.byteLength * 8}`, 'DataError');
  }
  return new CryptoKey(newCryptoKey, 'secret', !!extractable,
    { name: 'AES-GCM', length: bytes.byteLength * 8 }, checkUsages(usages, ['encrypt', 'decrypt']), bytes);
}
function jwkBytes(jwk) {
  if (jwk?.kty !== 'oct' || typeof jwk.k !== 'string') throw newDOMException('Invalid JWK', 'DataError');
  const b64 = jwk.k.replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
// Encrypts or decrypts with AES-GCM; `data` is copied.
function aesGcm(encrypt, algorithm, key, data) {
  checkKey(key, 'AES-GCM', encrypt ? 'encrypt' : 'decrypt');
  const iv = copyOf(algorithm.iv, 'iv');
  if (iv.byteLength !== 12) throw newDOMException('AES-GCM: only 96-bit IVs are supported', 'NotSupportedError');
  if (algorithm.tagLength !== undefined && Number(algorithm.tagLength) !== 128) {
    throw newDOMException('AES-GCM: only 128-bit tags are supported', 'NotSupportedError');
  }
  const aad = algorithm.additionalData === undefined ? new Uint8Array(0) : copyOf(algorithm.additionalData, 'additionalData');
  const out = ops.aesGcm(encrypt, keyData(key), iv, copyOf(data, 'data'), aad);
  if (out === undefined) throw newDOMException('The operation failed for an operation-specific reason', 'OperationError');
  return out;
}
function checkKey(key, name, usage) {
  if (!(key instanceof CryptoKey)) throw new TypeError("parameter 2 is not of type 'CryptoKey'");
  if (key.algorithm.name !== name) throw newDOMException('The key is not for this algorithm', 'InvalidAccessError');
  if (!key.usages.includes(usage)) throw newDOMException(`The key does not allow ${usage}`, 'InvalidAccessError');
}

// Runs `fn` and turns its result or exception into a promise.
function promised(fn) {
  try { return Promise.resolve(fn()); } catch (e) { return rejected(e); }
}

class SubtleCrypto {
  constructor(key) { if (key !== newCryptoKey) throw new TypeError('Illegal constructor'); }
  digest(algorithm, data) {
    return promised(() => {
      requireArgs(arguments.length, 2, "Failed to execute 'digest' on 'SubtleCrypto'");
      return ops.digest(hashName(algorithm), copyOf(data, 'data'));
    });
  }
  importKey(format, keyDataIn, algorithm, extractable, usages) {
    return promised(() => {
      requireArgs(arguments.length, 5, "Failed to execute 'importKey' on 'SubtleCrypto'");
      const name = algorithmName(algorithm).toUpperCase();
      if (name !== 'HMAC' && name !== 'AES-GCM') throw newDOMException(`${algorithmName(algorithm)} is not supported by this runtime`, 'NotSupportedError');
      let bytes;
      if (format === 'raw') bytes = copyOf(keyDataIn, 'keyData');
      else if (format === 'jwk') bytes = jwkBytes(keyDataIn);
      else throw newDOMException(`Key format ${format} is not supported for ${name}`, 'NotSupportedError');
      if (name === 'AES-GCM') return aesKey(bytes, extractable, usages);
      if (bytes.byteLength === 0) throw newDOMException('HMAC key data must not be empty', 'DataError');
      return hmacKey(typeof algorithm === 'object' ? algorithm : { name }, bytes, extractable, usages);
    });
  }
  exportKey(format, key) {
    return promised(() => {
      if (!(key instanceof CryptoKey)) throw new TypeError("parameter 2 is not of type 'CryptoKey'");
      if (!key.extractable) throw newDOMException('The key is not extractable', 'InvalidAccessError');
      const bytes = keyData(key);
      if (format === 'raw') return bytes.slice().buffer;
      if (format === 'jwk') {
        const k = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
        const alg = key.algorithm.name === 'AES-GCM' ? `A${key.algorithm.length}GCM` : `HS${key.algorithm.hash.name.slice(4)}`;
        return { kty: 'oct', k, alg, key_ops: [...key.usages], ext: true };
      }
      throw newDOMException(`Key format ${format} is not supported`, 'NotSupportedError');
    });
  }
  generateKey(algorithm, extractable, usages) {
    return promised(() => {
      const name = algorithmName(algorithm).toUpperCase();
      if (name === 'AES-GCM') {
        const bits = Number(algorithm.length);
        if (bits !== 128 && bits !== 256) throw newDOMException('AES-GCM key length must be 128 or 256 bits', 'OperationError');
        const bytes = new Uint8Array(bits / 8);
        ops.randomFill(bytes);
        return aesKey(bytes, extractable, usages);
      }
      if (name !== 'HMAC') {
        throw newDOMException(`${algorithmName(algorithm)} is not supported by this runtime`, 'NotSupportedError');
      }
      const hash = hashName(algorithm.hash);
      const bits = algorithm.length === undefined ? HASHES.get(hash) * 8 : Number(algorithm.length);
      const bytes = new Uint8Array(Math.ceil(bits / 8));
      ops.randomFill(bytes);
      return hmacKey({ ...algorithm, length: bits }, bytes, extractable, usages);
    });
  }
  sign(algorithm, key, data) {
    return promised(() => {
      requireArgs(arguments.length, 3, "Failed to execute 'sign' on 'SubtleCrypto'");
      if (algorithmName(algorithm).toUpperCase() !== 'HMAC') throw newDOMException('Only HMAC is supported', 'NotSupportedError');
      checkKey(key, 'HMAC', 'sign');
      return ops.hmac(key.algorithm.hash.name, keyData(key), copyOf(data, 'data'));
    });
  }
  verify(algorithm, key, signature, data) {
    return promised(() => {
      requireArgs(arguments.length, 4, "Failed to execute 'verify' on 'SubtleCrypto'");
      if (algorithmName(algorithm).toUpperCase() !== 'HMAC') throw newDOMException('Only HMAC is supported', 'NotSupportedError');
      checkKey(key, 'HMAC', 'verify');
      return ops.hmacVerify(key.algorithm.hash.name, keyData(key), copyOf(data, 'data'), copyOf(signature, 'signature'));
    });
  }
}
for (const [name, encrypt] of [['encrypt', true], ['decrypt', false]]) {
  defineProperty(SubtleCrypto.prototype, name, {
    value: function (algorithm, key, data) {
      return promised(() => {
        requireArgs(arguments.length, 3, `Failed to execute '${name}' on 'SubtleCrypto'`);
        if (algorithmName(algorithm).toUpperCase() !== 'AES-GCM') {
          throw newDOMException(`${algorithmName(algorithm)} is not supported by this runtime`, 'NotSupportedError');
        }
        return aesGcm(encrypt, algorithm, key, data);
      });
    },
    writable: true, configurable: true,
  });
}
for (const name of ['deriveBits', 'deriveKey', 'wrapKey', 'unwrapKey']) {
  defineProperty(SubtleCrypto.prototype, name, {
    value: function () { return notSupported(`crypto.subtle.${name}`); }, writable: true, configurable: true,
  });
}
brand(SubtleCrypto);

class Crypto {
  #subtle = new SubtleCrypto(newCryptoKey);
  constructor(key) { if (key !== newCryptoKey) throw new TypeError('Illegal constructor'); }
  get subtle() { return this.#subtle; }
  getRandomValues(array) {
    requireArgs(arguments.length, 1, "Failed to execute 'getRandomValues' on 'Crypto'");
    if (!INTEGER_ARRAYS.some((T) => array instanceof T)) {
      throw newDOMException("Failed to execute 'getRandomValues' on 'Crypto': The provided ArrayBufferView is not an integer array type", 'TypeMismatchError');
    }
    if (array.byteLength > 65536) {
      throw newDOMException(`Failed to execute 'getRandomValues' on 'Crypto': The ArrayBufferView's byte length (${array.byteLength}) exceeds the number of bytes of entropy available via this API (65536).`, 'QuotaExceededError');
    }
    ops.randomFill(array);
    return array;
  }
  randomUUID() { return ops.uuid(); }
}
brand(Crypto);

expose('Crypto', Crypto);
expose('CryptoKey', CryptoKey);
expose('SubtleCrypto', SubtleCrypto);
defineProperty(global, 'crypto', { value: new Crypto(newCryptoKey), writable: true, configurable: true, enumerable: true });
