//! Test harness: starts the real `mcp-v8` binary on a free loopback port,
//! with temp directories for heaps and sessions, and kills it on drop.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod cluster;
pub mod stub;

/// A running server.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The HTTP port.
    pub port: u16,
    /// The server process.
    pub child: Child,
    /// Temp dir holding heaps and the session db (kept across restarts).
    pub data: PathBuf,
    /// Keeps the temp dir alive.
    _dir: Option<tempfile::TempDir>,
}

/// An HTTP client with a bound on every request.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// `POST` a JSON body to an exec URL: (HTTP status, JSON answer). A free
/// function, so test threads can call it with just the URL.
pub fn post_exec(url: &str, body: &Value) -> (u16, Value) {
    let resp = client().post(url).json(body).send().unwrap();
    (resp.status().as_u16(), resp.json().unwrap())
}

/// Path of the binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_mcp-v8")
}

/// A loopback port for a server a test starts. It comes from a range
/// below the kernel's ephemeral ports (32768-60999 by default), so that
/// neither another test's `bind(0)` nor an outgoing connection's source
/// port can take it before the server binds it, and it is never handed out
/// twice in one test process, so a killed node's port stays free for its
/// restart and no other test's cluster reaches it. Each test binary starts
/// at its own offset in the range (from its pid).
pub fn free_port() -> u16 {
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::process::id() % 60 * 200;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (base + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {LOW}..{}", LOW + SPAN);
}

impl Server {
    /// Starts a server with these extra flags and fresh data directories.
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_path_buf();
        let mut server = Server::start_in(&data, extra);
        server._dir = Some(dir);
        server
    }

    /// Starts a server with extra flags and environment variables, on fresh
    /// data directories.
    #[allow(dead_code)]
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_path_buf();
        let mut server = Server::start_in_env(&data, extra, env);
        server._dir = Some(dir);
        server
    }

    /// Starts a server on existing data directories (for restart tests).
    pub fn start_in(data: &std::path::Path, extra: &[&str]) -> Server {
        Server::start_in_env(data, extra, &[])
    }

    /// [`Server::start_in`] with extra environment variables.
    pub fn start_in_env(data: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_logging(data, extra, env, None)
    }

    /// [`Server::start_in_env`], its stderr (the log) going to `stderr`
    /// when given.
    pub fn start_logging(
        data: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
        stderr: Option<std::fs::File>,
    ) -> Server {
        let port = free_port();
        let heaps = data.join("heaps");
        let sessions = data.join("sessions");
        let child = Command::new(binary())
            .arg("--http-port")
            .arg(port.to_string())
            .arg("--directory-path")
            .arg(&heaps)
            .arg("--session-db-path")
            .arg(&sessions)
            .args(extra)
            .env("MCP_V8_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stderr(stderr.map_or_else(Stdio::inherit, Stdio::from))
            .spawn()
            .expect("start mcp-v8");
        let server = Server {
            base_url: format!("http://127.0.0.1:{port}"),
            port,
            child,
            data: data.to_path_buf(),
            _dir: None,
        };
        server.wait_ready(Duration::from_secs(60));
        server
    }

    /// Polls `/readyz` until it answers 200 (bounded).
    pub fn wait_ready(&self, limit: Duration) {
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(resp) = client.get(format!("{}/readyz", self.base_url)).send() {
                if resp.status().is_success() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server on port {} not ready within {limit:?}", self.port);
    }

    /// `POST /api/exec` with a JSON body: (HTTP status, JSON answer).
    pub fn exec(&self, body: Value) -> (u16, Value) {
        post_exec(&self.url("/api/exec"), &body)
    }

    /// `GET` a JSON route: (HTTP status, JSON answer).
    pub fn get_json(&self, path: &str) -> (u16, Value) {
        let resp = client().get(self.url(path)).send().unwrap();
        (resp.status().as_u16(), resp.json().unwrap())
    }

    /// `GET /api/status`.
    pub fn status(&self) -> Value {
        let (code, doc) = self.get_json("/api/status");
        assert_eq!(code, 200, "{doc}");
        doc
    }

    /// `GET /metrics` as text.
    pub fn metrics(&self) -> String {
        client()
            .get(self.url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap()
    }

    /// Polls `/api/status` until every worker is idle with a pid (bounded);
    /// returns that status document.
    pub fn wait_all_idle(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let doc = self.status();
            let workers = doc["workers"].as_array().unwrap();
            if workers
                .iter()
                .all(|w| w["state"] == "idle" && w["pid"].is_u64())
            {
                return doc;
            }
            assert!(Instant::now() < deadline, "workers not all idle: {doc}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Full URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Stops the server (SIGTERM, then SIGKILL after a bound).
    pub fn stop(&mut self) {
        // SAFETY: kill(2) with a pid we own.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
