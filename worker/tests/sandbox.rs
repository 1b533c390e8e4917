//! End-to-end tests of the worker sandbox, against real child processes.
//!
//! `harness = false`: the libtest harness runs tests on threads, and a
//! threaded process can neither unshare a user namespace nor be a fair
//! model of the worker. So `main` either *is* a sandboxed child (re-invoked
//! as `<this binary> __sandbox_child <mode>`, see `sandbox_child`) or runs
//! the cases below one by one, each spawning fresh children, and asserting
//! how they end (`SIGSYS` for a forbidden syscall, exit 0 otherwise).

mod sandbox_child;
mod support;

use support::{Child, Reply};

/// Broad JS workload, as (what, source, expected completion value). Every
/// line must run to completion in a sealed child: a missing syscall in the
/// allowlist kills it with SIGSYS.
const WORKLOAD: &[(&str, &str, &str)] = &[
    ("arithmetic", "1 + 2", "3"),
    (
        "GC of many small objects",
        "let a = []; for (let i = 0; i < 300000; i++) a.push({ i, s: 'x' + i }); a = null; \
         let n = 0; for (let j = 0; j < 60; j++) n += new Array(100000).fill(j).length; n",
        "6000000",
    ),
    (
        "JIT tier-up",
        "function f(x) { return x * 2 + 1 } let s = 0; for (let i = 0; i < 5e6; i++) s += f(i); s",
        "25000000000000",
    ),
    (
        "256 MiB ArrayBuffer",
        "const big = new Uint8Array(256 * 1024 * 1024); big[big.length - 1] = 7; big[big.length - 1]",
        "7",
    ),
    ("50 MB string", "'x'.repeat(50_000_000).length", "50000000"),
    (
        "WebAssembly compile and run",
        "const add = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array([0,97,115,109,1,0,0,0,\
         1,7,1,96,2,127,127,1,127,3,2,1,0,7,7,1,3,97,100,100,0,0,10,9,1,7,0,32,0,32,1,106,11]))).exports.add; \
         let t = 0; for (let i = 0; i < 1e6; i++) t = add(t, 1); t",
        "1000000",
    ),
    (
        "WebAssembly memory grow and out-of-bounds trap",
        "const m = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array([0,97,115,109,1,0,0,0,\
         1,6,1,96,1,127,1,127,3,2,1,0,5,3,1,0,1,7,12,2,4,108,111,97,100,0,0,1,109,2,0,\
         10,9,1,7,0,32,0,40,2,0,11]))).exports; m.m.grow(100); \
         let trapped; try { m.load(200 * 65536) } catch (e) { trapped = e instanceof WebAssembly.RuntimeError } \
         m.m.buffer.byteLength + ' ' + trapped",
        "6619136 true",
    ),
    (
        "Intl",
        "[new Intl.DateTimeFormat('de-DE', { timeZone: 'UTC' }).format(new Date(0)), \
         new Intl.NumberFormat('en-IN').format(1234567.891), \
         ['z', 'ä', 'a'].sort(new Intl.Collator('de').compare).join(''), \
         [...new Intl.Segmenter('en', { granularity: 'word' }).segment('hi there')].length, \
         'İ'.toLocaleLowerCase('tr').length].join('|')",
        "1.1.1970|12,34,567.891|aäz|3|1",
    ),
    (
        "local time zone",
        "typeof new Date(0).getTimezoneOffset() + ' ' + (new Date(0).toString().length > 10) \
         + ' ' + typeof new Date().toLocaleString()",
        "number true string",
    ),
    (
        "regexps",
        "[/(\\p{L}+)\\s(\\d+)/u.exec('héllo 123')[2], /(a+)+b/.test('a'.repeat(22) + 'c'), \
         'x'.repeat(100000).replace(/x/g, 'yy').length].join()",
        "123,false,200000",
    ),
    (
        "stack overflow",
        "function r() { return r() } try { r() } catch (e) { e instanceof RangeError }",
        "true",
    ),
    (
        "errors, JSON, Math.random, Date.now",
        "[new Error('x').stack.split('\\n').length > 0, JSON.parse(JSON.stringify({ a: [1] })).a[0], \
         Math.random() < 1, Date.now() > 0].join()",
        "true,1,true,true",
    ),
    (
        "Atomics.wait with a timeout",
        "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)",
        "timed-out",
    ),
    ("promises", "globalThis.r = 0; Promise.resolve(5).then(v => { globalThis.r = v }); 0", "0"),
    ("microtasks ran", "r", "5"),
];

fn layers_and_proc_status() {
    let child = Child::spawn("sealed");
    for name in [
        "fds",
        "env",
        "userns",
        "netns",
        "ipcns",
        "utsns",
        "mountns",
        "rlimits",
        "caps",
        "no_new_privs",
        "seccomp",
    ] {
        let layer = child.layers.iter().find(|l| l.0 == name);
        let layer = layer.unwrap_or_else(|| panic!("layer {name} missing: {:?}", child.layers));
        println!(
            "    layer {:<12} active={:<5} {}",
            layer.0, layer.1, layer.2
        );
    }
    for name in ["fds", "env", "rlimits", "caps", "no_new_privs", "seccomp"] {
        assert!(
            child.layer_active(name),
            "{name} inactive: {:?}",
            child.layers
        );
    }
    let pid = child.pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("\nSeccomp:\t2\n"), "{status}");
    assert!(status.contains("\nNoNewPrivs:\t1\n"), "{status}");
    assert!(status.contains("\nSeccomp_filters:\t3\n"), "{status}");
    assert!(status.contains("\nCapEff:\t0000000000000000\n"), "{status}");
    assert!(status.contains("\nCapBnd:\t0000000000000000\n"), "{status}");
    // TSYNC: the watchdog thread, started before sealing, is filtered too.
    let tasks: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .collect();
    assert_eq!(tasks.len(), 2, "expected the main thread and the watchdog");
    for task in tasks {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        assert!(
            status.contains("\nSeccomp:\t2\n"),
            "thread not filtered: {status}"
        );
    }
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    fds.sort();
    assert_eq!(
        fds,
        ["0", "1", "2", "3"],
        "only stdio and the IPC fd stay open"
    );
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    for (what, value) in [
        ("Max core file size", "0"),
        ("Max file size", "0"),
        ("Max open files", "16"),
    ] {
        let line = limits.lines().find(|l| l.starts_with(what)).unwrap();
        let fields: Vec<&str> = line[what.len()..].split_whitespace().collect();
        assert_eq!(&fields[..2], [value, value], "{line}");
    }
    child.exit_cleanly();
}

fn js_workload_survives_seal() {
    let mut child = Child::spawn("sealed");
    for (what, source, expected) in WORKLOAD {
        match child.js(source) {
            Reply::Ok(value) => assert_eq!(value, *expected, "{what}"),
            other => panic!("{what}: {other:?}\n{}", child.post_mortem()),
        }
    }
    child.exit_cleanly();
}

/// TypeScript through both stripper modes and its error paths, as (what,
/// source, expected reply), in a sealed child whose stripper was never
/// used before sealing: stripping needs no syscall beyond the allowlist.
const TS_WORKLOAD: &[(&str, &str, Result<&str, &str>)] = &[
    (
        "strip-only",
        "interface P { x: number }\nconst p: P = { x: 2 } as P;\np.x * 21",
        Ok("42"),
    ),
    (
        "enum (transform)",
        "enum E { A = 1, B }\nnamespace N { export const k: number = 3 }\nE.B * N.k",
        Ok("6"),
    ),
    (
        "parameter property",
        "class C { constructor(public v: number) {} }\nnew C(5).v",
        Ok("5"),
    ),
    (
        "syntax error",
        "let x: number = ;",
        Err("SyntaxError: Expression expected at script.ts:1:17"),
    ),
    (
        "decorator",
        "@d class K {}",
        Err("SyntaxError: decorators are not supported"),
    ),
];

fn typescript_strips_after_seal() {
    let mut child = Child::spawn("sealed");
    for (what, source, expected) in TS_WORKLOAD {
        match (child.ts(source), expected) {
            (Reply::Ok(value), Ok(want)) => assert_eq!(value, *want, "{what}"),
            (Reply::Err(text), Err(want)) => assert!(text.starts_with(want), "{what}: {text}"),
            (other, _) => panic!("{what}: {other:?}\n{}", child.post_mortem()),
        }
    }
    // Deep nesting runs on the stripper's own stack (mmap after sealing).
    match child.ts(&format!("{}0", "!".repeat(5001))) {
        Reply::Ok(value) => assert_eq!(value, "true"),
        other => panic!("deep nesting: {other:?}\n{}", child.post_mortem()),
    }
    child.exit_cleanly();
}

fn isolates_created_after_seal() {
    // The engine builds a fresh isolate per execution, after sealing.
    let mut child = Child::spawn("sealed");
    for _ in 0..3 {
        match child.fresh_isolate() {
            Reply::Ok(value) => assert_eq!(value, "42,true"),
            other => panic!("fresh isolate: {other:?}\n{}", child.post_mortem()),
        }
    }
    child.exit_cleanly();
}

#[cfg(feature = "attack-hooks")]
fn attacks_die_of_sigsys() {
    let mut control = Child::spawn("sealed");
    assert!(matches!(control.attack("ok"), Reply::Ok(_)));
    control.exit_cleanly();
    // (attack, the syscall that must be the one killed; glibc's fork is
    // clone, and pthread_create tries clone3 first).
    // Opening files and ioctl are refused with EPERM instead (see
    // allowlist.rs).
    for name in ["open", "write_file", "tiocsti"] {
        let mut child = Child::spawn("sealed");
        let reply = child.attack(name);
        assert!(
            matches!(&reply, Reply::Ok(text) if text.contains("refused")),
            "{name}: {reply:?}"
        );
        child.exit_cleanly();
        println!("    {name:<14} refused with EPERM");
    }
    let attacks = [
        ("socket", libc::SYS_socket),
        ("connect", libc::SYS_connect),
        ("fork", libc::SYS_clone),
        ("clone_process", libc::SYS_clone),
        ("clone3", libc::SYS_clone3),
        ("thread", libc::SYS_clone3),
        ("execve", libc::SYS_execve),
        ("ptrace", libc::SYS_ptrace),
        ("kill", libc::SYS_kill),
        ("sched_other", libc::SYS_sched_getparam),
        ("poll", libc::SYS_ppoll),
    ];
    for (name, syscall) in attacks {
        let mut child = Child::spawn("sealed");
        let reply = child.attack(name);
        assert!(matches!(reply, Reply::Died), "{name}: {reply:?}");
        assert_eq!(
            child.wait_signal(),
            Some(libc::SIGSYS),
            "{name}: not killed by seccomp"
        );
        // The kernel log names the syscall, when it is readable and the
        // line was not rate-limited away. Pids are reused, so only the
        // newest kill line of this pid is ours.
        let logged = support::seccomp_log(child.pid()).unwrap_or_default();
        let kill_line = logged.iter().rev().find(|l| l.contains(" sig=31 "));
        match kill_line.and_then(|l| l.split(" syscall=").nth(1)) {
            Some(rest) => {
                let nr = rest.split(' ').next().unwrap_or("");
                assert_eq!(nr, syscall.to_string(), "{name} died at the wrong syscall");
                println!("    {name:<14} killed by SIGSYS at syscall {nr}");
            }
            None => println!("    {name:<14} killed by SIGSYS"),
        }
    }
}

#[cfg(feature = "attack-hooks")]
fn attacks_succeed_without_sandbox() {
    // The control for the test above: the same calls, unsandboxed, do reach
    // the kernel, so a SIGSYS above is the filter's doing.
    let mut child = Child::spawn("off");
    // Every attack but the control, the file write (it would leave a file
    // behind), execve (it would replace the child) and ptrace (it may be
    // refused by the host's own policy).
    let skipped = ["ok", "write_file", "execve", "ptrace"];
    let names = mcp_v8_worker::sandbox::attack::NAMES
        .iter()
        .filter(|name| !skipped.contains(name));
    for name in names {
        match child.attack(name) {
            Reply::Err(text) => println!("    {name:<14} unsandboxed: {text}"),
            other => panic!("{name} unsandboxed: {other:?}"),
        }
    }
    child.exit_cleanly();
}

#[cfg(feature = "attack-hooks")]
fn debug_mode_logs_instead_of_killing() {
    let mut child = Child::spawn("debug");
    assert!(
        child.layer_detail("seccomp").contains("DEBUG"),
        "{:?}",
        child.layers
    );
    match child.attack("socket") {
        Reply::Err(text) => assert!(text.contains("succeeded"), "{text}"),
        other => panic!("socket in debug mode: {other:?}"),
    }
    let pid = child.pid();
    child.exit_cleanly();
    match support::seccomp_log(pid) {
        Some(lines) if lines.is_empty() => {
            println!("    (no kernel log line seen; audit may be off)")
        }
        Some(lines) => {
            assert!(lines
                .iter()
                .any(|l| l.contains(&format!("syscall={}", libc::SYS_socket))));
            println!("    kernel log: {}", lines[0]);
        }
        None => println!("    (kernel log unreadable here)"),
    }
}

fn v8_fatal_error_is_not_sigsys() {
    // A V8 OOM ends in abort()/a trap instruction; the supervisor classifies
    // by signal, so the allowlist must let that path through.
    let mut child = Child::spawn("oom");
    let reply = child.js("let a = []; while (true) a.push(new Array(100000).fill(1.5));");
    assert!(matches!(reply, Reply::Died), "{reply:?}");
    let signal = child.wait_signal();
    assert!(
        signal.is_some() && signal != Some(libc::SIGSYS),
        "OOM ended with {signal:?}"
    );
    println!("    OOM ended with signal {}", signal.unwrap());
}

fn threads_may_read_their_own_scheduling() {
    // absl::Mutex (V8's locks) reads a waiting thread's priority by tid;
    // the filter allows exactly the worker's own threads.
    let mut child = Child::spawn("sealed");
    match child.command("sched") {
        Reply::Ok(text) => assert_eq!(
            text,
            "main rc=0,prio=0,policy=0 watchdog rc=0,prio=0,policy=0"
        ),
        other => panic!("sched: {other:?}\n{}", child.post_mortem()),
    }
    child.exit_cleanly();
}

fn abort_is_sigabrt() {
    // Rust's abort and V8's non-trap fatal paths end in abort(), which
    // raises SIGABRT at itself; the filter allows tgkill at our own pid.
    let mut child = Child::spawn("sealed");
    assert_eq!(child.abort(), Some(libc::SIGABRT));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(support::CHILD_ARG) {
        sandbox_child::main(&args[2]);
    }
    let cases: &[(&str, fn())] = &[
        ("layers_and_proc_status", layers_and_proc_status),
        ("js_workload_survives_seal", js_workload_survives_seal),
        ("isolates_created_after_seal", isolates_created_after_seal),
        ("typescript_strips_after_seal", typescript_strips_after_seal),
        #[cfg(feature = "attack-hooks")]
        ("attacks_die_of_sigsys", attacks_die_of_sigsys),
        #[cfg(feature = "attack-hooks")]
        (
            "attacks_succeed_without_sandbox",
            attacks_succeed_without_sandbox,
        ),
        #[cfg(feature = "attack-hooks")]
        (
            "debug_mode_logs_instead_of_killing",
            debug_mode_logs_instead_of_killing,
        ),
        ("v8_fatal_error_is_not_sigsys", v8_fatal_error_is_not_sigsys),
        ("abort_is_sigabrt", abort_is_sigabrt),
        (
            "threads_may_read_their_own_scheduling",
            threads_may_read_their_own_scheduling,
        ),
    ];
    support::run_cases(cases, &args[1..]);
}
