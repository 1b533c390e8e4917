//! Pure text helpers of the value formatter (no V8): string quoting, key
//! formatting, number and date rendering, and Node's rule for putting a
//! container on one line or breaking it over several.
//!
//! These follow Node's `util.inspect` defaults (`compact: 3`,
//! `breakLength: 80`, `maxStringLength: 10000`).

/// Lines longer than this are broken (Node's `breakLength`).
pub(crate) const BREAK_LENGTH: usize = 80;
/// Innermost levels that may be combined on one line (Node's `compact`).
pub(crate) const COMPACT: usize = 3;
/// Nested strings longer than this are cut (Node's `maxStringLength`).
pub(crate) const MAX_STRING_LENGTH: usize = 10_000;
/// Array, Set and Map entries shown (Node's `maxArrayLength`).
pub(crate) const MAX_ARRAY_LENGTH: usize = 100;

/// Quotes a string the way Node shows it inside objects: single quotes
/// unless the text contains one, then double quotes, then backticks; control
/// characters, the chosen quote and backslashes escaped.
pub(crate) fn quote(s: &str) -> String {
    let q = if !s.contains('\'') {
        '\''
    } else if !s.contains('"') {
        '"'
    } else if !s.contains('`') && !s.contains("${") {
        '`'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

/// Formats a nested string: quoted, cut at [`MAX_STRING_LENGTH`] chars, and
/// split after newlines when long (Node joins the pieces with ` +`).
/// `total_chars` is the full length when `s` was already shortened.
pub(crate) fn nested_string(s: &str, total_chars: usize, indentation: usize) -> String {
    let shown: String;
    let mut trailer = String::new();
    let mut text = s;
    if total_chars > MAX_STRING_LENGTH {
        shown = s.chars().take(MAX_STRING_LENGTH).collect();
        text = &shown;
        let more = total_chars - MAX_STRING_LENGTH;
        trailer = format!(
            "... {more} more character{}",
            if more > 1 { "s" } else { "" }
        );
    }
    let len = text.chars().count();
    if len > 16 && len > BREAK_LENGTH.saturating_sub(indentation + 4) && text.contains('\n') {
        let pieces: Vec<String> = text.split_inclusive('\n').map(quote).collect();
        let sep = format!(" +\n{}", " ".repeat(indentation + 2));
        return pieces.join(&sep) + &trailer;
    }
    quote(text) + &trailer
}

/// Formats a property key: bare when it is an identifier, quoted otherwise.
pub(crate) fn key(name: &str) -> String {
    let mut chars = name.chars();
    let ident = match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        }
        _ => false,
    };
    if ident {
        name.to_string()
    } else {
        quote(name)
    }
}

/// Renders an integral f64 below 2^53 without going through V8; `None` when
/// JS's Number#toString is needed (fractions, exponents, NaN, -0).
pub(crate) fn fast_number(n: f64) -> Option<String> {
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 && !(n == 0.0 && n.is_sign_negative())
    {
        return Some(format!("{}", n as i64));
    }
    None
}

/// `Date.prototype.toISOString` of a time value in milliseconds, or
/// `Invalid Date`.
pub(crate) fn iso_date(ms: f64) -> String {
    if !ms.is_finite() || ms.abs() > 8.64e15 {
        return "Invalid Date".to_string();
    }
    let ms = ms as i64;
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    let year_text = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else if year < 0 {
        format!("-{:06}", -year)
    } else {
        format!("+{year:06}")
    };
    format!("{year_text}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// Node's `reduceToSingleString`: one line when the entries are short and
/// at most [`COMPACT`] levels deep, otherwise one entry per line.
///
/// `nesting` is how many container levels the entries contain below this
/// one; `start_prefix` goes before the opening brace (e.g. `Map(2)`).
pub(crate) fn reduce(
    entries: &[String],
    braces: (&str, &str),
    nesting: usize,
    indentation: usize,
) -> String {
    let (open, close) = braces;
    if nesting < COMPACT {
        let start = entries.len() + indentation + open.len() + 10;
        if below_break_length(entries, start) {
            let joined = entries.join(", ");
            if !joined.contains('\n') {
                return format!("{open} {joined} {close}");
            }
        }
    }
    let ind = format!("\n{}", " ".repeat(indentation));
    let sep = format!(",{ind}  ");
    format!("{open}{ind}  {}{ind}{close}", entries.join(&sep))
}

/// Node's `isBelowBreakLength`.
fn below_break_length(entries: &[String], start: usize) -> bool {
    let mut total = entries.len() + start;
    if total + entries.len() > BREAK_LENGTH {
        return false;
    }
    for e in entries {
        total += e.chars().count();
        if total > BREAK_LENGTH {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_picks_the_quote() {
        assert_eq!(quote("x"), "'x'");
        assert_eq!(quote("it's"), "\"it's\"");
        assert_eq!(quote("it's \"q\""), "`it's \"q\"`");
        assert_eq!(quote("a\nb\\"), "'a\\nb\\\\'");
        assert_eq!(quote("\u{1}"), "'\\x01'");
    }

    #[test]
    fn keys() {
        assert_eq!(key("a"), "a");
        assert_eq!(key("_a1$"), "_a1$");
        assert_eq!(key("a-b"), "'a-b'");
        assert_eq!(key("1"), "'1'");
        assert_eq!(key(""), "''");
    }

    #[test]
    fn numbers() {
        assert_eq!(fast_number(3.0).as_deref(), Some("3"));
        assert_eq!(fast_number(-12.0).as_deref(), Some("-12"));
        assert_eq!(fast_number(-0.0), None);
        assert_eq!(fast_number(0.5), None);
        assert_eq!(fast_number(1e300), None);
        assert_eq!(fast_number(f64::NAN), None);
    }

    #[test]
    fn dates() {
        assert_eq!(iso_date(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_date(1_577_836_800_123.0), "2020-01-01T00:00:00.123Z");
        assert_eq!(iso_date(-1.0), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso_date(951_782_400_000.0), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_date(f64::NAN), "Invalid Date");
        assert_eq!(iso_date(8.64e15), "+275760-09-13T00:00:00.000Z");
    }

    #[test]
    fn single_or_multi_line() {
        let short = vec!["a: 1".to_string(), "b: 'x'".to_string()];
        assert_eq!(reduce(&short, ("{", "}"), 0, 0), "{ a: 1, b: 'x' }");
        let long: Vec<String> = (0..10).map(|i| format!("key{i}: 'some value'")).collect();
        let text = reduce(&long, ("{", "}"), 0, 0);
        assert!(text.starts_with("{\n  key0: 'some value',\n  key1"));
        assert!(text.ends_with("\n}"));
        assert!(reduce(&short, ("{", "}"), 3, 0).contains('\n'));
    }

    #[test]
    fn long_strings_split_after_newlines() {
        let s = "line one is fairly long\nline two is fairly long too\nline three is here, and long enough";
        let out = nested_string(s, s.chars().count(), 0);
        assert!(out.contains("\\n' +\n  'line two"));
        let big = "x".repeat(10);
        assert_eq!(
            nested_string(&big, 10_005, 0),
            format!("'{big}'... 5 more characters")
        );
    }
}
