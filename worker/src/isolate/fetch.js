// The JavaScript half of `fetch` (WHATWG semantics on Request, Response,
// Headers and AbortSignal). Evaluates to a function that receives the
// natives from fetch.rs and defines globalThis.fetch; the natives stay in
// this closure only.
(function installFetch(start, abort) {
  'use strict';
  const NULL_BODY = new Set([101, 103, 204, 205, 304]);

  async function requestBody(request) {
    if (request.body === null || request.body === undefined) return undefined;
    return new Uint8Array(await request.arrayBuffer());
  }

  function toResponse(raw) {
    const body = NULL_BODY.has(raw.status) ? null : raw.body;
    const response = new Response(body, {
      status: raw.status,
      statusText: raw.statusText,
      headers: raw.headers,
    });
    Object.defineProperty(response, 'url', { value: raw.url });
    Object.defineProperty(response, 'redirected', { value: raw.redirected });
    return response;
  }

  async function fetch(input, init) {
    const request = new Request(input, init);
    const signal = request.signal;
    if (signal && signal.aborted) throw signal.reason;
    const url = request.url;
    if (!/^https?:/i.test(url)) {
      throw new TypeError(`fetch failed: only http: and https: URLs are supported, not ${url}`);
    }
    const headers = [];
    request.headers.forEach((value, name) => headers.push([name, value]));
    const body = await requestBody(request);
    if (signal && signal.aborted) throw signal.reason;
    const [id, pending] = start(request.method, url, headers, body, request.redirect);
    if (!signal) return toResponse(await pending);
    let onAbort;
    const aborted = new Promise((_, reject) => {
      onAbort = () => {
        abort(id);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return toResponse(await Promise.race([pending, aborted]));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  Object.defineProperty(globalThis, 'fetch', {
    value: fetch,
    writable: true,
    enumerable: false,
    configurable: true,
  });
})
