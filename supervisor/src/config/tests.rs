//! Unit tests of the flags: defaults, units, refusals naming the flag.

use super::*;

fn parse(args: &[&str]) -> Result<Config, String> {
    let args = Args::try_parse_from(std::iter::once("mcp-v8").chain(args.iter().copied()))
        .map_err(|e| e.to_string())?;
    args.into_config().map_err(|e| e.to_string())
}

#[test]
fn defaults_are_valid() {
    let config = parse(&[]).unwrap();
    assert!(config.workers >= 1);
    assert_eq!(config.execution_timeout, Duration::from_secs(30));
    assert_eq!(config.heap_memory_max, 64);
    assert_eq!(config.sandbox, SandboxMode::BestEffort);
    assert_eq!(config.heap_retention, Duration::from_secs(7 * 24 * 3600));
}

#[test]
fn durations_accept_units_and_bare_seconds() {
    assert_eq!(
        parse(&["--execution-timeout", "500ms"])
            .unwrap()
            .execution_timeout
            .as_millis(),
        500
    );
    assert_eq!(
        parse(&["--execution-timeout", "5"])
            .unwrap()
            .execution_timeout
            .as_secs(),
        5
    );
    assert!(parse(&["--execution-timeout", "soon"]).is_err());
}

#[test]
fn nonsense_values_are_refused_with_the_flag_name() {
    for (args, flag) in [
        (&["--workers", "0"][..], "--workers"),
        (&["--heap-memory-max", "1"][..], "--heap-memory-max"),
        (&["--execution-timeout", "1ms"][..], "--execution-timeout"),
        (&["--max-code-bytes", "0"][..], "--max-code-bytes"),
        (&["--http-port", "0"][..], "--http-port"),
        (&["--workers-memory-max", "8"][..], "--workers-memory-max"),
        (
            &["--workers-memory-max", "99999999"][..],
            "--workers-memory-max",
        ),
    ] {
        let err = parse(args).unwrap_err();
        assert!(err.contains(flag), "{args:?}: {err}");
    }
}

#[test]
fn limits_whose_frames_would_not_fit_are_refused() {
    let too_big = [
        "--max-heap-bytes",
        "805306368",
        "--max-output-bytes",
        "268435456",
    ];
    let err = parse(&too_big).unwrap_err();
    assert!(
        err.contains("--max-heap-bytes") && err.contains("1024 MiB"),
        "{err}"
    );
    assert!(parse(&["--max-heap-bytes", "805306368"]).is_ok());
}

#[test]
fn an_advertised_address_the_cluster_port_cannot_answer_on_is_refused() {
    let cluster = ["--cluster-port", "4001", "--node-id", "n1"];
    let with = |extra: &[&'static str]| {
        let mut args = cluster.to_vec();
        args.extend_from_slice(extra);
        parse(&args)
    };
    let err = with(&["--advertise-addr", "10.0.0.5:4001"]).unwrap_err();
    assert!(
        err.contains("--advertise-addr") && err.contains("--cluster-host"),
        "{err}"
    );
    let err = with(&["--advertise-addr", "[2001:db8::1]:4001"]).unwrap_err();
    assert!(err.contains("--advertise-addr"), "{err}");
    for fine in ["127.0.0.1:4001", "[::1]:4001", "node1.internal:4001"] {
        assert!(with(&["--advertise-addr", fine]).is_ok(), "{fine}");
    }
}

#[test]
fn workers_memory_max_defaults_per_worker_and_zero_disables() {
    let config = parse(&["--workers", "3", "--heap-memory-max", "100"]).unwrap();
    assert_eq!(config.workers_memory_max, 3 * (2 * 100 + 128));
    assert_eq!(config.workers_memory_max_bytes(), (3 * 328) << 20);
    let config = parse(&["--workers-memory-max", "256"]).unwrap();
    assert_eq!(config.workers_memory_max_bytes(), 256 << 20);
    assert_eq!(
        parse(&["--workers-memory-max", "0"])
            .unwrap()
            .workers_memory_max_bytes(),
        0
    );
}
