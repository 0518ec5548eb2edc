//! The web side: the control API, the page and the downloads, served on
//! plain threads beside the run loop. It reads only what the run loop
//! publishes (through [`WebObserver`], a `RunObserver`) and the finished
//! test's outcome, never a shard; it steers only by messages to the loop.
//!
//! - [`http`]: request parsing, limits, basic auth, origin checks, writing.
//! - [`api`]: the routes, ours (`/api/*`) and Locust's.
//! - [`view`]: the JSON views and downloads built from the aggregator.
//! - [`metrics`]: metric families and the Prometheus / OpenMetrics text
//!   (`/metrics`); [`remote_write`]: pushing them; [`export`]: the run-loop
//!   observer that streams `--jsonl` lines and remote-write pushes.
//! - `page.html`: the page, one self-contained document.

pub mod api;
pub mod export;
pub mod http;
pub mod metrics;
pub mod remote_write;
pub mod view;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use flume::{Receiver, Sender};
use serde_json::Value;

use crate::report::thresholds::Threshold;
use crate::report::RunInfo;
use crate::run::control::{RunObserver, RunOutcome, RunView, Steer};
use crate::run::live::LoadChange;
use crate::run::source::CpuSource;
use metrics::{MetricsContext, MetricsInput};
use view::{Download, ReportInput, StatsInput, TestState};

/// How often the published stats (and the stream) are refreshed.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// How the web UI is served.
#[derive(Debug, Clone, PartialEq)]
pub struct WebOptions {
    /// Address to listen on (loopback unless `auth` is set).
    pub bind: SocketAddr,
    /// HTTP basic auth credentials (user, password) every route needs.
    pub auth: Option<(String, String)>,
    /// Start the test at once with the command line's load.
    pub autostart: bool,
    /// Exit this long after the test ends (with `autostart`).
    pub autoquit: Option<Duration>,
}

/// A start request's fields; `None` keeps the command line's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartRequest {
    /// Target URL.
    pub host: Option<String>,
    /// Closed-loop users.
    pub users: Option<u64>,
    /// Users started per second.
    pub spawn_rate: Option<f64>,
    /// Open-loop rate, requests per second.
    pub rate: Option<f64>,
    /// Run time as text (`30s`) or seconds.
    pub run_time: Option<String>,
    /// Iterations in total.
    pub iterations: Option<u64>,
    /// User class weights by class name.
    pub classes: Vec<(String, u32)>,
}

/// What the API asks of the session (idle) or of the running test.
pub enum ApiCommand {
    /// Start a test; the answer says whether it could start.
    Start(StartRequest, Sender<Result<(), String>>),
    /// Stop the running test.
    Stop,
    /// Change the running test's load.
    Load(LoadChange),
    /// Back to idle, dropping the last results.
    Reset,
    /// Render a download of the running (or last) test; `None` when there is none.
    Render(Download, Sender<Option<(Vec<u8>, &'static str)>>),
}

/// A finished test, kept for its downloads until the next one.
pub struct FinishedTest {
    /// Its outcome.
    pub outcome: RunOutcome,
    /// Its thresholds, for the JSON summary's verdicts.
    pub thresholds: Vec<Threshold>,
}

impl FinishedTest {
    /// Renders one of its downloads.
    pub fn render(&self, download: Download) -> (Vec<u8>, &'static str) {
        let outcome = &self.outcome;
        view::render(
            download,
            &ReportInput {
                aggregator: &outcome.aggregator,
                info: &outcome.info,
                thresholds: &self.thresholds,
                stop_reason: Some(outcome.stop_reason.as_str()),
                warnings: &outcome.warnings,
                workers: &outcome.workers,
            },
        )
    }
}

/// What the run side last published, read by every request.
pub struct Published {
    /// The test's state.
    pub state: TestState,
    /// `/api/state`'s settings fields (host, model, users, ...).
    pub settings: Value,
    /// Seconds since the load started.
    pub elapsed_s: f64,
    /// Why the last test ended.
    pub stop_reason: Option<&'static str>,
    /// Our stats view (`/api/stats`).
    pub stats: Value,
    /// `stats` serialized once per publish, for every stream client.
    pub stats_text: Arc<String>,
    /// Locust's stats view (`/stats/requests`).
    pub locust: Value,
    /// Workers joined (coordinator), for the page before a start.
    pub workers_joined: usize,
    /// The last finished test, for downloads.
    pub finished: Option<Arc<FinishedTest>>,
    /// The metric families now (`/metrics`).
    pub families: Arc<Vec<metrics::Family>>,
    /// Bumped on every publish, so the stream sends each once.
    pub generation: u64,
}

impl Published {
    /// Replaces the stats view and its serialized text.
    fn set_stats(&mut self, stats: Value) {
        self.stats_text = Arc::new(stats.to_string());
        self.stats = stats;
    }
}

/// State shared by the server's threads and the session.
pub struct Shared {
    published: Mutex<Published>,
    commands: Sender<ApiCommand>,
    /// True on a coordinator: numbers are cluster-wide, workers are listed.
    pub coordinator: bool,
    /// The page and API are served (not only `/metrics`): their views are built.
    pub ui: bool,
    /// Set when the server shuts down, so streams end.
    pub closing: AtomicBool,
    /// Signalled on every publish, so a stream sends each change once, at once.
    pub changed: Condvar,
}

impl Shared {
    /// The published state, locked (a poisoned lock still holds valid data).
    pub fn published(&self) -> MutexGuard<'_, Published> {
        self.published.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until something newer than generation `seen` is published, or
    /// `limit` passes; returns the published state either way.
    pub fn wait_change(&self, seen: u64, limit: Duration) -> MutexGuard<'_, Published> {
        let published = self.published();
        let (published, _) = self
            .changed
            .wait_timeout_while(published, limit, |p| p.generation == seen)
            .unwrap_or_else(|p| p.into_inner());
        published
    }

    /// Sends a command to the session or the running test.
    pub fn send(&self, command: ApiCommand) -> bool {
        self.commands.send(command).is_ok()
    }
}

/// The running server and the session's end of its command channel.
pub struct WebServer {
    /// The UI's server first (when served), then the metrics-only one.
    handles: Vec<http::ServerHandle>,
    /// Shared with the server's threads.
    pub shared: Arc<Shared>,
    /// Commands from the API.
    pub commands: Receiver<ApiCommand>,
}

impl WebServer {
    /// Serves the page, the API and `/metrics` on `web`'s address, and
    /// `/metrics` alone on `metrics_bind`; `settings` are `/api/state`'s
    /// fields for the command line's test.
    pub fn start(
        web: Option<&WebOptions>,
        metrics_bind: Option<SocketAddr>,
        auth: Option<(String, String)>,
        coordinator: bool,
        settings: Value,
    ) -> std::io::Result<WebServer> {
        let (commands_tx, commands) = flume::unbounded();
        let shared = Arc::new(Shared {
            published: Mutex::new(Published {
                state: TestState::Idle,
                settings,
                elapsed_s: 0.0,
                stop_reason: None,
                stats: Value::Null,
                stats_text: Arc::new("null".into()),
                locust: Value::Null,
                workers_joined: 0,
                finished: None,
                families: Arc::new(Vec::new()),
                generation: 0,
            }),
            commands: commands_tx,
            coordinator,
            ui: web.is_some(),
            closing: AtomicBool::new(false),
            changed: Condvar::new(),
        });
        let server_options = http::ServerOptions {
            auth: auth.clone(),
            ..http::ServerOptions::default()
        };
        let listeners = [(web.map(|w| w.bind), true), (metrics_bind, false)];
        let mut handles = Vec::new();
        for (bind, ui) in listeners {
            let Some(bind) = bind else { continue };
            let listener = std::net::TcpListener::bind(bind)?;
            let handler = Arc::new(api::Api::new(shared.clone(), auth.is_none(), ui));
            handles.push(http::serve(listener, server_options.clone(), handler)?);
        }
        let server = WebServer {
            handles,
            shared,
            commands,
        };
        server.idle(None);
        Ok(server)
    }

    /// Where the servers listen (the UI's first).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.handles.iter().map(|h| h.local_addr).collect()
    }

    /// Publishes a finished test: its final stats and its downloads.
    pub fn finish(&self, finished: FinishedTest, metrics: &MetricsContext) {
        let outcome = &finished.outcome;
        let elapsed_s = outcome.info.duration_s;
        let families = metrics::families(
            &outcome.aggregator,
            &MetricsInput {
                run_id: &metrics.run_id,
                scenario: &metrics.scenario,
                state: TestState::Finished.as_str(),
                users: None,
                rate_per_s: None,
                busy: &[],
                workers: &outcome.workers,
                elapsed_s,
                saturated: crate::run::saturation::judge(&outcome.aggregator).saturated,
            },
            &metrics.config,
        );
        let input = StatsInput {
            state: TestState::Finished,
            elapsed_s,
            workers: &outcome.workers,
            busy: &[],
            started_unix_ms: outcome.info.started_unix_ms,
        };
        let stats = view::stats(&outcome.aggregator, &input);
        let locust = view::locust_stats(&outcome.aggregator, &input, self.shared.coordinator);
        let mut published = self.shared.published();
        published.state = TestState::Finished;
        published.elapsed_s = elapsed_s;
        published.stop_reason = Some(outcome.stop_reason.as_str());
        published.set_stats(stats);
        published.locust = locust;
        published.finished = Some(Arc::new(finished));
        published.families = Arc::new(families);
        published.generation += 1;
        self.shared.changed.notify_all();
    }

    /// Our and Locust's stats views of a test with no stats yet.
    fn empty_views(&self, state: TestState) -> (Value, Value) {
        let empty = crate::stats::Aggregator::new();
        let input = StatsInput {
            state,
            elapsed_s: 0.0,
            workers: &[],
            busy: &[],
            started_unix_ms: crate::run::control::unix_ms_now(),
        };
        let coordinator = self.shared.coordinator;
        (
            view::stats(&empty, &input),
            view::locust_stats(&empty, &input, coordinator),
        )
    }

    /// Back to idle (a failed start, or New test): the last results dropped.
    pub fn idle(&self, settings: Option<Value>) {
        let (stats, locust) = self.empty_views(TestState::Idle);
        let mut published = self.shared.published();
        published.state = TestState::Idle;
        published.set_stats(stats);
        published.locust = locust;
        published.finished = None;
        published.elapsed_s = 0.0;
        published.stop_reason = None;
        if let Some(settings) = settings {
            published.settings = settings;
        }
        published.generation += 1;
        self.shared.changed.notify_all();
    }

    /// A test is starting with these `/api/state` settings.
    pub fn running(&self, settings: Value) {
        let (stats, locust) = self.empty_views(TestState::Running);
        let mut published = self.shared.published();
        published.state = TestState::Running;
        published.settings = settings;
        published.set_stats(stats);
        published.locust = locust;
        published.finished = None;
        published.elapsed_s = 0.0;
        published.stop_reason = None;
        published.generation += 1;
        self.shared.changed.notify_all();
    }

    /// Notes how many workers have joined (coordinator, before a start).
    pub fn workers_joined(&self, joined: usize) {
        self.shared.published().workers_joined = joined;
    }

    /// The observer that publishes a running test and steers it from the API.
    pub fn observer<'a>(
        &'a self,
        thresholds: &'a [Threshold],
        info: RunInfo,
        metrics: &'a MetricsContext,
    ) -> WebObserver<'a> {
        WebObserver {
            server: self,
            thresholds,
            info,
            metrics,
            next_publish: Instant::now(),
            stopping: false,
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        for handle in &self.handles {
            handle.shutdown();
        }
    }
}

/// Publishes a running test once a second and turns API commands into
/// steering of the run loop.
pub struct WebObserver<'a> {
    server: &'a WebServer,
    thresholds: &'a [Threshold],
    /// The test's metrics labels and settings.
    metrics: &'a MetricsContext,
    /// The run's facts; duration and CPU are filled in per download.
    info: RunInfo,
    next_publish: Instant,
    /// Whether the published state already says stopping.
    stopping: bool,
}

impl WebObserver<'_> {
    /// Publishes the stats views and state.
    fn publish(&mut self, view: &RunView<'_>, stopping: bool) {
        self.info.started_unix_ms = view.source.started().1;
        let workers = view.source.workers();
        let busy = view.busy_named();
        let state = if stopping {
            TestState::Stopping
        } else {
            TestState::Running
        };
        let input = StatsInput {
            state,
            elapsed_s: view.elapsed.as_secs_f64(),
            workers: &workers,
            busy: &busy,
            started_unix_ms: self.info.started_unix_ms,
        };
        // Without the page and API (`--metrics` alone) only the metrics are built.
        let (stats, locust) = if self.server.shared.ui {
            let coordinator = self.server.shared.coordinator;
            let locust = view::locust_stats(view.aggregator, &input, coordinator);
            (view::stats(view.aggregator, &input), locust)
        } else {
            (Value::Null, Value::Null)
        };
        let saturated = match stats["saturated"].as_bool() {
            Some(saturated) => saturated,
            None => crate::run::saturation::judge(view.aggregator).saturated,
        };
        let (users, rate) = view.live.wanted(view.elapsed);
        let open_loop = view.live.open_loop();
        let families = metrics::families(
            view.aggregator,
            &MetricsInput {
                run_id: &self.metrics.run_id,
                scenario: &self.metrics.scenario,
                state: state.as_str(),
                users: (!open_loop).then_some(users),
                rate_per_s: open_loop.then_some(rate),
                busy: &busy,
                workers: &workers,
                elapsed_s: view.elapsed.as_secs_f64(),
                saturated,
            },
            &self.metrics.config,
        );
        let mut published = self.server.shared.published();
        published.families = Arc::new(families);
        published.state = state;
        published.elapsed_s = view.elapsed.as_secs_f64();
        published.set_stats(stats);
        published.locust = locust;
        if view.live.open_loop() {
            published.settings["rate"] = rate.into();
        } else {
            published.settings["users"] = users.into();
        }
        published.generation += 1;
        self.server.shared.changed.notify_all();
    }

    /// Renders a download of the running test.
    fn render(&self, download: Download, view: &RunView<'_>) -> (Vec<u8>, &'static str) {
        let usage = crate::sys::process_usage();
        let cpu_seconds = match view.source.cpu_source() {
            CpuSource::ThisProcess => usage.cpu_seconds,
            CpuSource::Snapshots => view.aggregator.cpu_us() as f64 / 1e6,
        };
        let info = RunInfo {
            duration_s: view.elapsed.as_secs_f64(),
            cpu_seconds,
            max_rss_kb: usage.max_rss_kb,
            ..self.info.clone()
        };
        let workers = view.source.workers();
        let input = ReportInput {
            aggregator: view.aggregator,
            info: &info,
            thresholds: self.thresholds,
            stop_reason: None,
            warnings: &[],
            workers: &workers,
        };
        view::render(download, &input)
    }
}

impl RunObserver for WebObserver<'_> {
    fn metric_bounds_us(&self) -> Option<Vec<u64>> {
        Some(self.metrics.bounds_us())
    }

    fn turn(&mut self, view: &RunView<'_>) -> Vec<Steer> {
        let mut steers = Vec::new();
        for command in self.server.commands.try_iter() {
            match command {
                ApiCommand::Stop => steers.push(Steer::Stop),
                ApiCommand::Load(change) => steers.push(Steer::Load(change)),
                ApiCommand::Render(download, reply) => {
                    let _ = reply.send(Some(self.render(download, view)));
                }
                ApiCommand::Start(_, reply) => {
                    let _ = reply.send(Err("a test is already running".into()));
                }
                ApiCommand::Reset => {}
            }
        }
        // A stop asked for now is applied by the loop after this turn: publish it as stopping.
        let stopping = view.stopping || steers.contains(&Steer::Stop);
        let now = Instant::now();
        if now >= self.next_publish || stopping != self.stopping || !steers.is_empty() {
            self.next_publish = now + PUBLISH_EVERY;
            self.stopping = stopping;
            self.publish(view, stopping);
        }
        steers
    }
}
