//! Metrics out, end to end: the real `stampede` binary against
//! stampede-target, read by a real Prometheus (Debian's `/usr/bin/prometheus`,
//! or `PROMETHEUS`), all on 127.0.0.1. A scraped run and a remote-written run
//! must show Prometheus exactly the requests the `--json` summary and the
//! target counted, and a p95 within one histogram bucket of the summary's; a
//! coordinator's `/metrics` shows the merged (and per-worker) totals; the
//! `--jsonl` lines are the summary's time series, adding up to its total.
//! Every run is paced by `--run-time`, every wait is bounded, and every
//! process a test starts (Prometheus included) is killed when it ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use stampede_tests::webdriver::free_port;
use stampede_tests::{bin, serial, stampede, temp_file, TargetProcess};

/// Where Debian's package puts Prometheus; `PROMETHEUS` overrides it.
const DEFAULT_PROMETHEUS: &str = "/usr/bin/prometheus";
/// `--metrics-buckets` of every run here, from 50 µs (a loopback request)
/// to 1 s, as seconds and durations both; [`BUCKETS_S`] is the same in seconds.
const BUCKETS: &str = "0.00005,0.0001,0.0002,0.0005,1ms,2ms,5ms,10ms,50ms,100ms,1s";
/// [`BUCKETS`] in seconds.
const BUCKETS_S: &[f64] = &[
    0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 1.0,
];
/// The token a coordinator and its workers share.
const TOKEN: &str = "metrics-token";
/// How long a Prometheus gets to become ready.
const PROMETHEUS_READY: Duration = Duration::from_secs(60);
/// How long a process gets to print an expected line.
const LINE_LIMIT: Duration = Duration::from_secs(20);
/// How long a run of a few seconds may take from start to exit, lingering included.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// One HTTP exchange.
const HTTP_LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- processes

/// The stampede processes of one test and every line they print; all are
/// killed on drop (a failing test's unwinding included), which then prints
/// their output.
#[derive(Default)]
struct Processes {
    children: Vec<(String, Child)>,
    lines: Arc<Mutex<Vec<(String, String)>>>,
}

impl Processes {
    /// Starts `stampede ARGS` with piped output; `name` tags its lines.
    fn spawn(&mut self, name: &str, args: &[&str]) {
        let mut child = Command::new(bin("stampede"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = Arc::clone(&self.lines);
            let name = name.to_string();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((name.clone(), line));
                }
            });
        }
        self.children.push((name.to_string(), child));
    }

    fn child(&mut self, name: &str) -> &mut Child {
        self.children
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .unwrap_or_else(|| panic!("no process {name}"))
    }

    /// Whether `name` is still running.
    fn running(&mut self, name: &str) -> bool {
        matches!(self.child(name).try_wait(), Ok(None))
    }

    /// What `name` printed so far (stdout and stderr interleaved).
    fn output_of(&self, name: &str) -> String {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, line)| format!("{line}\n"))
            .collect()
    }

    /// Everything printed so far, one `[name] line` per line.
    fn output(&self) -> String {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(name, line)| format!("[{name}] {line}\n"))
            .collect()
    }

    /// The rest of the first line `name` printed that starts with `prefix`.
    fn wait_line(&mut self, name: &str, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let found = self
                .lines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|(n, l)| n == name && l.starts_with(prefix))
                .map(|(_, l)| l[prefix.len()..].to_string());
            if let Some(rest) = found {
                return rest;
            }
            if let Ok(Some(status)) = self.child(name).try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "{name} exited with {status} before printing {prefix:?}:\n{}",
                    self.output_of(name)
                );
            }
            assert!(
                Instant::now() < deadline,
                "{name} printed no line starting with {prefix:?} in {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for `name` to exit; `None` (and the process killed) past `limit`.
    fn wait_exit(&mut self, name: &str, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.child(name);
        loop {
            if let Some(status) = child.try_wait().expect("wait for a child") {
                // Give the readers a moment to collect the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            std::thread::sleep(Duration::from_millis(100));
            eprintln!("output of the test's processes:\n{}", self.output());
        }
    }
}

// ---------------------------------------------------------------- HTTP

/// One HTTP answer: status, headers (names lower-cased) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    /// The first header with this (lower-case) name.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A GET to `addr` over HTTP/1.1 (`Connection: close`) with an optional
/// `Accept`, read to the end of its framing (Content-Length, chunks or EOF).
fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> Result<Answer, String> {
    let fail = |what: &str, e: std::io::Error| format!("GET http://{addr}{path}: {what}: {e}");
    let mut stream =
        TcpStream::connect_timeout(&addr, HTTP_LIMIT).map_err(|e| fail("connect", e))?;
    stream
        .set_read_timeout(Some(HTTP_LIMIT))
        .map_err(|e| fail("timeout", e))?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(accept) = accept {
        request.push_str(&format!("Accept: {accept}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| fail("send", e))?;
    let deadline = Instant::now() + HTTP_LIMIT;
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        if let Some(answer) = parse_answer(&raw, false) {
            return Ok(answer);
        }
        if Instant::now() > deadline {
            return Err(format!("GET http://{addr}{path}: no whole answer in time"));
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(fail("read", e)),
        }
    }
    parse_answer(&raw, true).ok_or_else(|| {
        format!(
            "GET http://{addr}{path}: malformed answer: {}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// The answer in `raw` once complete by its framing (or at EOF).
fn parse_answer(raw: &[u8], at_eof: bool) -> Option<Answer> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let rest = &raw[head_end + 4..];
    let body = if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        rest.get(..len)?.to_vec()
    } else if at_eof {
        rest.to_vec()
    } else {
        return None;
    };
    Some(Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A complete chunked body; `None` until its last chunk arrived.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
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

// ---------------------------------------------------------------- Prometheus

/// A Prometheus on a free loopback port with a temporary TSDB, killed on
/// drop (a failing test's unwinding included, which then prints its log).
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
}

/// Whether the Prometheus binary is there (`PROMETHEUS`, or Debian's package).
fn prometheus_available() -> bool {
    let binary = std::env::var("PROMETHEUS").unwrap_or_else(|_| DEFAULT_PROMETHEUS.into());
    Path::new(&binary).exists()
}

/// What `prometheus_available` wants, for `require!`'s message.
const PROMETHEUS_NEED: &str = "this test needs Prometheus: Debian's `prometheus` package \
                               (apt-get install -y prometheus; .ci/run does), or PROMETHEUS set";

impl Prometheus {
    /// Starts one with `config` (YAML) and waits until `/-/ready` answers
    /// 200; `remote_write` turns on its remote write receiver. Tests check
    /// `prometheus_available` first (`require!`); here a missing binary fails.
    fn start(config: &str, remote_write: bool) -> Prometheus {
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
        let dir =
            std::env::temp_dir().join(format!("stampede-metrics-{}-{unique}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let mut last_log = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let log = dir.join(format!("prometheus-{attempt}.log"));
            let mut command = Command::new(&binary);
            command
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join(format!("data-{attempt}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"));
            if remote_write {
                command.arg("--web.enable-remote-write-receiver");
            }
            let child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
            let mut prometheus = Prometheus {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                dir: dir.clone(),
                log: log.clone(),
            };
            if prometheus.wait_ready(PROMETHEUS_READY) {
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

    /// Polls `/-/ready` until 200, the process's exit, or `limit`.
    fn wait_ready(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if get(self.addr, "/-/ready", None).is_ok_and(|a| a.status == 200) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// An HTTP API call's `data`, failing the test on any error.
    fn api(&self, path: &str) -> Value {
        let answer = get(self.addr, path, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        let json: Value = serde_json::from_str(&answer.body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", answer.body));
        assert_eq!(json["status"], "success", "{path}: {}", answer.body);
        json["data"].clone()
    }

    /// An instant query's result vector, evaluated now or at `at` (Unix seconds).
    fn query(&self, promql: &str, at: Option<f64>) -> Vec<Value> {
        let mut path = format!("/api/v1/query?query={}", url_encode(promql));
        if let Some(at) = at {
            path.push_str(&format!("&time={at:.3}"));
        }
        let data = self.api(&path);
        data["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{promql}: no result: {data}"))
            .clone()
    }

    /// An instant query's one value (the query must give exactly one series).
    fn value(&self, promql: &str, at: Option<f64>) -> f64 {
        let result = self.query(promql, at);
        assert_eq!(result.len(), 1, "{promql} at {at:?}: {result:?}");
        let text = result[0]["value"][1].as_str().expect("a sample value");
        text.parse()
            .unwrap_or_else(|_| panic!("{promql}: value {text:?}"))
    }

    /// The scrape targets Prometheus knows (`activeTargets`).
    fn targets(&self) -> Vec<Value> {
        self.api("/api/v1/targets")["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!("Prometheus's log (last lines):\n{}", tail.join("\n"));
        }
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------- helpers

/// A fresh path for a `--json` summary (or any output file).
fn out_path(name: &str) -> PathBuf {
    let path = temp_file(name, "");
    let _ = std::fs::remove_file(&path);
    path
}

/// The `--json` summary at `path`; fails with the processes' output when absent.
fn read_summary(path: &Path, output: &str) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no JSON summary at {} ({e}):\n{output}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the summary is not JSON ({e}): {text}"))
}

/// `totals.requests` of a summary.
fn total_requests(summary: &Value) -> u64 {
    summary["totals"]["requests"]
        .as_u64()
        .unwrap_or_else(|| panic!("totals.requests missing: {}", summary["totals"]))
}

/// `totals.latency_ms.p95` of a summary, in seconds.
fn summary_p95_s(summary: &Value) -> f64 {
    summary["totals"]["latency_ms"]["p95"]
        .as_f64()
        .unwrap_or_else(|| panic!("totals.latency_ms.p95 missing: {}", summary["totals"]))
        / 1_000.0
}

/// Index of the histogram bucket a latency in seconds falls in (`le` semantics).
fn bucket_index(seconds: f64) -> usize {
    BUCKETS_S
        .iter()
        .position(|&bound| seconds <= bound)
        .unwrap_or(BUCKETS_S.len())
}

/// Fails unless Prometheus's p95 and the summary's lie at most one bucket apart.
fn assert_p95_within_a_bucket(from_prometheus: f64, summary: &Value, what: &str) {
    let from_summary = summary_p95_s(summary);
    let (a, b) = (bucket_index(from_prometheus), bucket_index(from_summary));
    assert!(
        from_prometheus.is_finite() && a.abs_diff(b) <= 1,
        "{what}: p95 {from_prometheus} s (bucket {a}) vs the JSON summary's {from_summary} s \
         (bucket {b}); bounds {BUCKETS_S:?}"
    );
}

/// The samples of metric `name` in a text exposition: (labels, value) each.
fn samples(text: &str, name: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = if let Some(rest) = rest.strip_prefix('{') {
                let (labels, value) = rest.rsplit_once("} ")?;
                (labels.to_string(), value)
            } else {
                (String::new(), rest.strip_prefix(' ')?)
            };
            Some((labels, value.trim().parse().ok()?))
        })
        .collect()
}

/// The sum of the samples of metric `name` in a text exposition.
fn sum_of(text: &str, name: &str) -> f64 {
    samples(text, name).iter().map(|(_, v)| v).sum()
}

/// Polls `/metrics` at `addr` until it shows the finished run (state
/// `finished`, published with the final numbers), while `name` runs;
/// returns that scrape's text.
fn wait_finished_scrape(procs: &mut Processes, name: &str, addr: SocketAddr) -> String {
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        if let Ok(answer) = get(addr, "/metrics", None) {
            assert_eq!(answer.status, 200, "/metrics: {}", answer.body);
            let finished = samples(&answer.body, "stampede_run_state")
                .iter()
                .any(|(labels, value)| labels.contains("state=\"finished\"") && *value == 1.0);
            if finished {
                return answer.body;
            }
        }
        assert!(
            procs.running(name),
            "{name} exited before /metrics showed the finished run"
        );
        assert!(
            Instant::now() < deadline,
            "/metrics did not show the finished run within {RUN_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The address `stampede` printed for `/metrics` (`metrics on http://ADDR/metrics`).
fn metrics_addr(procs: &mut Processes, name: &str) -> SocketAddr {
    let line = procs.wait_line(name, "metrics on http://", LINE_LIMIT);
    line.trim_end_matches("/metrics")
        .parse()
        .unwrap_or_else(|_| panic!("{name}: bad metrics line {line:?}"))
}

// ---------------------------------------------------------------- tests

/// Prometheus scraping `/metrics` every second through a run and its
/// `--autoquit` window ends with exactly the summary's and the target's
/// request count and a p95 within one bucket of the summary's, and
/// `/metrics` speaks OpenMetrics when asked.
#[test]
fn prometheus_scrape_matches_the_summary_and_the_target() {
    stampede_tests::require!(prometheus_available(), "{PROMETHEUS_NEED}");
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    // Prometheus must know the address before stampede listens on it.
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1m\n\
         scrape_configs:\n  - job_name: stampede\n    scrape_interval: 1s\n    \
         scrape_timeout: 1s\n    static_configs:\n      - targets: ['{metrics}']\n"
    );
    let prometheus = Prometheus::start(&config, false);
    // Scraping starts once discovery hands the target over (up to 5 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    while prometheus.targets().is_empty() {
        assert!(
            Instant::now() < deadline,
            "Prometheus lists no scrape target"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let mut procs = Processes::default();
    let json = out_path("scrape.json");
    let metrics_arg = metrics.to_string();
    procs.spawn(
        "run",
        &[
            "run",
            "--metrics",
            &metrics_arg,
            "--autoquit",
            "4",
            "--metrics-buckets",
            BUCKETS,
            "--host",
            &url,
            "--threads",
            "2",
            "-u",
            "2",
            "--run-time",
            "4s",
            "--json",
            json.to_str().unwrap(),
            "--only-summary",
        ],
    );
    assert_eq!(metrics_addr(&mut procs, "run"), metrics);

    // The run has ended once /metrics shows it finished; stampede lingers 4 s.
    let last = wait_finished_scrape(&mut procs, "run", metrics);
    let summary = read_summary(&json, &procs.output());
    let total = total_requests(&summary);
    assert!(total > 0, "the run sent requests");
    assert_eq!(
        sum_of(&last, "stampede_requests_total"),
        total as f64,
        "a direct scrape after the run vs the JSON summary:\n{last}"
    );
    let open = get(metrics, "/metrics", Some("application/openmetrics-text")).unwrap();
    assert_eq!(open.status, 200);
    assert_eq!(
        open.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(open.body.ends_with("# EOF\n"), "{}", open.body);
    assert!(
        open.body.contains("# TYPE stampede_requests counter"),
        "{}",
        open.body
    );
    assert_eq!(sum_of(&open.body, "stampede_requests_total"), total as f64);

    // Prometheus scrapes the finished run (the final numbers) during the window.
    let finished = "max_over_time(stampede_run_state{state=\"finished\"}[5m])";
    let deadline = Instant::now() + Duration::from_secs(15);
    while prometheus.query(finished, None).is_empty() {
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the finished run; targets: {:?}",
            prometheus.targets()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let targets = prometheus.targets();
    assert_eq!(targets.len(), 1, "{targets:?}");
    assert_eq!(
        targets[0]["scrapeUrl"],
        format!("http://{metrics}/metrics"),
        "{targets:?}"
    );
    assert_eq!(targets[0]["health"], "up", "{targets:?}");
    assert_eq!(targets[0]["lastError"], "", "{targets:?}");

    let status = procs.wait_exit("run", RUN_LIMIT);
    assert!(
        status.is_some_and(|s| s.success()),
        "stampede run: {status:?}\n{}",
        procs.output_of("run")
    );
    let served = target.stats().0;
    assert_eq!(total, served, "the JSON summary vs the target's count");

    // Counters only grow within a run, so each series' maximum is its final value.
    let scraped = prometheus.value("sum(max_over_time(stampede_requests_total[5m]))", None);
    assert_eq!(scraped, total as f64, "Prometheus vs the JSON summary");
    assert_eq!(scraped, served as f64, "Prometheus vs the target");

    // At the last scrape of the finished run, the latest values are the final ones.
    let runs = prometheus.query("stampede_run_state{state=\"finished\"}[5m]", None);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let at = runs[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v[1] == "1")
        .filter_map(|v| v[0].as_f64())
        .fold(f64::NAN, f64::max);
    assert!(at.is_finite(), "no finished sample: {runs:?}");
    assert_eq!(
        prometheus.value("sum(stampede_requests_total)", Some(at)),
        total as f64,
        "the latest value at the last finished scrape"
    );
    let p95 = prometheus.value(
        "histogram_quantile(0.95, sum by (le) (stampede_response_time_seconds_bucket))",
        Some(at),
    );
    assert_p95_within_a_bucket(p95, &summary, "scraped");
    assert_eq!(
        prometheus.value("sum(stampede_response_time_seconds_count)", Some(at)),
        total as f64
    );
}

/// Remote write every second plus the final push at exit leaves Prometheus
/// (no scrape jobs) exactly the summary's and the target's request count, the
/// finished state and a p95 within one bucket of the summary's.
#[test]
fn remote_write_matches_the_summary_and_the_target() {
    stampede_tests::require!(prometheus_available(), "{PROMETHEUS_NEED}");
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    // No scrape jobs: every series comes from remote write.
    let prometheus = Prometheus::start("global:\n  scrape_interval: 1m\n", true);
    let write_url = format!("http://{}/api/v1/write", prometheus.addr);

    let mut procs = Processes::default();
    let json = out_path("remote-write.json");
    procs.spawn(
        "run",
        &[
            "run",
            "--prometheus-remote-write",
            &write_url,
            "--remote-write-interval",
            "1s",
            "--metrics-buckets",
            BUCKETS,
            "--host",
            &url,
            "--threads",
            "2",
            "-u",
            "2",
            "--run-time",
            "5s",
            "--json",
            json.to_str().unwrap(),
            "--only-summary",
        ],
    );
    let status = procs.wait_exit("run", RUN_LIMIT);
    let output = procs.output_of("run");
    assert!(
        status.is_some_and(|s| s.success()),
        "stampede run: {status:?}\n{output}"
    );
    assert!(
        !output.contains("remote write"),
        "no push may fail:\n{output}"
    );
    let summary = read_summary(&json, &output);
    let total = total_requests(&summary);
    assert!(total > 0, "the run sent requests");
    let served = target.stats().0;
    assert_eq!(total, served, "the JSON summary vs the target's count");

    // The final push happened before exit: the latest values are the final ones.
    let pushed = prometheus.value("sum(stampede_requests_total)", None);
    assert_eq!(pushed, total as f64, "Prometheus vs the JSON summary");
    assert_eq!(pushed, served as f64, "Prometheus vs the target");
    assert_eq!(
        prometheus.value("sum(stampede_run_state{state=\"finished\"})", None),
        1.0,
        "the final push carries the finished state"
    );
    // Pushes went out during the run too, not only at its end.
    let pushes = prometheus.value("max(count_over_time(stampede_requests_total[5m]))", None);
    assert!(pushes >= 2.0, "{pushes} samples of stampede_requests_total");
    let p95 = prometheus.value(
        "histogram_quantile(0.95, sum by (le) (stampede_response_time_seconds_bucket))",
        None,
    );
    assert_p95_within_a_bucket(p95, &summary, "remote-written");
}

/// A coordinator's `/metrics` after a two-worker run shows the merged
/// request total of the summary and the target, and with
/// `--metrics-worker-labels` (only then) one series per worker adding up to it.
#[test]
fn coordinator_metrics_show_merged_and_per_worker_totals() {
    let _serial = serial();
    for worker_labels in [false, true] {
        let target = TargetProcess::start();
        let url = target.url();
        let mut procs = Processes::default();
        let json = out_path("coordinator.json");
        let mut args = vec![
            "coordinator",
            "--expect-workers",
            "2",
            "--bind",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--metrics",
            "127.0.0.1:0",
            "--autoquit",
            "3",
            "--host",
            &url,
            "-u",
            "4",
            "--run-time",
            "4s",
            "--json",
            json.to_str().unwrap(),
            "--only-summary",
        ];
        if worker_labels {
            args.push("--metrics-worker-labels");
        }
        procs.spawn("coordinator", &args);
        let listening = procs.wait_line("coordinator", "coordinator listening on ", LINE_LIMIT);
        let coordinator = listening.split(',').next().unwrap().trim().to_string();
        let metrics = metrics_addr(&mut procs, "coordinator");
        for name in ["worker-1", "worker-2"] {
            procs.spawn(
                name,
                &[
                    "worker",
                    "--coordinator",
                    &coordinator,
                    "--token",
                    TOKEN,
                    "--threads",
                    "1",
                ],
            );
        }

        let text = wait_finished_scrape(&mut procs, "coordinator", metrics);
        let status = procs.wait_exit("coordinator", RUN_LIMIT);
        assert!(
            status.is_some_and(|s| s.success()),
            "labels {worker_labels}: coordinator: {status:?}\n{}",
            procs.output()
        );
        for name in ["worker-1", "worker-2"] {
            assert!(
                procs.wait_exit(name, Duration::from_secs(15)).is_some(),
                "{name} kept running"
            );
        }
        let summary = read_summary(&json, &procs.output());
        let total = total_requests(&summary);
        assert!(total > 0, "the run sent requests");
        let served = target.stats().0;
        assert_eq!(total, served, "labels {worker_labels}: summary vs target");
        assert_eq!(
            sum_of(&text, "stampede_requests_total"),
            total as f64,
            "labels {worker_labels}: /metrics vs the JSON summary:\n{text}"
        );
        assert_eq!(
            sum_of(&text, "stampede_response_time_seconds_count"),
            total as f64,
            "labels {worker_labels}:\n{text}"
        );
        let per_worker = samples(&text, "stampede_worker_requests_total");
        if !worker_labels {
            assert!(
                per_worker.is_empty() && !text.contains("stampede_worker_"),
                "per-worker series without --metrics-worker-labels:\n{text}"
            );
            continue;
        }
        assert_eq!(per_worker.len(), 2, "one series per worker:\n{text}");
        let ids: std::collections::BTreeSet<String> = per_worker
            .iter()
            .map(|(labels, _)| {
                labels
                    .split(',')
                    .find(|l| l.starts_with("worker="))
                    .unwrap_or_else(|| panic!("no worker label: {labels}"))
                    .to_string()
            })
            .collect();
        assert_eq!(ids.len(), 2, "distinct workers: {per_worker:?}");
        assert!(
            per_worker.iter().all(|(_, v)| *v > 0.0),
            "each worker sent requests: {per_worker:?}"
        );
        let sum: f64 = per_worker.iter().map(|(_, v)| v).sum();
        assert_eq!(
            sum, total as f64,
            "per-worker requests vs the total: {per_worker:?}"
        );
    }
}

/// `--jsonl` writes one JSON line per point of the summary's time series,
/// seconds 1, 2, 3, ..., each that point plus its requests, adding up to
/// the summary's and the target's request count.
#[test]
fn jsonl_lines_are_the_summary_timeseries() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    let jsonl = out_path("run.jsonl");
    let run = stampede(
        &[
            "run",
            "--jsonl",
            jsonl.to_str().unwrap(),
            "--host",
            &url,
            "--threads",
            "2",
            "-u",
            "2",
            "--run-time",
            "4s",
        ],
        RUN_LIMIT,
    );
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    let total = run.total("requests");
    assert!(total > 0, "the run sent requests");
    let served = target.stats().0;
    assert_eq!(total, served, "the JSON summary vs the target's count");

    let text = std::fs::read_to_string(&jsonl).expect("the --jsonl file");
    let _ = std::fs::remove_file(&jsonl);
    let lines: Vec<Value> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {line}", i + 1))
        })
        .collect();
    let points = run.summary()["timeseries"]
        .as_array()
        .expect("timeseries array")
        .clone();
    assert_eq!(
        lines.len(),
        points.len(),
        "one line per point:\n{text}\n{points:?}"
    );
    let seconds: Vec<u64> = lines.iter().map(|l| l["t_s"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = (1..=lines.len() as u64).collect();
    assert_eq!(seconds, expected, "t_s counts up by 1 from 1");

    // Each line is the summary's point of that second, plus its counts.
    let by_second: Vec<String> = lines
        .iter()
        .zip(&points)
        .map(|(line, point)| {
            format!(
                "t_s {}: line requests {} users {} rps {} | summary users {} rps {}",
                line["t_s"],
                line["requests"],
                line["users"],
                line["rps"],
                point["users"],
                point["rps"]
            )
        })
        .collect();
    let sum: u64 = lines
        .iter()
        .map(|l| l["requests"].as_u64().expect("requests"))
        .sum();
    assert_eq!(
        sum,
        total,
        "the lines' requests vs the JSON summary's total (target {served}):\n{}",
        by_second.join("\n")
    );
    for (line, point) in lines.iter().zip(&points) {
        let mut line = line.clone();
        let object = line.as_object_mut().unwrap();
        assert!(object.remove("requests").is_some());
        assert!(object.remove("failures").is_some());
        assert_eq!(
            &line,
            point,
            "a line differs from the summary's point:\n{}",
            by_second.join("\n")
        );
    }
}
