//! The flags of the outside world (`--allow-net`, `--allow-private-net`,
//! the fetch limits, `--fetch-header`, `--modules-dir`), each also an
//! `MCP_V8_*` environment variable, checked into a [`HostConfig`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use reqwest::header::{HeaderName, HeaderValue};

use super::policy::{self, Grant};

/// Flags flattened into the supervisor's command line.
#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// Hosts `fetch` may reach: HOST[:PORT],... (exact names,
    /// `*.example.com`, IP literals, CIDRs). Default: none.
    #[arg(long, env = "MCP_V8_ALLOW_NET", value_delimiter = ',')]
    pub allow_net: Vec<String>,

    /// Let granted names resolve to loopback, private, link-local or
    /// metadata addresses (refused by default unless the grant names the
    /// address itself).
    #[arg(long, env = "MCP_V8_ALLOW_PRIVATE_NET")]
    pub allow_private_net: bool,

    /// Most `fetch` calls one execution may make.
    #[arg(long, env = "MCP_V8_FETCH_MAX_REQUESTS", default_value_t = 50)]
    pub fetch_max_requests: u32,

    /// Largest response body `fetch` returns, in bytes.
    #[arg(long, env = "MCP_V8_FETCH_MAX_RESPONSE_BYTES", default_value_t = 16 << 20)]
    pub fetch_max_response_bytes: u64,

    /// Largest request body `fetch` sends, in bytes.
    #[arg(long, env = "MCP_V8_FETCH_MAX_REQUEST_BYTES", default_value_t = 4 << 20)]
    pub fetch_max_request_bytes: u64,

    /// Longest one fetch may take (never past the execution's deadline).
    #[arg(long, env = "MCP_V8_FETCH_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub fetch_timeout: Duration,

    /// A header added to (or replacing one in) every request to exactly
    /// HOST: HOST=NAME:VALUE, VALUE may be @FILE. Repeatable. Scripts never
    /// see the value.
    #[arg(long, env = "MCP_V8_FETCH_HEADER")]
    pub fetch_header: Vec<String>,

    /// Directory whose node_modules bare import specifiers resolve from
    /// (fill it with e.g. `npm install --prefix DIR zod`).
    #[arg(long, env = "MCP_V8_MODULES_DIR")]
    pub modules_dir: Option<PathBuf>,
}

/// A header injected on requests to one host.
#[derive(Clone)]
pub struct InjectedHeader {
    /// The host it applies to (lower case).
    pub host: String,
    /// Header name.
    pub name: HeaderName,
    /// Header value (a secret: never logged or shown).
    pub value: HeaderValue,
}

impl std::fmt::Debug for InjectedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}:<redacted>", self.host, self.name)
    }
}

/// The checked host-call configuration.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The server's grants.
    pub allow_net: Vec<Grant>,
    /// `--allow-private-net`.
    pub allow_private_net: bool,
    /// Fetches per execution.
    pub fetch_max_requests: u32,
    /// Response body limit.
    pub fetch_max_response_bytes: u64,
    /// Request body limit.
    pub fetch_max_request_bytes: u64,
    /// Per-fetch timeout.
    pub fetch_timeout: Duration,
    /// Credentials by host.
    pub fetch_headers: Vec<InjectedHeader>,
    /// Canonical modules directory.
    pub modules_dir: Option<PathBuf>,
}

/// A flag value that makes no sense.
#[derive(Debug, thiserror::Error)]
#[error("invalid value for --{flag}: {why}")]
pub struct NetConfigError {
    /// The flag's long name.
    pub flag: &'static str,
    /// What is wrong.
    pub why: String,
}

fn bad(flag: &'static str, why: impl Into<String>) -> NetConfigError {
    NetConfigError {
        flag,
        why: why.into(),
    }
}

/// Parses `HOST=NAME:VALUE` (VALUE may be `@FILE`).
fn injected_header(text: &str) -> Result<InjectedHeader, String> {
    let (host, header) = text.split_once('=').ok_or("expected HOST=NAME:VALUE")?;
    let (name, value) = header.split_once(':').ok_or("expected HOST=NAME:VALUE")?;
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("{:?} is not a header name", name.trim()))?;
    let value = match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {path}: {e}"))?
            .trim_end_matches(['\r', '\n'])
            .to_string(),
        None => value.trim().to_string(),
    };
    let mut value =
        HeaderValue::from_str(&value).map_err(|_| "the value is not a valid header value")?;
    value.set_sensitive(true);
    Ok(InjectedHeader { host, name, value })
}

impl NetArgs {
    /// Checks every value. `max_frame_bytes` bounds the response body (it
    /// must fit a frame to the worker).
    pub fn into_config(self, max_frame_bytes: u64) -> Result<HostConfig, NetConfigError> {
        let allow_net = policy::parse_list(&self.allow_net).map_err(|e| bad("allow-net", e))?;
        if !(1..=100_000).contains(&self.fetch_max_requests) {
            return Err(bad("fetch-max-requests", "must be between 1 and 100000"));
        }
        let room = max_frame_bytes.saturating_sub(1 << 20);
        if self.fetch_max_response_bytes == 0 || self.fetch_max_response_bytes > room {
            return Err(bad(
                "fetch-max-response-bytes",
                format!("must be between 1 and {room} bytes (a frame to the worker)"),
            ));
        }
        if self.fetch_max_request_bytes == 0 || self.fetch_max_request_bytes > room {
            return Err(bad(
                "fetch-max-request-bytes",
                format!("must be between 1 and {room} bytes"),
            ));
        }
        if self.fetch_timeout < Duration::from_millis(10) {
            return Err(bad("fetch-timeout", "must be at least 10ms"));
        }
        let fetch_headers = self
            .fetch_header
            .iter()
            .map(|h| injected_header(h))
            .collect::<Result<_, _>>()
            .map_err(|e| bad("fetch-header", e))?;
        let modules_dir = match self.modules_dir {
            None => None,
            Some(dir) => {
                let canonical = dir
                    .canonicalize()
                    .map_err(|e| bad("modules-dir", format!("{}: {e}", dir.display())))?;
                if !canonical.is_dir() {
                    return Err(bad(
                        "modules-dir",
                        format!("{} is not a directory", dir.display()),
                    ));
                }
                Some(canonical)
            }
        };
        Ok(HostConfig {
            allow_net,
            allow_private_net: self.allow_private_net,
            fetch_max_requests: self.fetch_max_requests,
            fetch_max_response_bytes: self.fetch_max_response_bytes,
            fetch_max_request_bytes: self.fetch_max_request_bytes,
            fetch_timeout: self.fetch_timeout,
            fetch_headers,
            modules_dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_headers_parse_and_hide_their_value() {
        let h = injected_header("API.example.com=Authorization:Bearer s3cret").unwrap();
        assert_eq!(h.host, "api.example.com");
        assert_eq!(h.name.as_str(), "authorization");
        assert!(!format!("{h:?}").contains("s3cret"));
        assert!(injected_header("nohost").is_err());
        assert!(injected_header("h=bad name:v").is_err());
        assert!(injected_header("h=x:@/nonexistent/file").is_err());
    }
}
