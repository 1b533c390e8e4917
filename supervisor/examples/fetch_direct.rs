//! Baselines for `scripts/bench-host`: a loopback HTTP server that answers
//! every request with a small body (`serve`), and a Rust client fetching a
//! URL directly, with the same reqwest settings the supervisor uses for
//! IP-literal URLs (`fetch URL N`, prints the p50/p99 in microseconds as
//! one JSON line).

use std::time::{Duration, Instant};

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve") => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            println!("{}", listener.local_addr()?.port());
            let app = axum::Router::new().fallback(|| async { "hello from the loopback server" });
            axum::serve(listener, app).await?;
            Ok(())
        }
        Some("fetch") => {
            let url = args.get(2).context("fetch URL N")?;
            let n: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(500);
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .pool_idle_timeout(Duration::from_secs(30))
                .build()?;
            let mut samples = Vec::with_capacity(n);
            for _ in 0..n {
                let start = Instant::now();
                let body = client.get(url).send().await?.bytes().await?;
                samples.push(start.elapsed().as_secs_f64() * 1e6);
                anyhow::ensure!(!body.is_empty(), "empty body");
            }
            samples.sort_by(|a, b| a.total_cmp(b));
            let pct =
                |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
            println!(
                "{{\"p50_us\": {:.1}, \"p99_us\": {:.1}}}",
                pct(0.5),
                pct(0.99)
            );
            Ok(())
        }
        _ => anyhow::bail!("usage: fetch_direct serve | fetch URL N"),
    }
}
