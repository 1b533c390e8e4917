//! Performing one `fetch` for a script: check the URL against the run's
//! policy, resolve the name here and connect only to the addresses that
//! passed (no second lookup), add the operator's credentials for exactly
//! that host, follow redirects (at most [`MAX_REDIRECTS`], each hop checked
//! again), read the body up to the limit, log and count it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mcp_v8_shared::{FetchRequest, FetchResponse, HostError, HostErrorKind, RedirectMode};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use super::policy::Host;
use super::{host_error, take_fetch, FetchRecord, RunHost};

/// Most redirects one fetch follows.
pub const MAX_REDIRECTS: usize = 5;

/// How long a fetch may outlive its execution's deadline (it is dropped
/// when the execution ends anyway).
const DEADLINE_GRACE: Duration = Duration::from_millis(500);

/// Headers a script may not set (the client manages them).
const MANAGED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
];

/// Headers dropped when a redirect leaves the origin.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// The client settings every fetch uses: no redirects (we follow them),
/// no proxy from the environment, no cookies.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_idle_timeout(Duration::from_secs(30))
}

fn denied(message: String) -> HostError {
    host_error(HostErrorKind::Denied, message)
}

/// The URL without query and fragment, for logs and reports.
fn display_url(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// Checks `url` against the run's policy and returns the client that
/// connects only to checked addresses.
async fn client_for(run: &RunHost, url: &Url) -> Result<reqwest::Client, HostError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(host_error(
            HostErrorKind::Invalid,
            format!("unsupported URL scheme {}:", url.scheme()),
        ));
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| host_error(HostErrorKind::Invalid, "the URL has no port"))?;
    let host = match url.host() {
        Some(url::Host::Ipv4(ip)) => Host::Ip(ip.into()),
        Some(url::Host::Ipv6(ip)) => Host::Ip(ip.into()),
        Some(url::Host::Domain(name)) => {
            Host::Name(name.trim_end_matches('.').to_ascii_lowercase())
        }
        None => return Err(host_error(HostErrorKind::Invalid, "the URL has no host")),
    };
    let shown = match &host {
        Host::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
        Host::Ip(ip) => format!("{ip}:{port}"),
        Host::Name(name) => format!("{name}:{port}"),
    };
    if !run.policy.allows(&host, port) {
        let which = if run.policy.is_narrowed() {
            "the server's --allow-net narrowed by this request's allow_net"
        } else {
            "the server's --allow-net"
        };
        return Err(denied(format!(
            "{shown} is not allowed by the network policy ({which})"
        )));
    }
    let name = match host {
        Host::Ip(ip) => {
            if !run.policy.address_ok(ip, port) {
                return Err(denied(format!("{shown} is an internal address")));
            }
            return Ok(run.services.client.clone());
        }
        Host::Name(name) => name,
    };
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
        .await
        .map_err(|e| {
            host_error(
                HostErrorKind::Network,
                format!("cannot resolve {name}: {e}"),
            )
        })?
        .collect();
    let allowed: Vec<SocketAddr> = resolved
        .iter()
        .copied()
        .filter(|a| run.policy.address_ok(a.ip(), port))
        .collect();
    if allowed.is_empty() {
        let first = resolved
            .first()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        return Err(denied(format!(
            "{shown} resolves to an internal address ({first}); grant that address itself \
             or start the server with --allow-private-net"
        )));
    }
    run.services.pinned.get(name, allowed)
}

/// The script's headers as a map; managed headers are dropped.
fn script_headers(pairs: &[(String, String)]) -> Result<HeaderMap, HostError> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| host_error(HostErrorKind::Invalid, format!("bad header name {name:?}")))?;
        if MANAGED_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| host_error(HostErrorKind::Invalid, format!("bad value for {name}")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// Adds the operator's headers for exactly this URL's host.
fn with_credentials(run: &RunHost, url: &Url, mut headers: HeaderMap) -> HeaderMap {
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    for injected in &run.services.config.fetch_headers {
        if injected.host == host {
            headers.insert(injected.name.clone(), injected.value.clone());
        }
    }
    headers
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Performs `req` for `run`; logs and records it.
pub async fn fetch(run: &RunHost, req: FetchRequest) -> Result<FetchResponse, HostError> {
    let started = Instant::now();
    let method_name = req.method.clone();
    // Parsed once: for the log, the record and the request itself.
    let url = Url::parse(&req.url);
    let (shown, host) = match &url {
        Ok(u) => (display_url(u), u.host_str().unwrap_or_default().to_string()),
        Err(_) => (req.url.clone(), String::new()),
    };
    let result = perform(run, req, url).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let (status, bytes, error) = match &result {
        Ok(r) => (Some(r.status), r.body.len() as u64, None),
        Err(e) => (None, 0, Some(e.message.clone())),
    };
    tracing::info!(
        execution = run.exec_id,
        method = %method_name,
        host = %host,
        status = status.unwrap_or(0),
        bytes,
        ms = format!("{ms:.1}"),
        error = error.as_deref().unwrap_or(""),
        "fetch"
    );
    if result.is_ok() {
        run.services.metrics.fetch(bytes, ms / 1000.0);
    }
    run.record(FetchRecord {
        method: method_name,
        url: shown,
        status,
        bytes,
        ms,
        error,
    });
    result
}

/// Performs `req`, whose URL parsed as `url`.
async fn perform(
    run: &RunHost,
    req: FetchRequest,
    url: Result<Url, url::ParseError>,
) -> Result<FetchResponse, HostError> {
    let config = &run.services.config;
    if !take_fetch(run) {
        return Err(host_error(
            HostErrorKind::Limit,
            format!(
                "at most {} fetches per execution (--fetch-max-requests)",
                config.fetch_max_requests
            ),
        ));
    }
    let body_len = req.body.as_ref().map_or(0, Vec::len) as u64;
    if body_len > config.fetch_max_request_bytes {
        return Err(host_error(
            HostErrorKind::Limit,
            format!(
                "the request body of {body_len} bytes exceeds --fetch-max-request-bytes ({})",
                config.fetch_max_request_bytes
            ),
        ));
    }
    let mut url = url.map_err(|e| {
        host_error(
            HostErrorKind::Invalid,
            format!("bad URL {:?}: {e}", req.url),
        )
    })?;
    let mut method = Method::from_bytes(req.method.as_bytes()).map_err(|_| {
        host_error(
            HostErrorKind::Invalid,
            format!("bad method {:?}", req.method),
        )
    })?;
    let mut headers = script_headers(&req.headers)?;
    let mut body = req.body;
    // Past the execution's deadline the worker stops the run itself (a
    // `timeout`, not a fetch error) and the job's end drops this request;
    // the grace keeps the two from racing.
    let deadline = (Instant::now() + config.fetch_timeout).min(run.deadline() + DEADLINE_GRACE);
    let mut redirected = false;
    let first = url.clone();
    for hop in 0..=MAX_REDIRECTS {
        let client = client_for(run, &url).await?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(host_error(
                HostErrorKind::Timeout,
                "no time left before the deadline",
            ));
        }
        let mut request = client
            .request(method.clone(), url.clone())
            .headers(with_credentials(run, &url, headers.clone()))
            .timeout(left);
        if let Some(bytes) = &body {
            request = request.body(bytes.clone());
        }
        let response = request.send().await.map_err(network_error)?;
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if !status.is_redirection() || location.is_none() || req.redirect == RedirectMode::Manual {
            return read_response(run, response, &url, redirected, deadline).await;
        }
        if req.redirect == RedirectMode::Error {
            return Err(host_error(
                HostErrorKind::Network,
                format!("redirected ({status}) and redirect is \"error\""),
            ));
        }
        if hop == MAX_REDIRECTS {
            break;
        }
        let next = url.join(location.as_deref().unwrap_or("")).map_err(|e| {
            host_error(
                HostErrorKind::Network,
                format!("bad redirect location: {e}"),
            )
        })?;
        if status == StatusCode::SEE_OTHER
            || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                && method == Method::POST)
        {
            if method != Method::HEAD {
                method = Method::GET;
            }
            body = None;
            for name in [
                "content-type",
                "content-encoding",
                "content-language",
                "content-location",
            ] {
                headers.remove(name);
            }
        }
        if !same_origin(&url, &next) {
            for name in CREDENTIAL_HEADERS {
                headers.remove(*name);
            }
        }
        url = next;
        redirected = true;
    }
    Err(host_error(
        HostErrorKind::Network,
        format!(
            "more than {MAX_REDIRECTS} redirects from {}",
            display_url(&first)
        ),
    ))
}

fn network_error(e: reqwest::Error) -> HostError {
    if e.is_timeout() {
        return host_error(HostErrorKind::Timeout, "the request timed out");
    }
    // reqwest's Display hides the cause; the chain says what failed.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    host_error(HostErrorKind::Network, message)
}

/// Reads status, headers and the body (up to the limit).
async fn read_response(
    run: &RunHost,
    mut response: reqwest::Response,
    url: &Url,
    redirected: bool,
    deadline: Instant,
) -> Result<FetchResponse, HostError> {
    let limit = run.services.config.fetch_max_response_bytes;
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, response.chunk())
            .await
            .map_err(|_| host_error(HostErrorKind::Timeout, "the response body timed out"))?
            .map_err(network_error)?;
        let Some(chunk) = chunk else { break };
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(FetchResponse {
        status: status.as_u16(),
        status_text: status.canonical_reason().unwrap_or("").to_string(),
        url: url.to_string(),
        redirected,
        headers,
        body,
    })
}

fn too_large(limit: u64) -> HostError {
    host_error(
        HostErrorKind::Limit,
        format!("the response body exceeds --fetch-max-response-bytes ({limit} bytes)"),
    )
}
