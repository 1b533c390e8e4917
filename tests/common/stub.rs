//! A tiny HTTP/1.1 server on 127.0.0.1 for fetch tests (std::net, a thread
//! per connection, every loop bounded). It records what it received and
//! when connections closed, and answers by path:
//!
//! * `/hello` -> `hello`; `/json` -> `{"a":1}`;
//! * `/headers` -> the request's headers as a JSON object;
//! * `/redirect?to=URL` -> 302 to URL; `/see-other?to=URL` -> 303;
//! * `/big?n=N` -> N bytes of `x`;
//! * `/hang` -> reads until the client closes the connection, never answers;
//! * `/hangs` -> how many `/hang` requests arrived so far;
//! * `/echo` -> the request body.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the stub received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
}

/// The running stub; stops accepting when dropped.
pub struct Stub {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Connections of `/hang` that the client closed.
    pub hang_closed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// Longest a connection thread lives.
const CONNECTION_LIMIT: Duration = Duration::from_secs(60);

impl Stub {
    pub fn start() -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stub = Stub {
            port,
            seen: Arc::default(),
            hang_closed: Arc::default(),
            stop: Arc::default(),
        };
        let (seen, closed, stop) = (
            stub.seen.clone(),
            stub.hang_closed.clone(),
            stub.stop.clone(),
        );
        std::thread::spawn(move || {
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(600) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (seen, closed) = (seen.clone(), closed.clone());
                        std::thread::spawn(move || handle(stream, port, seen, closed));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        stub
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (bounded) until `n` hanging connections were closed.
    pub fn wait_hang_closed(&self, n: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.hang_closed.load(Ordering::Relaxed) >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn query(path: &str, key: &str) -> Option<String> {
    let (_, q) = path.split_once('?')?;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.replace("%3A", ":").replace("%2F", "/"))
    })
}

fn handle(
    mut stream: TcpStream,
    _port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    closed: Arc<AtomicUsize>,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let started = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        if started.elapsed() > Duration::from_secs(10) {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length && started.elapsed() < Duration::from_secs(10) {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
    }
    let hangs = {
        let mut seen = seen.lock().unwrap();
        seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            headers: headers.clone(),
        });
        seen.iter().filter(|s| s.path == "/hang").count()
    };
    let route = path.split('?').next().unwrap_or("");
    let (status, extra, payload): (&str, String, Vec<u8>) = match route {
        "/hello" => ("200 OK", String::new(), b"hello".to_vec()),
        "/json" => (
            "200 OK",
            "content-type: application/json\r\n".into(),
            b"{\"a\":1}".to_vec(),
        ),
        "/headers" => {
            let json = format!(
                "{{{}}}",
                headers
                    .iter()
                    .map(|(k, v)| format!("{k:?}:{v:?}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            ("200 OK", String::new(), json.into_bytes())
        }
        "/redirect" | "/see-other" => {
            let to = query(&path, "to").unwrap_or_default();
            let code = if route == "/redirect" {
                "302 Found"
            } else {
                "303 See Other"
            };
            (code, format!("location: {to}\r\n"), Vec::new())
        }
        "/big" => {
            let n = query(&path, "n").and_then(|n| n.parse().ok()).unwrap_or(0);
            ("200 OK", String::new(), vec![b'x'; n])
        }
        "/echo" => ("200 OK", String::new(), body),
        "/hangs" => ("200 OK", String::new(), hangs.to_string().into_bytes()),
        "/hang" => {
            while started.elapsed() < CONNECTION_LIMIT {
                match stream.read(&mut chunk) {
                    Ok(0) => {
                        closed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Ok(_) => {}
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => {
                        closed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
            return;
        }
        _ => ("404 Not Found", String::new(), b"not found".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n",
        payload.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&payload);
    let _ = stream.flush();
}
