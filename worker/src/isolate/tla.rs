//! Top-level `await` for classic scripts.
//!
//! V8 exposes no REPL mode, so a script that uses `await` at top level is
//! rewritten into an async arrow function whose promise becomes the
//! completion value:
//!
//! 1. The code is first compiled as a classic script. Only if that fails
//!    with a SyntaxError and the code mentions `await` do we rewrite.
//! 2. The completion value of the script is, in practice, its last
//!    expression statement. [`candidates`] lists split points from the end:
//!    top-level (not inside brackets, strings, template literals or
//!    comments) `;` and newlines, skipping newlines where the next line
//!    obviously continues the previous one (it starts with `.`, `?`, an
//!    operator, a closing bracket...). Each split gives
//!    `(async () => { <head>\nreturn (<tail>\n); })()`.
//! 3. Each candidate is validated by *compiling* it with V8 (never running
//!    it); the first that compiles wins.
//! 4. If none compiles (e.g. the script ends with a declaration or a
//!    block), the code is wrapped whole, `(async () => { <code>\n})()`, and
//!    the result is `undefined`.
//!
//! Known limitation: declarations of a rewritten script are local to the
//! async function, so they do not become globals (nor survive in a heap
//! snapshot). Scripts without top-level `await` are untouched.

/// How many split points are tried before giving up on a return value.
pub(crate) const MAX_CANDIDATES: usize = 8;

/// The wrapper returning the value of `tail`.
pub(crate) fn wrap_with_tail(head: &str, tail: &str) -> String {
    format!("(async () => {{ {head}\nreturn ({tail}\n); }})()")
}

/// The wrapper without a return value.
pub(crate) fn wrap_whole(code: &str) -> String {
    format!("(async () => {{ {code}\n}})()")
}

/// Whether the code uses the word `await` at all (cheap pre-check).
pub(crate) fn mentions_await(code: &str) -> bool {
    code.contains("await")
}

/// Candidate rewrites, best first: `(head, tail)` pairs where `tail` is
/// the presumed last expression statement.
pub(crate) fn candidates(code: &str) -> Vec<(String, String)> {
    let body = code.trim_end().trim_end_matches(';').trim_end();
    let mut out = Vec::new();
    for split in split_points(body).into_iter().rev() {
        if out.len() >= MAX_CANDIDATES {
            break;
        }
        let (head, rest) = body.split_at(split);
        // `rest` starts with the separator itself.
        let tail = rest[1..].trim();
        if tail.is_empty() || continues_previous(tail) || head_expects_more(head) {
            continue;
        }
        out.push((format!("{head};"), tail.to_string()));
    }
    if out.len() < MAX_CANDIDATES && !body.trim().is_empty() {
        out.push((String::new(), body.trim().to_string()));
    }
    out
}

/// Whether a line starting like this continues the previous statement.
fn continues_previous(tail: &str) -> bool {
    tail.starts_with([
        '.', ',', '?', ':', '+', '-', '*', '/', '%', '&', '|', '^', '=', '<', '>', ')', ']', '}',
        '(', '[', '`',
    ]) || tail.starts_with("in ")
        || tail.starts_with("instanceof ")
}

/// Whether the text before a newline obviously continues on the next line.
fn head_expects_more(head: &str) -> bool {
    let h = head.trim_end();
    h.is_empty()
        || h.ends_with([
            ',', '(', '[', '{', '+', '-', '*', '/', '%', '&', '|', '^', '=', '<', '>', '?', ':',
            '.', '!',
        ])
}

/// Byte offsets of top-level `;` and newlines in `code`.
///
/// A small lexer: skips strings, template literals (without tracking
/// `${}` nesting precisely), line and block comments, and counts bracket
/// depth. Regular expression literals are not recognised; a `;` inside one
/// can only produce a candidate that then fails to compile.
pub(crate) fn split_points(code: &str) -> Vec<usize> {
    let bytes = code.as_bytes();
    let mut points = Vec::new();
    let mut depth: i64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
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
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue; // the newline itself is a split point
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b';' | b'\n' if depth == 0 => points.push(i),
            _ => {}
        }
        i += 1;
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_statement_after_semicolon() {
        let c = candidates("const x = await Promise.resolve(41); x + 1");
        assert_eq!(
            c[0],
            (
                "const x = await Promise.resolve(41);".into(),
                "x + 1".into()
            )
        );
    }

    #[test]
    fn trailing_semicolon_and_newlines() {
        let c = candidates("const x = await f()\nx.y;\n");
        assert_eq!(c[0].1, "x.y");
    }

    #[test]
    fn brackets_strings_and_comments_are_skipped() {
        let code = "const a = await g({ p: 1;\n q: ';' })\n// c; d\nfoo(a,\n b)";
        let c = candidates(code);
        assert_eq!(c[0].1, "foo(a,\n b)");
        assert!(split_points("'a;b'").is_empty());
        assert!(split_points("`a;\nb`").is_empty());
        assert!(split_points("/* a; */").is_empty());
    }

    #[test]
    fn continuation_lines_are_not_split() {
        let c = candidates("const a = await g()\na\n  .map(f)");
        assert_eq!(c[0].1, "a\n  .map(f)");
        let c = candidates("let s = await g() +\n 1");
        assert!(c.iter().all(|(_, t)| t != "1"));
    }

    #[test]
    fn whole_code_is_the_last_candidate() {
        let c = candidates("await x");
        assert_eq!(c.last().map(|p| p.1.as_str()), Some("await x"));
        assert!(candidates("   ").is_empty());
    }

    #[test]
    fn wrappers() {
        assert_eq!(
            wrap_with_tail("a;", "b"),
            "(async () => { a;\nreturn (b\n); })()"
        );
        assert_eq!(wrap_whole("a"), "(async () => { a\n})()");
    }
}
