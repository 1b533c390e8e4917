//! Positions in the stack of an error from a TypeScript run, mapped back
//! to the TypeScript source and named `script.ts`.
//!
//! V8 names the compiled script `script.js` (see `isolate::run`) and
//! writes its frames as `script.js:LINE:COLUMN` (1-based). Stripped code
//! keeps every position, so only the name changes; transformed code is
//! mapped through the transform's source map.

/// Name of the compiled script in V8's stacks (`isolate::run` names the
/// script by this constant).
pub const JS_SCRIPT_NAME: &str = "script.js";

/// Name of a TypeScript script in errors and stacks.
pub const SCRIPT_NAME: &str = "script.ts";

/// How positions in the compiled JavaScript relate to the TypeScript.
pub(super) enum PositionMap {
    /// Identical (strip-only blanks types with spaces).
    Kept,
    /// Through the transform's source map.
    SourceMap(Box<swc_sourcemap::SourceMap>),
    /// Not known (the transform gave no usable map): left as they are.
    Unknown,
}

impl PositionMap {
    /// A map from the transform's source map JSON.
    pub(super) fn from_json(json: &[u8]) -> Option<PositionMap> {
        swc_sourcemap::SourceMap::from_slice(json)
            .ok()
            .map(|m| PositionMap::SourceMap(Box::new(m)))
    }

    /// `stack` with each `script.js:LINE:COLUMN` rewritten.
    pub(super) fn remap_stack(&self, stack: &str) -> String {
        if matches!(self, PositionMap::Unknown) {
            return stack.to_string();
        }
        let mut out = String::with_capacity(stack.len());
        let mut rest = stack;
        while let Some(at) = rest.find(JS_SCRIPT_NAME) {
            out.push_str(&rest[..at]);
            let after = &rest[at + JS_SCRIPT_NAME.len()..];
            match parse_position(after) {
                Some((line, column, used)) => {
                    let (line, column) = self.map(line, column);
                    out.push_str(&format!("{SCRIPT_NAME}:{line}:{column}"));
                    rest = &after[used..];
                }
                None => {
                    out.push_str(SCRIPT_NAME);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The TypeScript position of a 1-based JavaScript position.
    fn map(&self, line: u32, column: u32) -> (u32, u32) {
        let PositionMap::SourceMap(map) = self else {
            return (line, column);
        };
        match map.lookup_token(line.saturating_sub(1), column.saturating_sub(1)) {
            Some(token) if token.has_source() => {
                (token.get_src_line() + 1, token.get_src_col() + 1)
            }
            _ => (line, column),
        }
    }
}

/// Parses `:LINE:COLUMN` at the start of `text`: the numbers and how many
/// bytes they took.
fn parse_position(text: &str) -> Option<(u32, u32, usize)> {
    let (line, after_line) = number_after_colon(text)?;
    let (column, after_column) = number_after_colon(&text[after_line..])?;
    Some((line, column, after_line + after_column))
}

/// `:N` at the start of `text`: N and the bytes used.
fn number_after_colon(text: &str) -> Option<(u32, usize)> {
    let digits = text.strip_prefix(':')?;
    let len = digits.bytes().take_while(u8::is_ascii_digit).count();
    let n = digits.get(..len)?.parse().ok()?;
    Some((n, 1 + len))
}
