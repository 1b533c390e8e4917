//! End-to-end tests of TypeScript input (`language: "typescript"`, raw
//! `application/typescript` bodies, MCP `run_js`) against the real binary:
//! what is stripped, what is transformed, and that errors point at the
//! TypeScript source.

mod common;

use common::{client, Server};
use rmcp::model::{CallToolRequestParams, ClientConfig, ProtocolVersion};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt};
use serde_json::{json, Value};

/// Runs TypeScript; asserts HTTP 200 and returns the report.
fn ts(server: &Server, code: &str) -> Value {
    let (status, body) = server.exec(json!({ "code": code, "language": "typescript" }));
    assert_eq!(status, 200, "{code}: {body}");
    body
}

/// Runs TypeScript that must succeed; returns its result.
fn ts_ok(server: &Server, code: &str) -> Value {
    let body = ts(server, code);
    assert_eq!(body["status"], "ok", "{code}: {body}");
    body["result"].clone()
}

/// 1-based column of `needle` on 1-based `line` of `code`.
fn column_of(code: &str, line: usize, needle: &str) -> usize {
    let text = code.lines().nth(line - 1).unwrap();
    text[..text.find(needle).unwrap()].encode_utf16().count() + 1
}

#[test]
fn typescript_features_run() {
    let server = Server::start(&[]);
    let cases: &[(&str, &str, Value)] = &[
        (
            "enums",
            "enum Color { Red, Green = 5, Blue }\nconst c: Color = Color.Blue;\n[c, Color[0], Color.Green]",
            json!([6, "Red", 5]),
        ),
        (
            "string and const enums",
            "enum Dir { Up = 'UP' }\nconst enum K { A = 2 }\n[Dir.Up, K.A * 2]",
            json!(["UP", 4]),
        ),
        (
            "namespaces",
            "namespace Geo {\n  export const k = 3;\n  export function area(r: number): number { return k * r * r }\n}\nGeo.area(2)",
            json!(12),
        ),
        (
            "generics",
            "function first<T>(xs: T[]): T | undefined { return xs[0] }\n\
             class Box<T> { constructor(readonly v: T) {} }\n\
             first<string>(['a', 'b']) + new Box<number>(2).v",
            json!("a2"),
        ),
        (
            "interfaces and type aliases",
            "interface P { x: number; y?: string }\ntype Q = P & { z: boolean };\nconst p: Q = { x: 1, z: true };\np",
            json!({"x": 1, "z": true}),
        ),
        (
            "as and as const",
            "const v = JSON.parse('[1,2]') as number[];\nconst o = { k: 'x' } as const;\n[v.length, o.k]",
            json!([2, "x"]),
        ),
        (
            "satisfies",
            "const cfg = { port: 80 } satisfies Record<string, number>;\ncfg.port",
            json!(80),
        ),
        (
            "type-only imports are removed",
            "import type { Foo } from './foo';\nimport type Bar from 'bar';\ntype L = Foo[];\nconst xs: L = [];\nxs.length",
            json!(0),
        ),
        (
            "optional chaining, ?? and ! are untouched",
            "const o: { a?: { b?: number } } = { a: {} };\n[o.a?.b ?? 'none', (o as any).x?.y, o.a!.b === undefined]",
            json!(["none", null, true]),
        ),
        (
            "classes with modifiers and abstract members",
            "abstract class A { abstract m(): number; protected p: number = 2; }\n\
             class B extends A { m(): number { return this.p * 3 } }\nnew B().m()",
            json!(6),
        ),
        (
            "declare and overloads",
            "declare const g: any;\nfunction f(a: string): string;\nfunction f(a: number): number;\n\
             function f(a: any): any { return a }\nf(7)",
            json!(7),
        ),
        (
            "top-level await",
            "const n: number = await Promise.resolve(41);\nn + 1",
            json!(42),
        ),
        (
            "top-level await with an enum (transform)",
            "enum E { A = 40 }\nconst n: number = await Promise.resolve(E.A);\nn + 2",
            json!(42),
        ),
        (
            "the completion value is the last expression",
            "let t: number = 1; t + 1;\ninterface I {}\ntype T = string;\n",
            json!(2),
        ),
    ];
    for (what, code, want) in cases {
        assert_eq!(&ts_ok(&server, code), want, "{what}: {code}");
    }
}

#[test]
fn typescript_errors_point_at_the_typescript_source() {
    let server = Server::start(&[]);

    // A parse error: SyntaxError with the line and column of the TS source.
    let code = "type T = { a: number };\nconst x: T = { a: 1 };\nlet b: string = ;\n";
    let body = ts(&server, code);
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error"]["name"], "SyntaxError", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.ends_with("at script.ts:3:17"), "{message}");

    // A throw on line 4, after types on earlier lines and a long type
    // annotation on the same line: line and column are the TS ones.
    let code = "type Point = { x: number; y: number };\n\
                interface Shape { area(): number; name?: string }\n\
                const origin: Point = { x: 0, y: 0 };\n\
                function fail(p: Point, label: Record<string, Array<Map<string, number>>>): never { throw new Error('bad ' + p.x) }\n\
                fail({ x: 1, y: 2 }, {})";
    let body = ts(&server, code);
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error"]["message"], "bad 1", "{body}");
    let stack = body["error"]["stack"].as_str().unwrap();
    let at = format!("script.ts:4:{}", column_of(code, 4, "new Error"));
    assert!(
        stack.contains(&format!("at fail ({at})")),
        "{at} in {stack}"
    );
    let call = format!("script.ts:5:{}", column_of(code, 5, "fail"));
    assert!(stack.contains(&call), "{call} in {stack}");

    // The same with an enum, which goes through the transform and its
    // source map.
    let code = "enum Level { Low, High }\n\
                type Point = { x: number; y: number };\n\
                function fail(p: Point, level: Level, label: Record<string, Array<number>>): never {\n\
                \x20 throw new Error('bad ' + Level[level]);\n\
                }\n\
                fail({ x: 1, y: 2 }, Level.High, {})";
    let body = ts(&server, code);
    assert_eq!(body["error"]["message"], "bad High", "{body}");
    let stack = body["error"]["stack"].as_str().unwrap();
    let at = format!("script.ts:4:{}", column_of(code, 4, "new Error"));
    assert!(stack.contains(&at), "{at} in {stack}");
    assert!(stack.contains("script.ts:6:"), "{stack}");
    assert!(!stack.contains("script.js"), "{stack}");

    // Valid TypeScript that V8 refuses: V8's SyntaxError, at the TS place.
    let body = ts(&server, "const a: number = 1;\nlet a = 2;\n");
    assert_eq!(body["error"]["name"], "SyntaxError", "{body}");
    let stack = body["error"]["stack"].as_str().unwrap();
    assert!(stack.contains("script.ts:2:5"), "{stack}");

    // Decorators: a clear error, not V8's "Invalid or unexpected token".
    let body = ts(&server, "function d(c: any) { return c }\n@d\nclass K {}\n");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error"]["name"], "SyntaxError", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("decorators are not supported"),
        "{message}"
    );
    assert!(message.ends_with("script.ts:2:1"), "{message}");

    // JavaScript stays the default: type annotations are a SyntaxError.
    let (status, body) = server.exec(json!({ "code": "let a: number = 1; a" }));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["error"]["name"], "SyntaxError", "{body}");
    let (_, body) = server.exec(json!({ "code": "1 + 1", "language": "javascript" }));
    assert_eq!(body["result"], 2, "{body}");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let server = Server::start(&[]);
    let code = format!(
        "const a: number = 1;\n{}1{}",
        "(".repeat(1500),
        ")".repeat(1500)
    );
    let body = ts(&server, &code);
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error"]["name"], "SyntaxError", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("nested more than 1000 levels") && message.ends_with("script.ts:2:1001"),
        "{message}"
    );
    // Deep chains without brackets: the stripper's stack is sized for the
    // script, so whatever V8 makes of them, the worker survives.
    for code in [
        format!("{}0", "!".repeat(20_000)),
        format!("{}1", "x => ".repeat(5_000)),
        format!("let v: number = 0{};\nv", " + 1".repeat(20_000)),
    ] {
        let body = ts(&server, &code);
        assert_ne!(body["status"], "crashed", "{:.40}: {body}", code);
    }
    assert_eq!(ts_ok(&server, "1 as number"), json!(1));
    // The same for JavaScript, where V8's parser gives up without a column.
    let code = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let (_, body) = server.exec(json!({ "code": code }));
    assert_ne!(body["status"], "crashed", "{body}");
}

#[test]
fn language_field_and_raw_typescript_bodies() {
    let server = Server::start(&[]);
    let (status, body) = server.exec(json!({ "code": "1", "language": "python" }));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_language", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("python") && message.contains("typescript"),
        "{message}"
    );
    let (status, body) = server.exec(json!({ "code": "1", "language": "TypeScript" }));
    assert_eq!(status, 400, "{body}");

    for content_type in ["application/typescript", "text/typescript; charset=utf-8"] {
        let resp = client()
            .post(server.url("/api/exec"))
            .header("content-type", content_type)
            .body("const n: number = 20;\nconsole.log('raw' as string);\nn * 2 satisfies number")
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{content_type}");
        let body: Value = resp.json().unwrap();
        assert_eq!(body["status"], "ok", "{content_type}: {body}");
        assert_eq!(body["result"], 40, "{body}");
        assert_eq!(body["stdout"], "raw", "{body}");
    }
}

#[test]
fn typescript_in_a_session() {
    let server = Server::start(&[]);
    let run = |code: &str, language: &str| {
        let (status, body) = server.exec(json!({
            "code": code, "session": "ts-session", "language": language,
        }));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "ok", "{code}: {body}");
        assert_eq!(body["session"], "ts-session", "{body}");
        body["result"].clone()
    };
    run(
        "enum Mode { Off, On }\nvar total: number = Mode.On;\ninterface Unused {}",
        "typescript",
    );
    assert_eq!(
        run("total += 10 as number;\ntotal", "typescript"),
        json!(11)
    );
    // Later runs, in either language, see the state (the enum object too).
    assert_eq!(
        run("[total, Mode.On, Mode[0]]", "javascript"),
        json!([11, 1, "Off"])
    );
}

/// A client that accepts the defaults (no progress handling needed).
#[derive(Clone)]
struct Plain;

impl ClientHandler for Plain {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::default().with_protocol_version(ProtocolVersion::V_2025_06_18)
    }
}

#[test]
fn mcp_run_js_takes_a_language() {
    let server = Server::start(&["--workers", "1"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let transport = StreamableHttpClientTransport::from_uri(server.url("/mcp"));
        let client = Plain
            .serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
            .await
            .expect("connect");

        let tools = client.list_all_tools().await.expect("tools/list");
        let run_js = tools.iter().find(|t| t.name == "run_js").unwrap();
        let language = &run_js.input_schema["properties"]["language"];
        assert!(language.to_string().contains("typescript"), "{language}");

        let call = |arguments: Value| {
            let params = CallToolRequestParams::new("run_js")
                .with_arguments(arguments.as_object().unwrap().clone());
            client.call_tool(params)
        };
        let result = call(json!({
            "code": "enum E { A = 2 }\nconst n: number = E.A;\nconsole.log(`n=${n}`);\nn * 21",
            "language": "typescript",
        }))
        .await
        .expect("tools/call");
        let report = result.structured_content.as_ref().unwrap();
        assert_eq!(report["status"], "ok", "{report}");
        assert_eq!(report["result"], 42, "{report}");
        assert_eq!(report["stdout"], "n=2", "{report}");

        let result = call(json!({ "code": "let x: number = ;", "language": "typescript" }))
            .await
            .expect("tools/call");
        assert_eq!(result.is_error, Some(true));
        let report = result.structured_content.as_ref().unwrap();
        assert_eq!(report["error"]["name"], "SyntaxError", "{report}");
        let message = report["error"]["message"].as_str().unwrap();
        assert!(message.ends_with("script.ts:1:17"), "{message}");

        // An unknown language is refused, naming the field.
        let err = call(json!({ "code": "1", "language": "python" }))
            .await
            .expect_err("unknown language");
        let text = format!("{err:?}");
        assert!(
            text.contains("INVALID_PARAMS") || text.contains("-32602"),
            "{text}"
        );
        assert!(
            text.contains("python") && text.contains("typescript"),
            "{text}"
        );
        client.cancel().await.unwrap();
    });
}
