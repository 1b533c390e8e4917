// The `fetch` global, a chunk of its own with no dependencies. A fetch of
// a URL string alone (the common case) sends its host call first
// (ops.fetchUrl, the GET that `new Request(url)` describes) and loads
// core and the http chunk (Headers, Request, Response) while the
// supervisor does the request, so the two overlap. ops.fetchUrl answers
// undefined where that Request would not be a plain GET of an http: or
// https: URL, or the call cannot start; every other fetch, and those,
// take the full path (fetch_http.js), which reports what is wrong.

async function fetch(input, init = undefined) {
  const started = typeof input === 'string' && init === undefined ? ops.fetchUrl(input) : undefined;
  if (shared['#http'] !== true) ops.need('http');
  return started === undefined ? shared.fetchRequest(...arguments) : shared.fetchReply(started[1]);
}

Object.defineProperty(globalThis, 'fetch', { value: fetch, writable: true, configurable: true, enumerable: false });
