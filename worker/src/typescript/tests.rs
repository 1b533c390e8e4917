//! Unit tests of the stripper wrapper (no V8: what the worker compiles).

use super::*;

fn ts(code: &str) -> Prepared<'_> {
    match prepare(code, Language::TypeScript) {
        Ok(p) => p,
        Err(e) => panic!("{code:?} did not strip: {e:?}"),
    }
}

fn syntax_error(code: &str) -> JsException {
    match prepare(code, Language::TypeScript) {
        Ok(p) => panic!("{code:?} stripped to {:?}", p.code()),
        Err(e) => e,
    }
}

#[test]
fn javascript_is_passed_through_unchanged() {
    let p = prepare("let a: number = 1", Language::JavaScript).unwrap();
    assert_eq!(p.code(), "let a: number = 1");
}

#[test]
fn types_become_whitespace_and_positions_are_kept() {
    let code =
        "interface P { x: number }\nlet v: Array<P> = [{ x: 1 }] as P[];\nv[0]!.x satisfies number";
    let p = ts(code);
    assert!(!p.transformed());
    assert_eq!(p.code().len(), code.len());
    assert_eq!(p.code().lines().count(), code.lines().count());
    assert!(!p.code().contains("interface") && !p.code().contains("Array<P>"));
    // `v[0]` starts at the same byte in both.
    let at = code.rfind("v[0]").unwrap();
    assert_eq!(&p.code()[at..at + 4], "v[0]");
}

#[test]
fn enums_and_namespaces_go_through_the_transform() {
    let p =
        ts("enum Color { Red, Green = 5 }\nnamespace N { export const k = 2 }\nColor.Green + N.k");
    assert!(p.transformed());
    assert!(!p.code().contains("enum "), "{}", p.code());
    assert!(p.code().contains("Color"), "{}", p.code());
}

#[test]
fn syntax_errors_have_the_typescript_line_and_column() {
    let e = syntax_error("let a: number = 1;\nlet b: string = ;\n");
    assert_eq!(e.name, "SyntaxError");
    assert!(e.message.ends_with("at script.ts:2:17"), "{}", e.message);
    assert!(e.stack.unwrap().ends_with("\n    at script.ts:2:17"));
}

#[test]
fn decorators_are_refused_clearly() {
    let e = syntax_error("function d(x: any) { return x }\n@d class K {}\n");
    assert_eq!(e.name, "SyntaxError");
    assert!(
        e.message.contains("decorators are not supported"),
        "{}",
        e.message
    );
    assert!(e.message.ends_with("script.ts:2:1"), "{}", e.message);
}

#[test]
fn columns_count_utf16_units() {
    assert_eq!(diagnostics::line_and_column("ab\ncé😀x", 10), Some((2, 5)));
    assert_eq!(diagnostics::line_and_column("abc", 0), Some((1, 1)));
}

#[test]
fn kept_positions_only_rename_the_script() {
    let map = PositionMap::Kept;
    let stack = "Error: x\n    at f (script.js:3:7)\n    at script.js:9:1";
    assert_eq!(
        map.remap_stack(stack),
        "Error: x\n    at f (script.ts:3:7)\n    at script.ts:9:1"
    );
    assert_eq!(map.remap_stack("script.js"), "script.ts");
}

#[test]
fn transformed_positions_go_through_the_source_map() {
    let code = "enum E { A = 1 }\nconst s: string = 'x';\nfunction f(n: number): never {\n  throw new Error('boom' + n);\n}\nf(E.A)";
    let p = ts(code);
    assert!(p.transformed());
    // Find where `new Error` landed in the generated code.
    let at = p.code().find("new Error").unwrap();
    let (line, column) = diagnostics::line_and_column(p.code(), at).unwrap();
    let mut e = ExecError::Exception(JsException {
        name: "Error".into(),
        message: "boom1".into(),
        stack: Some(format!(
            "Error: boom1\n    at f (script.js:{line}:{column})"
        )),
    });
    p.remap(&mut e);
    let ExecError::Exception(e) = e else {
        unreachable!()
    };
    assert_eq!(
        e.stack.as_deref(),
        Some("Error: boom1\n    at f (script.ts:4:9)")
    );
}
