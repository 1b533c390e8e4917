//! TypeScript input: types are stripped, never checked, inside the
//! sandboxed worker, before the script is compiled (see `isolate::run`).
//!
//! The stripper is SWC's fast TypeScript stripper (`swc_ts_fast_strip`,
//! the one Node.js uses). Two modes, tried in this order:
//!
//! 1. Strip-only: every type annotation, interface, type alias, `declare`,
//!    `as`/`satisfies`/`!` and type-only import is replaced by whitespace.
//!    The JavaScript keeps every line and column of the TypeScript source,
//!    so V8's stack traces and errors point at the user's code as written.
//! 2. Transform, only when strip-only refuses a construct that needs code
//!    generated (an `enum`, a `namespace` with values, a constructor
//!    parameter property, `<T>expr` assertions, `import x = require()`):
//!    SWC's TypeScript transform and code generator, plus a source map.
//!    Positions in the stack of an error that ends the run are mapped back
//!    to the TypeScript source through that map ([`remap`]).
//!
//! Either way a failure to parse is a `SyntaxError` whose message ends
//! with `script.ts:LINE:COLUMN` (1-based; the column counts UTF-16 units,
//! as V8's do). Decorators are refused with a clear `SyntaxError`: V8 does
//! not run them and SWC's strip keeps them as they are.
//!
//! The stripper only parses and prints strings: no file or network IO,
//! no thread, nothing initialised lazily from files. It needs no warm-up
//! before the sandbox is sealed (worker/tests/sandbox.rs strips in a sealed
//! child that never used it before).

mod diagnostics;
mod nesting;
mod remap;

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};

use mcp_v8_shared::{ExecError, JsException, Language};
use swc_common::errors::Handler;
use swc_common::sync::Lrc;
use swc_common::{Globals, SourceMap, GLOBALS};
use swc_ts_fast_strip::{ErrorCode, Mode, Options, TransformConfig};

use diagnostics::Collector;
use remap::PositionMap;
pub use remap::{JS_SCRIPT_NAME, SCRIPT_NAME};

/// The source to compile and how to report positions in it.
pub struct Prepared<'a> {
    /// JavaScript to compile.
    code: Cow<'a, str>,
    /// `None` for JavaScript input; otherwise how positions in `code` map
    /// to the TypeScript source.
    positions: Option<PositionMap>,
}

impl Prepared<'_> {
    /// The JavaScript to compile.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Whether the source was TypeScript and needed a transform (positions
    /// are mapped through a source map rather than kept).
    pub fn transformed(&self) -> bool {
        matches!(self.positions, Some(PositionMap::SourceMap(_)))
    }

    /// Rewrites the positions in an exception's stack so that they name
    /// the TypeScript source (no-op for JavaScript input).
    pub fn remap(&self, outcome: &mut ExecError) {
        if let (Some(map), ExecError::Exception(e)) = (&self.positions, outcome) {
            if let Some(stack) = e.stack.as_mut() {
                *stack = map.remap_stack(stack);
            }
        }
    }
}

/// Turns `code` in `language` into the JavaScript to compile, or the
/// `SyntaxError` that ends the run before anything is compiled.
pub fn prepare(code: &str, language: Language) -> Result<Prepared<'_>, JsException> {
    match language {
        Language::JavaScript => Ok(Prepared {
            code: Cow::Borrowed(code),
            positions: None,
        }),
        Language::TypeScript => {
            let (code, positions) = strip(code)?;
            Ok(Prepared {
                code: Cow::Owned(code),
                positions: Some(positions),
            })
        }
    }
}

/// Strips `source`; falls back to the transform for constructs that need
/// generated code.
fn strip(source: &str) -> Result<(String, PositionMap), JsException> {
    nesting::check(source)?;
    // The stripper is not expected to panic, but untrusted input must not
    // take the worker down if it does. It recurses per nesting level, so it
    // runs on a stack sized for the script (see `nesting`).
    let stripped = catch_unwind(AssertUnwindSafe(|| {
        stacker::grow(nesting::stack_bytes(source.len()), || {
            GLOBALS.set(&Globals::new(), || match run_swc(source, Mode::StripOnly) {
                Err(Failure::Unsupported) => run_swc(source, Mode::Transform),
                other => other,
            })
        })
    }));
    match stripped {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(Failure::Syntax(e))) => Err(e),
        Ok(Err(Failure::Unsupported)) => Err(internal("refused a construct it transforms")),
        Err(_) => Err(internal("panicked")),
    }
}

/// Why a mode gave no code.
enum Failure {
    /// Strip-only found a construct it cannot blank out.
    Unsupported,
    /// The source does not parse (or the transform refused it).
    Syntax(JsException),
}

/// Runs SWC in `mode`: the JavaScript and how its positions map back.
fn run_swc(source: &str, mode: Mode) -> Result<(String, PositionMap), Failure> {
    let transform = matches!(mode, Mode::Transform);
    let cm: Lrc<SourceMap> = Lrc::default();
    let collector = Collector::default();
    let handler = Handler::with_emitter(false, false, Box::new(collector.clone()));
    // `Options::default()` parses without decorators, so that they are
    // refused with a clear message (see `diagnostics`).
    let options = Options {
        filename: Some(SCRIPT_NAME.into()),
        mode,
        transform: transform.then(transform_config),
        source_map: transform,
        ..Options::default()
    };
    match swc_ts_fast_strip::operate(&cm, &handler, source.to_string(), options) {
        Ok(out) if transform => {
            let map = out
                .map
                .as_deref()
                .and_then(|m| PositionMap::from_json(m.as_bytes()))
                .unwrap_or(PositionMap::Unknown);
            Ok((out.code, map))
        }
        Ok(out) => Ok((out.code, PositionMap::Kept)),
        Err(e) if matches!(e.code, ErrorCode::UnsupportedSyntax) && !transform => {
            Err(Failure::Unsupported)
        }
        Err(e) => Err(Failure::Syntax(collector.syntax_error(
            &cm,
            source,
            &e.to_string(),
        ))),
    }
}

/// The transform: class fields stay native (V8 runs them), and no
/// `export {}` is added to a script.
fn transform_config() -> TransformConfig {
    let mut config = TransformConfig::default();
    config.typescript.native_class_properties = true;
    config.typescript.no_empty_export = true;
    config
}

/// A failure of the stripper itself, reported as a SyntaxError of the
/// script (it is the script that cannot be run).
fn internal(what: &str) -> JsException {
    JsException {
        name: "SyntaxError".into(),
        message: format!("the TypeScript stripper {what} (internal error)"),
        stack: None,
    }
}

#[cfg(test)]
mod tests;
