//! Bounds on how deep the stripper may recurse.
//!
//! SWC's parser, visitors and drop glue recurse once per nesting level, a
//! few KiB of stack each; a deeply nested script would overflow the stack
//! and kill the worker. Two bounds keep that from happening:
//!
//! 1. [`check`]: brackets (`(`, `[`, `{`, `${`) nested deeper than
//!    [`MAX_NESTING`] are a `SyntaxError` before SWC sees the script. The
//!    scan skips strings, template text and comments; regular expression
//!    literals are not recognised (a bracket inside one is counted, which
//!    can only refuse a script that is already absurdly nested).
//! 2. [`stack_bytes`]: the stripper runs on a stack of its own, sized by
//!    the script's length (at most one nesting level per byte, measured at
//!    under 3.5 KiB of stack per level, brackets being the costliest). The
//!    stack is reserved address space; only the pages a script touches
//!    cost memory, and they are unmapped when the strip returns.

use mcp_v8_shared::JsException;

use super::diagnostics::line_and_column;
use super::SCRIPT_NAME;

/// Deepest bracket nesting accepted in a TypeScript script.
pub(super) const MAX_NESTING: usize = 1000;

/// Stack per source byte given to the stripper (unoptimised builds use
/// several times more stack per frame).
const STACK_PER_BYTE: usize = if cfg!(debug_assertions) {
    32 << 10
} else {
    4 << 10
};

/// Smallest and largest stripper stack.
const STACK_BOUNDS: (usize, usize) = (64 << 20, 4 << 30);

/// The stack the stripper gets for a script of `len` bytes.
pub(super) fn stack_bytes(len: usize) -> usize {
    len.saturating_mul(STACK_PER_BYTE)
        .clamp(STACK_BOUNDS.0, STACK_BOUNDS.1)
}

/// What the scanner is inside of.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    /// `(`, `[` or `{`.
    Bracket,
    /// Text of a template literal.
    Template,
    /// `${ ... }` inside a template literal.
    Substitution,
}

/// Refuses `source` if its brackets nest deeper than [`MAX_NESTING`].
pub(super) fn check(source: &str) -> Result<(), JsException> {
    let bytes = source.as_bytes();
    let mut open: Vec<Open> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if open.last() == Some(&Open::Template) {
            match c {
                b'\\' => i += 1,
                b'`' => {
                    open.pop();
                }
                b'$' if bytes.get(i + 1) == Some(&b'{') => {
                    open.push(Open::Substitution);
                    depth += 1;
                    i += 1;
                    if depth > MAX_NESTING {
                        return Err(too_deep(source, i - 1));
                    }
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'\'' | b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != c && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => open.push(Open::Template),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'(' | b'[' | b'{' => {
                open.push(Open::Bracket);
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_deep(source, i));
                }
            }
            b')' | b']' | b'}' => {
                if let Some(Open::Bracket | Open::Substitution) = open.last() {
                    open.pop();
                    depth -= 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The `SyntaxError` for a bracket at byte `at` that nests too deep.
fn too_deep(source: &str, at: usize) -> JsException {
    let place = line_and_column(source, at)
        .map(|(line, column)| format!(" at {SCRIPT_NAME}:{line}:{column}"))
        .unwrap_or_default();
    let message = format!("brackets are nested more than {MAX_NESTING} levels deep{place}");
    JsException {
        name: "SyntaxError".into(),
        stack: Some(format!("SyntaxError: {message}")),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}1{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(check(&ok).is_ok());
        let deep = format!(
            "x;\n{}1{}",
            "[".repeat(MAX_NESTING + 1),
            "]".repeat(MAX_NESTING + 1)
        );
        let e = check(&deep).unwrap_err();
        assert_eq!(e.name, "SyntaxError");
        let column = MAX_NESTING + 1;
        assert!(
            e.message.ends_with(&format!("script.ts:2:{column}")),
            "{}",
            e.message
        );
    }

    #[test]
    fn strings_comments_and_templates_do_not_count() {
        let many = "(".repeat(MAX_NESTING * 2);
        for code in [
            format!("'{many}'"),
            format!("\"{many}\""),
            format!("// {many}\n1"),
            format!("/* {many} */"),
            format!("`{many}`"),
        ] {
            assert!(check(&code).is_ok(), "{code:.20}");
        }
        // Substitutions do count, and so do brackets inside them.
        let deep = format!("`${{{}`", "(".repeat(MAX_NESTING));
        assert!(check(&deep).is_err());
        // Closing a substitution goes back to template text.
        let code = format!("`${{a}}{many}`");
        assert!(check(&code).is_ok());
    }

    #[test]
    fn stack_grows_with_the_script() {
        assert_eq!(stack_bytes(0), 64 << 20);
        assert_eq!(stack_bytes(1 << 20), 4 << 30);
        assert!(stack_bytes(100_000) >= 400_000_000);
        assert_eq!(stack_bytes(usize::MAX), 4 << 30);
    }
}
