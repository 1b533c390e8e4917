//! The entries of containers for the formatter: arrays (with holes and
//! the item cap), typed arrays, Map/Set and promises.

use v8::{Local, Object, Value};

use super::super::inspect_text::MAX_ARRAY_LENGTH;
use super::values::holes_text;
use super::Inspector;

impl<'s> Inspector<'_, 's, '_> {
    /// `[`, or `Foo(2) [` for array subclasses, and the item entries.
    pub(super) fn array_entries(
        &mut self,
        obj: Local<'s, Object>,
        depth: usize,
    ) -> (String, Vec<String>) {
        let scope = self.scope;
        let len = Local::<v8::Array>::try_from(obj).map_or(0, |a| a.length()) as usize;
        let open = match self.constructor_name(obj).as_deref() {
            Some("Array") => "[".to_string(),
            Some(name) => format!("{name}({len}) ["),
            None => format!("[Array({len}): null prototype] ["),
        };
        let mut entries = Vec::new();
        let mut holes = 0usize;
        let mut shown = 0usize;
        let mut i = 0usize;
        while i < len && shown < MAX_ARRAY_LENGTH && self.budget > 0 {
            let has = obj.has_index(scope, i as u32).unwrap_or(false);
            if !has {
                holes += 1;
                i += 1;
                continue;
            }
            if holes > 0 {
                entries.push(holes_text(holes));
                shown += 1;
                holes = 0;
            }
            let item = obj
                .get_index(scope, i as u32)
                .unwrap_or_else(|| v8::undefined(scope).into());
            entries.push(self.child(item, depth));
            shown += 1;
            i += 1;
        }
        if holes > 0 {
            entries.push(holes_text(holes));
        }
        if i < len {
            let more = len - i;
            entries.push(format!(
                "... {more} more item{}",
                if more > 1 { "s" } else { "" }
            ));
        }
        self.property_entries(obj, depth, true, &mut entries);
        (open, entries)
    }

    /// `Uint8Array(3) [` and the element entries.
    pub(super) fn typed_array_entries(
        &mut self,
        obj: Local<'s, Object>,
        depth: usize,
    ) -> (String, Vec<String>) {
        let scope = self.scope;
        let len = Local::<v8::TypedArray>::try_from(obj).map_or(0, |t| t.length());
        let name = self
            .constructor_name(obj)
            .unwrap_or_else(|| "TypedArray".into());
        let mut entries = Vec::new();
        let shown = len.min(MAX_ARRAY_LENGTH);
        for i in 0..shown {
            if self.budget == 0 {
                break;
            }
            if let Some(item) = obj.get_index(scope, i as u32) {
                entries.push(self.child(item, depth));
            }
        }
        if len > shown {
            let more = len - shown;
            entries.push(format!(
                "... {more} more item{}",
                if more > 1 { "s" } else { "" }
            ));
        }
        (format!("{name}({len}) ["), entries)
    }

    /// `Map(n) {` / `Set(n) {` and their entries.
    pub(super) fn collection_entries(
        &mut self,
        obj: Local<'s, Object>,
        depth: usize,
    ) -> (String, Vec<String>) {
        let scope = self.scope;
        let value: Local<Value> = obj.into();
        let (items, size, is_map) = if let Ok(map) = Local::<v8::Map>::try_from(value) {
            (map.as_array(scope), map.size(), true)
        } else if let Ok(set) = Local::<v8::Set>::try_from(value) {
            (set.as_array(scope), set.size(), false)
        } else {
            return ("{".into(), Vec::new());
        };
        let name = self
            .constructor_name(obj)
            .unwrap_or_else(|| if is_map { "Map" } else { "Set" }.into());
        let mut entries = Vec::new();
        let shown = size.min(MAX_ARRAY_LENGTH);
        for i in 0..shown {
            if self.budget == 0 {
                break;
            }
            let undefined = || -> Local<'s, Value> { v8::undefined(scope).into() };
            if is_map {
                let k = items
                    .get_index(scope, (2 * i) as u32)
                    .unwrap_or_else(undefined);
                let v = items
                    .get_index(scope, (2 * i + 1) as u32)
                    .unwrap_or_else(undefined);
                let k = self.child(k, depth);
                let v = self.child(v, depth);
                entries.push(format!("{k} => {v}"));
            } else {
                let v = items.get_index(scope, i as u32).unwrap_or_else(undefined);
                entries.push(self.child(v, depth));
            }
        }
        if size > shown {
            let more = size - shown;
            entries.push(format!(
                "... {more} more item{}",
                if more > 1 { "s" } else { "" }
            ));
        }
        (format!("{name}({size}) {{"), entries)
    }

    /// `<pending>`, the value, or `<rejected> reason`.
    pub(super) fn promise_entries(&mut self, obj: Local<'s, Object>, depth: usize) -> Vec<String> {
        let Ok(promise) = Local::<v8::Promise>::try_from(obj) else {
            return Vec::new();
        };
        match promise.state() {
            v8::PromiseState::Pending => vec!["<pending>".into()],
            v8::PromiseState::Fulfilled => {
                let r = promise.result(self.scope);
                vec![self.child(r, depth)]
            }
            v8::PromiseState::Rejected => {
                let r = promise.result(self.scope);
                vec![format!("<rejected> {}", self.child(r, depth))]
            }
        }
    }
}
