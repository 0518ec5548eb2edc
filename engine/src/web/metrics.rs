//! Metrics out: a run's stats as metric families (counters, gauges, latency
//! histograms), rendered in the Prometheus text format or OpenMetrics for
//! `/metrics`, and handed as samples to remote write and the JSON lines.
//!
//! Pure functions of the aggregator and the run's facts; when to build them
//! is the observer's business (`web`), sending them is `remote_write`'s.
//! Endpoint names are the plan's grouped names, never a templated value, and
//! at most `max_endpoints` get series of their own (the rest are `__other__`).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::report::workers::WorkerRow;
use crate::stats::{Aggregator, EndpointTotals};

/// Default latency histogram bounds in seconds (Prometheus's defaults,
/// extended down to half a millisecond and up to a minute).
pub const DEFAULT_BUCKETS_S: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];
/// Endpoints with series of their own by default; the rest are summed as `__other__`.
pub const DEFAULT_MAX_ENDPOINTS: usize = 500;
/// The name the endpoints beyond the cap are summed under.
const OTHER_ENDPOINTS: &str = "__other__";

/// What `/metrics` exports and how.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// Latency histogram upper bounds, seconds, ascending.
    pub buckets_s: Vec<f64>,
    /// Endpoints with series of their own.
    pub max_endpoints: usize,
    /// Per-worker series on a coordinator (off: 100 workers do not multiply series).
    pub worker_labels: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            buckets_s: DEFAULT_BUCKETS_S.to_vec(),
            max_endpoints: DEFAULT_MAX_ENDPOINTS,
            worker_labels: false,
        }
    }
}

/// One test's metrics setup: its labels and the export settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsContext {
    /// A fresh id per test (`run_id` label), so runs do not mix in Prometheus.
    pub run_id: String,
    /// The scenario file's name, or `-` for a plain run (`scenario` label).
    pub scenario: String,
    /// Buckets, endpoint cap and worker labels.
    pub config: MetricsConfig,
}

impl MetricsContext {
    /// The bucket bounds in microseconds, for the aggregator to count.
    pub fn bounds_us(&self) -> Vec<u64> {
        self.config
            .buckets_s
            .iter()
            .map(|&b| (b * 1e6).round() as u64)
            .collect()
    }

    /// A context with a fresh run id for a test of `scenario`.
    pub fn new(scenario: Option<&std::path::Path>, config: MetricsConfig) -> MetricsContext {
        let scenario = scenario
            .and_then(|p| p.file_name())
            .map_or("-".to_string(), |n| n.to_string_lossy().into_owned());
        MetricsContext {
            run_id: crate::coord::local::random_token()[..12].to_string(),
            scenario,
            config,
        }
    }
}

/// The run's facts a scrape shows besides the aggregator.
pub struct MetricsInput<'a> {
    /// Labels on every series: `run_id`, `scenario`.
    pub run_id: &'a str,
    /// The scenario file's name, or `-` for a plain run.
    pub scenario: &'a str,
    /// `idle`, `running`, `stopping` or `finished`.
    pub state: &'a str,
    /// Users wanted now (closed loop).
    pub users: Option<u32>,
    /// Rate wanted now, requests per second (open loop).
    pub rate_per_s: Option<f64>,
    /// Each stats source's name and busy share in its latest second.
    pub busy: &'a [(String, f64)],
    /// The workers table (coordinator).
    pub workers: &'a [WorkerRow],
    /// Seconds since the load started.
    pub elapsed_s: f64,
    /// Whether the generator is judged the bottleneck so far.
    pub saturated: bool,
}

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up within a run.
    Counter,
    /// A value now.
    Gauge,
    /// Cumulative buckets, a sum and a count.
    Histogram,
}

/// One sample: the family's name plus `suffix`, its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// `_total`, `_bucket`, `_sum`, `_count` or empty.
    pub suffix: &'static str,
    /// Label pairs, in order.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

/// A metric family: its name (without `_total`), type, help and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Base name, e.g. `stampede_requests`.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// One line of help.
    pub help: &'static str,
    /// Its samples.
    pub samples: Vec<Sample>,
}

impl Family {
    fn new(name: &'static str, kind: Kind, help: &'static str) -> Family {
        Family {
            name,
            kind,
            help,
            samples: Vec::new(),
        }
    }

    fn push(&mut self, suffix: &'static str, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push(Sample {
            suffix,
            labels,
            value,
        });
    }
}

/// One endpoint's or the `__other__` group's numbers, for the series.
struct Group<'a> {
    method: String,
    name: String,
    endpoints: Vec<&'a EndpointTotals>,
}

/// Endpoints within the cap keep their own series; the rest share one.
fn groups<'a>(agg: &'a Aggregator, max_endpoints: usize) -> Vec<Group<'a>> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    for (index, endpoint) in agg.endpoints().iter().enumerate() {
        if index < max_endpoints {
            groups.push(Group {
                method: endpoint.method.clone(),
                name: endpoint.name.clone(),
                endpoints: vec![endpoint],
            });
        } else if let Some(other) = groups.iter_mut().find(|g| g.name == OTHER_ENDPOINTS) {
            other.endpoints.push(endpoint);
        } else {
            groups.push(Group {
                method: String::new(),
                name: OTHER_ENDPOINTS.into(),
                endpoints: vec![endpoint],
            });
        }
    }
    groups
}

/// Every metric family of the run now.
pub fn families(agg: &Aggregator, input: &MetricsInput, config: &MetricsConfig) -> Vec<Family> {
    let base = || {
        vec![
            ("run_id", input.run_id.to_string()),
            ("scenario", input.scenario.to_string()),
        ]
    };
    let with = |pairs: &[(&'static str, &str)]| {
        let mut labels = base();
        labels.extend(pairs.iter().map(|(k, v)| (*k, v.to_string())));
        labels
    };
    let mut requests = Family::new(
        "stampede_requests",
        Kind::Counter,
        "Requests completed, by endpoint.",
    );
    let mut bytes = Family::new(
        "stampede_received_bytes",
        Kind::Counter,
        "Response bytes received (heads and bodies), by endpoint.",
    );
    let mut latency = Family::new(
        "stampede_response_time_seconds",
        Kind::Histogram,
        "Response time from send (or intended send, open loop) to the last byte, by endpoint.",
    );
    for group in groups(agg, config.max_endpoints) {
        let labels = with(&[("method", &group.method), ("name", &group.name)]);
        let sum = |f: fn(&EndpointTotals) -> u64| group.endpoints.iter().map(|e| f(e)).sum::<u64>();
        requests.push("_total", labels.clone(), sum(|e| e.requests) as f64);
        bytes.push("_total", labels.clone(), sum(|e| e.bytes_received) as f64);
        histogram_samples(&mut latency, &labels, &group.endpoints, &config.buckets_s);
    }
    let mut failures = Family::new(
        "stampede_failures",
        Kind::Counter,
        "Failed requests, by endpoint and failure kind.",
    );
    let mut by_kind: BTreeMap<(String, String, &'static str), u64> = BTreeMap::new();
    let named: std::collections::BTreeSet<(&str, &str)> = agg
        .endpoints()
        .iter()
        .take(config.max_endpoints)
        .map(|e| (e.method.as_str(), e.name.as_str()))
        .collect();
    for failure in agg.failures() {
        let key = if named.contains(&(failure.method.as_str(), failure.name.as_str())) {
            (failure.method.clone(), failure.name.clone())
        } else {
            (String::new(), OTHER_ENDPOINTS.to_string())
        };
        *by_kind
            .entry((key.0, key.1, failure.kind.as_str()))
            .or_default() += failure.count;
    }
    for ((method, name, kind), count) in by_kind {
        let labels = with(&[("method", &method), ("name", &name), ("kind", kind)]);
        failures.push("_total", labels, count as f64);
    }
    let mut families = vec![requests, failures, bytes, latency];
    families.extend(generator_families(agg, input, config, &base));
    families
}

/// The latency histogram's samples of one endpoint group: cumulative
/// buckets from the exact HDR histograms (exact to their 2 significant
/// figures), a sum and a count.
fn histogram_samples(
    family: &mut Family,
    labels: &[(&'static str, String)],
    endpoints: &[&EndpointTotals],
    buckets_s: &[f64],
) {
    let count: u64 = endpoints.iter().map(|e| e.latency_us.len()).sum();
    let bounds_us: Vec<u64> = buckets_s
        .iter()
        .map(|&b| (b * 1e6).round() as u64)
        .collect();
    let mut cumulative = vec![0u64; buckets_s.len()];
    for endpoint in endpoints {
        let histogram = &endpoint.latency_us;
        let total = histogram.len();
        if total == 0 {
            continue;
        }
        if endpoint.metric_counts.len() == bounds_us.len() + 1 {
            // Counted as the snapshots merged (the aggregator knows these bounds).
            let mut running = 0;
            for (slot, &in_bucket) in cumulative.iter_mut().zip(&endpoint.metric_counts) {
                running += in_bucket;
                *slot += running;
            }
            continue;
        }
        // Otherwise from the histogram's counts (a summed slice per bound).
        for (slot, &bound_us) in cumulative.iter_mut().zip(&bounds_us) {
            let share = histogram.quantile_below(bound_us.min(histogram.high()));
            *slot += (share * total as f64).round() as u64;
        }
    }
    for (&bound, &below) in buckets_s.iter().zip(&cumulative) {
        let mut bucket = labels.to_vec();
        bucket.push(("le", format_le(bound)));
        family.push("_bucket", bucket, below.min(count) as f64);
    }
    let mut inf = labels.to_vec();
    inf.push(("le", "+Inf".into()));
    family.push("_bucket", inf, count as f64);
    let sum_s: f64 = endpoints.iter().map(|e| e.latency_sum_us / 1e6).sum();
    family.push("_sum", labels.to_vec(), sum_s);
    family.push("_count", labels.to_vec(), count as f64);
}

/// The generator's own families: load, connections, drops, busy, lag, saturation, state.
fn generator_families(
    agg: &Aggregator,
    input: &MetricsInput,
    config: &MetricsConfig,
    base: &dyn Fn() -> Vec<(&'static str, String)>,
) -> Vec<Family> {
    let mut out = Vec::new();
    let mut gauge = |name, help, value: f64| {
        let mut family = Family::new(name, Kind::Gauge, help);
        family.push("", base(), value);
        out.push(family);
    };
    gauge(
        "stampede_users",
        "Users running now (closed loop).",
        f64::from(agg.users()),
    );
    if let Some(users) = input.users {
        gauge(
            "stampede_target_users",
            "Users wanted now (closed loop).",
            f64::from(users),
        );
    }
    if let Some(rate) = input.rate_per_s {
        gauge(
            "stampede_target_rate",
            "Requests per second wanted now (open loop).",
            rate,
        );
    }
    let lag_p99_s = agg
        .sched_lag_us()
        .filter(|h| !h.is_empty())
        .map_or(0.0, |h| h.value_at_quantile(0.99) as f64 / 1e6);
    gauge(
        "stampede_schedule_lag_p99_seconds",
        "Open loop: how late arrivals were dispatched, 99th percentile over the run.",
        lag_p99_s,
    );
    gauge(
        "stampede_generator_saturated",
        "1 when the generator, not the target, is judged the bottleneck.",
        if input.saturated { 1.0 } else { 0.0 },
    );
    gauge(
        "stampede_elapsed_seconds",
        "Seconds since the load started.",
        input.elapsed_s,
    );
    gauge(
        "stampede_open_connections",
        "Connections open now (idle in a pool or busy), over all shards.",
        agg.open_connections() as f64,
    );
    let mut counter = |name, help, value: f64| {
        let mut family = Family::new(name, Kind::Counter, help);
        family.push("_total", base(), value);
        out.push(family);
    };
    let connections = agg.dial_totals().connect_us.as_ref().map_or(0, |h| h.len());
    counter(
        "stampede_connections_opened",
        "Connections opened (TCP connects), over the run.",
        connections as f64,
    );
    counter(
        "stampede_sent_bytes",
        "Request bytes written, over the run.",
        agg.bytes_sent() as f64,
    );
    counter(
        "stampede_dropped_arrivals",
        "Open-loop arrivals dropped at --max-in-flight, over the run.",
        agg.dropped() as f64,
    );
    let mut busy = Family::new(
        "stampede_busy_ratio",
        Kind::Gauge,
        "Busy share of each shard (or worker shard) in its latest second, 0 to 1.",
    );
    if input.workers.is_empty() || config.worker_labels {
        for (source, share) in input.busy {
            let mut labels = base();
            labels.push(("source", source.clone()));
            busy.push("", labels, *share);
        }
    } else if !input.busy.is_empty() {
        // A coordinator without worker labels: the cluster's worst and mean
        // shard, not a series per worker shard (100 workers x 16 cores).
        let shares = input.busy.iter().map(|(_, share)| *share);
        let max = shares.clone().fold(0.0, f64::max);
        let mean = shares.sum::<f64>() / input.busy.len() as f64;
        for (source, value) in [("max", max), ("mean", mean)] {
            let mut labels = base();
            labels.push(("source", source.to_string()));
            busy.push("", labels, value);
        }
    }
    out.push(busy);
    let mut state = Family::new(
        "stampede_run_state",
        Kind::Gauge,
        "1 for the run's state now.",
    );
    for name in ["idle", "running", "stopping", "finished"] {
        let mut labels = base();
        labels.push(("state", name.to_string()));
        state.push("", labels, if input.state == name { 1.0 } else { 0.0 });
    }
    out.push(state);
    if config.worker_labels && !input.workers.is_empty() {
        let mut requests = Family::new(
            "stampede_worker_requests",
            Kind::Counter,
            "Requests completed by each worker.",
        );
        let mut users = Family::new(
            "stampede_worker_users",
            Kind::Gauge,
            "Users on each worker.",
        );
        for worker in input.workers {
            let mut labels = base();
            labels.push(("worker", worker.id.to_string()));
            labels.push(("host", worker.host.clone()));
            requests.push("_total", labels.clone(), worker.requests as f64);
            users.push("", labels, f64::from(worker.users));
        }
        out.push(requests);
        out.push(users);
    }
    out
}

/// The text formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0.0.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the `Accept` header asks for it, else Prometheus's text.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    /// The response's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The families in a text format.
pub fn render(families: &[Family], format: Format) -> String {
    let mut out = String::with_capacity(16 * 1024);
    for family in families {
        // Prometheus's text names a counter family with its `_total`; OpenMetrics without.
        let name = match (family.kind, format) {
            (Kind::Counter, Format::Prometheus) => format!("{}_total", family.name),
            _ => family.name.to_string(),
        };
        let kind = match family.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let _ = writeln!(out, "# HELP {name} {}", family.help);
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for sample in &family.samples {
            let _ = write!(out, "{}{}", family.name, sample.suffix);
            if !sample.labels.is_empty() {
                out.push('{');
                for (index, (key, value)) in sample.labels.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{key}=\"{}\"", escape_label(value));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", format_float(sample.value));
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// A label value with `\`, `"` and line breaks escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A bucket bound as OpenMetrics wants it canonical (`1.0`, `0.25`),
/// which the Prometheus text format reads the same.
fn format_le(bound: f64) -> String {
    if bound.fract() == 0.0 && bound.abs() < 1e15 {
        format!("{bound:.1}")
    } else {
        format!("{bound}")
    }
}

/// A sample value as Prometheus writes it (`+Inf`, integers without a point).
pub fn format_float(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if value.is_nan() {
        return "NaN".into();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// Parses `--metrics-buckets`: durations or seconds, comma-separated,
/// ascending (`5ms,10ms,50ms,0.1,1`).
pub fn parse_buckets(text: &str) -> Result<Vec<f64>, String> {
    let mut bounds = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let seconds = bound_seconds(part).ok_or_else(|| {
            format!("'{part}' is not a time (seconds, or a number with us, ms, s or m)")
        })?;
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(format!("'{part}' is not a positive time"));
        }
        if bounds.last().is_some_and(|&last| seconds <= last) {
            return Err(format!("'{part}': bounds must be ascending"));
        }
        bounds.push(seconds);
    }
    if bounds.is_empty() {
        return Err("give at least one bound, e.g. 10ms,100ms,1s".into());
    }
    if bounds.len() > 100 {
        return Err("at most 100 bounds".into());
    }
    Ok(bounds)
}

/// A bucket bound: seconds, or a decimal number with `us`, `ms`, `s` or `m`.
fn bound_seconds(text: &str) -> Option<f64> {
    let units = [("us", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0)];
    let (number, scale) = units
        .iter()
        .find_map(|(unit, scale)| text.strip_suffix(unit).map(|n| (n, *scale)))
        .unwrap_or((text, 1.0));
    number.trim().parse::<f64>().ok().map(|n| n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::{endpoint, snapshot};
    use stampede_proto::FailureKind;

    fn input<'a>(busy: &'a [(String, f64)]) -> MetricsInput<'a> {
        MetricsInput {
            run_id: "r1",
            scenario: "-",
            state: "running",
            users: Some(2),
            rate_per_s: None,
            busy,
            workers: &[],
            elapsed_s: 3.0,
            saturated: false,
        }
    }

    fn aggregator() -> Aggregator {
        let mut agg = Aggregator::new();
        let failures = [(FailureKind::Status, "status 404", 1)];
        let endpoints = vec![
            endpoint("GET", "/a", &[1_000, 2_000, 40_000], &[]),
            endpoint("GET", "/b \"q\"", &[3_000], &failures),
        ];
        let mut s = snapshot(0, 1, 2, endpoints);
        s.addresses = vec![stampede_proto::AddressCount {
            addr: "127.0.0.1:8080".into(),
            requests: 4,
            bytes_sent: 4 * 57,
        }];
        s.open_connections = 2;
        agg.merge(&s).unwrap();
        agg
    }

    /// An S3 error kind is a `kind` label like any other.
    #[test]
    fn s3_failure_kinds_are_labels() {
        let mut agg = Aggregator::new();
        let failures = [(FailureKind::S3SlowDown, "S3 error SlowDown (503)", 2)];
        let endpoints = vec![endpoint("PUT", "put 4KiB", &[1_000, 2_000], &failures)];
        agg.merge(&snapshot(0, 1, 2, endpoints)).unwrap();
        let text = render(
            &families(&agg, &input(&[]), &MetricsConfig::default()),
            Format::Prometheus,
        );
        assert!(text.contains("stampede_failures_total{run_id=\"r1\",scenario=\"-\",method=\"PUT\",name=\"put 4KiB\",kind=\"s3_slow_down\"} 2"), "{text}");
    }

    /// Counters, histogram buckets and the run's gauges, in Prometheus's text.
    #[test]
    fn prometheus_text_has_every_family() {
        let agg = aggregator();
        let busy = [("shard 0".to_string(), 0.5)];
        let text = render(
            &families(&agg, &input(&busy), &MetricsConfig::default()),
            Format::Prometheus,
        );
        assert!(
            text.contains("# TYPE stampede_requests_total counter"),
            "{text}"
        );
        assert!(text.contains("stampede_requests_total{run_id=\"r1\",scenario=\"-\",method=\"GET\",name=\"/a\"} 3"), "{text}");
        assert!(text.contains("name=\"/b \\\"q\\\"\"} 1"), "{text}");
        assert!(text.contains("stampede_failures_total{run_id=\"r1\",scenario=\"-\",method=\"GET\",name=\"/b \\\"q\\\"\",kind=\"status\"} 1"), "{text}");
        // 1 ms and 2 ms are at or under 2.5 ms; 40 ms only from 50 ms on.
        assert!(text.contains("name=\"/a\",le=\"0.0025\"} 2"), "{text}");
        assert!(text.contains("name=\"/a\",le=\"1.0\"} 3"), "{text}");
        assert!(text.contains("name=\"/a\",le=\"0.025\"} 2"), "{text}");
        assert!(text.contains("name=\"/a\",le=\"0.05\"} 3"), "{text}");
        assert!(text.contains("name=\"/a\",le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains("stampede_response_time_seconds_count{run_id=\"r1\",scenario=\"-\",method=\"GET\",name=\"/a\"} 3"), "{text}");
        assert!(
            text.contains(
                "stampede_busy_ratio{run_id=\"r1\",scenario=\"-\",source=\"shard 0\"} 0.5"
            ),
            "{text}"
        );
        assert!(
            text.contains("stampede_run_state{run_id=\"r1\",scenario=\"-\",state=\"running\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE stampede_sent_bytes_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("stampede_sent_bytes_total{run_id=\"r1\",scenario=\"-\"} 228\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE stampede_open_connections gauge\n"),
            "{text}"
        );
        assert!(
            text.contains("stampede_open_connections{run_id=\"r1\",scenario=\"-\"} 2\n"),
            "{text}"
        );
        assert!(!text.contains("# EOF"));
    }

    /// Buckets counted as snapshots merge give the same series as buckets
    /// read from the histograms, and the sum is the histogram's mean x count.
    #[test]
    fn merged_bucket_counts_match_the_histograms() {
        let config = MetricsConfig::default();
        let plain = render(
            &families(&aggregator(), &input(&[]), &config),
            Format::Prometheus,
        );
        let mut counted = Aggregator::new();
        let bounds: Vec<u64> = config
            .buckets_s
            .iter()
            .map(|&b| (b * 1e6).round() as u64)
            .collect();
        counted.set_metric_bounds(bounds);
        let failures = [(FailureKind::Status, "status 404", 1)];
        let endpoints = vec![
            endpoint("GET", "/a", &[1_000, 2_000, 40_000], &[]),
            endpoint("GET", "/b \"q\"", &[3_000], &failures),
        ];
        counted.merge(&snapshot(0, 1, 2, endpoints)).unwrap();
        assert_eq!(counted.endpoints()[0].metric_counts.iter().sum::<u64>(), 3);
        let fast = render(
            &families(&counted, &input(&[]), &config),
            Format::Prometheus,
        );
        let latency = |text: &str| -> Vec<String> {
            let lines = text
                .lines()
                .filter(|l| l.starts_with("stampede_response_time_seconds"));
            lines.map(str::to_string).collect()
        };
        assert!(!latency(&plain).is_empty());
        assert_eq!(latency(&plain), latency(&fast));
        let a = &counted.endpoints()[0];
        let mean_sum = a.latency_us.mean() * a.latency_us.len() as f64;
        assert!(
            (a.latency_sum_us - mean_sum).abs() < 1e-6 * mean_sum,
            "{} vs {mean_sum}",
            a.latency_sum_us
        );
    }

    /// OpenMetrics names counter families without `_total` and ends with EOF.
    #[test]
    fn openmetrics_by_negotiation() {
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;version=1.0.0")),
            Format::OpenMetrics
        );
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Prometheus);
        let agg = aggregator();
        let text = render(
            &families(&agg, &input(&[]), &MetricsConfig::default()),
            Format::OpenMetrics,
        );
        assert!(text.contains("# TYPE stampede_requests counter"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    /// Past the cap, endpoints share one `__other__` series; totals stay whole.
    #[test]
    fn endpoints_past_the_cap_are_grouped() {
        let agg = aggregator();
        let config = MetricsConfig {
            max_endpoints: 1,
            ..MetricsConfig::default()
        };
        let text = render(&families(&agg, &input(&[]), &config), Format::Prometheus);
        assert!(text.contains("name=\"__other__\"} 1"), "{text}");
        assert!(
            text.contains("name=\"__other__\",kind=\"status\"} 1"),
            "{text}"
        );
        assert!(!text.contains("/b"), "{text}");
    }

    /// Bucket bounds parse as durations or seconds, ascending.
    #[test]
    fn buckets_parse() {
        assert_eq!(parse_buckets("5ms, 0.1,1s").unwrap(), vec![0.005, 0.1, 1.0]);
        assert!(parse_buckets("0.5ms,250us,2m").is_err(), "descending");
        let bounds = parse_buckets("250us,0.5ms,2m").unwrap();
        assert!((bounds[0] - 0.00025).abs() < 1e-12 && (bounds[1] - 0.0005).abs() < 1e-12);
        assert_eq!(bounds[2], 120.0);
        assert!(parse_buckets("1s,5ms").is_err());
        assert!(parse_buckets("").is_err());
        assert!(parse_buckets("-1").is_err());
    }
}
