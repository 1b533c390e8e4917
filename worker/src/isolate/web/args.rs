//! Small helpers the ops share: reading bytes and strings from arguments,
//! building results, throwing errors.

use v8::{Local, PinScope, Value};

/// Throws a `TypeError` with `message`.
pub(super) fn type_error(scope: &mut PinScope, message: &str) {
    if let Some(msg) = v8::String::new(scope, message) {
        let err = v8::Exception::type_error(scope, msg);
        scope.throw_exception(err);
    }
}

/// Throws a `RangeError` with `message`.
pub(super) fn range_error(scope: &mut PinScope, message: &str) {
    if let Some(msg) = v8::String::new(scope, message) {
        let err = v8::Exception::range_error(scope, msg);
        scope.throw_exception(err);
    }
}

/// A copy of the bytes of an ArrayBuffer, SharedArrayBuffer or view.
pub(super) fn bytes(value: Local<Value>) -> Option<Vec<u8>> {
    if let Ok(view) = Local::<v8::ArrayBufferView>::try_from(value) {
        let mut out = vec![0; view.byte_length()];
        let n = view.copy_contents(&mut out);
        out.truncate(n);
        return Some(out);
    }
    let store = if let Ok(ab) = Local::<v8::ArrayBuffer>::try_from(value) {
        ab.get_backing_store()
    } else if let Ok(sab) = Local::<v8::SharedArrayBuffer>::try_from(value) {
        sab.get_backing_store()
    } else {
        return None;
    };
    Some(store.iter().map(|cell| cell.get()).collect())
}

/// The argument as a string (`String(value)`), `None` if that threw.
pub(super) fn string(scope: &mut PinScope, value: Local<Value>) -> Option<String> {
    let s = value.to_string(scope)?;
    Some(s.to_rust_string_lossy(scope))
}

/// A new ArrayBuffer holding `data` (small results only: digests, MACs;
/// the memory is not charged to the isolate's ArrayBuffer budget).
pub(super) fn array_buffer<'s>(scope: &PinScope<'s, '_>, data: Vec<u8>) -> Local<'s, Value> {
    let store = v8::ArrayBuffer::new_backing_store_from_vec(data).make_shared();
    v8::ArrayBuffer::with_backing_store(scope, &store).into()
}

/// A JS array of the given values.
pub(super) fn array<'s>(scope: &PinScope<'s, '_>, items: &[Local<'s, Value>]) -> Local<'s, Value> {
    v8::Array::new_with_elements(scope, items).into()
}

/// A JS string (empty if V8 refuses it, i.e. beyond its maximum length).
pub(super) fn js_str<'s>(scope: &PinScope<'s, '_>, s: &str) -> Local<'s, Value> {
    match v8::String::new(scope, s) {
        Some(s) => s.into(),
        None => v8::String::empty(scope).into(),
    }
}

/// Writes `src` into the view `dest` at byte `offset`; returns how many
/// bytes fitted.
pub(super) fn write_into(
    scope: &PinScope,
    dest: Local<v8::ArrayBufferView>,
    offset: usize,
    src: &[u8],
) -> usize {
    let Some(buffer) = dest.buffer(scope) else {
        return 0;
    };
    let store = buffer.get_backing_store();
    let start = dest.byte_offset() + offset;
    let end = dest.byte_offset() + dest.byte_length();
    let room = end.saturating_sub(start);
    let n = room.min(src.len());
    for (i, b) in src[..n].iter().enumerate() {
        if let Some(cell) = store.get(start + i) {
            cell.set(*b);
        }
    }
    n
}
