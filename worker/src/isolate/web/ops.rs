//! The table of native ops the JavaScript glue calls, in a fixed order.
//!
//! [`OPS`] is both what [`object`] installs (as the glue's `ops` argument)
//! and what `bindings::external_references` lists, so a startup or
//! session snapshot finds every op again. Append new ops at the end: the
//! position of an op is its index in the external references of heaps
//! already stored.

use v8::{FunctionCallback, Local, MapFnTo, PinScope};

use super::{aes, clone, compress, crypto, misc, pattern, text, url_ops};

/// `(name, callback)` of every op, in snapshot order.
pub(crate) fn table() -> Vec<(&'static str, FunctionCallback)> {
    vec![
        ("utf8Length", text::utf8_length.map_fn_to()),
        ("encodeInto", text::encode_into.map_fn_to()),
        ("encodingName", text::encoding_name.map_fn_to()),
        ("decode", text::decode.map_fn_to()),
        ("atob", text::atob.map_fn_to()),
        ("btoa", text::btoa.map_fn_to()),
        ("urlParse", url_ops::parse.map_fn_to()),
        ("urlSet", url_ops::set.map_fn_to()),
        ("formParse", url_ops::form_parse.map_fn_to()),
        ("formSerialize", url_ops::form_serialize.map_fn_to()),
        ("randomFill", crypto::random_fill.map_fn_to()),
        ("uuid", crypto::uuid.map_fn_to()),
        ("digest", crypto::digest.map_fn_to()),
        ("hmac", crypto::hmac.map_fn_to()),
        ("hmacVerify", crypto::hmac_verify.map_fn_to()),
        ("clone", clone::structured_clone.map_fn_to()),
        ("codecNew", compress::codec_new.map_fn_to()),
        ("codecPush", compress::codec_push.map_fn_to()),
        ("codecClose", compress::codec_close.map_fn_to()),
        ("now", misc::now.map_fn_to()),
        ("timeOrigin", misc::time_origin.map_fn_to()),
        ("print", misc::print.map_fn_to()),
        ("format", misc::format.map_fn_to()),
        ("inspect", misc::inspect.map_fn_to()),
        ("group", misc::group.map_fn_to()),
        ("weakTimer", super::super::timers::weak_timer.map_fn_to()),
        ("glue", super::load_glue.map_fn_to()),
        ("fetchStart", super::super::fetch::fetch_start.map_fn_to()),
        ("fetchAbort", super::super::fetch::fetch_abort.map_fn_to()),
        ("aesGcm", aes::aes_gcm_op.map_fn_to()),
        ("urlPatternParse", pattern::parse.map_fn_to()),
        ("urlPatternExec", pattern::exec.map_fn_to()),
    ]
}

/// Ops added after the lazy getter joined the external references:
/// `bindings::external_references` lists them after it, so that heaps
/// stored before keep their indexes. Append here.
pub(crate) fn later() -> Vec<(&'static str, FunctionCallback)> {
    vec![
        ("need", super::lazy::need.map_fn_to()),
        ("loadAll", super::lazy::load_all.map_fn_to()),
        ("httpToken", super::http::http_token.map_fn_to()),
        ("fetchUrl", super::super::fetch::fetch_url.map_fn_to()),
    ]
}

/// A fresh, frozen object with chunk `k`'s ops (`Chunk::ops`) as native
/// functions. Each chunk gets only its own: making a native function is
/// a few thousand instructions, and a first use loads few chunks.
pub(super) fn for_chunk<'s>(scope: &PinScope<'s, '_>, k: usize) -> Local<'s, v8::Object> {
    let null = v8::null(scope).into();
    let ops = v8::Object::with_prototype_and_properties(scope, null, &[], &[]);
    let all: Vec<_> = table().into_iter().chain(later()).collect();
    for name in super::chunks::list(super::chunks::CHUNKS[k].ops) {
        let Some(&(_, callback)) = all.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let (Some(key), Some(f)) = (
            v8::String::new(scope, name),
            // No `prototype`: cheaper to make, and an op is no constructor.
            v8::Function::builder_raw(callback)
                .constructor_behavior(v8::ConstructorBehavior::Throw)
                .build(scope),
        ) else {
            continue;
        };
        ops.set(scope, key.into(), f.into());
    }
    ops.set_integrity_level(scope, v8::IntegrityLevel::Frozen);
    ops
}
