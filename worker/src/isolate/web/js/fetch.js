// The `fetch` global, a chunk of its own with no dependencies. A fetch of
// a URL string alone (the common case) sends its host call first
// (ops.fetchUrl, the GET that `new Request(url)` describes) and loads
// core and the http chunk (Headers, Response, bodies) while the
// supervisor does the request, so the two overlap. ops.fetchUrl answers
// undefined where that Request would not be a plain GET of an http: or
// https: URL, or the call cannot start; every other fetch, and those,
// take the full path (the request chunk, request.js), which reports what
// is wrong.

async function fetch(input, init = undefined) {
  const started = typeof input === 'string' && init === undefined ? ops.fetchUrl(input) : undefined;
  if (started !== undefined) {
    if (shared['#http'] !== true) ops.need('http');
    return shared.fetchReply(started[1]);
  }
  if (shared['#request'] !== true) ops.need('request');
  return shared.fetchRequest(...arguments);
}

Object.defineProperty(globalThis, 'fetch', { value: fetch, writable: true, configurable: true, enumerable: false });
