//! SWC's diagnostics, collected instead of printed, and turned into the
//! `SyntaxError` a client sees: SWC's message and where in the TypeScript
//! source it points.

use std::sync::{Arc, Mutex};

use mcp_v8_shared::JsException;
use swc_common::errors::{DiagnosticBuilder, Emitter};
use swc_common::{BytePos, SourceMap};

use super::SCRIPT_NAME;

/// One emitted error: its message and where it starts.
type Seen = (String, Option<BytePos>);

/// An emitter that keeps each error's message and start position.
#[derive(Clone, Default)]
pub(super) struct Collector {
    /// Messages in the order SWC emitted them.
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Emitter for Collector {
    fn emit(&mut self, db: &mut DiagnosticBuilder<'_>) {
        let position = db.span.primary_span().map(|s| s.lo);
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((db.message(), position));
        }
    }
}

impl Collector {
    /// The `SyntaxError` for the first diagnostic (or `fallback` when SWC
    /// emitted none), with `script.ts:LINE:COLUMN` of its position in
    /// `source`.
    pub(super) fn syntax_error(&self, cm: &SourceMap, source: &str, fallback: &str) -> JsException {
        let first = self.seen.lock().ok().and_then(|seen| seen.first().cloned());
        let (message, position) = first.unwrap_or_else(|| (fallback.to_string(), None));
        let offset = position.map(|pos| cm.lookup_byte_offset(pos).pos.0 as usize);
        let message = match offset {
            Some(offset) if source.as_bytes().get(offset) == Some(&b'@') => {
                "decorators are not supported (V8 does not run them yet): apply the \
                 decorator function by hand"
                    .to_string()
            }
            _ => message,
        };
        let Some((line, column)) = offset.and_then(|o| line_and_column(source, o)) else {
            return JsException {
                name: "SyntaxError".into(),
                stack: Some(format!("SyntaxError: {message}")),
                message,
            };
        };
        let place = format!("{SCRIPT_NAME}:{line}:{column}");
        let message = format!("{message} at {place}");
        JsException {
            name: "SyntaxError".into(),
            stack: Some(format!("SyntaxError: {message}\n    at {place}")),
            message,
        }
    }
}

/// 1-based line and column of byte `offset` in `source`; the column counts
/// UTF-16 units, as V8's columns do.
pub(super) fn line_and_column(source: &str, offset: usize) -> Option<(usize, usize)> {
    let before = source.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].encode_utf16().count() + 1;
    Some((line, column))
}
