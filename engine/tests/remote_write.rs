//! Remote write against a real Prometheus (Debian's `prometheus` package,
//! `/usr/bin/prometheus`, with its remote write receiver on): families built
//! from a real aggregator are pushed through `RemoteWriter`, then queried
//! back with PromQL. Without Prometheus the test is skipped with a message,
//! and fails under CI: the suite's rule (docs/testing.md; `stampede_tests`
//! has it as `require!`, which this crate cannot use).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use stampede_engine::stats::{new_latency_histogram, Aggregator};
use stampede_engine::web::metrics::{families, MetricsConfig, MetricsInput, DEFAULT_BUCKETS_S};
use stampede_engine::web::remote_write::{RemoteWriteOptions, RemoteWriter};
use stampede_proto::{EndpointSnapshot, HistogramBuckets, Snapshot, SNAPSHOT_VERSION};

/// Where Debian's package puts the binary; `PROMETHEUS` overrides it.
const DEFAULT_PROMETHEUS: &str = "/usr/bin/prometheus";

/// A Prometheus on a free loopback port with a temporary TSDB, killed on drop
/// (a failing test's unwinding included).
struct Prometheus {
    child: Child,
    port: u16,
    dir: PathBuf,
}

/// The suite's rule for a missing prerequisite (docs/testing.md): true when
/// `available`; else a failure under CI, and elsewhere false after printing
/// `SKIPPED: <need>`.
fn required(available: bool, need: &str) -> bool {
    if available {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    assert!(!ci, "REQUIRED under CI: {need}");
    eprintln!("SKIPPED: {need} (under CI this fails)");
    false
}

/// Whether the Prometheus binary is there (`PROMETHEUS`, or Debian's package).
fn prometheus_available() -> bool {
    let binary = std::env::var("PROMETHEUS").unwrap_or_else(|_| DEFAULT_PROMETHEUS.into());
    Path::new(&binary).exists()
}

impl Prometheus {
    /// Starts one and waits until `/-/ready` answers 200.
    fn start() -> Prometheus {
        let binary = std::env::var("PROMETHEUS").unwrap_or_else(|_| DEFAULT_PROMETHEUS.into());
        assert!(
            Path::new(&binary).exists(),
            "Prometheus is needed for this test and {binary} does not exist: install Debian's \
             `prometheus` package (apt-get update && apt-get install -y prometheus; .ci/run does), \
             or point PROMETHEUS at a binary"
        );
        let unique = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "stampede-remote-write-{}-{unique}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        // No scrape jobs: every series comes from remote write.
        std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let log = dir.join(format!("prometheus-{port}.log"));
            let child = Command::new(&binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--web.enable-remote-write-receiver")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
            let mut prometheus = Prometheus {
                child,
                port,
                dir: dir.clone(),
            };
            if wait_ready(&mut prometheus.child, port, Duration::from_secs(60)) {
                return prometheus;
            }
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
            // Not ready (its port taken meanwhile?): stop it, keep the directory, try again.
            let _ = prometheus.child.kill();
            let _ = prometheus.child.wait();
            prometheus.dir = PathBuf::new();
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("Prometheus did not become ready; its log:\n{last_log}");
    }

    /// An instant PromQL query's single value.
    fn query(&self, promql: &str) -> f64 {
        let path = format!("/api/v1/query?query={}", url_encode(promql));
        let (status, body) = http_get(self.port, &path).expect("query Prometheus");
        assert_eq!(status, 200, "{promql}: {body}");
        let json: Value = serde_json::from_str(&body).unwrap();
        let result = &json["data"]["result"];
        assert_eq!(result.as_array().map(Vec::len), Some(1), "{promql}: {body}");
        result[0]["value"][1].as_str().unwrap().parse().unwrap()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Polls `/-/ready` until 200, the process's exit, or the timeout.
fn wait_ready(child: &mut Child, port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok((200, _)) = http_get(port, "/-/ready") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A port free on 127.0.0.1 just now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A GET over plain HTTP/1.1 to 127.0.0.1: the status and body.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok((status, body.to_string()))
}

/// Percent-encodes a query parameter.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One endpoint's interval with these latencies (µs), 100 bytes a request.
fn endpoint(method: &str, name: &str, latencies_us: &[u64]) -> EndpointSnapshot {
    let mut histogram = new_latency_histogram();
    for &v in latencies_us {
        histogram.record(v).unwrap();
    }
    let buckets = HistogramBuckets::encode(&histogram).unwrap();
    EndpointSnapshot {
        method: method.into(),
        name: name.into(),
        requests: latencies_us.len() as u64,
        failures: vec![],
        bytes_received: 100 * latencies_us.len() as u64,
        body_bytes: 0,
        body_bytes_sent: 0,
        decoded_bytes: 0,
        redirects: 0,
        samples: Vec::new(),
        latency_us: buckets.clone(),
        service_us: None,
        ttfb_us: buckets,
    }
}

/// A regular snapshot of one source and interval.
fn snapshot(source: u32, interval: u32, endpoints: Vec<EndpointSnapshot>) -> Snapshot {
    Snapshot {
        version: SNAPSHOT_VERSION,
        source,
        interval,
        elapsed_ms: u64::from(interval) * 1_000,
        users: 4,
        dropped: 0,
        cpu_us: 0,
        is_final: false,
        endpoints,
        wall_us: 1_000_000,
        wait_us: 0,
        sched_lag_us: HistogramBuckets::default(),
        connect_us: HistogramBuckets::default(),
        tls_handshake_us: HistogramBuckets::default(),
        addresses: vec![],
        open_connections: 0,
        max_rss_kb: 0,
    }
}

/// Latencies spread from 0.5 ms to ~300 ms, deterministic.
fn latencies(count: usize, seed: u64) -> Vec<u64> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            // Skewed: most fast, a tail up to 300 ms.
            500 + (unit.powi(3) * 300_000.0) as u64
        })
        .collect()
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Index of the histogram bucket a latency in seconds falls in (`le` semantics).
fn bucket_index(seconds: f64) -> usize {
    DEFAULT_BUCKETS_S
        .iter()
        .position(|&bound| seconds <= bound)
        .unwrap_or(DEFAULT_BUCKETS_S.len())
}

/// Pushed families read back: the request total exactly, the p95 within one bucket.
#[test]
fn pushes_reach_a_real_prometheus() {
    let need = "this test needs Prometheus: Debian's `prometheus` package (apt-get install -y \
                prometheus; .ci/run does), or PROMETHEUS set";
    if !required(prometheus_available(), need) {
        return;
    }
    let prometheus = Prometheus::start();
    let url = format!("http://127.0.0.1:{}/api/v1/write", prometheus.port);
    let options = RemoteWriteOptions::parse(&url, Duration::from_secs(1)).unwrap();
    let writer = RemoteWriter::start(options);

    let input = MetricsInput {
        run_id: "rw-test",
        scenario: "-",
        state: "running",
        users: Some(4),
        rate_per_s: None,
        busy: &[],
        workers: &[],
        elapsed_s: 1.0,
        saturated: false,
    };
    let config = MetricsConfig::default();
    let mut agg = Aggregator::new();
    let start_ms = unix_ms() - 10_000;
    let mut merged = 0u64;
    for interval in 1..=3u32 {
        for source in 0..2u32 {
            let seed = u64::from(interval * 10 + source);
            let a = latencies(300, seed);
            let b = latencies(150, seed + 100);
            merged += (a.len() + b.len()) as u64;
            let endpoints = vec![endpoint("GET", "/a", &a), endpoint("POST", "/b", &b)];
            agg.merge(&snapshot(source, interval, endpoints)).unwrap();
        }
        // Earlier pushes, a second apart, as the observer would send them.
        writer.push(
            families(&agg, &input, &config),
            start_ms + i64::from(interval) * 1_000,
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let last = families(&agg, &input, &MetricsConfig::default());
    let report = writer.finish(last, unix_ms(), Duration::from_secs(10));
    assert_eq!(report.pushes_failed, 0, "{report:?}");
    assert!(report.pushes_ok >= 1, "{report:?}");
    assert_eq!(report.last_error, None);

    let total = prometheus.query("sum(stampede_requests_total)");
    assert_eq!(total, merged as f64);
    assert_eq!(agg.total().requests, merged);
    let per_endpoint =
        prometheus.query("stampede_requests_total{run_id=\"rw-test\",method=\"POST\",name=\"/b\"}");
    assert_eq!(per_endpoint, 900.0);

    let p95_prometheus = prometheus
        .query("histogram_quantile(0.95, sum by (le) (stampede_response_time_seconds_bucket))");
    let p95_aggregator = agg.total().latency_us.value_at_quantile(0.95) as f64 / 1e6;
    let (from_prometheus, from_aggregator) =
        (bucket_index(p95_prometheus), bucket_index(p95_aggregator));
    assert!(
        from_prometheus.abs_diff(from_aggregator) <= 1,
        "p95 {p95_prometheus} s (bucket {from_prometheus}) vs the aggregator's {p95_aggregator} s (bucket {from_aggregator})"
    );
}
