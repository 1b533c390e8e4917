//! The native half of `fetch`: the ops `fetchStart(method, url, headers,
//! body, redirect)`, which sends a host call and returns `[id, promise]`,
//! `fetchUrl(url)`, the same for a plain GET of a URL string (what
//! `fetch(url)` asks for, started before the Request and Response classes
//! load), and `fetchAbort(id)`, which gives up on one; the event loop
//! settles the promise with [`settle`] when the supervisor's reply
//! arrives. The JavaScript half (WHATWG `fetch` on
//! `Request`/`Response`/`Headers`) is `web/js/fetch.js`,
//! `web/js/fetch_types.js` and `web/js/request.js`; the ops are reachable
//! only through their closures (see `web/ops.rs`).

use mcp_v8_shared::{
    FetchRequest, FetchResponse, HostAnswer, HostCallKind, HostError, RedirectMode,
};
use v8::{FunctionCallbackArguments, Local, PinScope, ReturnValue, Value};

use super::host::{describe, LinkError};
use super::state::RunState;

/// Throws a TypeError with `message`.
fn type_error(scope: &mut PinScope, message: &str) {
    if let Some(msg) = v8::String::new(scope, message) {
        let err = v8::Exception::type_error(scope, msg);
        scope.throw_exception(err);
    }
}

/// Reads `[[name, value], ...]`.
fn header_pairs(scope: &mut PinScope, value: Local<Value>) -> Option<Vec<(String, String)>> {
    let array = Local::<v8::Array>::try_from(value).ok()?;
    let mut out = Vec::with_capacity(array.length() as usize);
    for i in 0..array.length() {
        let pair = array.get_index(scope, i)?;
        let pair = Local::<v8::Array>::try_from(pair).ok()?;
        let name = pair.get_index(scope, 0)?.to_rust_string_lossy(scope);
        let value = pair.get_index(scope, 1)?.to_rust_string_lossy(scope);
        out.push((name, value));
    }
    Some(out)
}

/// The bytes of a Uint8Array (or any ArrayBufferView); `None` for
/// undefined or null.
fn body_bytes(value: Local<Value>) -> Result<Option<Vec<u8>>, ()> {
    if value.is_null_or_undefined() {
        return Ok(None);
    }
    let view = Local::<v8::ArrayBufferView>::try_from(value).map_err(|_| ())?;
    let mut bytes = vec![0u8; view.byte_length()];
    view.copy_contents(&mut bytes);
    Ok(Some(bytes))
}

/// Native `start(method, url, headers, body, redirect)` -> `[id, promise]`.
pub(crate) fn fetch_start(
    scope: &mut PinScope,
    args: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let method = args.get(0).to_rust_string_lossy(scope);
    let url = args.get(1).to_rust_string_lossy(scope);
    let Some(headers) = header_pairs(scope, args.get(2)) else {
        return type_error(scope, "fetch: headers must be [name, value] pairs");
    };
    let Ok(body) = body_bytes(args.get(3)) else {
        return type_error(scope, "fetch: the body must be bytes");
    };
    let redirect = match args.get(4).to_rust_string_lossy(scope).as_str() {
        "manual" => RedirectMode::Manual,
        "error" => RedirectMode::Error,
        _ => RedirectMode::Follow,
    };
    let request = FetchRequest {
        method,
        url,
        headers,
        body,
        redirect,
    };
    match start(scope, request) {
        Ok(Some(pair)) => rv.set(pair),
        Ok(None) => {}
        Err(e) => type_error(scope, &format!("fetch failed: {e}")),
    }
}

/// Native `fetchUrl(url)` -> `[id, promise]` for `fetch(url)` with a URL
/// string and no init: the GET that `new Request(url)` describes, sent
/// at once. `undefined` where that Request would not be a plain GET of a
/// network URL (the string is no absolute URL, has credentials, or its
/// scheme is not http: or https:) or the call cannot start; the glue then
/// takes the full path, which reports each of those as it always does.
pub(crate) fn fetch_url(
    scope: &mut PinScope,
    args: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let input = args.get(0);
    if !input.is_string() {
        return;
    }
    // As `toUSV` does: lone surrogates become U+FFFD.
    let input = input.to_rust_string_lossy(scope);
    let Ok(url) = url::Url::parse(&input) else {
        return;
    };
    let plain = matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none();
    if !plain {
        return;
    }
    let request = FetchRequest {
        method: "GET".into(),
        url: url.into(),
        headers: Vec::new(),
        body: None,
        redirect: RedirectMode::Follow,
    };
    if let Ok(Some(pair)) = start(scope, request) {
        rv.set(pair);
    }
}

/// Sends `request` as a host call of the current run; `[id, promise]`,
/// or `None` when V8 would not make the promise (an exception is pending).
fn start<'s>(
    scope: &mut PinScope<'s, '_>,
    request: FetchRequest,
) -> Result<Option<Local<'s, Value>>, LinkError> {
    let Some(resolver) = v8::PromiseResolver::new(scope) else {
        return Ok(None);
    };
    let promise = resolver.get_promise(scope);
    let global = v8::Global::new(scope, resolver);
    let id = match scope.get_slot_mut::<RunState>() {
        Some(state) => state.host.start(HostCallKind::Fetch(request), global)?,
        None => return Err(LinkError::NoHost),
    };
    let id = v8::Integer::new_from_unsigned(scope, id);
    Ok(Some(
        v8::Array::new_with_elements(scope, &[id.into(), promise.into()]).into(),
    ))
}

/// Native `abort(id)`: the reply of call `id` will be ignored.
pub(crate) fn fetch_abort(
    scope: &mut PinScope,
    args: FunctionCallbackArguments,
    _rv: ReturnValue<Value>,
) {
    let Some(id) = args.get(0).uint32_value(scope) else {
        return;
    };
    let result = match scope.get_slot_mut::<RunState>() {
        Some(state) => state.host.abort(id),
        None => Ok(()),
    };
    if let Err(e) = result {
        type_error(scope, &format!("fetch abort failed: {e}"));
    }
}

/// A string value (empty if V8 refuses it).
fn string<'s>(scope: &PinScope<'s, '_>, text: &str) -> Local<'s, Value> {
    v8::String::new(scope, text)
        .map(Into::into)
        .unwrap_or_else(|| v8::String::empty(scope).into())
}

/// The array `fetch.js` turns into a `Response`, `[status, statusText,
/// headers, url, redirected, body]` (an array: no object shape to build
/// in every isolate), or the error to reject with (the body does not fit
/// the ArrayBuffer budget).
fn response_parts<'s>(
    scope: &mut PinScope<'s, '_>,
    response: FetchResponse,
) -> Result<Local<'s, Value>, String> {
    let room = scope
        .get_slot::<RunState>()
        .map_or(0, |s| s.array_buffer_room());
    if response.body.len() as u64 > room {
        return Err(format!(
            "the response body of {} bytes does not fit this run's ArrayBuffer limit",
            response.body.len()
        ));
    }
    let status = v8::Integer::new(scope, i32::from(response.status)).into();
    let status_text = string(scope, &response.status_text);
    let url = string(scope, &response.url);
    let redirected = v8::Boolean::new(scope, response.redirected).into();
    let mut pairs = Vec::with_capacity(response.headers.len());
    for (name, value) in &response.headers {
        let name = string(scope, name);
        let value = string(scope, value);
        pairs.push(v8::Array::new_with_elements(scope, &[name, value]).into());
    }
    let headers = v8::Array::new_with_elements(scope, &pairs).into();
    let len = response.body.len();
    let buffer = v8::ArrayBuffer::new(scope, len);
    if len > 0 {
        let store = buffer.get_backing_store();
        if let Some(data) = store.data() {
            // SAFETY: the backing store was just allocated with `len`
            // bytes and nothing else refers to it yet.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    response.body.as_ptr(),
                    data.as_ptr() as *mut u8,
                    len,
                );
            }
        }
    }
    let body = v8::Uint8Array::new(scope, buffer, 0, len).ok_or("cannot create the body")?;
    let parts = [status, status_text, headers, url, redirected, body.into()];
    Ok(v8::Array::new_with_elements(scope, &parts).into())
}

/// Settles a fetch's promise with the supervisor's answer.
pub(crate) fn settle(
    scope: &mut PinScope,
    resolver: Local<v8::PromiseResolver>,
    result: Result<HostAnswer, HostError>,
) {
    let outcome = match result {
        Ok(HostAnswer::Fetch(response)) => response_parts(scope, response),
        Ok(HostAnswer::Module(_) | HostAnswer::Woken) => {
            Err("the supervisor answered a fetch with something else".into())
        }
        Err(e) => Err(describe(&e)),
    };
    match outcome {
        Ok(value) => {
            resolver.resolve(scope, value);
        }
        Err(message) => {
            let message = string(scope, &format!("fetch failed: {message}"));
            if let Ok(message) = Local::<v8::String>::try_from(message) {
                let err = v8::Exception::type_error(scope, message);
                resolver.reject(scope, err);
            }
        }
    }
}
