//! Comparing two runs (`stampede compare BASE RUN`): per endpoint and for
//! all endpoints merged, the change in requests per second, p50, p95, p99 and
//! error rate, and which changes are regressions beyond a tolerance.
//!
//! A regression is RPS lower, a latency percentile higher, by more than the
//! tolerance in percent of BASE's value, or an error rate higher by more than
//! the tolerance in percentage points. An endpoint found in only one run is
//! listed but is no regression. This module is pure: it compares two
//! [`RunMetrics`] and formats the table; loading run files or summaries is
//! `runfile`'s, and the exit code `main`'s.

use serde_json::Value;

use super::console::format_ms;
use super::json::SUMMARY_SCHEMA;
use crate::stats::{Aggregator, EndpointTotals};

/// Name of the all-endpoints row, as in the stats tables.
const AGGREGATED: &str = "Aggregated";
/// Largest tolerance accepted, in percent.
const TOLERANCE_PERCENT_MAX: f64 = 1_000.0;
/// Slack for floating-point noise, so 2.0 -> 2.2 ms is +10%, not beyond 10%.
const CHANGE_EPSILON: f64 = 1e-9;

/// The numbers of one scope (an endpoint, or all of them) a comparison reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// Requests completed.
    pub requests: u64,
    /// Requests failed.
    pub failures: u64,
    /// Requests per second over the whole run.
    pub rps: f64,
    /// Latency percentiles in milliseconds.
    pub p50_ms: f64,
    /// 95th percentile latency in ms.
    pub p95_ms: f64,
    /// 99th percentile latency in ms.
    pub p99_ms: f64,
}

impl Metrics {
    /// The metrics of merged totals over a run of `duration_s` seconds.
    pub fn of_totals(totals: &EndpointTotals, duration_s: f64) -> Metrics {
        Metrics {
            requests: totals.requests,
            failures: totals.failures,
            rps: totals.rps(duration_s),
            p50_ms: totals.percentile_ms(50.0),
            p95_ms: totals.percentile_ms(95.0),
            p99_ms: totals.percentile_ms(99.0),
        }
    }

    /// Failed requests in percent of all; `None` without requests.
    pub fn error_rate_percent(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.failures as f64 / self.requests as f64 * 100.0)
    }

    /// The value of `metric`; `None` where it needs requests and there were none.
    fn value(&self, metric: Metric) -> Option<f64> {
        let latency = |ms: f64| (self.requests > 0).then_some(ms);
        match metric {
            Metric::Rps => Some(self.rps),
            Metric::P50 => latency(self.p50_ms),
            Metric::P95 => latency(self.p95_ms),
            Metric::P99 => latency(self.p99_ms),
            Metric::ErrorRate => self.error_rate_percent(),
        }
    }
}

/// One run as a comparison sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMetrics {
    /// Each endpoint's `(method, name)` and metrics, sorted by name, then method.
    pub endpoints: Vec<((String, String), Metrics)>,
    /// All endpoints merged: the Aggregated row.
    pub total: Metrics,
}

impl RunMetrics {
    /// The metrics of a run's merged stats over `duration_s` seconds (exact percentiles).
    pub fn of_aggregator(agg: &Aggregator, duration_s: f64) -> RunMetrics {
        let endpoints = agg.endpoints().iter().map(|e| {
            let key = (e.method.clone(), e.name.clone());
            (key, Metrics::of_totals(e, duration_s))
        });
        RunMetrics {
            endpoints: endpoints.collect(),
            total: Metrics::of_totals(&agg.total(), duration_s),
        }
    }

    /// The metrics in a `stampede.summary/1` JSON document (percentiles rounded to the µs).
    pub fn from_summary(summary: &Value) -> Result<RunMetrics, String> {
        if summary["schema"] != SUMMARY_SCHEMA {
            return Err(format!("not a {SUMMARY_SCHEMA} JSON summary"));
        }
        let total = summary_metrics(&summary["totals"]).map_err(|e| format!("totals: {e}"))?;
        let listed = summary["endpoints"]
            .as_array()
            .ok_or("no \"endpoints\" array")?;
        let mut endpoints = Vec::with_capacity(listed.len());
        for (i, e) in listed.iter().enumerate() {
            let text = |field: &str| e[field].as_str().map(str::to_string);
            let key = text("method").zip(text("name"));
            let key = key.ok_or_else(|| format!("endpoints[{i}]: no method or name"))?;
            let metrics = summary_metrics(e).map_err(|why| format!("endpoints[{i}]: {why}"))?;
            endpoints.push((key, metrics));
        }
        endpoints.sort_by(|(a, _), (b, _)| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        Ok(RunMetrics { endpoints, total })
    }
}

/// The metrics of a summary's "totals" or one of its "endpoints".
fn summary_metrics(scope: &Value) -> Result<Metrics, String> {
    let count = |field: &str| {
        scope[field]
            .as_u64()
            .ok_or_else(|| format!("no \"{field}\" count"))
    };
    let number = |value: &Value, field: &str| {
        value
            .as_f64()
            .ok_or_else(|| format!("no \"{field}\" number"))
    };
    let latency = &scope["latency_ms"];
    Ok(Metrics {
        requests: count("requests")?,
        failures: count("failures")?,
        rps: number(&scope["rps"], "rps")?,
        p50_ms: number(&latency["p50"], "latency_ms.p50")?,
        p95_ms: number(&latency["p95"], "latency_ms.p95")?,
        p99_ms: number(&latency["p99"], "latency_ms.p99")?,
    })
}

/// A compared quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Requests per second: lower is worse.
    Rps,
    /// Median latency: higher is worse.
    P50,
    /// 95th percentile latency: higher is worse.
    P95,
    /// 99th percentile latency: higher is worse.
    P99,
    /// Failed requests in percent: higher is worse, compared in percentage points.
    ErrorRate,
}

impl Metric {
    /// Every compared metric, in table order.
    pub const ALL: [Metric; 5] = [
        Metric::Rps,
        Metric::P50,
        Metric::P95,
        Metric::P99,
        Metric::ErrorRate,
    ];

    /// Short name for tables and messages.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Rps => "req/s",
            Metric::P50 => "p50",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::ErrorRate => "error rate",
        }
    }

    /// A value of this metric as the table writes it.
    fn format(self, value: f64) -> String {
        match self {
            Metric::Rps => format!("{value:.1}"),
            Metric::P50 | Metric::P95 | Metric::P99 => format!("{} ms", format_ms(value)),
            Metric::ErrorRate => format!("{value:.2}%"),
        }
    }

    /// A change of this metric as the table writes it: percent, or percentage points.
    fn format_change(self, change: f64) -> String {
        match self {
            Metric::ErrorRate => format!("{change:+.2} pp"),
            _ if change.is_infinite() => "new".to_string(),
            _ => format!("{change:+.1}%"),
        }
    }
}

/// How one metric of one scope changed from BASE to RUN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delta {
    /// What changed.
    pub metric: Metric,
    /// BASE's value; `None` where BASE has no data (no requests).
    pub base: Option<f64>,
    /// RUN's value; `None` where RUN has no data.
    pub run: Option<f64>,
    /// RUN minus BASE: in percent of BASE (infinite from 0), in percentage
    /// points for the error rate; `None` unless both sides have data.
    pub change: Option<f64>,
    /// Whether the change is a regression beyond the tolerance.
    pub regressed: bool,
}

/// Judges one metric's change against `tolerance_percent`.
pub fn delta(metric: Metric, base: Option<f64>, run: Option<f64>, tolerance_percent: f64) -> Delta {
    let change = base.zip(run).map(|(base, run)| match metric {
        Metric::ErrorRate => run - base,
        _ if base == 0.0 && run == 0.0 => 0.0,
        _ if base == 0.0 => f64::INFINITY,
        _ => (run - base) / base * 100.0,
    });
    let regressed = change.is_some_and(|change| match metric {
        Metric::Rps => change < -tolerance_percent - CHANGE_EPSILON,
        _ => change > tolerance_percent + CHANGE_EPSILON,
    });
    Delta {
        metric,
        base,
        run,
        change,
        regressed,
    }
}

/// Which runs a row's endpoint is in.
#[derive(Debug, Clone, PartialEq)]
pub enum Presence {
    /// In both: the five deltas, in [`Metric::ALL`] order.
    Both(Vec<Delta>),
    /// Only BASE has it (the endpoint disappeared).
    OnlyBase(Metrics),
    /// Only RUN has it (a new endpoint).
    OnlyRun(Metrics),
}

/// One row of the comparison: an endpoint, or the Aggregated row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `METHOD name`, or `Aggregated`.
    pub name: String,
    /// The deltas, or which run alone has the endpoint.
    pub presence: Presence,
}

impl Row {
    /// The deltas that regressed (none for an endpoint in one run only).
    pub fn regressions(&self) -> impl Iterator<Item = &Delta> {
        let deltas = match &self.presence {
            Presence::Both(deltas) => deltas.as_slice(),
            _ => &[],
        };
        deltas.iter().filter(|d| d.regressed)
    }
}

/// Two runs compared: a row per endpoint in either run, then the Aggregated row.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Endpoint rows sorted by name then method, the Aggregated row last.
    pub rows: Vec<Row>,
    /// The tolerance judged against: percent, and percentage points for the error rate.
    pub tolerance_percent: f64,
}

impl Comparison {
    /// Every regression as (row name, delta), in table order.
    pub fn regressions(&self) -> Vec<(&str, &Delta)> {
        let per_row = self.rows.iter().map(|row| {
            let name = row.name.as_str();
            row.regressions().map(move |delta| (name, delta))
        });
        per_row.flatten().collect()
    }

    /// Whether any metric of any row regressed beyond the tolerance.
    pub fn regressed(&self) -> bool {
        self.rows
            .iter()
            .any(|row| row.regressions().next().is_some())
    }
}

/// Compares RUN against BASE with a tolerance in percent (percentage points for the error rate).
pub fn compare(base: &RunMetrics, run: &RunMetrics, tolerance_percent: f64) -> Comparison {
    let mut keys: Vec<&(String, String)> = base
        .endpoints
        .iter()
        .chain(&run.endpoints)
        .map(|(key, _)| key)
        .collect();
    keys.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    keys.dedup();
    let find = |metrics: &RunMetrics, key: &(String, String)| {
        metrics
            .endpoints
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, m)| *m)
    };
    let mut rows: Vec<Row> = keys
        .into_iter()
        .map(|key| {
            let presence = match (find(base, key), find(run, key)) {
                (Some(b), Some(r)) => Presence::Both(deltas(&b, &r, tolerance_percent)),
                (Some(b), None) => Presence::OnlyBase(b),
                (None, Some(r)) => Presence::OnlyRun(r),
                (None, None) => unreachable!("every key comes from one of the runs"),
            };
            Row {
                name: format!("{} {}", key.0, key.1),
                presence,
            }
        })
        .collect();
    rows.push(Row {
        name: AGGREGATED.to_string(),
        presence: Presence::Both(deltas(&base.total, &run.total, tolerance_percent)),
    });
    Comparison {
        rows,
        tolerance_percent,
    }
}

/// The five deltas of one scope in both runs.
fn deltas(base: &Metrics, run: &Metrics, tolerance_percent: f64) -> Vec<Delta> {
    Metric::ALL
        .iter()
        .map(|&m| delta(m, base.value(m), run.value(m), tolerance_percent))
        .collect()
}

/// Parses a tolerance such as `10%`, `2.5%` or `10` (percent), 0 to 1000.
pub fn parse_tolerance(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(value) if (0.0..=TOLERANCE_PERCENT_MAX).contains(&value) => Ok(value),
        _ => Err(format!(
            "invalid tolerance '{text}': expected a percentage from 0% to {TOLERANCE_PERCENT_MAX}%, e.g. 10% or 2.5%"
        )),
    }
}

/// The comparison table, then the verdict: every regression, or that there was none.
pub fn comparison_table(comparison: &Comparison) -> String {
    let mut header = vec!["Name".to_string()];
    for metric in Metric::ALL {
        header.push(format!("{} base -> run", metric.name()));
        header.push("change".to_string());
    }
    let mut lines = vec![header];
    for row in &comparison.rows {
        lines.push(row_cells(row));
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (index, cells) in lines.iter().enumerate() {
        if index == 1 || index + 1 == lines.len() {
            out.push_str(&separator(&widths));
        }
        out.push_str(&line(&widths, cells));
    }
    out.push('\n');
    out.push_str(&verdict(comparison));
    out
}

/// The cells of one row: name, then per metric "base -> run" and the change.
fn row_cells(row: &Row) -> Vec<String> {
    let mut cells = vec![row.name.clone()];
    match &row.presence {
        Presence::Both(deltas) => {
            for d in deltas {
                let side = |v: Option<f64>| v.map_or("-".to_string(), |v| d.metric.format(v));
                cells.push(format!("{} -> {}", side(d.base), side(d.run)));
                let change = d
                    .change
                    .map_or("n/a".to_string(), |c| d.metric.format_change(c));
                cells.push(if d.regressed {
                    format!("{change} !")
                } else {
                    change
                });
            }
        }
        Presence::OnlyBase(metrics) | Presence::OnlyRun(metrics) => {
            let only_base = matches!(row.presence, Presence::OnlyBase(_));
            for (index, metric) in Metric::ALL.into_iter().enumerate() {
                let value = metrics
                    .value(metric)
                    .map_or("-".to_string(), |v| metric.format(v));
                let (base, run) = if only_base {
                    (value, "-".to_string())
                } else {
                    ("-".to_string(), value)
                };
                cells.push(format!("{base} -> {run}"));
                // Said once, in the first change column; the others stay blank.
                let note = match (index, only_base) {
                    (0, true) => "only in BASE",
                    (0, false) => "only in RUN",
                    _ => "",
                };
                cells.push(note.to_string());
            }
        }
    }
    cells
}

/// The lines after the table: each regression, or that there was none.
fn verdict(comparison: &Comparison) -> String {
    let tolerance = comparison.tolerance_percent;
    let regressions = comparison.regressions();
    if regressions.is_empty() {
        return format!(
            "No regression beyond {tolerance}% (error rate: {tolerance} percentage points).\n"
        );
    }
    let mut out = format!(
        "{} regression(s) beyond {tolerance}% (error rate: {tolerance} percentage points):\n",
        regressions.len()
    );
    for (name, d) in regressions {
        let side = |v: Option<f64>| v.map_or("-".to_string(), |v| d.metric.format(v));
        let change = d
            .change
            .map_or("n/a".to_string(), |c| d.metric.format_change(c));
        out.push_str(&format!(
            "  {name}: {} {} -> {} ({change})\n",
            d.metric.name(),
            side(d.base),
            side(d.run)
        ));
    }
    out
}

/// One table line: the name left-aligned, the rest right-aligned, metrics set off by `|`.
fn line(widths: &[usize], cells: &[String]) -> String {
    let mut text = String::new();
    for (i, (cell, &width)) in cells.iter().zip(widths).enumerate() {
        if i == 0 {
            text.push_str(&format!("{cell:<width$}"));
        } else {
            text.push_str(if i % 2 == 1 { " | " } else { " " });
            text.push_str(&format!("{cell:>width$}"));
        }
    }
    format!("{}\n", text.trim_end())
}

/// The dashed line under the header and above the Aggregated row.
fn separator(widths: &[usize]) -> String {
    let mut text = String::new();
    for (i, &width) in widths.iter().enumerate() {
        if i > 0 {
            text.push_str(if i % 2 == 1 { "-|-" } else { "-" });
        }
        text.push_str(&"-".repeat(width));
    }
    format!("{text}\n")
}

/// `stampede compare BASE RUN`: prints the per-endpoint delta table;
/// returns the exit status (98 on a regression beyond `tolerance`).
pub fn command(base: &std::path::Path, run: &std::path::Path, tolerance: &str) -> u8 {
    use crate::run::session::{exit, usage};
    let tolerance = match parse_tolerance(tolerance) {
        Ok(tolerance) => tolerance,
        Err(e) => return usage(&format!("--tolerance: {e}")),
    };
    let mut loaded = Vec::with_capacity(2);
    for path in [base, run] {
        match super::runfile::load_metrics(path) {
            Ok(metrics) => loaded.push(metrics),
            Err(e) => return usage(&format!("{}: {e}", path.display())),
        }
    }
    let comparison = compare(&loaded[0], &loaded[1], tolerance);
    println!("BASE {}\nRUN  {}\n", base.display(), run.display());
    print!("{}", comparison_table(&comparison));
    if comparison.regressed() {
        return exit::REGRESSED;
    }
    exit::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::{endpoint, snapshot};
    use serde_json::json;
    use stampede_proto::FailureKind::Status;

    fn metrics(requests: u64, failures: u64, rps: f64, p50_ms: f64) -> Metrics {
        Metrics {
            requests,
            failures,
            rps,
            p50_ms,
            p95_ms: p50_ms * 2.0,
            p99_ms: p50_ms * 3.0,
        }
    }

    /// Each metric's change and verdict, at and beyond the tolerance, in both directions and from zero.
    #[test]
    fn deltas_and_verdicts_by_table() {
        use Metric::*;
        // (metric, base, run, tolerance %, change, regressed)
        type Case = (Metric, Option<f64>, Option<f64>, f64, Option<f64>, bool);
        let cases: [Case; 16] = [
            (Rps, Some(1000.0), Some(900.0), 10.0, Some(-10.0), false),
            (Rps, Some(1000.0), Some(899.0), 10.0, Some(-10.1), true),
            (Rps, Some(1000.0), Some(5000.0), 10.0, Some(400.0), false),
            (Rps, Some(1000.0), Some(0.0), 10.0, Some(-100.0), true),
            (Rps, Some(0.0), Some(0.0), 10.0, Some(0.0), false),
            (Rps, Some(0.0), Some(50.0), 10.0, Some(f64::INFINITY), false),
            (P50, Some(2.0), Some(2.2), 10.0, Some(10.0), false),
            (P50, Some(2.0), Some(2.3), 10.0, Some(15.0), true),
            (P95, Some(2.0), Some(1.0), 10.0, Some(-50.0), false),
            (P99, Some(0.0), Some(0.5), 10.0, Some(f64::INFINITY), true),
            (P99, Some(4.0), Some(4.0), 0.0, Some(0.0), false),
            (P99, None, Some(4.0), 10.0, None, false),
            (ErrorRate, Some(1.0), Some(11.0), 10.0, Some(10.0), false),
            (ErrorRate, Some(1.0), Some(11.5), 10.0, Some(10.5), true),
            (ErrorRate, Some(5.0), Some(0.0), 0.0, Some(-5.0), false),
            (ErrorRate, Some(0.0), None, 0.0, None, false),
        ];
        for (metric, base, run, tolerance, change, regressed) in cases {
            let d = delta(metric, base, run, tolerance);
            let case = format!("{metric:?} {base:?} -> {run:?} at {tolerance}%");
            match (d.change, change) {
                (Some(got), Some(want)) if want.is_finite() => {
                    assert!((got - want).abs() < 1e-9, "{case}: change {got}")
                }
                (got, want) => assert_eq!(got, want, "{case}"),
            }
            assert_eq!(d.regressed, regressed, "{case}");
        }
    }

    /// Rows cover endpoints of either run, sorted, with the Aggregated row last;
    /// endpoints in one run only never count as regressions.
    #[test]
    fn rows_and_regressions() {
        let key = |method: &str, name: &str| (method.to_string(), name.to_string());
        let base = RunMetrics {
            endpoints: vec![
                (key("GET", "/a"), metrics(100, 0, 10.0, 1.0)),
                (key("GET", "/gone"), metrics(100, 0, 10.0, 1.0)),
            ],
            total: metrics(200, 0, 20.0, 1.0),
        };
        let run = RunMetrics {
            endpoints: vec![
                (key("GET", "/a"), metrics(100, 0, 10.0, 1.05)),
                (key("POST", "/new"), metrics(50, 50, 5.0, 100.0)),
            ],
            total: metrics(150, 50, 15.0, 5.0),
        };
        let same = compare(&base, &base, 0.0);
        assert!(!same.regressed() && same.regressions().is_empty());
        let c = compare(&base, &run, 10.0);
        let names: Vec<&str> = c.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["GET /a", "GET /gone", "POST /new", "Aggregated"]);
        assert!(matches!(c.rows[1].presence, Presence::OnlyBase(_)));
        assert!(matches!(c.rows[2].presence, Presence::OnlyRun(_)));
        assert_eq!(c.rows[0].regressions().count(), 0);
        let found: Vec<(&str, &str)> = c
            .regressions()
            .iter()
            .map(|(name, d)| (*name, d.metric.name()))
            .collect();
        let expected = [
            ("Aggregated", "req/s"),
            ("Aggregated", "p50"),
            ("Aggregated", "p95"),
            ("Aggregated", "p99"),
            ("Aggregated", "error rate"),
        ];
        assert_eq!(found, expected);
        assert!(c.regressed());
        // A 5% slower /a is a regression at a 1% tolerance.
        let strict = compare(&base, &run, 1.0);
        assert_eq!(strict.rows[0].regressions().count(), 3);
    }

    /// The table shows base -> run and the change per metric, marks regressions, and ends with the verdict.
    #[test]
    fn table_marks_regressions_and_says_the_verdict() {
        let key = ("GET".to_string(), "/".to_string());
        let base = RunMetrics {
            endpoints: vec![(key.clone(), metrics(1000, 0, 100.0, 1.0))],
            total: metrics(1000, 0, 100.0, 1.0),
        };
        let slow = RunMetrics {
            endpoints: vec![(key, metrics(1000, 10, 100.0, 20.0))],
            total: metrics(1000, 10, 100.0, 20.0),
        };
        let text = comparison_table(&compare(&base, &slow, 10.0));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("Name       | req/s base -> run change | p50 base -> run"),
            "{text}"
        );
        let get = lines.iter().find(|l| l.starts_with("GET /")).unwrap();
        assert!(get.contains("| 1.0 ms -> 20 ms +1900.0% ! |"), "{get}");
        assert!(get.ends_with("0.00% -> 1.00% +1.00 pp"), "{get}");
        assert!(get.contains("  100.0 -> 100.0  +0.0% |"), "{get}");
        assert!(text.contains("6 regression(s) beyond 10% (error rate: 10 percentage points):"));
        assert!(
            text.contains("\n  Aggregated: p50 1.0 ms -> 20 ms (+1900.0%)\n"),
            "{text}"
        );
        let same = comparison_table(&compare(&base, &base, 10.0));
        assert!(same.ends_with("No regression beyond 10% (error rate: 10 percentage points).\n"));
        let widths: Vec<usize> = same.lines().take(4).map(|l| l.chars().count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{same}");
    }

    /// Metrics from an aggregator equal those read back from its JSON summary, up to µs rounding.
    #[test]
    fn summary_metrics_match_the_aggregator() {
        let mut agg = Aggregator::new();
        let home = endpoint("GET", "/", &[1_000, 2_000, 3_000], &[]);
        let login = endpoint("POST", "/login", &[1_500], &[(Status, "HTTP 500", 1)]);
        agg.merge(&snapshot(0, 1, 2, vec![home, login])).unwrap();
        let info = crate::report::RunInfo {
            duration_s: 2.0,
            started_unix_ms: 0,
            threads: 1,
            io_driver: "epoll".into(),
            cpu_seconds: 0.0,
            max_rss_kb: 0,
            fd_limit: 0,
            config: Value::Null,
        };
        let summary = crate::report::summary(&agg, &info, &[]);
        let from_json = RunMetrics::from_summary(&summary).unwrap();
        assert_eq!(from_json, RunMetrics::of_aggregator(&agg, 2.0));
        assert_eq!(from_json.total.error_rate_percent(), Some(25.0));
        let err = RunMetrics::from_summary(&json!({ "schema": "other/1" })).unwrap_err();
        assert_eq!(err, "not a stampede.summary/1 JSON summary");
        let mut broken = summary.clone();
        broken["endpoints"][1]["latency_ms"] = json!(null);
        let err = RunMetrics::from_summary(&broken).unwrap_err();
        assert_eq!(err, "endpoints[1]: no \"latency_ms.p50\" number");
    }

    /// Tolerances read as percent, with or without the sign; anything else names the value.
    #[test]
    fn tolerances_parse() {
        assert_eq!(parse_tolerance("10%"), Ok(10.0));
        assert_eq!(parse_tolerance(" 2.5 % "), Ok(2.5));
        assert_eq!(parse_tolerance("0"), Ok(0.0));
        for bad in ["-1%", "ten", "", "1001%", "NaN"] {
            let err = parse_tolerance(bad).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid tolerance '{bad}'")),
                "{err}"
            );
        }
    }
}
