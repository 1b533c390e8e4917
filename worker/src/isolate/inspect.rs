//! Formats V8 values the way Node's `util.inspect` prints them, walking the
//! values from Rust (no JavaScript bootstrap per isolate).
//!
//! Covered: primitives (`-0`, `1n`, symbols), arrays with holes and the
//! 100-item cap, plain and class-instance objects, null-prototype objects,
//! nesting deeper than 2 as `[Object]`/`[Array]`, cycles as
//! `<ref *1> ... [Circular *1]`, functions and classes, errors (their
//! stack), Map/Set, Date, RegExp, boxed primitives, promises, typed arrays,
//! ArrayBuffers and proxies (shown as their target). Getters are never
//! called (`[Getter]`). Not covered: Node's column grouping of long arrays
//! (long arrays are printed one item per line instead).
//!
//! The formatter has a budget: once it has produced that many bytes it
//! stops walking, so that printing a huge structure costs no more than the
//! output cap allows.

use v8::{Local, Object, PinScope, Value};

use super::inspect_text::{self as text, MAX_STRING_LENGTH};

mod containers;
mod values;

use values::{array_buffer_entries, data_property, function_base, Property};
pub(crate) use values::{get_str, js_string, number};

/// Node's default `depth`: deeper containers are shown as `[Object]`.
pub(crate) const DEFAULT_DEPTH: usize = 2;

/// One formatting pass over one or more values.
pub(crate) struct Inspector<'a, 's, 'i> {
    /// Scope in which all handles are created.
    scope: &'a PinScope<'s, 'i>,
    /// Containers on the current path, for cycle detection.
    path: Vec<Local<'s, Object>>,
    /// Containers found to be referenced circularly, with their `*N` index.
    circular: Vec<(Local<'s, Object>, usize)>,
    /// Current indentation in spaces.
    indentation: usize,
    /// Deepest container level formatted since the current container began
    /// (Node's `ctx.currentDepth`).
    current_depth: usize,
    /// Containers deeper than this are abbreviated.
    max_depth: usize,
    /// Bytes still allowed; formatting stops once it reaches zero.
    budget: usize,
}

impl<'a, 's, 'i> Inspector<'a, 's, 'i> {
    /// A formatter that stops after roughly `budget` bytes.
    pub(crate) fn new(scope: &'a PinScope<'s, 'i>, budget: usize) -> Self {
        Inspector {
            scope,
            path: Vec::new(),
            circular: Vec::new(),
            indentation: 0,
            current_depth: 0,
            max_depth: DEFAULT_DEPTH,
            budget,
        }
    }

    /// Sets the depth limit (`%s` uses 0).
    pub(crate) fn with_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Formats `value` as `util.inspect(value)` would.
    pub(crate) fn inspect(&mut self, value: Local<'s, Value>) -> String {
        self.format(value, 0)
    }

    /// Charges `s` to the budget and returns it.
    fn spend(&mut self, s: String) -> String {
        self.budget = self.budget.saturating_sub(s.len());
        s
    }

    /// Formats any value at container level `depth`.
    fn format(&mut self, value: Local<'s, Value>, depth: usize) -> String {
        if self.budget == 0 {
            return String::new();
        }
        if !value.is_object() {
            let s = self.primitive(value, true);
            return self.spend(s);
        }
        let Ok(mut obj) = Local::<Object>::try_from(value) else {
            return String::new();
        };
        // Proxies are shown as their target, without running any trap.
        let mut hops = 0;
        while let Ok(proxy) = Local::<v8::Proxy>::try_from(obj) {
            if proxy.is_revoked() || hops > 100 {
                return self.spend("<Revoked Proxy>".into());
            }
            hops += 1;
            match Local::<Object>::try_from(proxy.get_target(self.scope)) {
                Ok(target) => obj = target,
                Err(_) => return self.spend("<Revoked Proxy>".into()),
            }
        }
        if let Some(pos) = self.path.iter().position(|o| *o == obj) {
            let target = self.path[pos];
            let index = match self.circular.iter().find(|(o, _)| *o == target) {
                Some((_, i)) => *i,
                None => {
                    let i = self.circular.len() + 1;
                    self.circular.push((target, i));
                    i
                }
            };
            return self.spend(format!("[Circular *{index}]"));
        }
        let out = self.object(obj, depth);
        match self.circular.iter().find(|(o, _)| *o == obj) {
            Some((_, i)) => format!("<ref *{i}> {out}"),
            None => out,
        }
    }

    /// Formats a primitive; strings are quoted when `nested`.
    pub(crate) fn primitive(&mut self, value: Local<'s, Value>, nested: bool) -> String {
        let scope = self.scope;
        if value.is_string() {
            let (s, total) = js_string(scope, value, self.budget.min(MAX_STRING_LENGTH + 1));
            return if nested {
                text::nested_string(&s, total, self.indentation)
            } else {
                s
            };
        }
        if value.is_number() {
            return number(scope, value);
        }
        if value.is_undefined() {
            return "undefined".into();
        }
        if value.is_null() {
            return "null".into();
        }
        if value.is_true() {
            return "true".into();
        }
        if value.is_false() {
            return "false".into();
        }
        if value.is_big_int() {
            return format!("{}n", value.to_rust_string_lossy(scope));
        }
        if let Ok(sym) = Local::<v8::Symbol>::try_from(value) {
            let desc = sym.description(scope);
            return if desc.is_undefined() {
                "Symbol()".into()
            } else {
                format!("Symbol({})", desc.to_rust_string_lossy(scope))
            };
        }
        value.to_rust_string_lossy(scope)
    }

    /// Formats an object (not a proxy, not on the current path).
    fn object(&mut self, obj: Local<'s, Object>, depth: usize) -> String {
        let scope = self.scope;
        let value: Local<Value> = obj.into();
        // Leaves that never recurse.
        if value.is_native_error() {
            let s = self.error(obj);
            return self.spend(s);
        }
        if value.is_date() {
            let ms = Local::<v8::Date>::try_from(value).map_or(f64::NAN, |d| d.value_of());
            return self.spend(text::iso_date(ms));
        }
        if value.is_reg_exp() {
            return self.spend(value.to_rust_string_lossy(scope));
        }
        if value.is_number_object()
            || value.is_string_object()
            || value.is_boolean_object()
            || value.is_big_int_object()
            || value.is_symbol_object()
        {
            let s = self.boxed(obj);
            return self.spend(s);
        }
        if value.is_weak_map() || value.is_weak_set() {
            let name = if value.is_weak_map() {
                "WeakMap"
            } else {
                "WeakSet"
            };
            return self.spend(format!("{name} {{ <items unknown> }}"));
        }
        let is_array = value.is_array();
        let abbreviated = if value.is_function() {
            None
        } else if depth > self.max_depth {
            Some(if is_array {
                "[Array]".to_string()
            } else {
                format!(
                    "[{}]",
                    self.constructor_name(obj)
                        .unwrap_or_else(|| "Object".into())
                )
            })
        } else {
            None
        };
        if let Some(s) = abbreviated {
            return self.spend(s);
        }

        self.path.push(obj);
        self.current_depth = depth;
        let saved_indent = self.indentation;
        let (open, mut entries, close, base) = if value.is_function() {
            (
                String::new(),
                Vec::new(),
                "}",
                Some(function_base(scope, obj)),
            )
        } else if is_array {
            let (open, entries) = self.array_entries(obj, depth);
            (open, entries, "]", None)
        } else if value.is_typed_array() {
            let (open, entries) = self.typed_array_entries(obj, depth);
            (open, entries, "]", None)
        } else if value.is_map() || value.is_set() {
            let (open, entries) = self.collection_entries(obj, depth);
            (open, entries, "}", None)
        } else if value.is_array_buffer() {
            let entries = array_buffer_entries(obj);
            ("ArrayBuffer {".to_string(), entries, "}", None)
        } else if value.is_promise() {
            let entries = self.promise_entries(obj, depth);
            ("Promise {".to_string(), entries, "}", None)
        } else {
            (self.object_prefix(obj), Vec::new(), "}", None)
        };
        if !is_array && !value.is_typed_array() {
            self.property_entries(obj, depth, false, &mut entries);
        }
        self.indentation = saved_indent;
        self.path.pop();

        let result = match base {
            Some(base) if entries.is_empty() => base,
            Some(base) => {
                let nesting = self.current_depth.saturating_sub(depth);
                text::reduce(
                    &entries,
                    (&format!("{base} {{"), close),
                    nesting,
                    self.indentation,
                )
            }
            None if entries.is_empty() => {
                if close == "]" {
                    format!("{}]", open)
                } else {
                    format!("{open}}}")
                }
            }
            None => {
                let nesting = self.current_depth.saturating_sub(depth);
                text::reduce(&entries, (&open, close), nesting, self.indentation)
            }
        };
        // Like Node, `current_depth` is not reset here: the parent sees the
        // level of the most recently entered container when it decides
        // between one line and several.
        result
    }

    /// Formats one child value one level deeper, indented by two.
    fn child(&mut self, value: Local<'s, Value>, depth: usize) -> String {
        self.indentation += 2;
        let s = self.format(value, depth + 1);
        self.indentation -= 2;
        s
    }

    /// Own enumerable properties (string and symbol keys) as `key: value`;
    /// for arrays only the non-index ones.
    fn property_entries(
        &mut self,
        obj: Local<'s, Object>,
        depth: usize,
        skip_indices: bool,
        entries: &mut Vec<String>,
    ) {
        let scope = self.scope;
        let args = v8::GetPropertyNamesArgsBuilder::new()
            .mode(v8::KeyCollectionMode::OwnOnly)
            .property_filter(v8::PropertyFilter::ONLY_ENUMERABLE)
            .index_filter(v8::IndexFilter::IncludeIndices)
            .key_conversion(v8::KeyConversionMode::KeepNumbers)
            .build();
        let Some(keys) = obj.get_own_property_names(scope, args) else {
            return;
        };
        for i in 0..keys.length() {
            if self.budget == 0 {
                break;
            }
            let Some(mut key) = keys.get_index(scope, i) else {
                continue;
            };
            // Integer indices come back as numbers (V8 ignores the
            // SkipIndices filter here, so arrays skip them by hand).
            if key.is_number() {
                if skip_indices {
                    continue;
                }
                match key.to_string(scope) {
                    Some(k) => key = k.into(),
                    None => continue,
                }
            }
            let key_text = if key.is_symbol() {
                format!("[{}]", self.primitive(key, false))
            } else {
                text::key(&key.to_rust_string_lossy(scope))
            };
            let Ok(name) = Local::<v8::Name>::try_from(key) else {
                continue;
            };
            let shown = match data_property(scope, obj, name) {
                Property::Value(v) => self.child(v, depth),
                Property::Accessor(kind) => kind.to_string(),
                Property::Missing => continue,
            };
            entries.push(self.spend(format!("{key_text}: {shown}")));
        }
    }

    /// `Foo {`, `{`, `[Object: null prototype] {` or `Object [Generator] {`.
    fn object_prefix(&self, obj: Local<'s, Object>) -> String {
        let value: Local<Value> = obj.into();
        if value.is_generator_object() {
            return "Object [Generator] {".into();
        }
        match self.constructor_name(obj).as_deref() {
            Some("Object") => "{".into(),
            Some(name) => format!("{name} {{"),
            None => "[Object: null prototype] {".into(),
        }
    }

    /// The constructor name, or `None` for a null prototype.
    fn constructor_name(&self, obj: Local<'s, Object>) -> Option<String> {
        let proto = obj.get_prototype(self.scope)?;
        if proto.is_null() {
            return None;
        }
        Some(obj.get_constructor_name().to_rust_string_lossy(self.scope))
    }

    /// `[Number: 3]`, `[String: 'x']`, ...
    fn boxed(&mut self, obj: Local<'s, Object>) -> String {
        let scope = self.scope;
        let value: Local<Value> = obj.into();
        let (kind, inner): (&str, Option<Local<Value>>) = if value.is_number_object() {
            ("Number", value.to_number(scope).map(Into::into))
        } else if value.is_string_object() {
            ("String", value.to_string(scope).map(Into::into))
        } else if value.is_boolean_object() {
            ("Boolean", Some(value.to_boolean(scope).into()))
        } else if value.is_big_int_object() {
            ("BigInt", value.to_big_int(scope).map(Into::into))
        } else {
            ("Symbol", None)
        };
        match inner {
            Some(v) => format!("[{kind}: {}]", self.primitive(v, true)),
            None => format!("[{kind}]"),
        }
    }

    /// An error: its stack (indented when nested), or `[Name: message]`.
    fn error(&mut self, obj: Local<'s, Object>) -> String {
        let scope = self.scope;
        let stack = get_str(scope, obj, "stack");
        let text = match stack {
            Some(s) if s.contains("\n    at ") => s,
            Some(s) if !s.is_empty() => format!("[{s}]"),
            _ => {
                let name = get_str(scope, obj, "name").unwrap_or_else(|| "Error".into());
                let message = get_str(scope, obj, "message").unwrap_or_default();
                if message.is_empty() {
                    format!("[{name}]")
                } else {
                    format!("[{name}: {message}]")
                }
            }
        };
        if self.indentation > 0 {
            text.replace('\n', &format!("\n{}", " ".repeat(self.indentation)))
        } else {
            text
        }
    }
}
