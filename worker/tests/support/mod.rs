//! Parent side of the sandbox tests: spawning a child worker, talking to
//! it over a real socket pair, and reading how it ended.

// Without attack-hooks the attack helpers have no caller.
#![cfg_attr(not(feature = "attack-hooks"), allow(dead_code))]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::Duration;

use mcp_v8_shared::WORKER_IPC_FD;

/// First argument that turns this test binary into a sandboxed child.
pub const CHILD_ARG: &str = "__sandbox_child";

/// One answer of the child.
#[derive(Debug)]
pub enum Reply {
    Ok(String),
    Err(String),
    /// The socket closed before an answer: the child is gone.
    Died,
}

/// A running child and our end of its IPC socket.
pub struct Child {
    process: std::process::Child,
    reader: BufReader<UnixStream>,
    /// `(name, active, detail)` per layer, as the child reported them.
    pub layers: Vec<(String, bool, String)>,
}

impl Child {
    /// Starts `<this binary> __sandbox_child <mode>` and waits for `ready`.
    pub fn spawn(mode: &str) -> Child {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        let theirs_fd = theirs.as_raw_fd();
        let mut command = Command::new(std::env::current_exe().expect("current_exe"));
        command
            .args([CHILD_ARG, mode])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: dup2 and fcntl are async-signal-safe; the closure touches
        // no memory of the parent except the copied fd number.
        unsafe {
            command.pre_exec(move || {
                if theirs_fd == WORKER_IPC_FD {
                    libc::fcntl(theirs_fd, libc::F_SETFD, 0);
                } else if libc::dup2(theirs_fd, WORKER_IPC_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let process = command.spawn().expect("spawn child");
        drop(theirs);
        ours.set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let mut child = Child {
            process,
            reader: BufReader::new(ours),
            layers: Vec::new(),
        };
        let first = child.read_line();
        let count: usize = match first.as_deref().and_then(|l| l.strip_prefix("ready ")) {
            Some(n) => n.parse().unwrap(),
            None => panic!(
                "child ({mode}) did not start: {first:?}\n{}",
                child.post_mortem()
            ),
        };
        for _ in 0..count {
            let line = child.read_line().expect("layer line");
            let mut parts = line.splitn(4, ' ');
            let (_, name, active) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
            let detail = parts.next().unwrap_or("").to_string();
            child.layers.push((name.to_string(), active == "1", detail));
        }
        child
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    pub fn layer_active(&self, name: &str) -> bool {
        self.layers.iter().any(|l| l.0 == name && l.1)
    }

    pub fn layer_detail(&self, name: &str) -> String {
        let layer = self.layers.iter().find(|l| l.0 == name);
        layer.map(|l| l.2.clone()).unwrap_or_default()
    }

    /// Runs JavaScript in the child's isolate.
    pub fn js(&mut self, code: &str) -> Reply {
        self.send(format!("js {}\n{code}", code.len()).as_bytes());
        self.reply()
    }

    /// Strips TypeScript in the child, then runs it.
    pub fn ts(&mut self, code: &str) -> Reply {
        self.send(format!("ts {}\n{code}", code.len()).as_bytes());
        self.reply()
    }

    /// Sends a command line and returns the reply.
    pub fn command(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\n").as_bytes());
        self.reply()
    }

    /// Asks the child to `abort()`; returns the signal it died of.
    pub fn abort(&mut self) -> Option<i32> {
        self.send(b"abort\n");
        assert!(matches!(self.reply(), Reply::Died));
        self.wait_signal()
    }

    /// Creates, uses and drops a new isolate in the child.
    pub fn fresh_isolate(&mut self) -> Reply {
        self.send(b"fresh_isolate\n");
        self.reply()
    }

    /// Performs one of `sandbox::attack::NAMES` inside the child.
    pub fn attack(&mut self, name: &str) -> Reply {
        self.send(format!("attack {name}\n").as_bytes());
        self.reply()
    }

    /// Asks the child to exit and asserts it exits with 0.
    pub fn exit_cleanly(mut self) {
        self.send(b"exit\n");
        let status = self.process.wait().expect("wait");
        if status.code() != Some(0) {
            panic!("child ended with {status:?}\n{}", self.post_mortem());
        }
    }

    /// Waits for the child to end; the signal that killed it, if any.
    pub fn wait_signal(&mut self) -> Option<i32> {
        self.process.wait().expect("wait").signal()
    }

    /// The child's stderr and the kernel's seccomp lines about it.
    pub fn post_mortem(&mut self) -> String {
        let status = self.process.wait().ok();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.process.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let log = seccomp_log(self.pid()).unwrap_or_default();
        format!(
            "status: {status:?}\nstderr:\n{stderr}\nseccomp log:\n{}",
            log.join("\n")
        )
    }

    fn send(&mut self, bytes: &[u8]) {
        // A dead child shows up as EOF on the next read.
        let _ = self.reader.get_mut().write_all(bytes);
    }

    fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line.trim_end_matches('\n').to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("reading from child: {e}"),
        }
    }

    fn reply(&mut self) -> Reply {
        match self.read_line() {
            None => Reply::Died,
            Some(line) => match line.split_once(' ') {
                Some(("ok", text)) => Reply::Ok(text.to_string()),
                Some(("err", text)) => Reply::Err(text.to_string()),
                _ => panic!("bad reply {line:?}"),
            },
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Kernel log lines of seccomp actions (`audit: type=1326`) for `pid`;
/// `None` when the log cannot be read here.
pub fn seccomp_log(pid: u32) -> Option<Vec<String>> {
    let out = Command::new("dmesg").stderr(Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let needle = format!(" pid={pid} ");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines = text
        .lines()
        .filter(|l| l.contains("type=1326") && l.contains(&needle));
    Some(lines.map(str::to_string).collect())
}

/// Runs the cases whose name contains every non-flag argument; exits 1 if
/// one fails.
pub fn run_cases(cases: &[(&str, fn())], args: &[String]) {
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let mut failed = Vec::new();
    let mut passed = 0;
    for (name, case) in cases {
        if !filters.iter().all(|f| name.contains(f.as_str())) {
            continue;
        }
        println!("test {name} ...");
        match std::panic::catch_unwind(case) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    // The same closing line as libtest, so runners that read it count us.
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed; 0 ignored; 0 measured; 0 filtered out",
        failed.len()
    );
    if !failed.is_empty() {
        println!("failed: {failed:?}");
        std::process::exit(1);
    }
}
