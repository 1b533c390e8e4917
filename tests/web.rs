//! End-to-end tests of the web platform globals (docs/javascript.md):
//! conformance tables run through `/api/exec` of the real binary, one
//! script per API (each row: an expression and the JSON it must give),
//! console formats compared with Node's output, the same objects kept in
//! a session across runs and a restart, and the limits that must hold.

mod common;

use common::Server;
use serde_json::{json, Value};

/// Runs `rows` (expression, expected JSON) in one script, after `setup`,
/// and asserts each row. Expressions may `await`.
fn table(server: &Server, setup: &str, rows: &[(&str, Value)]) {
    let mut code = format!("(async () => {{\n{setup}\nconst __out = [];\n");
    for (expr, _) in rows {
        code.push_str(&format!(
            "try {{ __out.push(await (async () => ({expr}))()); }} \
             catch (e) {{ __out.push('threw ' + e.name + ': ' + e.message); }}\n"
        ));
    }
    code.push_str("return __out;\n})()");
    let (status, body) = server.exec(json!({ "code": code }));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    let got = body["result"].as_array().expect("an array");
    for (i, (expr, want)) in rows.iter().enumerate() {
        assert_eq!(&got[i], want, "row {i}: {expr}");
    }
}

fn exec_ok(server: &Server, code: &str) -> Value {
    let (status, body) = server.exec(json!({ "code": code }));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok", "{code}: {body}");
    body
}

#[test]
fn url_and_search_params() {
    let server = Server::start(&[]);
    table(
        &server,
        "",
        &[
            ("new URL('../c?x#y', 'http://h.example/a/b/').href", json!("http://h.example/a/c?x#y")),
            // URLPattern (urlpattern crate).
            ("new URLPattern({ pathname: '/books/:id' }).exec('https://example.com/books/123').pathname.groups", json!({"id": "123"})),
            ("[new URLPattern('/api/*', 'https://example.com').test('https://example.com/api/x/y'), new URLPattern('/api/*', 'https://example.com').test('https://other.example/api/x')]", json!([true, false])),
            ("new URLPattern({ hostname: '{*.}?example.com' }).test({ hostname: 'a.example.com' })", json!(true)),
            ("(() => { const g = new URLPattern({ pathname: '/a/:b?' }).exec({ pathname: '/a' }).pathname.groups; return ['b' in g, g.b === undefined] })()", json!([true, true])),
            ("new URLPattern({ pathname: '/A' }, { ignoreCase: true }).test({ pathname: '/a' })", json!(true)),
            ("(() => { const p = new URLPattern({ pathname: '/books/:id' }); return [p.protocol, p.pathname, p.hasRegExpGroups, new URLPattern({ pathname: '/(\\d+)' }).hasRegExpGroups] })()", json!(["*", "/books/:id", false, true])),
            ("[new URLPattern({ pathname: '/x' }).exec('https://h/y'), new URLPattern({ pathname: '/x' }).exec('not a url')]", json!([null, null])),
            ("(() => { try { new URLPattern({ pathname: '/(' }) } catch (e) { return [e.name, e.message.startsWith(\"Failed to construct 'URLPattern'\")] } })()", json!(["TypeError", true])),
            ("new URLPattern({ pathname: '/x' }).exec({ pathname: '/x' }, 'https://base/')", json!("threw TypeError: URLPattern: specifying both an init object, and a separate base URL is not valid")),
            ("new URL('//other/p', 'https://h/').href", json!("https://other/p")),
            ("new URL('HTTP://EXAMPLE.com:80/%7e?q=a b').href", json!("http://example.com/%7e?q=a%20b")),
            ("new URL('http://[0:0::1]:8080/').host", json!("[::1]:8080")),
            ("new URL('http://[::ffff:1.2.3.4]/').hostname", json!("[::ffff:102:304]")),
            ("new URL('http://münchen.de/').hostname", json!("xn--mnchen-3ya.de")),
            ("new URL('http://xn--mnchen-3ya.de/').hostname", json!("xn--mnchen-3ya.de")),
            ("new URL('http://h/ä ö').pathname", json!("/%C3%A4%20%C3%B6")),
            ("new URL('http://u:p@h:81/').origin", json!("http://h:81")),
            ("new URL('file:///tmp/x').origin", json!("null")),
            ("new URL('blob:https://a.b/uuid').origin", json!("https://a.b")),
            ("URL.canParse('nope')", json!(false)),
            ("URL.canParse('/p', 'http://h')", json!(true)),
            ("URL.parse('nope')", json!(null)),
            ("new URL('nope')", json!("threw TypeError: Invalid URL: nope")),
            ("(() => { const u = new URL('http://h/p'); u.port = '8080'; u.hash = 'f'; u.pathname = 'a b'; return u.href })()", json!("http://h:8080/a%20b#f")),
            ("(() => { const u = new URL('http://h/'); u.protocol = 'ftp'; u.port = 'x'; return u.href })()", json!("ftp://h/")),
            ("JSON.stringify({ u: new URL('http://h') })", json!("{\"u\":\"http://h/\"}")),
            ("[...new URLSearchParams('a=1&b=2+3&a=%20x&c')]", json!([["a", "1"], ["b", "2 3"], ["a", " x"], ["c", ""]])),
            ("new URLSearchParams({ q: 'a b&c=d', e: 'é' }).toString()", json!("q=a+b%26c%3Dd&e=%C3%A9")),
            ("new URLSearchParams([['x', '1'], ['y', '2']]).get('y')", json!("2")),
            ("(() => { const p = new URLSearchParams('b=2&a=1&b=1'); p.sort(); return p.toString() })()", json!("a=1&b=2&b=1")),
            ("(() => { const p = new URLSearchParams('a=1&a=2&b=3'); p.set('a', '9'); p.delete('b'); return [p.toString(), p.size, p.has('a', '9')] })()", json!(["a=9", 1, true])),
            ("(() => { const u = new URL('http://h/?a=1'); u.searchParams.append('b', 'x y'); return u.href })()", json!("http://h/?a=1&b=x+y")),
            ("(() => { const u = new URL('http://h/?a=1'); u.searchParams.delete('a'); return u.href })()", json!("http://h/")),
            ("(() => { const u = new URL('http://h/?a=1'); const p = u.searchParams; u.search = '?z=0'; return p.get('z') })()", json!("0")),
        ],
    );
}

#[test]
fn text_encoding_and_base64() {
    let server = Server::start(&[]);
    table(
        &server,
        "const te = new TextEncoder(); const bytes = (...b) => new Uint8Array(b);",
        &[
            ("[...te.encode('aé€😀')]", json!([97, 195, 169, 226, 130, 172, 240, 159, 152, 128])),
            ("[...te.encode('\\uD800x')]", json!([239, 191, 189, 120])),
            ("(() => { const d = new Uint8Array(4); const r = te.encodeInto('a€b', d); return [r.read, r.written, [...d]] })()", json!([2, 4, [97, 226, 130, 172]])),
            ("new TextDecoder().decode(bytes(0x68, 0xff, 0x69, 0xc3))", json!("h\u{fffd}i\u{fffd}")),
            ("new TextDecoder().decode(bytes(0xed, 0xa0, 0x80))", json!("\u{fffd}\u{fffd}\u{fffd}")),
            ("new TextDecoder().decode(bytes(0xf0, 0x9f, 0x98))", json!("\u{fffd}")),
            ("new TextDecoder('utf-8', { fatal: true }).decode(bytes(0xff))", json!("threw TypeError: Failed to execute 'decode' on 'TextDecoder': The encoded data was not valid for encoding utf-8")),
            ("new TextDecoder().decode(bytes(0xef, 0xbb, 0xbf, 0x41))", json!("A")),
            ("new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes(0xef, 0xbb, 0xbf, 0x41)).length", json!(2)),
            ("new TextDecoder('utf-16le').decode(bytes(0xff, 0xfe, 0x41, 0, 0x3d, 0xd8, 0, 0xde))", json!("A😀")),
            ("new TextDecoder('utf-16be').decode(bytes(0, 0x41))", json!("A")),
            ("new TextDecoder('latin1').decode(bytes(0xe9, 0x80))", json!("é€")),
            ("new TextDecoder('latin1').encoding", json!("windows-1252")),
            ("new TextDecoder(' UTF8 ').encoding", json!("utf-8")),
            ("new TextDecoder('shift_jis').decode(bytes(0x82, 0xa0))", json!("あ")),
            ("new TextDecoder('nope')", json!("threw RangeError: Failed to construct 'TextDecoder': The encoding label provided ('nope') is invalid.")),
            ("(() => { const d = new TextDecoder(); return d.decode(bytes(0xe2, 0x82), { stream: true }) + '|' + d.decode(bytes(0xac)) })()", json!("|€")),
            ("(() => { const d = new TextDecoder(); return d.decode(bytes(0xef, 0xbb), { stream: true }) + d.decode(bytes(0xbf, 0x41)) })()", json!("A")),
            ("(() => { const d = new TextDecoder('utf-16le'); return d.decode(bytes(0x3d), { stream: true }) + d.decode(bytes(0xd8, 0, 0xde)) })()", json!("😀")),
            ("btoa('hello')", json!("aGVsbG8=")),
            ("btoa('\\xff\\xfe')", json!("//4=")),
            ("btoa('€')", json!("threw InvalidCharacterError: Failed to execute 'btoa': The string to be encoded contains characters outside of the Latin1 range.")),
            ("(() => { try { btoa('😀') } catch (e) { return [e instanceof DOMException, e.code] } })()", json!([true, 5])),
            ("atob(' aGVs\\nbG8 ')", json!("hello")),
            ("atob('aGVsbG8')", json!("hello")),
            ("atob('YQ')", json!("a")),
            ("atob('a')", json!("threw InvalidCharacterError: Failed to execute 'atob': The string to be decoded is not correctly encoded.")),
            ("atob('a===')", json!("threw InvalidCharacterError: Failed to execute 'atob': The string to be decoded is not correctly encoded.")),
            ("atob('é')", json!("threw InvalidCharacterError: Failed to execute 'atob': The string to be decoded is not correctly encoded.")),
        ],
    );
}

#[test]
fn structured_clone_crypto_and_the_rest() {
    let server = Server::start(&[]);
    table(
        &server,
        "const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
         const enc = (s) => new TextEncoder().encode(s);
         const unhex = (s) => Uint8Array.from(s.match(/../g), (h) => parseInt(h, 16));",
        &[
            ("(() => { const a = { m: new Map([[1, { x: 1 }]]), s: new Set(['v']), d: new Date(5), r: /x/gi, t: new Uint16Array([7]), big: 10n }; a.self = a; const c = structuredClone(a); return [c !== a, c.self === c, c.m.get(1).x, [...c.s], c.d.getTime(), c.r.flags, c.t[0], String(c.big)] })()", json!([true, true, 1, ["v"], 5, "gi", 7, "10"])),
            ("(() => { const e = structuredClone(new RangeError('r')); return [e instanceof RangeError, e.message] })()", json!([true, "r"])),
            ("structuredClone(() => 1)", json!("threw DataCloneError: () => 1 could not be cloned.")),
            ("(() => { try { structuredClone(Symbol('s')) } catch (e) { return [e instanceof DOMException, e.name, e.code] } })()", json!([true, "DataCloneError", 25])),
            ("structuredClone({ get boom() { throw new SyntaxError('mine') } })", json!("threw SyntaxError: mine")),
            ("(() => { const ab = new ArrayBuffer(8); const c = structuredClone({ ab }, { transfer: [ab] }); return [ab.byteLength, c.ab.byteLength] })()", json!([0, 8])),
            ("(() => { const ab = new ArrayBuffer(1); return structuredClone(ab, { transfer: [ab, ab] }) })()", json!("threw DataCloneError: An ArrayBuffer is duplicated in the transfer list")),
            ("hex(await crypto.subtle.digest('SHA-256', enc('abc')))", json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")),
            ("hex(await crypto.subtle.digest('sha-1', enc('abc')))", json!("a9993e364706816aba3e25717850c26c9cd0d89d")),
            ("hex(await crypto.subtle.digest({ name: 'SHA-384' }, enc(''))).slice(0, 16)", json!("38b060a751ac9638")),
            ("hex(await crypto.subtle.digest('SHA-512', enc('abc'))).slice(0, 16)", json!("ddaf35a193617aba")),
            ("await crypto.subtle.digest('MD5', enc('abc'))", json!("threw NotSupportedError: Unrecognized hash algorithm: MD5")),
            // RFC 4231 test cases 1 and 2 (HMAC-SHA-256), 1 with SHA-512.
            ("(async () => { const k = await crypto.subtle.importKey('raw', new Uint8Array(20).fill(11), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']); return hex(await crypto.subtle.sign('HMAC', k, enc('Hi There'))) })()", json!("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")),
            ("(async () => { const k = await crypto.subtle.importKey('raw', enc('Jefe'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']); return hex(await crypto.subtle.sign('HMAC', k, enc('what do ya want for nothing?'))) })()", json!("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")),
            ("(async () => { const k = await crypto.subtle.importKey('raw', new Uint8Array(20).fill(11), { name: 'HMAC', hash: 'SHA-512' }, false, ['sign']); return hex(await crypto.subtle.sign('HMAC', k, enc('Hi There'))).slice(0, 32) })()", json!("87aa7cdea5ef619d4ff0b4241a1d6cb0")),
            ("(async () => { const k = await crypto.subtle.importKey('raw', enc('key'), { name: 'HMAC', hash: 'SHA-256' }, true, ['sign', 'verify']); const s = await crypto.subtle.sign('HMAC', k, enc('m')); return [await crypto.subtle.verify('HMAC', k, s, enc('m')), await crypto.subtle.verify('HMAC', k, s, enc('n')), hex(await crypto.subtle.exportKey('raw', k))] })()", json!([true, false, "6b6579"])),
            ("(async () => { const k = await crypto.subtle.importKey('raw', enc('key'), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']); return crypto.subtle.sign('HMAC', k, enc('m')) })()", json!("threw InvalidAccessError: The key does not allow sign")),
            // AES-GCM: NIST GCM test case 4 (128-bit key, AAD), round trips, errors.
            ("(async () => { const k = await crypto.subtle.importKey('raw', unhex('feffe9928665731c6d6a8f9467308308'), 'AES-GCM', false, ['encrypt']); return hex(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: unhex('cafebabefacedbaddecaf888'), additionalData: unhex('feedfacedeadbeeffeedfacedeadbeefabaddad2') }, k, unhex('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39'))) })()", json!("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e0915bc94fbc3221a5db94fae95ae7121a47")),
            ("(async () => { const k = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']); const iv = crypto.getRandomValues(new Uint8Array(12)); const c = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, k, enc('secret')); const p = await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, k, c); const jwk = await crypto.subtle.exportKey('jwk', k); return [new TextDecoder().decode(p), c.byteLength, jwk.alg, k.algorithm.length] })()", json!(["secret", 22, "A256GCM", 256])),
            ("(async () => { const k = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt', 'decrypt']); const iv = new Uint8Array(12); const c = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, k, enc('x'))); c[0] ^= 1; return crypto.subtle.decrypt({ name: 'AES-GCM', iv }, k, c) })()", json!("threw OperationError: The operation failed for an operation-specific reason")),
            ("(async () => { const k = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt']); return crypto.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(16) }, k, enc('x')) })()", json!("threw NotSupportedError: AES-GCM: only 96-bit IVs are supported")),
            ("(async () => { const k = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt']); return crypto.subtle.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, k, enc('x')) })()", json!("threw InvalidAccessError: The key does not allow decrypt")),
            ("await crypto.subtle.importKey('raw', new Uint8Array(24), 'AES-GCM', false, ['encrypt'])", json!("threw DataError: AES-GCM keys are 128 or 256 bits, not 192")),
            ("await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, null, enc(''))", json!("threw NotSupportedError: RSA-OAEP is not supported by this runtime")),
            ("crypto.getRandomValues(new Uint8Array(65536)).length", json!(65536)),
            ("crypto.getRandomValues(new Uint8Array(65537))", json!("threw QuotaExceededError: Failed to execute 'getRandomValues' on 'Crypto': The ArrayBufferView's byte length (65537) exceeds the number of bytes of entropy available via this API (65536).")),
            ("crypto.getRandomValues(new Float32Array(1))", json!("threw TypeMismatchError: Failed to execute 'getRandomValues' on 'Crypto': The provided ArrayBufferView is not an integer array type")),
            ("(() => { const a = crypto.getRandomValues(new Uint32Array(4)), b = crypto.getRandomValues(new Uint32Array(4)); return a.join() !== b.join() })()", json!(true)),
            ("/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID())", json!(true)),
            ("crypto.randomUUID() !== crypto.randomUUID()", json!(true)),
            ("(() => { const a = performance.now(); return [typeof a, a >= 0, Math.abs(performance.timeOrigin - Date.now()) < 60000, Math.round(a * 10) === a * 10] })()", json!(["number", true, true, true])),
            ("[navigator.hardwareConcurrency, navigator.userAgent.startsWith('mcp-v8/'), self === globalThis, globalThis.globalThis === globalThis]", json!([1, true, true, true])),
            ("[typeof fetch, typeof ops, typeof __ops, Object.getOwnPropertyNames(globalThis).filter((n) => /ops|glue/i.test(n))]", json!(["function", "undefined", "undefined", []])),
            ("(() => { const e = new DOMException('m', 'AbortError'); return [e.name, e.message, e.code, e instanceof Error, DOMException.ABORT_ERR, String(e)] })()", json!(["AbortError", "m", 20, true, 20, "AbortError: m"])),
            ("[DOMException.INUSE_ATTRIBUTE_ERR, DOMException.VALIDATION_ERR, new DOMException('x', 'DataCloneError').DATA_CLONE_ERR, Object.getOwnPropertyDescriptor(DOMException, 'ABORT_ERR').writable, Object.keys(DOMException).length]", json!([10, 16, 25, false, 25])),
            ("(() => { const t = new EventTarget(); const seen = []; t.addEventListener('x', (e) => seen.push(e.type, e.target === t), { once: true }); t.dispatchEvent(new Event('x')); t.dispatchEvent(new Event('x')); return seen })()", json!(["x", true])),
            ("(() => { const t = new EventTarget(); const e = new Event('x', { cancelable: true }); t.addEventListener('x', (ev) => ev.preventDefault()); return [t.dispatchEvent(e), e.defaultPrevented] })()", json!([false, true])),
            ("new CustomEvent('c', { detail: { n: 1 } }).detail.n", json!(1)),
            ("(() => { const c = new AbortController(); const seen = []; c.signal.onabort = (e) => seen.push(e.type); c.abort(); c.abort(); return [seen, c.signal.aborted, c.signal.reason.name] })()", json!([["abort"], true, "AbortError"])),
            ("(() => { try { AbortSignal.abort('why').throwIfAborted() } catch (e) { return e } })()", json!("why")),
            ("await new Promise((res) => { const s = AbortSignal.timeout(5); s.onabort = () => res([s.reason.name, s.reason.code]); })", json!(["TimeoutError", 23])),
            ("(() => { const c = new AbortController(); const s = AbortSignal.any([c.signal, AbortSignal.timeout(60000)]); c.abort('first'); return [s.aborted, s.reason] })()", json!([true, "first"])),
            ("AbortSignal.any([AbortSignal.abort(1)]).reason", json!(1)),
        ],
    );
}

#[test]
fn bodies_blobs_and_form_data() {
    let server = Server::start(&[]);
    table(
        &server,
        "",
        &[
            ("await new Response('{\"a\":[1]}').json()", json!({ "a": [1] })),
            ("(async () => { const r = new Response('x'); await r.text(); return [r.bodyUsed, await r.text().catch((e) => e.name + ': ' + e.message)] })()", json!([true, "TypeError: Body is unusable: Body has already been read"])),
            ("(async () => { const r = new Response(new Uint8Array([104, 105])); return [r.headers.get('content-type'), await r.text()] })()", json!([null, "hi"])),
            ("(async () => { const r = new Response('s'); return [r.headers.get('content-type'), r.status, r.ok, r.statusText, r.type] })()", json!(["text/plain;charset=UTF-8", 200, true, "", "default"])),
            ("[...new Uint8Array(await new Response(new Uint8Array([1, 2]).buffer).arrayBuffer())]", json!([1, 2])),
            ("[...await new Response('ab').bytes()]", json!([97, 98])),
            ("(async () => { const b = await new Response('xyz', { headers: { 'Content-Type': 'text/x' } }).blob(); return [b.size, b.type, await b.text()] })()", json!([3, "text/x", "xyz"])),
            ("await new Response(new Blob(['a', new Uint8Array([98]), new Blob(['c'])])).text()", json!("abc")),
            ("(async () => { const r = new Response(new URLSearchParams('a=1&b=x y')); return [r.headers.get('content-type'), await r.text()] })()", json!(["application/x-www-form-urlencoded;charset=UTF-8", "a=1&b=x+y"])),
            ("(async () => { const f = new FormData(); f.append('a', '1'); f.append('f', new Blob(['data'], { type: 'text/plain' }), 'f.txt'); const g = await new Response(f).formData(); return [g.get('a'), g.get('f').name, g.get('f').type, await g.get('f').text()] })()", json!(["1", "f.txt", "text/plain", "data"])),
            ("(async () => { const g = await new Response('a=1&a=2', { headers: { 'content-type': 'application/x-www-form-urlencoded' } }).formData(); return g.getAll('a') })()", json!(["1", "2"])),
            ("await new Response('x').formData()", json!("threw TypeError: Could not parse content as FormData (content-type text/plain;charset=UTF-8)")),
            ("(async () => { const s = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('he')); c.enqueue(new TextEncoder().encode('llo')); c.close(); } }); const r = new Response(s); const t = await r.text(); return [t, r.bodyUsed] })()", json!(["hello", true])),
            ("(async () => { const r = new Response('body'); const c = r.clone(); return [await r.text(), await c.text()] })()", json!(["body", "body"])),
            ("(async () => { const r = new Response(new Blob(['tee']).stream()); const c = r.clone(); return [await c.text(), await r.text()] })()", json!(["tee", "tee"])),
            ("(async () => { const r = new Response('x'); const rd = r.body.getReader(); return [r.bodyUsed, r.body.locked, await r.text().catch((e) => e.name)] })()", json!([false, true, "TypeError"])),
            ("new Response(null, { status: 204 }).body", json!(null)),
            ("new Response('x', { status: 204 })", json!("threw TypeError: Failed to construct 'Response': Response with null body status cannot have body")),
            ("new Response('x', { status: 99 })", json!("threw RangeError: Failed to construct 'Response': The status provided (99) is outside the range [200, 599].")),
            ("(async () => { const r = Response.json({ k: 1 }, { status: 201 }); return [r.status, r.headers.get('content-type'), await r.json()] })()", json!([201, "application/json", { "k": 1 }])),
            ("(() => { const r = Response.redirect('http://h/x', 301); return [r.status, r.headers.get('location')] })()", json!([301, "http://h/x"])),
            ("Response.error().type", json!("error")),
            ("(() => { const h = new Headers({ 'X-A': ' 1 ' }); h.append('x-a', '2'); h.append('Set-Cookie', 'a'); h.append('set-cookie', 'b'); return [h.get('x-a'), [...h], h.getSetCookie()] })()", json!(["1, 2", [["set-cookie", "a"], ["set-cookie", "b"], ["x-a", "1, 2"]], ["a", "b"]])),
            ("new Headers([['bad name', 'v']])", json!("threw TypeError: Header name \"bad name\" is not a valid HTTP token")),
            ("new Headers({ a: 'x\\ny' })", json!("threw TypeError: Header value for \"a\" contains a forbidden character")),
            ("[new Headers({ a: '\\t\\r\\n v w \\n' }).get('a'), new Headers({ a: '  ' }).get('a'), new Headers({ 'x!#$%&*+.^_`|~9': 'v' }).has('X!#$%&*+.^_`|~9')]", json!(["v w", "", true])),
            ("new Headers({ 'a\\u00e9': 'v' })", json!("threw TypeError: Header name \"a\u{e9}\" is not a valid HTTP token")),
            ("new Headers().get('')", json!("threw TypeError: Header name \"\" is not a valid HTTP token")),
            ("new Headers({ a: 'x\\0y' })", json!("threw TypeError: Header value for \"a\" contains a forbidden character")),
            ("new Request('http://h/', { method: 'GE T' })", json!("threw TypeError: 'GE T' is not a valid HTTP method")),
            ("[new Response('', { statusText: 'Caf\\u00e9\\tok' }).statusText, new Response('', { statusText: '' }).statusText]", json!(["Caf\u{e9}\tok", ""])),
            ("new Response('', { statusText: 'a\\nb' })", json!("threw TypeError: Failed to construct 'Response': Invalid statusText")),
            ("new Response('', { statusText: '\\u0100' })", json!("threw TypeError: Failed to construct 'Response': Invalid statusText")),
            ("Response.error().headers.set('a', 'b')", json!("threw TypeError: Headers are immutable")),
            ("(async () => { const q = new Request('http://h/p?q', { method: 'post', body: 'payload', headers: { a: 'b' } }); return [q.method, q.url, q.headers.get('a'), q.headers.get('content-type'), await q.text(), q.bodyUsed] })()", json!(["POST", "http://h/p?q", "b", "text/plain;charset=UTF-8", "payload", true])),
            ("new Request('http://h/', { body: 'x' })", json!("threw TypeError: Failed to construct 'Request': Request with GET/HEAD method cannot have body.")),
            ("new Request('/relative')", json!("threw TypeError: Failed to construct 'Request': Invalid URL /relative")),
            ("new Request('http://user:pw@h/')", json!("threw TypeError: Failed to construct 'Request': Request cannot be constructed from a URL that includes credentials")),
            ("[new Request(new URL('HTTP://H.example:80/a b?c')).url, new Request('http://h/').url]", json!(["http://h.example/a%20b?c", "http://h/"])),
            ("Response.redirect('http://[bad/', 302)", json!("threw TypeError: Failed to execute 'redirect' on 'Response': Invalid URL http://[bad/")),
            ("(async () => [await new Response(new Uint8Array([0xef, 0xbb, 0xbf, 0x41, 0xff])).text(), await new Response(new Uint8Array([0xef, 0xbb, 0xbf])).json().catch((e) => e.name)])()", json!(["A\u{fffd}", "SyntaxError"])),
            ("new Request('http://h/', { method: 'CONNECT' })", json!("threw TypeError: 'CONNECT' HTTP method is unsupported")),
            ("new Request('http://h/', { method: 'POST', body: new ReadableStream() })", json!("threw TypeError: Failed to construct 'Request': The `duplex` member must be specified for a request with a streaming body")),
            ("(async () => { const q = new Request('http://h/', { method: 'PUT', body: 'b' }); const c = q.clone(); return [await c.text(), await q.text(), c.method] })()", json!(["b", "b", "PUT"])),
            ("(() => { const c = new AbortController(); const q = new Request('http://h/', { signal: c.signal }); c.abort('stop'); return [q.signal.aborted, q.signal.reason] })()", json!([true, "stop"])),
            ("(async () => { const b = new Blob(['hello world'], { type: 'Text/Plain' }); const s = b.slice(-5, undefined, 'x/y'); return [b.type, s.size, s.type, await s.text(), await b.slice(2, 4).text()] })()", json!(["text/plain", 5, "x/y", "world", "ll"])),
            ("(async () => { const f = new File(['abc'], 'n.txt', { type: 'text/plain', lastModified: 42 }); return [f.name, f.size, f.lastModified, f instanceof Blob, await f.text()] })()", json!(["n.txt", 3, 42, true, "abc"])),
            ("(async () => { const chunks = []; for await (const c of new Blob([new Uint8Array(100000)]).stream()) chunks.push(c.length); return chunks })()", json!([65536, 34464])),
            ("(() => { const f = new FormData(); f.append('a', '1'); f.append('a', '2'); f.set('a', '3'); f.append('b', new Blob(['x'])); return [f.getAll('a'), f.get('b').name, [...f.keys()]] })()", json!([["3"], "blob", ["a", "b"]])),
        ],
    );
}

#[test]
fn streams_back_pressure_cancellation_and_compression() {
    let server = Server::start(&[]);
    table(
        &server,
        "const collect = async (rs) => { const out = []; for await (const c of rs) out.push(c); return out; };
         const gz = async (text, format) => new Uint8Array(await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream(format))).arrayBuffer());
         const ungz = async (bytes, format) => new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream(format))).text();",
        &[
            ("(() => { const seen = []; new ReadableStream({ start(c) { seen.push(c.desiredSize); c.enqueue('a'); seen.push(c.desiredSize); c.enqueue('b'); seen.push(c.desiredSize); } }, new CountQueuingStrategy({ highWaterMark: 2 })); return seen })()", json!([2, 1, 0])),
            ("(() => { const seen = []; new ReadableStream({ start(c) { c.enqueue(new Uint8Array(3)); seen.push(c.desiredSize); } }, new ByteLengthQueuingStrategy({ highWaterMark: 10 })); return seen })()", json!([7])),
            ("(async () => { let pulls = 0; const rs = new ReadableStream({ pull(c) { pulls++; c.enqueue(pulls); } }, { highWaterMark: 3 }); await new Promise((r) => setTimeout(r, 5)); const first = pulls; const rd = rs.getReader(); await rd.read(); await new Promise((r) => setTimeout(r, 5)); return [first, pulls] })()", json!([3, 4])),
            ("(async () => { let reason; const rs = new ReadableStream({ cancel(r) { reason = r; } }); await rs.cancel('enough'); return [reason, (await rs.getReader().read()).done] })()", json!(["enough", true])),
            ("(async () => { const rs = new ReadableStream({ start(c) { c.enqueue(1); } }); const rd = rs.getReader(); return [rs.locked, await rs.cancel().catch((e) => e.name)] })()", json!([true, "TypeError"])),
            ("(async () => { const rs = new ReadableStream({ start(c) { c.error(new RangeError('bad')); } }); return rs.getReader().read().catch((e) => e.message) })()", json!("bad")),
            ("(async () => { const log = []; const ws = new WritableStream({ write(c) { log.push(c); return new Promise((r) => setTimeout(r, 1)); } }, { highWaterMark: 2 }); const w = ws.getWriter(); const sizes = [w.desiredSize]; w.write('a'); sizes.push(w.desiredSize); w.write('b'); sizes.push(w.desiredSize); w.write('c'); sizes.push(w.desiredSize); await w.close(); return [sizes, log] })()", json!([[2, 1, 0, -1], ["a", "b", "c"]])),
            ("(async () => { let aborted; const ws = new WritableStream({ abort(r) { aborted = r; } }); await ws.abort('no'); return [aborted, await ws.getWriter().write(1).catch((e) => e)] })()", json!(["no", "no"])),
            ("(async () => { const ws = new WritableStream({ write() { throw new Error('sink') } }); const w = ws.getWriter(); return [await w.write(1).catch((e) => e.message), await w.closed.catch((e) => e.message)] })()", json!(["sink", "sink"])),
            ("(async () => { const t = new TransformStream({ transform(c, ctl) { ctl.enqueue(c.toUpperCase()); }, flush(ctl) { ctl.enqueue('!'); } }); const w = t.writable.getWriter(); w.write('a'); w.write('b'); w.close(); return collect(t.readable) })()", json!(["A", "B", "!"])),
            ("(async () => { const out = []; await ReadableStream.from(['x', 'y']).pipeTo(new WritableStream({ write(c) { out.push(c); } })); return out })()", json!(["x", "y"])),
            ("(async () => { const c = new AbortController(); const rs = new ReadableStream({ pull(ctl) { ctl.enqueue(1); } }); const p = rs.pipeTo(new WritableStream(), { signal: c.signal }); c.abort('stop'); return p.catch((e) => e) })()", json!("stop")),
            ("(async () => { const [a, b] = ReadableStream.from([1, 2]).tee(); return [await collect(a), await collect(b)] })()", json!([[1, 2], [1, 2]])),
            ("(async () => { const rs = ReadableStream.from((function* () { yield 1; yield 2; yield 3; })()); for await (const v of rs) { if (v === 2) break; } return rs.locked })()", json!(false)),
            ("new ReadableStream({ type: 'bytes' })", json!("threw RangeError: byte streams (type: 'bytes') are not supported")),
            ("(async () => collect(ReadableStream.from(['€']).pipeThrough(new TextEncoderStream()).pipeThrough(new TextDecoderStream())))()", json!(["€"])),
            ("(async () => { const z = await gz('hello hello hello', 'gzip'); return [z[0], z[1], await ungz(z, 'gzip')] })()", json!([31, 139, "hello hello hello"])),
            ("(async () => { const z = await gz('abc'.repeat(1000), 'deflate'); return [z.length < 100, z[0], (await ungz(z, 'deflate')).length] })()", json!([true, 120, 3000])),
            ("(async () => { const z = await gz('raw', 'deflate-raw'); return ungz(z, 'deflate-raw') })()", json!("raw")),
            ("(async () => { const z = await gz('x'.repeat(300000), 'gzip'); const chunks = await collect(new Blob([z]).stream().pipeThrough(new DecompressionStream('gzip'))); return [chunks.length > 1, chunks.reduce((n, c) => n + c.length, 0)] })()", json!([true, 300000])),
            ("(async () => { const z = await gz('truncated data', 'gzip'); return ungz(z.slice(0, 12), 'gzip') })()", json!("threw TypeError: The compressed data is invalid: incomplete deflate stream")),
            ("ungz(new Uint8Array([1, 2, 3, 4]), 'deflate').then(() => 'no error', (e) => e.name)", json!("TypeError")),
            ("(async () => { const z = await gz('abc', 'gzip'); return ungz(new Uint8Array([...z, 1, 2]), 'gzip') })()", json!("threw TypeError: Junk found after the end of the compressed data")),
            ("new CompressionStream('brotli')", json!("threw TypeError: Failed to construct 'CompressionStream': Unsupported compression format: 'brotli'")),
        ],
    );
}

#[test]
fn console_prints_like_node() {
    let server = Server::start(&[]);
    let body = exec_ok(
        &server,
        "console.log('%s is %d, %i, %f; %O %j %c|%%', 'Bob', 42.5, 42.9, '1.5', {x: 1}, {j: 1}, 'color: red');
         console.group('G');
         console.log('in');
         console.group();
         console.warn('deep\\nline');
         console.groupEnd();
         console.groupEnd();
         console.log('out');
         console.count(); console.count(); console.count('x'); console.countReset(); console.count();
         console.countReset('nope');
         console.assert(true, 'no'); console.assert(false, 'yes %s', 'fmt'); console.assert(false);
         console.table([{ a: 1, b: 'x' }, { a: 2, c: true }]);
         console.table(['p', { q: 1 }]);
         console.table(new Map([['k', 1]]));
         console.dir({ a: { b: { c: { d: 1 } } } }, { depth: 0 });
         console.dir({ a: { b: { c: { d: 1 } } } }, { depth: null });
         console.timeEnd('missing');
         console.time('t'); console.timeEnd('t');
         console.trace('here %d', 1);",
    );
    let lines: Vec<(String, String)> = body["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["level"].as_str().unwrap().to_string(),
                l["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // As Node 20 prints them (its warnings go to stderr asynchronously;
    // here they are warn lines in call order).
    let want = [
        ("log", "Bob is 42.5, 42, 1.5; { x: 1 } {\"j\":1} |%"),
        ("log", "G"),
        ("log", "  in"),
        ("warn", "    deep\n    line"),
        ("log", "out"),
        ("log", "default: 1"),
        ("log", "default: 2"),
        ("log", "x: 1"),
        ("log", "default: 1"),
        ("warn", "Warning: Count for 'nope' does not exist"),
        ("warn", "Assertion failed: yes fmt"),
        ("warn", "Assertion failed"),
        ("log", "┌─────────┬───┬─────┬──────┐\n│ (index) │ a │ b   │ c    │\n├─────────┼───┼─────┼──────┤\n│ 0       │ 1 │ 'x' │      │\n│ 1       │ 2 │     │ true │\n└─────────┴───┴─────┴──────┘"),
        ("log", "┌─────────┬───┬────────┐\n│ (index) │ q │ Values │\n├─────────┼───┼────────┤\n│ 0       │   │ 'p'    │\n│ 1       │ 1 │        │\n└─────────┴───┴────────┘"),
        ("log", "┌───────────────────┬─────┬────────┐\n│ (iteration index) │ Key │ Values │\n├───────────────────┼─────┼────────┤\n│ 0                 │ 'k' │ 1      │\n└───────────────────┴─────┴────────┘"),
        ("log", "{ a: [Object] }"),
        ("log", "{\n  a: { b: { c: { d: 1 } } }\n}"),
        ("warn", "Warning: No such label 'missing' for console.timeEnd()"),
    ];
    for (i, (level, text)) in want.iter().enumerate() {
        assert_eq!(
            (lines[i].0.as_str(), lines[i].1.as_str()),
            (*level, *text),
            "line {i}: {lines:?}"
        );
    }
    let time = &lines[want.len()];
    assert!(
        time.1.starts_with("t: ") && time.1.ends_with("ms"),
        "{time:?}"
    );
    let trace = &lines[want.len() + 1];
    assert_eq!(trace.0, "error");
    assert!(trace.1.starts_with("Trace: here 1\n    at "), "{trace:?}");
}

#[test]
fn web_objects_live_in_sessions_and_survive_a_restart() {
    let mut server = Server::start(&[]);
    let run = |server: &Server, code: &str| {
        let (status, body) = server.exec(json!({ "code": code, "session": "web" }));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "ok", "{code}: {body}");
        body["result"].clone()
    };
    let first = run(
        &server,
        "globalThis.u = new URL('http://h/a?x=1'); globalThis.h = new Headers({ a: '1' });
         globalThis.ac = new AbortController(); globalThis.te = new TextEncoder();
         globalThis.blob = new Blob(['kept']); globalThis.fired = [];
         ac.signal.addEventListener('abort', () => fired.push('abort'));
         globalThis.res = new Response('later');
         globalThis.pat = new URLPattern({ pathname: '/u/:name' }); 'stored'",
    );
    assert_eq!(first, json!("stored"));
    let check = "(async () => { u.searchParams.append('y', '2'); h.append('b', '2'); ac.abort('r');
         return [u.href, [...h], fired, ac.signal.reason, [...te.encode('é')], await blob.text(),
          await res.text(), typeof crypto.randomUUID(), new URL('/z', u).href,
          pat.exec('https://h/u/ada').pathname.groups.name] })()";
    let want = json!([
        "http://h/a?x=1&y=2",
        [["a", "1"], ["b", "2"]],
        ["abort"],
        "r",
        [195, 169],
        "kept",
        "later",
        "string",
        "http://h/z",
        "ada"
    ]);
    // A second session, whose first run used no web global at all: the
    // globals are still lazy in its heap and load in the next run.
    let (status, body) = server.exec(json!({ "code": "1", "session": "lazy" }));
    assert_eq!((status, &body["status"]), (200, &json!("ok")), "{body}");
    let data = server.data.clone();
    // Run 2 happens after a restart, so the heap comes from its file.
    server.stop();
    let server = Server::start_in(&data, &[]);
    assert_eq!(run(&server, check), want);
    let (status, body) = server.exec(json!({
        "code": "[new URL('http://a/b').pathname, atob(btoa('x'))]", "session": "lazy"
    }));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!(["/b", "x"]), "{body}");
}

#[test]
fn without_web_globals_scripts_get_plain_v8() {
    let server = Server::start(&["--web-globals=false"]);
    let body = exec_ok(
        &server,
        "[typeof URL, typeof Response, typeof console.log, typeof console.table, typeof setTimeout]",
    );
    assert_eq!(
        body["result"],
        json!([
            "undefined",
            "undefined",
            "function",
            "undefined",
            "function"
        ])
    );
}

#[test]
fn limits_still_hold() {
    let server = Server::start(&["--heap-memory-max", "32"]);
    // Clones of a graph, kept, end at the heap limit, not in a crash.
    let (status, body) = server.exec(json!({
        "code": "const a = []; for (let i = 0; i < 1e5; i++) a.push({ i, s: 'x' + i, n: [i] }); \
                 const all = []; for (let k = 0; k < 100; k++) all.push(structuredClone(a)); all.length",
        "timeout_ms": 20000,
    }));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "memory_limit", "{body}");
    // Decompressed output is charged to the ArrayBuffer cap (32 MiB
    // here): 8 x 8 MiB of zeros from a few KiB of gzip is refused with a
    // RangeError, and the worker lives.
    let body = exec_ok(
        &server,
        "(async () => { const z = new Uint8Array(await new Response(new Blob([new Uint8Array(8 << 20)]).stream() \
           .pipeThrough(new CompressionStream('gzip'))).arrayBuffer()); \
         const kept = []; let error = null; \
         try { for (let i = 0; i < 8; i++) kept.push(await new Response(new Blob([z]).stream() \
           .pipeThrough(new DecompressionStream('gzip'))).arrayBuffer()); } \
         catch (e) { error = e.name; } return [z.length < 65536, kept.length < 8, error]; })()",
    );
    assert_eq!(body["result"], json!([true, true, "RangeError"]), "{body}");
    let body = exec_ok(&server, "new URL('http://ok/').host");
    assert_eq!(body["result"], json!("ok"));
}

/// The supervisor builds the web globals' startup snapshot once and hands
/// it to every worker (also to a replacement); a spoiled snapshot makes
/// workers build their own (blob refused) or compile the glue from source
/// (code cache refused), never crash or lose the globals.
#[test]
fn workers_get_the_supervisors_web_snapshot_and_survive_a_bad_one() {
    const CODE: &str = "[new URL('/p?q=1', 'http://h.example').searchParams.get('q'), \
                        typeof Response, new TextEncoder().encode('é').length]";
    let want = json!(["1", "function", 2]);
    let server = Server::start(&["--workers", "2"]);
    let doc = server.wait_all_idle();
    for worker in doc["workers"].as_array().unwrap() {
        assert_eq!(worker["web_globals"], "supervisor", "{doc}");
    }
    assert_eq!(exec_ok(&server, CODE)["result"], want);
    // A replacement worker (after a run that is killed at its deadline)
    // gets the same snapshot.
    let (status, body) = server.exec(json!({ "code": "for (;;) {}", "timeout_ms": 200 }));
    assert_eq!(status, 200, "{body}");
    let doc = server.wait_all_idle();
    for worker in doc["workers"].as_array().unwrap() {
        assert_eq!(worker["web_globals"], "supervisor", "{doc}");
    }
    assert_eq!(exec_ok(&server, CODE)["result"], want);

    let plain = Server::start(&["--web-globals=false"]);
    assert_eq!(plain.wait_all_idle()["workers"][0]["web_globals"], "off");

    // Spoiling needs the test-only hook (feature `attack-hooks`).
    if !cfg!(feature = "attack-hooks") {
        return;
    }
    for (tamper, source) in [
        ("corrupt", "worker"),
        ("short", "worker"),
        ("cache", "supervisor"),
    ] {
        let server = Server::start_with_env(&[], &[("MCP_V8_TEST_TAMPER_WEB_SNAPSHOT", tamper)]);
        let doc = server.wait_all_idle();
        assert_eq!(doc["workers"][0]["web_globals"], source, "{tamper}: {doc}");
        assert_eq!(exec_ok(&server, CODE)["result"], want, "{tamper}");
    }
}
