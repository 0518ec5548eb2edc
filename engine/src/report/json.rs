//! The JSON run summary, schema `stampede.summary/1`: totals, endpoints,
//! failures, the per-second time series, and how hard the generator worked.
//!
//! It turns an aggregator and the run's facts ([`RunInfo`]) into one JSON
//! value and writes it atomically (temp file, then rename). Gathering those
//! facts (CPU time, RSS, fd limit) is the caller's job. Times are milliseconds
//! as floats with microsecond precision; rates are per second.

use std::io;
use std::path::Path;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::thresholds::Verdict;
use crate::stats::{max_ms, mean_ms, min_ms, percentile_ms, Aggregator, EndpointTotals};

/// Checks before a run that the report can later be written at a path.
pub use super::output::check_writable;

/// Name and version of the summary's shape; bumped when a field changes meaning.
pub const SUMMARY_SCHEMA: &str = "stampede.summary/1";

/// Facts about the run that the aggregator does not know.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Wall-clock length of the run in seconds.
    pub duration_s: f64,
    /// When the run started, in milliseconds since the Unix epoch (UTC).
    pub started_unix_ms: u64,
    /// Shard threads the generator ran.
    pub threads: usize,
    /// I/O driver the shards used, e.g. `io_uring` or `epoll`.
    pub io_driver: String,
    /// CPU time the generator process used, in seconds.
    pub cpu_seconds: f64,
    /// Peak resident memory of the generator, in KiB.
    pub max_rss_kb: u64,
    /// Open-file limit the run had (RLIMIT_NOFILE soft limit).
    pub fd_limit: u64,
    /// The run's configuration, as it should appear in the report.
    pub config: Value,
}

/// One process of the run and its peak resident memory.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessMemory {
    /// `local` (a run in one process), `coordinator` or `worker`.
    pub role: &'static str,
    /// The worker's id, for a worker.
    pub worker: Option<u32>,
    /// Peak resident memory, in KiB.
    pub max_rss_kb: u64,
}

impl ProcessMemory {
    /// How the reports name it: `coordinator`, `worker 2`.
    pub fn label(&self) -> String {
        match self.worker {
            Some(id) => format!("worker {id}"),
            None => self.role.to_string(),
        }
    }
}

/// Every process of the run with its peak memory: this one (the coordinator
/// of a distributed run) first, then each worker that stamped its memory on
/// its snapshots, by id.
pub fn process_memory(agg: &Aggregator, info: &RunInfo) -> Vec<ProcessMemory> {
    let workers = agg.worker_rss_kb();
    let this = ProcessMemory {
        role: if workers.is_empty() {
            "local"
        } else {
            "coordinator"
        },
        worker: None,
        max_rss_kb: info.max_rss_kb,
    };
    let workers = workers.into_iter().map(|(id, max_rss_kb)| ProcessMemory {
        role: "worker",
        worker: Some(id),
        max_rss_kb,
    });
    std::iter::once(this).chain(workers).collect()
}

/// The whole summary document, with the run's threshold verdicts (empty when none were set).
pub fn summary(agg: &Aggregator, info: &RunInfo, verdicts: &[Verdict]) -> Value {
    let total = agg.total();
    let mut value = json!({
        "schema": SUMMARY_SCHEMA,
        "started_unix_ms": info.started_unix_ms,
        "totals": totals_json(agg, &total, info.duration_s),
        "endpoints": agg.endpoints().iter().map(|e| endpoint_json(e, info.duration_s)).collect::<Vec<_>>(),
        "failures": failures_json(agg),
        "timeseries": timeseries_json(agg),
        "generator": generator_json(agg, &total, info),
        "connections": connections_json(agg),
        "config": info.config.clone(),
        "thresholds": thresholds_json(verdicts),
    });
    if super::objects::wanted(info) {
        value["objects"] = super::objects::json(agg, info.duration_s);
    }
    value
}

/// Writes the summary as pretty JSON: to a temp file beside `path`, then
/// renamed over it; to stdout when `path` is `-` (Locust's `--json`).
pub fn write_summary(
    path: &Path,
    agg: &Aggregator,
    info: &RunInfo,
    verdicts: &[Verdict],
) -> io::Result<()> {
    let mut text = serde_json::to_vec_pretty(&summary(agg, info, verdicts))?;
    text.push(b'\n');
    if is_stdout(path) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(&text)?;
        return out.flush();
    }
    super::output::write_atomic(path, &text)
}

/// True for `--json -`: the summary goes to stdout.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The "totals" object.
fn totals_json(agg: &Aggregator, total: &EndpointTotals, duration_s: f64) -> Value {
    json!({
        "requests": total.requests,
        "failures": total.failures,
        "dropped": agg.dropped(),
        "rps": total.rps(duration_s),
        "bytes_received": total.bytes_received,
        "body_bytes": total.body_bytes,
        "decoded_bytes": total.decoded_bytes,
        "body_bytes_sent": total.body_bytes_sent,
        "avg_size_bytes": total.avg_size_bytes(),
        "redirects": total.redirects,
        "bytes_sent": agg.bytes_sent(),
        "latency_ms": latency_json(&total.latency_us),
        "ttfb_ms": latency_json(&total.ttfb_us),
    })
}

/// The "connections" object: connect and TLS handshake times over the run
/// (all origins) and the requests and request bytes each target address got.
fn connections_json(agg: &Aggregator) -> Value {
    let dial = agg.dial_totals();
    // Zeros and a count of 0 when no connection (or no TLS one) was opened.
    let empty = crate::stats::new_latency_histogram();
    let times = |h: &Option<Histogram<u64>>| {
        let h = h.as_ref().unwrap_or(&empty);
        let mut value = latency_json(h);
        value["count"] = json!(h.len());
        value
    };
    let addresses = dial.addresses.iter().map(|(addr, requests)| {
        let bytes_sent = dial.address_bytes.get(addr).copied().unwrap_or(0);
        json!({"addr": addr, "requests": requests, "bytes_sent": bytes_sent})
    });
    json!({
        "connect_ms": times(&dial.connect_us),
        "tls_handshake_ms": times(&dial.tls_handshake_us),
        "addresses": addresses.collect::<Vec<_>>(),
    })
}

/// One element of "endpoints"; "service_ms" only when service time was measured.
fn endpoint_json(e: &EndpointTotals, duration_s: f64) -> Value {
    let mut value = json!({
        "method": e.method,
        "name": e.name,
        "requests": e.requests,
        "failures": e.failures,
        "rps": e.rps(duration_s),
        "bytes_received": e.bytes_received,
        "body_bytes": e.body_bytes,
        "decoded_bytes": e.decoded_bytes,
        "body_bytes_sent": e.body_bytes_sent,
        "avg_size_bytes": e.avg_size_bytes(),
        "redirects": e.redirects,
        "latency_ms": latency_json(&e.latency_us),
        "ttfb_ms": latency_json(&e.ttfb_us),
    });
    if let (Some(service_us), Some(object)) = (&e.service_us, value.as_object_mut()) {
        object.insert("service_ms".into(), latency_json(service_us));
    }
    value
}

/// The "failures" array, most frequent first.
fn failures_json(agg: &Aggregator) -> Value {
    let failures = agg.failures().into_iter().map(|f| {
        json!({
            "method": f.method,
            "name": f.name,
            "kind": f.kind.as_str(),
            "message": f.message,
            "count": f.count,
            "sample": f.sample.as_ref().map(|s| json!({
                "request": s.request,
                "status": s.status,
                "body": String::from_utf8_lossy(&s.body),
            })),
        })
    });
    Value::Array(failures.collect())
}

/// The "timeseries" array, one element per interval.
fn timeseries_json(agg: &Aggregator) -> Value {
    Value::Array(agg.timeseries().iter().map(point_json).collect())
}

/// One interval of the "timeseries" array (also a line of `--jsonl`).
pub fn point_json(p: &crate::stats::IntervalPoint) -> Value {
    json!({
        "t_s": p.t_s,
        "rps": p.rps(),
        "failures_per_s": p.failures_per_s(),
        "bytes_per_s": p.bytes_received as f64 / p.duration_s(),
        "p50_ms": round_ms(p.latency_us.percentile_ms(50.0)),
        "p95_ms": round_ms(p.latency_us.percentile_ms(95.0)),
        "users": p.users,
        "dropped": p.dropped,
        "busy_max": round_ms(p.busy_max),
        "lag_p99_ms": round_ms(p.lag_us_p99 as f64 / 1_000.0),
    })
}

/// The "generator" object: the load generator's own cost.
fn generator_json(agg: &Aggregator, total: &EndpointTotals, info: &RunInfo) -> Value {
    let saturation = crate::run::saturation::judge(agg);
    let requests_per_cpu_second = if info.cpu_seconds > 0.0 {
        total.requests as f64 / info.cpu_seconds
    } else {
        0.0
    };
    let processes = process_memory(agg, info);
    let mut value = json!({
        "threads": info.threads,
        "io_driver": info.io_driver,
        "cpu_seconds": info.cpu_seconds,
        "shard_cpu_seconds": agg.cpu_us() as f64 / 1e6,
        "max_rss_kb": info.max_rss_kb,
        "max_rss_kb_total": processes.iter().map(|p| p.max_rss_kb).sum::<u64>(),
        "processes": processes.iter().map(process_json).collect::<Vec<_>>(),
        "fd_limit": info.fd_limit,
        "requests_per_cpu_second": requests_per_cpu_second,
        "saturated": saturation.saturated,
        "saturation": saturation.to_json(),
    });
    // Open loop only: how late arrivals were dispatched (absent, not null, in closed loop).
    if let (Some(lag_us), Some(object)) = (agg.sched_lag_us(), value.as_object_mut()) {
        object.insert("sched_lag_ms".into(), latency_json(lag_us));
    }
    value
}

/// One element of "generator.processes": role, worker id (workers only), peak memory.
fn process_json(process: &ProcessMemory) -> Value {
    let mut value = json!({ "role": process.role, "max_rss_kb": process.max_rss_kb });
    if let (Some(id), Some(object)) = (process.worker, value.as_object_mut()) {
        object.insert("worker".into(), json!(id));
    }
    value
}

/// The "thresholds" array: each verdict; "actual" is in the metric's unit, null for no data.
fn thresholds_json(verdicts: &[Verdict]) -> Value {
    let verdicts = verdicts.iter().map(|v| {
        json!({
            "expression": v.expression,
            "endpoint": v.endpoint,
            "actual": v.actual.map(|a| if v.unit == "ms" { round_ms(a) } else { a }),
            "unit": v.unit,
            "passed": v.passed,
        })
    });
    Value::Array(verdicts.collect())
}

/// A "latency_ms" object: min, mean, percentiles and max in milliseconds.
fn latency_json(histogram: &Histogram<u64>) -> Value {
    let p = |q| round_ms(percentile_ms(histogram, q));
    json!({
        "min": round_ms(min_ms(histogram)),
        "mean": round_ms(mean_ms(histogram)),
        "p50": p(50.0),
        "p90": p(90.0),
        "p95": p(95.0),
        "p99": p(99.0),
        "p999": p(99.9),
        "max": round_ms(max_ms(histogram)),
    })
}

/// Milliseconds rounded to whole microseconds, so the JSON shows 1.234, not 1.2340000001.
fn round_ms(ms: f64) -> f64 {
    (ms * 1_000.0).round() / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::{endpoint, histogram, snapshot};
    use stampede_proto::FailureKind::Status;
    use stampede_proto::HistogramBuckets;
    use std::fs;

    /// Two sources in interval 1, nothing in 2, one late request in 3 (values below
    /// 2048 µs, which 3 significant figures hold exactly; 200 µs is exact at 2 too).
    /// Requests of 60 bytes; source 1 sent one to each of two addresses.
    fn run() -> Aggregator {
        let sent = |addr: &str, requests: u64| stampede_proto::AddressCount {
            addr: addr.into(),
            requests,
            bytes_sent: 60 * requests,
        };
        let mut agg = Aggregator::new();
        let mut login = endpoint("POST", "/login", &[1_500], &[(Status, "HTTP 500", 1)]);
        login.service_us = Some(HistogramBuckets::encode(&histogram(&[800])).unwrap());
        let home = endpoint("GET", "/", &[1_000, 2_000], &[]);
        let mut first = snapshot(0, 1, 3, vec![home, login]);
        first.addresses = vec![sent("127.0.0.1:80", 3)];
        agg.merge(&first).unwrap();
        let home = endpoint("GET", "/", &[1_234], &[]);
        let mut second = snapshot(1, 1, 2, vec![home]);
        second.addresses = vec![sent("127.0.0.1:80", 1), sent("127.0.0.2:80", 1)];
        agg.merge(&second).unwrap();
        let mut late = snapshot(0, 3, 3, vec![endpoint("GET", "/", &[200], &[])]);
        (late.dropped, late.cpu_us) = (2, 250_000);
        agg.merge(&late).unwrap();
        agg
    }

    fn info(duration_s: f64, cpu_seconds: f64) -> RunInfo {
        RunInfo {
            duration_s,
            started_unix_ms: 1_700_000_000_000,
            threads: 2,
            io_driver: "epoll".into(),
            cpu_seconds,
            max_rss_kb: 10_240,
            fd_limit: 1_024,
            config: json!({ "users": 10 }),
        }
    }

    /// The summary carries the schema, exact totals and latencies in ms at µs precision.
    #[test]
    fn summary_totals_and_endpoints_are_exact() {
        let v = summary(&run(), &info(4.0, 0.5), &[]);
        assert_eq!(v["schema"], "stampede.summary/1");
        let totals = &v["totals"];
        assert_eq!(totals["requests"], 5);
        assert_eq!(totals["failures"], 1);
        assert_eq!(totals["dropped"], 2);
        assert_eq!(totals["rps"], 1.25);
        assert_eq!(totals["bytes_received"], 500);
        assert_eq!(totals["bytes_sent"], 300);
        let addresses = json!([
            { "addr": "127.0.0.1:80", "requests": 4, "bytes_sent": 240 },
            { "addr": "127.0.0.2:80", "requests": 1, "bytes_sent": 60 },
        ]);
        assert_eq!(v["connections"]["addresses"], addresses);
        let latency = json!({ "min": 0.2, "mean": 1.187, "p50": 1.234, "p90": 2.0,
            "p95": 2.0, "p99": 2.0, "p999": 2.0, "max": 2.0 });
        assert_eq!(totals["latency_ms"], latency);
        let endpoints = v["endpoints"].as_array().unwrap();
        assert_eq!(endpoints.len(), 2);
        let (get, post) = (&endpoints[0], &endpoints[1]);
        assert_eq!((&get["method"], &get["name"]), (&json!("GET"), &json!("/")));
        assert_eq!(
            (&get["requests"], &get["failures"], &get["rps"]),
            (&json!(4), &json!(0), &json!(1.0))
        );
        assert_eq!(get["latency_ms"]["p50"], 1.0);
        assert!(get.get("service_ms").is_none());
        assert_eq!(
            (&post["name"], &post["failures"]),
            (&json!("/login"), &json!(1))
        );
        assert_eq!(post["service_ms"]["max"], 0.8);
        let text = serde_json::to_string_pretty(&v).unwrap();
        assert!(text.contains("\"p50\": 1.234,"), "{text}");
    }

    /// Failures, the time series (gap included), the generator and the config are all reported.
    #[test]
    fn summary_failures_timeseries_generator_and_config() {
        let v = summary(&run(), &info(4.0, 0.5), &[]);
        let failure = json!({ "method": "POST", "name": "/login", "kind": "status",
            "message": "HTTP 500", "count": 1, "sample": null });
        assert_eq!(v["failures"], json!([failure]));
        let points = v["timeseries"].as_array().unwrap();
        let t_s: Vec<&Value> = points.iter().map(|p| &p["t_s"]).collect();
        assert_eq!(t_s, [1, 2, 3]);
        assert_eq!(
            (&points[0]["rps"], &points[0]["failures_per_s"]),
            (&json!(4.0), &json!(1.0))
        );
        assert_eq!(
            (&points[0]["users"], &points[0]["dropped"]),
            (&json!(5), &json!(0))
        );
        let p50_ms = points[0]["p50_ms"].as_f64().unwrap();
        assert!((p50_ms - 1.234).abs() <= 0.0124, "{p50_ms}");
        assert_eq!(points[1]["rps"], 0.0);
        assert_eq!(
            (&points[2]["dropped"], &points[2]["p95_ms"]),
            (&json!(2), &json!(0.2))
        );
        let generator = json!({ "threads": 2, "io_driver": "epoll", "cpu_seconds": 0.5,
            "shard_cpu_seconds": 0.25, "max_rss_kb": 10_240, "max_rss_kb_total": 10_240,
            "processes": [{ "role": "local", "max_rss_kb": 10_240 }], "fd_limit": 1_024,
            "requests_per_cpu_second": 10.0 });
        // The saturation verdict: the 2 dropped arrivals make it generator-bound.
        let mut got = v["generator"].clone();
        let object = got.as_object_mut().unwrap();
        assert_eq!(object.remove("saturated"), Some(json!(true)));
        assert_eq!(object.remove("saturation").unwrap()["dropped"], 2);
        assert_eq!(got, generator);
        assert_eq!(v["config"], json!({ "users": 10 }));
        assert_eq!(v["started_unix_ms"], 1_700_000_000_000u64);
        assert_eq!(v["thresholds"], json!([]));
    }

    /// Threshold verdicts appear with their expression, scope, actual value and result; no data is null.
    #[test]
    fn summary_carries_threshold_verdicts() {
        use crate::report::thresholds::{evaluate, parse_threshold};
        let thresholds: Vec<_> = ["requests >= 5", "\"GET /none\": p95 < 1s"]
            .iter()
            .map(|t| parse_threshold(t).unwrap())
            .collect();
        let agg = run();
        let v = summary(&agg, &info(4.0, 0.5), &evaluate(&thresholds, &agg, 4.0));
        let expected = json!([
            { "expression": "requests >= 5", "endpoint": "Aggregated", "actual": 5.0, "unit": "", "passed": true },
            { "expression": "\"GET /none\": p95 < 1s", "endpoint": "GET /none", "actual": null, "unit": "ms", "passed": false },
        ]);
        assert_eq!(v["thresholds"], expected);
    }

    /// An empty run with zero duration and CPU time reports zeros, never null or NaN.
    #[test]
    fn empty_run_reports_zeros() {
        let v = summary(&Aggregator::new(), &info(0.0, 0.0), &[]);
        assert_eq!(v["totals"]["rps"], 0.0);
        assert_eq!(v["totals"]["latency_ms"]["max"], 0.0);
        assert_eq!(v["totals"]["bytes_sent"], 0);
        assert_eq!(v["generator"]["requests_per_cpu_second"], 0.0);
        assert_eq!(
            (&v["endpoints"], &v["timeseries"]),
            (&json!([]), &json!([]))
        );
        assert!(!serde_json::to_string(&v).unwrap().contains("null"));
    }

    /// The file holds the summary as JSON, replaces an old one, and leaves no temp file behind.
    #[test]
    fn write_summary_is_atomic_and_readable() {
        let dir = std::env::temp_dir().join(format!("stampede-json-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("summary.json");
        fs::write(&path, "old").unwrap();
        let (agg, info) = (run(), info(4.0, 0.5));
        write_summary(&path, &agg, &info, &[]).unwrap();
        let back: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back, summary(&agg, &info, &[]));
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["summary.json"]);
        let missing_dir = dir.join("missing").join("summary.json");
        assert!(write_summary(&missing_dir, &agg, &info, &[]).is_err());
        let no_name = write_summary(Path::new("/"), &agg, &info, &[]).unwrap_err();
        assert_eq!(no_name.kind(), io::ErrorKind::InvalidInput);
        // The pre-run check: a writable place passes and leaves nothing; a missing directory fails.
        check_writable(&dir.join("next.json")).unwrap();
        assert!(!dir.join(".next.json.tmp").exists());
        assert!(check_writable(&missing_dir).is_err());
        assert!(check_writable(&dir).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A distributed run reports each process's peak memory and their sum:
    /// the coordinator's own, and each worker's highest stamped figure.
    #[test]
    fn summary_reports_each_processes_memory() {
        let mut agg = Aggregator::new();
        for (source, interval, max_rss_kb) in [
            (1 << 16, 1, 20_000),
            ((1 << 16) | 1, 1, 20_480),
            (2 << 16, 1, 30_000),
            (2 << 16, 2, 30_720),
        ] {
            let mut s = snapshot(source, interval, 1, vec![endpoint("GET", "/", &[900], &[])]);
            s.max_rss_kb = max_rss_kb;
            agg.merge(&s).unwrap();
        }
        let generator = &summary(&agg, &info(2.0, 0.5), &[])["generator"];
        assert_eq!(
            generator["max_rss_kb"], 10_240,
            "this process: the coordinator"
        );
        assert_eq!(generator["max_rss_kb_total"], 10_240 + 20_480 + 30_720);
        assert_eq!(
            generator["processes"],
            json!([
                { "role": "coordinator", "max_rss_kb": 10_240 },
                { "role": "worker", "worker": 1, "max_rss_kb": 20_480 },
                { "role": "worker", "worker": 2, "max_rss_kb": 30_720 },
            ])
        );
    }

    /// Every failure kind the code can count is a row of the failure-kind
    /// table in docs/json-summary.md, and the table has no other rows: a new
    /// kind cannot ship undocumented, nor a removed one stay documented.
    #[test]
    fn every_failure_kind_is_documented() {
        const DOC: &str = include_str!("../../../docs/json-summary.md");
        let section = DOC
            .split("\n## Failure kinds\n")
            .nth(1)
            .expect("docs/json-summary.md has a '## Failure kinds' section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let documented: Vec<&str> = section
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|row| row.split('`').next())
            .collect();
        let kinds: Vec<&str> = stampede_proto::FailureKind::ALL
            .iter()
            .map(|kind| kind.as_str())
            .collect();
        for kind in &kinds {
            assert!(
                documented.contains(kind),
                "failure kind `{kind}` is missing from the table in docs/json-summary.md \
                 (## Failure kinds): add a row saying when it is counted and its messages"
            );
        }
        for name in &documented {
            assert!(
                kinds.contains(name),
                "docs/json-summary.md documents failure kind `{name}`, which FailureKind does not have"
            );
        }
        assert_eq!(
            documented.len(),
            kinds.len(),
            "one row per kind: {documented:?}"
        );
    }
}
