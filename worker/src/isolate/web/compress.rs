//! `CompressionStream`/`DecompressionStream` codecs (gzip, deflate =
//! zlib, deflate-raw) through `flate2` (pure-Rust miniz_oxide backend).
//!
//! A codec's state is Rust memory, kept in the run's [`Codecs`] table and
//! named by an integer id the glue holds; it does not outlive the run (a
//! stream half-way through when a session snapshot is taken cannot go on
//! in the next run: the op throws a TypeError there). Output is handed to
//! the glue in its own JS-allocated buffers (so it counts against the
//! ArrayBuffer cap), and the op stops consuming input once 64 KiB of
//! output are pending, so a decompression bomb is bounded per call.

use std::collections::HashMap;
use std::io::Write;

use flate2::write::{
    DeflateDecoder, DeflateEncoder, GzDecoder, GzEncoder, ZlibDecoder, ZlibEncoder,
};
use flate2::Compression;
use v8::{FunctionCallbackArguments, Local, PinScope, ReturnValue, Value};

use super::super::state::RunState;
use super::args;

/// Pending output beyond which no more input is consumed.
const PENDING_MAX: usize = 64 * 1024;
/// Input read from the JS buffer per call.
const INPUT_STEP: usize = 16 * 1024;
/// Most codecs one run may have open.
const MAX_CODECS: usize = 10_000;

/// One streaming compressor or decompressor writing into a `Vec`.
trait Codec {
    fn push(&mut self, input: &[u8]) -> std::io::Result<usize>;
    fn finish(&mut self) -> std::io::Result<()>;
    fn output(&mut self) -> &mut Vec<u8>;
}

macro_rules! codec {
    ($t:ident) => {
        impl Codec for $t<Vec<u8>> {
            fn push(&mut self, input: &[u8]) -> std::io::Result<usize> {
                self.write(input)
            }
            fn finish(&mut self) -> std::io::Result<()> {
                self.try_finish()
            }
            fn output(&mut self) -> &mut Vec<u8> {
                self.get_mut()
            }
        }
    };
}
codec!(GzEncoder);
codec!(ZlibEncoder);
codec!(DeflateEncoder);
codec!(GzDecoder);
codec!(ZlibDecoder);
codec!(DeflateDecoder);

/// The open codecs of one run.
#[derive(Default)]
pub(crate) struct Codecs {
    /// Id -> codec.
    open: HashMap<u32, Box<dyn Codec>>,
    /// Last id handed out.
    last: u32,
}

/// `codecNew(format, compress)`: opens a codec; returns its id, or
/// `undefined` for an unsupported format.
pub(super) fn codec_new(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let Some(format) = args::string(scope, a.get(0)) else {
        return;
    };
    let level = Compression::default();
    let codec: Box<dyn Codec> = match (format.as_str(), a.get(1).is_true()) {
        ("gzip", true) => Box::new(GzEncoder::new(Vec::new(), level)),
        ("deflate", true) => Box::new(ZlibEncoder::new(Vec::new(), level)),
        ("deflate-raw", true) => Box::new(DeflateEncoder::new(Vec::new(), level)),
        ("gzip", false) => Box::new(GzDecoder::new(Vec::new())),
        ("deflate", false) => Box::new(ZlibDecoder::new(Vec::new())),
        ("deflate-raw", false) => Box::new(DeflateDecoder::new(Vec::new())),
        _ => return rv.set_undefined(),
    };
    let Some(state) = scope.get_slot_mut::<RunState>() else {
        return args::type_error(scope, "no run in progress");
    };
    let codecs = &mut state.codecs;
    if codecs.open.len() >= MAX_CODECS {
        return args::range_error(scope, "too many open compression streams");
    }
    codecs.last = codecs.last.wrapping_add(1).max(1);
    let id = codecs.last;
    codecs.open.insert(id, codec);
    rv.set_uint32(id);
}

/// Bytes `[offset, offset + INPUT_STEP)` of the view `value`.
fn input_slice(scope: &PinScope, value: Local<Value>, offset: usize) -> Option<Vec<u8>> {
    let view = Local::<v8::ArrayBufferView>::try_from(value).ok()?;
    let buffer = view.buffer(scope)?;
    let store = buffer.get_backing_store();
    let start = view.byte_offset() + offset.min(view.byte_length());
    let end = view.byte_offset() + view.byte_length().min(offset.saturating_add(INPUT_STEP));
    Some(store.get(start..end)?.iter().map(|c| c.get()).collect())
}

/// `codecPush(id, input, offset, out)`: feeds input from `offset` (empty
/// input and `offset < 0`: finish the stream), writes pending output into
/// the Uint8Array `out`; returns `[consumed, written]`. Throws a TypeError
/// on corrupt compressed data and closes the codec.
pub(super) fn codec_push(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let id = a.get(0).uint32_value(scope).unwrap_or(0);
    let offset = a.get(2).integer_value(scope).unwrap_or(0);
    let finish = offset < 0;
    let input = if finish {
        Vec::new()
    } else {
        match input_slice(scope, a.get(1), offset as usize) {
            Some(input) => input,
            None => return args::type_error(scope, "chunk is not a BufferSource"),
        }
    };
    let Ok(out) = Local::<v8::ArrayBufferView>::try_from(a.get(3)) else {
        return args::type_error(scope, "codecPush needs an output buffer");
    };
    let room = out.byte_length();
    let result = {
        let Some(codec) = scope
            .get_slot_mut::<RunState>()
            .and_then(|s| s.codecs.open.get_mut(&id))
        else {
            return args::type_error(
                scope,
                "this compression stream did not survive the end of its run",
            );
        };
        let mut consumed = 0;
        let mut failed = None;
        while codec.output().len() < PENDING_MAX && consumed < input.len() {
            match codec.push(&input[consumed..]) {
                Ok(0) => break,
                Ok(n) => consumed += n,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if finish && failed.is_none() && codec.output().len() < PENDING_MAX {
            failed = codec.finish().err();
        }
        let pending = codec.output();
        let n = room.min(pending.len());
        let chunk: Vec<u8> = pending.drain(..n).collect();
        (consumed, chunk, failed)
    };
    let (consumed, chunk, failed) = result;
    if let Some(e) = failed {
        if let Some(state) = scope.get_slot_mut::<RunState>() {
            state.codecs.open.remove(&id);
        }
        return args::type_error(scope, &format!("The compressed data is invalid: {e}"));
    }
    let written = args::write_into(scope, out, 0, &chunk);
    let consumed = v8::Number::new(scope, consumed as f64).into();
    let written = v8::Number::new(scope, written as f64).into();
    rv.set(args::array(scope, &[consumed, written]));
}

/// `codecClose(id)`: forgets the codec.
pub(super) fn codec_close(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    _rv: ReturnValue<Value>,
) {
    let id = a.get(0).uint32_value(scope).unwrap_or(0);
    if let Some(state) = scope.get_slot_mut::<RunState>() {
        state.codecs.open.remove(&id);
    }
}
