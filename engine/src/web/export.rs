//! Exports that stream a run out while it goes, besides `/metrics`:
//! `--jsonl` (one JSON line per completed second) and
//! `--prometheus-remote-write` (a push every interval and a final one at the
//! end, so the last seconds are never lost). An observer of the run loop: it
//! reads the aggregator, never a shard, and a slow receiver never slows the
//! run (remote write pushes from its own thread).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::metrics::{self, MetricsContext, MetricsInput};
use super::remote_write::RemoteWriter;
use crate::config::Exporters;
use crate::report::json::point_json;
use crate::run::control::{unix_ms_now, RunObserver, RunOutcome, RunView, Steer};
use crate::stats::Aggregator;

/// How long the final remote-write push may take at the end of a run.
const FINAL_PUSH_LIMIT: Duration = Duration::from_secs(10);

/// `--jsonl`: where the lines go and how many points are written.
struct JsonLines {
    out: Box<dyn Write + Send>,
    /// Points of the aggregator's series already written.
    written: usize,
    /// The first write error; later lines are not attempted.
    failed: Option<String>,
}

impl JsonLines {
    fn open(path: &std::path::Path) -> io::Result<JsonLines> {
        let out: Box<dyn Write + Send> = if path.as_os_str() == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(BufWriter::new(File::create(path)?))
        };
        Ok(JsonLines {
            out,
            written: 0,
            failed: None,
        })
    }

    /// Writes the points `written..upto` of the series, one line each.
    fn write_upto(&mut self, agg: &Aggregator, upto: usize) {
        let points = agg.timeseries();
        let upto = upto.min(points.len());
        if self.failed.is_some() || upto <= self.written {
            return;
        }
        for point in &points[self.written..upto] {
            let mut line = point_json(point);
            line["requests"] = point.requests.into();
            line["failures"] = point.failures.into();
            if let Err(e) = writeln!(self.out, "{}", Value::from(line)) {
                self.failed = Some(e.to_string());
                return;
            }
        }
        self.written = upto;
        if let Err(e) = self.out.flush() {
            self.failed = Some(e.to_string());
        }
    }
}

/// The streaming exports of one test.
pub struct Export {
    jsonl: Option<JsonLines>,
    remote: Option<RemoteWriter>,
    interval: Duration,
    next_push: Instant,
    metrics: MetricsContext,
}

impl Export {
    /// Opens `--jsonl`'s file and starts the remote writer; `None` when
    /// neither is asked for. The error names the flag.
    pub fn start(
        exporters: &Exporters,
        metrics: &MetricsContext,
    ) -> Result<Option<Export>, String> {
        if exporters.jsonl.is_none() && exporters.remote_write.is_none() {
            return Ok(None);
        }
        let jsonl = match &exporters.jsonl {
            Some(path) => Some(
                JsonLines::open(path)
                    .map_err(|e| format!("--jsonl: cannot write {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let (remote, interval) = match &exporters.remote_write {
            Some(options) => (Some(RemoteWriter::start(options.clone())), options.interval),
            None => (None, Duration::from_secs(5)),
        };
        Ok(Some(Export {
            jsonl,
            remote,
            interval,
            next_push: Instant::now() + interval,
            metrics: metrics.clone(),
        }))
    }

    /// Writes the last lines and makes the final push from the finished
    /// outcome; returns warnings about what could not be exported.
    pub fn finish(mut self, outcome: &RunOutcome) -> Vec<String> {
        let mut warnings = Vec::new();
        let agg = &outcome.aggregator;
        if let Some(jsonl) = self.jsonl.as_mut() {
            jsonl.write_upto(agg, agg.timeseries().len());
            if let Some(error) = &jsonl.failed {
                warnings.push(format!("--jsonl: lines lost: {error}"));
            }
        }
        if let Some(remote) = self.remote.take() {
            let families = metrics::families(
                agg,
                &MetricsInput {
                    run_id: &self.metrics.run_id,
                    scenario: &self.metrics.scenario,
                    state: "finished",
                    users: None,
                    rate_per_s: None,
                    busy: &[],
                    workers: &outcome.workers,
                    elapsed_s: outcome.info.duration_s,
                    saturated: crate::run::saturation::judge(agg).saturated,
                },
                &self.metrics.config,
            );
            let report = remote.finish(families, unix_ms_now() as i64, FINAL_PUSH_LIMIT);
            if report.pushes_failed > 0 {
                warnings.push(format!(
                    "remote write: {} of {} pushes failed (last: {})",
                    report.pushes_failed,
                    report.pushes_failed + report.pushes_ok,
                    report.last_error.unwrap_or_default()
                ));
            }
        }
        warnings
    }
}

impl RunObserver for Export {
    fn metric_bounds_us(&self) -> Option<Vec<u64>> {
        self.remote.as_ref().map(|_| self.metrics.bounds_us())
    }

    fn turn(&mut self, view: &RunView<'_>) -> Vec<Steer> {
        if let Some(jsonl) = self.jsonl.as_mut() {
            let expected = view.source.sources_expected();
            jsonl.write_upto(view.aggregator, view.aggregator.settled_points(expected));
        }
        let now = Instant::now();
        if let Some(remote) = self.remote.as_ref().filter(|_| now >= self.next_push) {
            self.next_push = now + self.interval;
            let (users, rate) = view.live.wanted(view.elapsed);
            let open_loop = view.live.open_loop();
            let busy = view.busy_named();
            let state = if view.stopping { "stopping" } else { "running" };
            let families = metrics::families(
                view.aggregator,
                &MetricsInput {
                    run_id: &self.metrics.run_id,
                    scenario: &self.metrics.scenario,
                    state,
                    users: (!open_loop).then_some(users),
                    rate_per_s: open_loop.then_some(rate),
                    busy: &busy,
                    workers: &view.source.workers(),
                    elapsed_s: view.elapsed.as_secs_f64(),
                    saturated: crate::run::saturation::judge(view.aggregator).saturated,
                },
                &self.metrics.config,
            );
            remote.push(families, unix_ms_now() as i64);
        }
        Vec::new()
    }
}
