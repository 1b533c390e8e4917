//! `structuredClone` through V8's ValueSerializer/ValueDeserializer: Map,
//! Set, Date, RegExp, Error, typed arrays, ArrayBuffers (copied, or moved
//! when listed in `transfer`), object graphs with cycles.
//!
//! A value the serializer refuses (a function, a symbol, a host object)
//! comes back to the glue as the message string, which it throws as a
//! `DataCloneError` DOMException; an exception thrown by the script itself
//! during the clone (a getter) propagates unchanged.
//!
//! Memory: the copy is built in the JS heap, so a clone of a huge object
//! graph ends at the heap limit (`memory_limit`). The serialized form in
//! between lives in malloc memory; it is about the size of the graph,
//! except when one big string is referenced many times (strings are
//! written once per reference), which only the worker memory cap bounds.

use std::cell::RefCell;
use std::rc::Rc;

use v8::{
    FunctionCallbackArguments, Local, PinScope, ReturnValue, Value, ValueDeserializerHelper,
    ValueSerializerHelper,
};

use super::args;

/// The serializer delegate: records why a value could not be cloned.
struct Delegate {
    /// The serializer's message, once it refused a value.
    refused: Rc<RefCell<Option<String>>>,
}

impl v8::ValueSerializerImpl for Delegate {
    fn throw_data_clone_error<'s>(
        &self,
        scope: &mut PinScope<'s, '_>,
        message: Local<'s, v8::String>,
    ) {
        *self.refused.borrow_mut() = Some(message.to_rust_string_lossy(scope));
        let err = v8::Exception::error(scope, message);
        scope.throw_exception(err);
    }
}

/// The deserializer delegate (no host objects).
struct Reader;

impl v8::ValueDeserializerImpl for Reader {}

/// `clone(value, transfer)`: `[copy]`, or the message string when the
/// value cannot be cloned. `transfer` is an array of ArrayBuffers that the
/// glue checked (no duplicates).
pub(super) fn structured_clone(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let value = a.get(0);
    let mut transfer = Vec::new();
    if let Ok(list) = Local::<v8::Array>::try_from(a.get(1)) {
        for i in 0..list.length() {
            let Some(item) = list.get_index(scope, i) else {
                return;
            };
            match Local::<v8::ArrayBuffer>::try_from(item) {
                Ok(ab) if ab.is_detachable() && !ab.was_detached() => transfer.push(ab),
                _ => {
                    let msg = "Value in the transfer list is not a detachable ArrayBuffer";
                    return rv.set(args::js_str(scope, msg));
                }
            }
        }
    }
    let refused = Rc::new(RefCell::new(None));
    let context = scope.get_current_context();
    v8::tc_scope!(let tc, scope);
    let serializer = v8::ValueSerializer::new(
        tc,
        Box::new(Delegate {
            refused: refused.clone(),
        }),
    );
    serializer.write_header();
    for (i, ab) in transfer.iter().enumerate() {
        serializer.transfer_array_buffer(i as u32, *ab);
    }
    if serializer.write_value(context, value) != Some(true) {
        if let Some(message) = refused.borrow_mut().take() {
            if !tc.is_execution_terminating() {
                tc.reset();
                rv.set(args::js_str(tc, &message));
                return;
            }
        }
        tc.rethrow();
        return;
    }
    let data = serializer.release();
    drop(serializer);
    let deserializer = v8::ValueDeserializer::new(tc, Box::new(Reader), &data);
    for (i, ab) in transfer.iter().enumerate() {
        let store = ab.get_backing_store();
        ab.detach(None);
        let moved = v8::ArrayBuffer::with_backing_store(tc, &store);
        deserializer.transfer_array_buffer(i as u32, moved);
    }
    if deserializer.read_header(context) != Some(true) {
        tc.rethrow();
        return;
    }
    match deserializer.read_value(context) {
        Some(copy) => rv.set(args::array(tc, &[copy])),
        None => {
            tc.rethrow();
        }
    }
}
