//! What the web API shows of a run, as JSON and files: the live stats table
//! (ours and Locust's `/stats/requests` shape), the per-second history for
//! the charts, and the downloads. Pure functions of the aggregator and the
//! run's facts; when to build them is the observer's business (`web`).

use serde_json::{json, Map, Value};

use crate::report::workers::WorkerRow;
use crate::report::{csv, html, json as summary, thresholds, RunInfo};
use crate::run::saturation;
use crate::stats::{Aggregator, EndpointTotals};

/// Most points `/api/history` sends; longer runs are thinned to this.
const HISTORY_POINTS_MAX: usize = 600;
/// Most rows of Locust's `stats` and `errors` lists (Locust's own cap).
const LOCUST_ROWS_MAX: usize = 500;

/// A test's state as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestState {
    /// No test yet, or after a reset.
    Idle,
    /// Load is being generated.
    Running,
    /// Told to stop; waiting for the final stats.
    Stopping,
    /// Ended; its results are downloadable.
    Finished,
}

impl TestState {
    /// The API's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            TestState::Idle => "idle",
            TestState::Running => "running",
            TestState::Stopping => "stopping",
            TestState::Finished => "finished",
        }
    }

    /// Locust's word for it (`/stats/requests`' `state`).
    pub fn locust_str(self) -> &'static str {
        match self {
            TestState::Idle => "ready",
            TestState::Running => "running",
            TestState::Stopping => "stopping",
            TestState::Finished => "stopped",
        }
    }
}

/// Everything a stats view is built from besides the aggregator.
pub struct StatsInput<'a> {
    /// The test's state.
    pub state: TestState,
    /// Seconds since the load started.
    pub elapsed_s: f64,
    /// The workers table (coordinator); empty in one process.
    pub workers: &'a [WorkerRow],
    /// Each stats source's name and busy share in its latest second.
    pub busy: &'a [(String, f64)],
    /// When the load started, milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
}

/// How a row's percentiles are given.
#[derive(Clone, Copy)]
enum Percentiles {
    /// Two decimals of a millisecond (our API: sub-millisecond targets stay visible).
    Exact,
    /// Whole milliseconds, as Locust gives them (its API).
    Whole,
}

/// One endpoint's row, with Locust 2.x's field names (shared by both APIs):
/// times in milliseconds.
fn row(
    e: &EndpointTotals,
    current: (f64, f64),
    elapsed_s: f64,
    percentiles: Percentiles,
) -> Map<String, Value> {
    let empty = e.requests == 0;
    let ms = |v: f64| if empty { 0.0 } else { round2(v) };
    let whole = |q: f64| -> Value {
        match (empty, percentiles) {
            (true, _) => 0.into(),
            (false, Percentiles::Whole) => (e.percentile_ms(q).round() as u64).into(),
            (false, Percentiles::Exact) => round2(e.percentile_ms(q)).into(),
        }
    };
    let fields = json!({
        "method": e.method,
        "name": e.name,
        "num_requests": e.requests,
        "num_failures": e.failures,
        "avg_response_time": ms(e.avg_ms()),
        "min_response_time": ms(e.min_ms()),
        "max_response_time": ms(e.max_ms()),
        "current_rps": round2(current.0),
        "current_fail_per_sec": round2(current.1),
        "total_rps": round2(e.rps(elapsed_s)),
        "total_fail_per_sec": round2(e.failures_per_s(elapsed_s)),
        "median_response_time": whole(50.0),
        "response_time_percentile_0.95": whole(95.0),
        "response_time_percentile_0.99": whole(99.0),
        "avg_content_length": round2(e.avg_size_bytes()),
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Every endpoint's row, then the aggregated row (named `Aggregated`).
fn rows(agg: &Aggregator, elapsed_s: f64, percentiles: Percentiles) -> (Vec<Value>, Value) {
    let endpoints = agg.endpoints().iter().enumerate().map(|(index, e)| {
        let rates = agg.current_endpoint_rates(index);
        let current = (rates.requests_per_s, rates.failures_per_s);
        Value::Object(row(e, current, elapsed_s, percentiles))
    });
    let mut total = agg.total();
    total.method = String::new();
    total.name = "Aggregated".into();
    let current = (agg.current_rps(), agg.current_failures_per_s());
    let total = row(&total, current, elapsed_s, percentiles);
    (endpoints.collect(), Value::Object(total))
}

/// Share of requests that failed, 0 to 1.
fn fail_ratio(agg: &Aggregator) -> f64 {
    let total = agg.total();
    if total.requests == 0 {
        0.0
    } else {
        total.failures as f64 / total.requests as f64
    }
}

/// `/api/stats` and every stream event.
pub fn stats(agg: &Aggregator, input: &StatsInput) -> Value {
    let (stats, total) = rows(agg, input.elapsed_s, Percentiles::Exact);
    let saturation = saturation::judge(agg);
    let failures: Vec<Value> = agg
        .failures()
        .iter()
        .map(|f| {
            json!({"method": f.method, "name": f.name, "kind": f.kind.as_str(),
                   "message": f.message, "occurrences": f.count})
        })
        .collect();
    json!({
        "state": input.state.as_str(),
        "elapsed_s": round2(input.elapsed_s),
        "user_count": agg.users(),
        "total_rps": round2(agg.current_rps()),
        "total_fail_per_sec": round2(agg.current_failures_per_s()),
        "fail_ratio": fail_ratio(agg),
        "stats": stats,
        "total": total,
        "failures": failures,
        "workers": workers(input.workers),
        "busy": input.busy.iter().map(|(source, busy)| json!({"source": source, "busy": round2(*busy)})).collect::<Vec<_>>(),
        "saturated": saturation.saturated,
        "saturation_reasons": saturation.reasons,
    })
}

/// The workers table as JSON rows.
fn workers(rows: &[WorkerRow]) -> Vec<Value> {
    rows.iter()
        .map(|w| {
            json!({"id": w.id, "host": w.host, "cores": w.cores, "state": w.state,
                   "users": w.users, "rps": round2(w.rps), "cpu_percent": round2(w.cpu_percent),
                   "requests": w.requests})
        })
        .collect()
}

/// Locust 2.x's `GET /stats/requests`.
pub fn locust_stats(agg: &Aggregator, input: &StatsInput, coordinator: bool) -> Value {
    let (mut stats, total) = rows(agg, input.elapsed_s, Percentiles::Whole);
    stats.truncate(LOCUST_ROWS_MAX);
    stats.push(total.clone());
    let errors: Vec<Value> = agg
        .failures()
        .iter()
        .take(LOCUST_ROWS_MAX)
        .map(|f| {
            let error = format!("{}: {}", f.kind.as_str(), f.message);
            // Intervals are 1-based seconds from the start; Locust gives Unix seconds.
            let at =
                |t_s: u32| input.started_unix_ms as f64 / 1000.0 + f64::from(t_s.saturating_sub(1));
            json!({"method": f.method, "name": f.name, "error": error,
                   "occurrences": f.count, "first_seen": at(f.first_t_s),
                   "last_seen": at(f.last_t_s)})
        })
        .collect();
    let mut report = json!({
        "stats": stats,
        "errors": errors,
        "total_rps": total["total_rps"],
        "total_fail_per_sec": total["total_fail_per_sec"],
        "current_rps": total["current_rps"],
        "current_fail_per_sec": total["current_fail_per_sec"],
        "fail_ratio": fail_ratio(agg),
        "current_response_time_percentiles": {
            "response_time_percentile_0.5": current_percentile_ms(agg, 0.5),
            "response_time_percentile_0.95": current_percentile_ms(agg, 0.95),
        },
        "state": input.state.locust_str(),
        "user_count": agg.users(),
    });
    if coordinator {
        report["workers"] = input
            .workers
            .iter()
            .map(|w| {
                json!({"id": w.id.to_string(), "state": w.state, "user_count": w.users,
                       "cpu_usage": round2(w.cpu_percent)})
            })
            .collect();
        report["worker_count"] = json!(input.workers.len());
    }
    report
}

/// Seconds Locust's "current" response-time percentiles look back over.
const CURRENT_WINDOW_S: u32 = 10;

/// A response-time percentile over the last `CURRENT_WINDOW_S` complete
/// seconds, in whole milliseconds as Locust gives it; `null` before any.
fn current_percentile_ms(agg: &Aggregator, quantile: f64) -> Value {
    let last = agg.completed_points() as u32;
    let first = last.saturating_sub(CURRENT_WINDOW_S - 1).max(1);
    match agg
        .timeseries_latency(first, last)
        .filter(|h| !h.is_empty())
    {
        Some(histogram) if last > 0 => {
            let ms = histogram.value_at_quantile(quantile) as f64 / 1000.0;
            (ms.round() as u64).into()
        }
        _ => Value::Null,
    }
}

/// `/api/history`: the per-second series, thinned to at most
/// `HISTORY_POINTS_MAX` points (each the last of its group).
pub fn history(agg: &Aggregator) -> Value {
    let points = agg.timeseries();
    let step = points.len().div_ceil(HISTORY_POINTS_MAX).max(1);
    let thinned = points.iter().skip(step - 1).step_by(step).map(|p| {
        json!({
            "t": p.t_s, "rps": round2(p.rps()), "fail_per_s": round2(p.failures_per_s()),
            "p50_ms": round2(p.latency_us.percentile_ms(50.0)),
            "p95_ms": round2(p.latency_us.percentile_ms(95.0)),
            "p99_ms": round2(p.latency_us.percentile_ms(99.0)),
            "users": p.users, "busy": round2(p.busy_max),
        })
    });
    json!({ "points": thinned.collect::<Vec<_>>() })
}

/// A file the API serves for download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Download {
    /// The HTML report.
    Html,
    /// The `--json` summary.
    Json,
    /// Locust's `_stats.csv`.
    StatsCsv,
    /// Locust's `_stats_history.csv`.
    HistoryCsv,
    /// Locust's `_failures.csv`.
    FailuresCsv,
    /// `/api/history` (not a file, but built from the same aggregator).
    History,
}

/// A finished or running test, as much as a download needs.
pub struct ReportInput<'a> {
    /// The merged stats.
    pub aggregator: &'a Aggregator,
    /// The run's facts (provisional while it runs).
    pub info: &'a RunInfo,
    /// Thresholds to judge in the JSON summary.
    pub thresholds: &'a [thresholds::Threshold],
    /// Why it ended, once it did.
    pub stop_reason: Option<&'a str>,
    /// Warnings so far.
    pub warnings: &'a [String],
    /// The workers table.
    pub workers: &'a [WorkerRow],
}

/// The bytes and content type of a download.
pub fn render(download: Download, input: &ReportInput) -> (Vec<u8>, &'static str) {
    let agg = input.aggregator;
    let info = input.info;
    match download {
        Download::Html => {
            let notes = html::Notes {
                stop_reason: input.stop_reason,
                warnings: input.warnings,
                workers: input.workers,
            };
            let page = html::render(agg, info, &notes);
            (page.into_bytes(), "text/html; charset=utf-8")
        }
        Download::Json => {
            let verdicts = thresholds::evaluate(input.thresholds, agg, info.duration_s);
            let doc = summary::summary(agg, info, &verdicts);
            (json_bytes(&doc), "application/json")
        }
        Download::StatsCsv => (csv::stats_csv(agg, info.duration_s).into_bytes(), CSV),
        Download::HistoryCsv => (
            csv::stats_history_csv(agg, info.started_unix_ms, agg.keeps_endpoint_series())
                .into_bytes(),
            CSV,
        ),
        Download::FailuresCsv => (
            csv::failures_csv(agg, info.started_unix_ms).into_bytes(),
            CSV,
        ),
        Download::History => (json_bytes(&history(agg)), "application/json"),
    }
}

const CSV: &str = "text/csv; charset=utf-8";

fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// Rounds to two decimals for display (and finite: NaN becomes 0).
fn round2(value: f64) -> f64 {
    if value.is_finite() {
        (value * 100.0).round() / 100.0
    } else {
        0.0
    }
}
