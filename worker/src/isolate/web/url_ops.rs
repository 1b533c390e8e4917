//! URL ops: WHATWG URL parsing and setters through the `url` crate (its
//! `quirks` module is the URL Standard's API), and the
//! `application/x-www-form-urlencoded` parser and serializer of
//! `URLSearchParams` (`url::form_urlencoded`).

use url::{quirks, Url};
use v8::{FunctionCallbackArguments, Local, PinScope, ReturnValue, Value};

use super::args;

/// The components of `url` as the JS array `[href, origin, protocol,
/// username, password, host, hostname, port, pathname, search, hash]`.
fn components<'s>(scope: &PinScope<'s, '_>, url: &Url) -> Local<'s, Value> {
    let origin = quirks::origin(url);
    let parts = [
        quirks::href(url),
        origin.as_str(),
        quirks::protocol(url),
        quirks::username(url),
        quirks::password(url),
        quirks::host(url),
        quirks::hostname(url),
        quirks::port(url),
        quirks::pathname(url),
        quirks::search(url),
        quirks::hash(url),
    ];
    let items: Vec<Local<Value>> = parts.iter().map(|p| args::js_str(scope, p)).collect();
    args::array(scope, &items)
}

/// `urlParse(input, base?)`: the components, or `undefined` if `input`
/// (against `base`, when given) is not a valid URL.
pub(super) fn parse(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let Some(input) = args::string(scope, a.get(0)) else {
        return;
    };
    let base = if a.get(1).is_undefined() {
        None
    } else {
        let Some(text) = args::string(scope, a.get(1)) else {
            return;
        };
        match Url::parse(&text) {
            Ok(base) => Some(base),
            Err(_) => return rv.set_undefined(),
        }
    };
    match Url::options().base_url(base.as_ref()).parse(&input) {
        Ok(url) => rv.set(components(scope, &url)),
        Err(_) => rv.set_undefined(),
    }
}

/// `urlSet(href, which, value)`: applies the URL Standard setter `which`
/// (0 protocol, 1 username, 2 password, 3 host, 4 hostname, 5 port,
/// 6 pathname, 7 search, 8 hash) to `href` and returns the components;
/// setters that refuse the value leave the URL unchanged, as specified.
pub(super) fn set(scope: &mut PinScope, a: FunctionCallbackArguments, mut rv: ReturnValue<Value>) {
    let (Some(href), Some(value)) = (args::string(scope, a.get(0)), args::string(scope, a.get(2)))
    else {
        return;
    };
    let Ok(mut url) = Url::parse(&href) else {
        return args::type_error(scope, "Invalid URL");
    };
    let which = a.get(1).int32_value(scope).unwrap_or(-1);
    let _ = match which {
        0 => quirks::set_protocol(&mut url, &value),
        1 => quirks::set_username(&mut url, &value),
        2 => quirks::set_password(&mut url, &value),
        3 => quirks::set_host(&mut url, &value),
        4 => quirks::set_hostname(&mut url, &value),
        5 => quirks::set_port(&mut url, &value),
        6 => {
            quirks::set_pathname(&mut url, &value);
            Ok(())
        }
        7 => {
            quirks::set_search(&mut url, &value);
            Ok(())
        }
        8 => {
            quirks::set_hash(&mut url, &value);
            Ok(())
        }
        _ => Err(()),
    };
    rv.set(components(scope, &url));
}

/// `formParse(s)`: the name/value pairs of a form-encoded string, flat
/// (`[name0, value0, name1, value1, ...]`).
pub(super) fn form_parse(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let Some(text) = args::string(scope, a.get(0)) else {
        return;
    };
    let mut items = Vec::new();
    for (name, value) in url::form_urlencoded::parse(text.as_bytes()) {
        items.push(args::js_str(scope, &name));
        items.push(args::js_str(scope, &value));
    }
    rv.set(args::array(scope, &items));
}

/// `formSerialize([name0, value0, ...])`: the form-encoded string.
pub(super) fn form_serialize(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let Ok(list) = Local::<v8::Array>::try_from(a.get(0)) else {
        return args::type_error(scope, "formSerialize needs an array");
    };
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    let mut i = 0;
    while i + 1 < list.length() {
        let (Some(name), Some(value)) = (list.get_index(scope, i), list.get_index(scope, i + 1))
        else {
            return;
        };
        let (Some(name), Some(value)) = (args::string(scope, name), args::string(scope, value))
        else {
            return;
        };
        out.append_pair(&name, &value);
        i += 2;
    }
    let text = out.finish();
    rv.set(args::js_str(scope, &text));
}
