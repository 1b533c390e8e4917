//! The HTTP grammar checks of `Headers` and `Request` (RFC 9110): whether a
//! header name or a method is a token. Native, because a regular
//! expression in the glue is compiled anew in every isolate that uses it
//! (about 0.2 M instructions on a first fetch, docs/performance-host.md).

use v8::{FunctionCallbackArguments, PinScope, ReturnValue, Value};

/// Whether `c` is a `tchar` of RFC 9110, section 5.6.2.
fn tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Whether `s` is a token: one or more `tchar`s.
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(tchar)
}

/// `httpToken(s)`: whether the string `s` is an HTTP token.
pub(super) fn http_token(
    scope: &mut PinScope,
    args: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let ok = match args.get(0).to_string(scope) {
        Some(s) => is_token(&s.to_rust_string_lossy(scope)),
        None => false,
    };
    rv.set_bool(ok);
}

#[cfg(test)]
mod tests {
    use super::is_token;

    #[test]
    fn tokens_are_tchars_only() {
        for ok in ["x-a", "Content-Type", "GET", "!#$%&'*+-.^_`|~09azAZ"] {
            assert!(is_token(ok), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a:b",
            "a\u{e9}",
            "(x)",
            "a\"",
            "a\u{fffd}",
            "a/b",
        ] {
            assert!(!is_token(bad), "{bad}");
        }
    }
}
