//! Leaf helpers of the formatter that need no formatting state: reading
//! properties without running getters, function headers, ArrayBuffer bytes,
//! numbers and bounded string conversion.

use v8::{Local, Object, PinScope, Value};

use super::super::inspect_text as text;

/// What an own property holds, without calling accessors.
pub(super) enum Property<'s> {
    /// A data property and its value.
    Value(Local<'s, Value>),
    /// `[Getter]`, `[Setter]` or `[Getter/Setter]`.
    Accessor(&'static str),
    /// Gone (deleted meanwhile).
    Missing,
}

/// Reads an own property through its descriptor, so getters never run.
pub(super) fn data_property<'s>(
    scope: &PinScope<'s, '_>,
    obj: Local<'s, Object>,
    key: Local<'s, v8::Name>,
) -> Property<'s> {
    let Some(desc) = obj.get_own_property_descriptor(scope, key) else {
        return Property::Missing;
    };
    let Ok(desc) = Local::<Object>::try_from(desc) else {
        return Property::Missing;
    };
    let field = |name: &str| -> Option<Local<'s, Value>> {
        let k = v8::String::new(scope, name)?;
        desc.get(scope, k.into())
    };
    let getter = field("get").is_some_and(|g| g.is_function());
    let setter = field("set").is_some_and(|s| s.is_function());
    match (getter, setter) {
        (true, true) => Property::Accessor("[Getter/Setter]"),
        (true, false) => Property::Accessor("[Getter]"),
        (false, true) => Property::Accessor("[Setter]"),
        (false, false) => match field("value") {
            Some(v) => Property::Value(v),
            None => Property::Missing,
        },
    }
}

/// `<1 empty item>` / `<n empty items>`.
pub(super) fn holes_text(n: usize) -> String {
    format!("<{n} empty item{}>", if n > 1 { "s" } else { "" })
}

/// `[Uint8Contents]: <01 02>, byteLength: 2` of an ArrayBuffer.
pub(super) fn array_buffer_entries(obj: Local<Object>) -> Vec<String> {
    let Ok(ab) = Local::<v8::ArrayBuffer>::try_from(obj) else {
        return Vec::new();
    };
    let len = ab.byte_length();
    let shown = len.min(50);
    let mut hex = Vec::with_capacity(shown);
    if let Some(data) = ab.data() {
        // SAFETY: the backing store holds `len` bytes and stays alive while
        // `ab` is referenced by this handle scope; we read `shown <= len`.
        let bytes = unsafe { std::slice::from_raw_parts(data.as_ptr() as *const u8, shown) };
        hex.extend(bytes.iter().map(|b| format!("{b:02x}")));
    }
    let mut contents = hex.join(" ");
    if len > shown {
        contents.push_str(&format!(
            " ... {} more byte{}",
            len - shown,
            if len - shown > 1 { "s" } else { "" }
        ));
    }
    vec![
        format!("[Uint8Contents]: <{contents}>"),
        format!("byteLength: {len}"),
    ]
}

/// `[Function: name]`, `[class X extends Y]`, `[AsyncFunction: f]`, ...
pub(super) fn function_base(scope: &PinScope, obj: Local<Object>) -> String {
    let value: Local<Value> = obj.into();
    let Ok(func) = Local::<v8::Function>::try_from(value) else {
        return "[Function]".into();
    };
    let name = func.get_name(scope).to_rust_string_lossy(scope);
    // Class constructors are recognised by their source text.
    if let Some(src) = value.to_string(scope) {
        let (head, _) = js_string(scope, src.into(), 256);
        if let Some(rest) = head.strip_prefix("class") {
            if rest.starts_with(|c: char| c.is_whitespace() || c == '{') {
                let header = rest.split('{').next().unwrap_or("");
                let extends = header
                    .split_once("extends")
                    .map(|(_, base)| base.trim().to_string())
                    .filter(|b| !b.is_empty());
                let mut out = if name.is_empty() {
                    "[class (anonymous)".to_string()
                } else {
                    format!("[class {name}")
                };
                if let Some(base) = extends {
                    out.push_str(&format!(" extends {base}"));
                }
                out.push(']');
                return out;
            }
        }
    }
    let kind = if value.is_async_function() && value.is_generator_function() {
        "AsyncGeneratorFunction"
    } else if value.is_async_function() {
        "AsyncFunction"
    } else if value.is_generator_function() {
        "GeneratorFunction"
    } else {
        "Function"
    };
    if name.is_empty() {
        format!("[{kind} (anonymous)]")
    } else {
        format!("[{kind}: {name}]")
    }
}

/// Reads property `name` of `obj` as a string (runs accessors such as
/// `stack`); `None` when absent, not a string, or throwing.
pub(crate) fn get_str(scope: &PinScope, obj: Local<Object>, name: &str) -> Option<String> {
    let key = v8::String::new(scope, name)?;
    let v = obj.get(scope, key.into())?;
    if v.is_string() {
        Some(v.to_rust_string_lossy(scope))
    } else {
        None
    }
}

/// A number as JS prints it (`-0` kept).
pub(crate) fn number(scope: &PinScope, value: Local<Value>) -> String {
    let n = value.number_value(scope).unwrap_or(f64::NAN);
    if n == 0.0 && n.is_sign_negative() {
        return "-0".into();
    }
    text::fast_number(n).unwrap_or_else(|| value.to_rust_string_lossy(scope))
}

/// Converts a JS string to Rust, reading at most `max_units` UTF-16 units;
/// also returns the full length in units.
pub(crate) fn js_string(
    scope: &PinScope,
    value: Local<Value>,
    max_units: usize,
) -> (String, usize) {
    let Ok(s) = Local::<v8::String>::try_from(value) else {
        return (value.to_rust_string_lossy(scope), 0);
    };
    let total = s.length();
    if total <= max_units {
        return (s.to_rust_string_lossy(scope), total);
    }
    let mut buf = vec![0u16; max_units];
    s.write_v2(scope, 0, &mut buf, v8::WriteFlags::empty());
    (String::from_utf16_lossy(&buf), total)
}
