// fetch(), the full path: WHATWG semantics on Request/Response. The
// request is sent to the supervisor as a host call (ops.fetchStart); the
// supervisor applies the network policy and does the IO. An AbortSignal
// gives up on the host call (ops.fetchAbort), which makes the supervisor
// drop the connection. The `fetch` global (fetch.js) calls
// `fetchRequest`, or `fetchReply` for the host call it started itself.

const NETWORK_SCHEMES = new Set(['http:', 'https:']);

async function fetchRequest(input, init = undefined) {
  requireArgs(arguments.length, 1, "Failed to execute 'fetch'");
  const request = new Request(input, init);
  const parts = requestParts(request);
  const signal = parts.signal; // null: the request has none yet, so nothing aborts it
  if (signal?.aborted) throw signal.reason;
  const scheme = parts.url.slice(0, parts.url.indexOf(':') + 1); // a serialised URL
  if (!NETWORK_SCHEMES.has(scheme)) {
    throw new TypeError(`fetch failed: the ${scheme} scheme is not supported, only http: and https:`);
  }
  const body = parts.body === null ? undefined
    : parts.body.bytes !== null ? parts.body.bytes
    : await consumeBody({ stream: parts.body.stream, bytes: null, consumed: false });
  if (signal?.aborted) throw signal.reason;
  const [id, pending] = ops.fetchStart(parts.method, parts.url, parts.headers, body, parts.redirect);
  let raw;
  if (signal === null) {
    raw = await pending;
  } else {
    const aborted = deferred();
    const undo = need('events').addAbortAlgorithm(signal, () => {
      ops.fetchAbort(id);
      aborted.reject(signal.reason);
    });
    try {
      raw = await Promise.race([pending, aborted.promise]);
    } finally {
      undo();
    }
  }
  return responseFromRaw(raw);
}

// The Response of a host call's answer, `[status, statusText, headers,
// url, redirected, body]` (fetch.rs). This and `fetchReply` run only once
// a supervisor answered, which the code cache's exercise has none of:
// parenthesised, V8 compiles them with the chunk and the cache keeps them.
const responseFromRaw = ((raw) => {
  const status = raw[0];
  return responseFromParts({
    status,
    statusText: raw[1],
    headers: raw[2],
    url: raw[3],
    redirected: raw[4],
    body: NULL_BODY_STATUS.has(status) ? null : raw[5],
  });
});

// The Response for the host call `fetch` started itself (no signal, so
// nothing aborts it): `pending` settles with the answer.
const fetchReply = (async function (pending) { return responseFromRaw(await pending); });
