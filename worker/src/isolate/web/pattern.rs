//! `URLPattern` ops over the `urlpattern` crate (the WHATWG URL Pattern
//! standard, with Rust's `regex` for the components' expressions).
//!
//! A pattern crosses the op boundary as the JSON of its constructor's
//! arguments: the glue keeps that text in the `URLPattern` object (so the
//! object survives a session snapshot like any other), and `exec` compiles
//! it again from there. Compiling is a few microseconds for usual
//! patterns.

use serde::{Deserialize, Serialize};
use urlpattern::quirks::{self, StringOrInit};
use urlpattern::{UrlPattern, UrlPatternOptions, UrlPatternResult};
use v8::{FunctionCallbackArguments, PinScope, ReturnValue, Value};

use super::args;

/// The constructor's arguments, as the glue sends them.
#[derive(Deserialize)]
struct Source<'a> {
    #[serde(borrow)]
    input: StringOrInit<'a>,
    base: Option<String>,
    ignore_case: bool,
}

/// What a `URLPattern` shows of itself.
#[derive(Serialize)]
struct Parts<'a> {
    protocol: &'a str,
    username: &'a str,
    password: &'a str,
    hostname: &'a str,
    port: &'a str,
    pathname: &'a str,
    search: &'a str,
    hash: &'a str,
    has_regexp_groups: bool,
}

/// The input of `test`/`exec`.
#[derive(Deserialize)]
struct MatchArgs<'a> {
    #[serde(borrow)]
    input: StringOrInit<'a>,
    base: Option<String>,
}

fn compile(source: &str) -> Result<UrlPattern, String> {
    let source: Source = serde_json::from_str(source).map_err(|e| e.to_string())?;
    let init = quirks::process_construct_pattern_input(source.input, source.base.as_deref())
        .map_err(|e| e.to_string())?;
    let options = UrlPatternOptions {
        ignore_case: source.ignore_case,
        ..UrlPatternOptions::default()
    };
    UrlPattern::parse(init, options).map_err(|e| e.to_string())
}

/// `urlPatternParse(sourceJson)`: the pattern's parts as JSON; a
/// `TypeError` for an invalid pattern.
pub(super) fn parse(
    scope: &mut PinScope,
    a: FunctionCallbackArguments,
    mut rv: ReturnValue<Value>,
) {
    let Some(source) = args::string(scope, a.get(0)) else {
        return;
    };
    match compile(&source) {
        Ok(p) => {
            let parts = Parts {
                protocol: p.protocol(),
                username: p.username(),
                password: p.password(),
                hostname: p.hostname(),
                port: p.port(),
                pathname: p.pathname(),
                search: p.search(),
                hash: p.hash(),
                has_regexp_groups: p.has_regexp_groups(),
            };
            let json = serde_json::to_string(&parts).unwrap_or_default();
            rv.set(args::js_str(scope, &json));
        }
        Err(e) => args::type_error(scope, &format!("Failed to construct 'URLPattern': {e}")),
    }
}

/// The match result as the JSON of `URLPatternResult` (groups that did
/// not take part are `null`; the glue makes them `undefined`).
fn result_json(result: &UrlPatternResult, inputs: serde_json::Value) -> String {
    let component = |c: &urlpattern::UrlPatternComponentResult| serde_json::json!({ "input": c.input, "groups": c.groups });
    serde_json::json!({
        "inputs": inputs,
        "protocol": component(&result.protocol),
        "username": component(&result.username),
        "password": component(&result.password),
        "hostname": component(&result.hostname),
        "port": component(&result.port),
        "pathname": component(&result.pathname),
        "search": component(&result.search),
        "hash": component(&result.hash),
    })
    .to_string()
}

/// `urlPatternExec(sourceJson, inputJson)`: the result as JSON, or
/// `undefined` when the input does not match (or is no URL); a
/// `TypeError` for a base URL given with an init dictionary.
pub(super) fn exec(scope: &mut PinScope, a: FunctionCallbackArguments, mut rv: ReturnValue<Value>) {
    let (Some(source), Some(input)) =
        (args::string(scope, a.get(0)), args::string(scope, a.get(1)))
    else {
        return;
    };
    let pattern = match compile(&source) {
        Ok(p) => p,
        Err(e) => return args::type_error(scope, &e),
    };
    let Ok(input) = serde_json::from_str::<MatchArgs>(&input) else {
        return args::type_error(scope, "URLPattern: invalid input");
    };
    let matched = match quirks::process_match_input(input.input, input.base.as_deref()) {
        Ok(matched) => matched,
        Err(e) => return args::type_error(scope, &format!("URLPattern: {e}")),
    };
    let Some((match_input, (given, base))) = matched else {
        return rv.set_undefined();
    };
    let mut inputs = vec![serde_json::to_value(&given).unwrap_or_default()];
    inputs.extend(base.map(serde_json::Value::String));
    match pattern.exec(match_input) {
        Ok(Some(result)) => rv.set(args::js_str(scope, &result_json(&result, inputs.into()))),
        Ok(None) => rv.set_undefined(),
        Err(e) => args::type_error(scope, &format!("URLPattern: {e}")),
    }
}
