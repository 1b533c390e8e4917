//! The one place a `v8::ScriptOrigin` is built: the name a script or
//! module carries in stack traces, and whether it is a module.

use v8::PinScope;

/// Whether the source is an ES module or a classic script.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SourceKind {
    Script,
    Module,
}

/// The origin of a source named `name` (no line or column offset, not
/// shared cross-origin, no source map).
pub(crate) fn script_origin<'s>(
    scope: &PinScope<'s, '_>,
    name: &str,
    kind: SourceKind,
) -> Option<v8::ScriptOrigin<'s>> {
    let name = v8::String::new(scope, name)?;
    Some(v8::ScriptOrigin::new(
        scope,
        name.into(),
        0,
        0,
        false,
        0,
        None,
        false,
        false,
        kind == SourceKind::Module,
        None,
    ))
}
