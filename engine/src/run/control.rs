//! The run loop: one loop owns every run, whatever produces its load (the
//! shards of this process or a coordinator's workers, see `source`). It
//! decides when the run stops (run time, iterations done, Ctrl-C, a stop
//! from the web API, a failed threshold under `--abort-on-fail`, a lost
//! worker), applies live load changes (console keys, the web API, stages),
//! feeds every snapshot to the aggregator, prints progress and ends with
//! one `RunOutcome` for the reporters.
//!
//! It runs on the calling (main) thread. Pacing arithmetic is in `pace`,
//! request work in the shards, formatting in `report`, serving the web in
//! `web` (which sees the run only through [`RunObserver`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flume::Receiver;
use stampede_proto::Snapshot;

use super::live::{LiveLoad, LoadChange};
use super::local::LocalSource;
use super::source::{CpuSource, LoadSource, SourceEvent};
use crate::config::RunConfig;
use crate::report::workers::WorkerRow;
use crate::report::{thresholds, RunInfo};
use crate::scenario::Plan;
use crate::stats::Aggregator;
use crate::sys;

/// How often the run loop wakes when no event arrives.
const CONTROL_TICK: Duration = Duration::from_millis(50);
/// Most snapshots merged as one batch (a thousand workers' second fits).
const MERGE_BATCH_MAX: usize = 4096;
/// A batch takes the snapshots that follow each other by less than this
/// (a hundred workers' second arrives as one burst, decrypted and decoded
/// one after the other)...
const MERGE_GAP: Duration = Duration::from_millis(50);
/// ... for at most this long after its first: the merged numbers are that
/// much later on screen, and the burst merges once instead of a hundred times.
const MERGE_LINGER_MAX: Duration = Duration::from_millis(400);

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `--run-time` elapsed.
    RunTime,
    /// Every shard finished its share of `--iterations`.
    Completed,
    /// Ctrl-C or SIGTERM.
    Signal,
    /// A threshold failed with `--abort-on-fail`.
    ThresholdFailed,
    /// A worker was lost with `--on-worker-loss abort`.
    WorkerLost,
    /// Stopped from the web UI or its API.
    Requested,
}

impl StopReason {
    /// Lower-case name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::RunTime => "run_time",
            StopReason::Completed => "completed",
            StopReason::Signal => "signal",
            StopReason::ThresholdFailed => "threshold_failed",
            StopReason::WorkerLost => "worker_lost",
            StopReason::Requested => "stop_request",
        }
    }

    /// The reason named `name` by [`as_str`](Self::as_str) (as a run file stores it).
    pub fn from_name(name: &str) -> Option<StopReason> {
        let all = [
            StopReason::RunTime,
            StopReason::Completed,
            StopReason::Signal,
            StopReason::ThresholdFailed,
            StopReason::WorkerLost,
            StopReason::Requested,
        ];
        all.into_iter().find(|reason| reason.as_str() == name)
    }
}

/// Errors that keep a run from happening at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A shard thread could not be started.
    #[error("cannot start shard thread: {0}")]
    Spawn(#[from] std::io::Error),
    /// A shard failed to build its runtime.
    #[error("shard {shard} failed to start: {error}")]
    Shard {
        /// Shard index.
        shard: usize,
        /// Why.
        error: String,
    },
    /// The scenario's setup steps failed.
    #[error("{0}")]
    Setup(String),
    /// Shards did not report ready in time.
    #[error("shards did not start within {0:?}")]
    StartupTimeout(Duration),
    /// The open-file limit could not be raised to what the run needs.
    #[error(
        "open-file limit {limit} is below the {needed} this run needs (users + reserve), and it could not be raised \
         (hard limit {hard}); raise it (ulimit -Hn {needed} as root, or LimitNOFILE= in systemd), \
         spread the users over --processes {processes} (each process has its own limit), \
         run fewer users, or pass --allow-low-fd-limit to run anyway and count connect errors"
    )]
    FdLimit {
        /// The soft limit in force.
        limit: u64,
        /// The hard limit in force.
        hard: u64,
        /// Descriptors the run needs.
        needed: u64,
        /// Processes (`--processes`) whose limits together hold the run.
        processes: u64,
    },
}

/// Everything a finished run hands to the reporters.
pub struct RunOutcome {
    /// Merged stats.
    pub aggregator: Aggregator,
    /// Run facts for the reports.
    pub info: RunInfo,
    /// Why the run ended.
    pub stop_reason: StopReason,
    /// Connections opened over all shards.
    pub connections_opened: u64,
    /// Things the user should know about the measurement.
    pub warnings: Vec<String>,
    /// Every snapshot the aggregator merged, in merge order, for the run file;
    /// empty for a live run, whose snapshots are in `spool`; kept for runs
    /// built in memory (tests).
    pub snapshots: Vec<Snapshot>,
    /// A live run's merged snapshots, spooled to disk (`--save-run`).
    pub spool: Option<crate::report::runfile::Spool>,
    /// The workers of a distributed run; empty otherwise.
    pub workers: Vec<crate::report::workers::WorkerRow>,
}

/// Installs Ctrl-C and SIGTERM handlers: the first sets the returned flag (a
/// graceful stop); a second one puts the terminal back (echo on), says the
/// reports were not written, and exits at once with status 130.
pub fn install_stop_signals() -> std::io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let seen = flag.clone();
        let action = move || {
            if seen.swap(true, std::sync::atomic::Ordering::SeqCst) {
                // The second one: exit now, terminal first. Only
                // async-signal-safe calls here (tcsetattr, write, _exit).
                crate::run::live::restore_terminal_from_signal();
                let message =
                    b"\nsecond interrupt: stopped at once; the reports were not written\n";
                // SAFETY: write(2) and _exit(2) are async-signal-safe; the
                // buffer is a static byte string.
                unsafe {
                    libc::write(2, message.as_ptr().cast(), message.len());
                    libc::_exit(130);
                }
            }
        };
        // SAFETY: the action only does async-signal-safe work (an atomic
        // swap, and on the second signal the calls above).
        unsafe { signal_hook::low_level::register(signal, action)? };
    }
    Ok(flag)
}

/// What the outside asks of a running test, through a [`RunObserver`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Steer {
    /// Change the load (users or rate).
    Load(LoadChange),
    /// Stop the test gracefully (reports are still written).
    Stop,
}

/// What an observer sees of the run on each turn of the loop.
pub struct RunView<'a> {
    /// The merged stats so far.
    pub aggregator: &'a Aggregator,
    /// Time since the load started.
    pub elapsed: Duration,
    /// The live load (users or rate now).
    pub live: &'a LiveLoad,
    /// The load source (workers table, source names).
    pub source: &'a dyn LoadSource,
    /// True once the run was told to stop.
    pub stopping: bool,
}

impl RunView<'_> {
    /// Each stats source's name and busy share in its latest second.
    pub fn busy_named(&self) -> Vec<(String, f64)> {
        let busy = self.aggregator.busy_by_source().into_iter();
        busy.map(|(source, share)| (self.source.source_name(source), share))
            .collect()
    }
}

/// Someone watching and steering the run from outside the loop (the web
/// API). Called on every turn of the loop (every event or 50 ms), so it
/// must be cheap when it has nothing to do.
pub trait RunObserver {
    /// Sees the run; returns what it asks for.
    fn turn(&mut self, view: &RunView<'_>) -> Vec<Steer>;

    /// Latency bucket bounds (µs) the observer exports, for the aggregator
    /// to count as it merges (`/metrics`, remote write); none by default.
    fn metric_bounds_us(&self) -> Option<Vec<u64>> {
        None
    }
}

/// Several observers as one: each sees every turn; their asks are joined.
pub struct Observers<'a>(pub Vec<&'a mut dyn RunObserver>);

impl RunObserver for Observers<'_> {
    fn turn(&mut self, view: &RunView<'_>) -> Vec<Steer> {
        let mut steers = Vec::new();
        for observer in &mut self.0 {
            steers.extend(observer.turn(view));
        }
        steers
    }

    fn metric_bounds_us(&self) -> Option<Vec<u64>> {
        self.0
            .iter()
            .find_map(|observer| observer.metric_bounds_us())
    }
}

/// Everything besides the config that reaches into a run.
pub struct RunHooks<'a, 'o> {
    /// Set by Ctrl-C and SIGTERM: a graceful stop.
    pub stop: &'a AtomicBool,
    /// Console keys or a coordinator's set-load.
    pub changes: Option<&'a Receiver<LoadChange>>,
    /// Called every print interval with the stats so far and the workers table.
    pub progress: &'a mut dyn FnMut(&Aggregator, Duration, &[WorkerRow]),
    /// Every merged snapshot (a worker forwards them to its coordinator).
    pub on_snapshot: &'a mut dyn FnMut(&Snapshot),
    /// The web API, when served.
    pub observer: Option<&'a mut (dyn RunObserver + 'o)>,
}

/// Runs `plan` on this process's shards. `stop` requests a graceful stop
/// (signals); `progress` is called every print interval with the stats so far.
pub fn run(
    config: &RunConfig,
    plan: Plan,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Aggregator, Duration),
) -> Result<RunOutcome, RunError> {
    let mut source = LocalSource::start(config, plan)?;
    let mut hooks = RunHooks {
        stop,
        changes: None,
        progress: &mut |agg, elapsed, _| progress(agg, elapsed),
        on_snapshot: &mut |_| {},
        observer: None,
    };
    Ok(drive(config, &mut source, &mut hooks))
}

/// Drives a started load source until the run ends; the one run loop.
pub fn drive(
    config: &RunConfig,
    source: &mut dyn LoadSource,
    hooks: &mut RunHooks<'_, '_>,
) -> RunOutcome {
    let (t0, started_unix_ms) = source.started();
    // Per-endpoint series cost a histogram per endpoint and second: kept only when a report reads them.
    let mut aggregator = if config.csv_full_history {
        Aggregator::with_endpoint_series()
    } else {
        Aggregator::new()
    };
    if config.keep_exact_timeseries {
        aggregator.keep_exact_timeseries();
    }
    if let Some(bounds) = hooks.observer.as_deref().and_then(|o| o.metric_bounds_us()) {
        aggregator.set_metric_bounds(bounds);
    }
    let mut warnings = Vec::new();
    let mut live = LiveLoad::new(config);
    let mut stop_reason = None;
    let mut final_deadline = None;
    let mut next_print = t0 + config.print_interval;
    let mut abort_check = AbortCheck::new(config);
    let mut merged = MergedLog::new(config.save_run.as_deref(), &mut warnings);
    // An event read after a batch of snapshots, handled on the next turn
    // (even when it is the source's last).
    let mut pending = None;
    while pending.is_some() || !source.finished() {
        let mut reason = None;
        match pending.take().or_else(|| source.next_event(CONTROL_TICK)) {
            Some(SourceEvent::Snapshot(first)) => {
                // Snapshots that arrive together (every worker's second, as
                // one burst) merge as one batch, which sums them before adding.
                let mut batch = vec![first];
                let until = Instant::now() + MERGE_LINGER_MAX;
                let mut last = Instant::now();
                while batch.len() < MERGE_BATCH_MAX {
                    let now = Instant::now();
                    // What the turn must notice is not kept waiting: Ctrl-C,
                    // the run time, the final deadline, a finished source.
                    let due = hooks.stop.load(Ordering::Relaxed)
                        || config
                            .run_time
                            .is_some_and(|run_time| t0.elapsed() >= run_time)
                        || final_deadline.is_some_and(|deadline| now >= deadline)
                        || source.finished();
                    if due {
                        break;
                    }
                    let wait = until
                        .saturating_duration_since(now)
                        .min(MERGE_GAP.saturating_sub(now - last));
                    if wait.is_zero() {
                        break;
                    }
                    match source.next_event(wait) {
                        Some(SourceEvent::Snapshot(snapshot)) => {
                            batch.push(snapshot);
                            last = Instant::now();
                        }
                        // The wait ran out, or the source took a message of
                        // its own (a heartbeat): the gap decides.
                        None => {}
                        other => {
                            pending = other;
                            break;
                        }
                    }
                }
                let results = {
                    let snapshots: Vec<&Snapshot> = batch.iter().map(|s| &**s).collect();
                    aggregator.merge_batch(&snapshots)
                };
                for (snapshot, result) in batch.into_iter().zip(results) {
                    match result {
                        Ok(()) => {
                            (hooks.on_snapshot)(&snapshot);
                            merged.keep(*snapshot);
                        }
                        Err(e) => warnings.push(format!(
                            "dropped a snapshot from {}: {e}",
                            source.source_name(snapshot.source)
                        )),
                    }
                }
            }
            Some(SourceEvent::Retire(id)) => aggregator.retire_source(id),
            Some(SourceEvent::Warning(warning)) => warnings.push(warning),
            Some(SourceEvent::Stop(why)) => reason = Some(why),
            None => {}
        }
        let elapsed = t0.elapsed();
        let mut steers = Vec::new();
        if let Some(observer) = hooks.observer.as_deref_mut() {
            let view = RunView {
                aggregator: &aggregator,
                elapsed,
                live: &live,
                source: &*source,
                stopping: stop_reason.is_some(),
            };
            steers = observer.turn(&view);
        }
        if stop_reason.is_none() {
            let keys = hooks.changes.into_iter().flat_map(|c| c.try_iter());
            let changes = keys.chain(steers.iter().filter_map(|steer| match steer {
                Steer::Load(change) => Some(*change),
                Steer::Stop => None,
            }));
            for change in changes {
                if let Some(said) = live.change(change, elapsed) {
                    if !config.quiet {
                        println!("{said}");
                    }
                }
            }
            source.steer(&mut live, elapsed);
            reason = reason.or_else(|| {
                if hooks.stop.load(Ordering::Relaxed) {
                    Some(StopReason::Signal)
                } else if steers.contains(&Steer::Stop) {
                    Some(StopReason::Requested)
                } else if config.run_time.is_some_and(|run_time| elapsed >= run_time) {
                    Some(StopReason::RunTime)
                } else if abort_check.due(elapsed) && thresholds_fail(config, &aggregator, elapsed)
                {
                    warnings.push(format!(
                        "a threshold failed after {:.0} s: run aborted (--abort-on-fail)",
                        elapsed.as_secs_f64()
                    ));
                    Some(StopReason::ThresholdFailed)
                } else {
                    None
                }
            });
            if let Some(reason) = reason {
                stop_reason = Some(reason);
                final_deadline = Some(Instant::now() + config.stop_timeout + source.final_grace());
                source.stop();
            }
        }
        if final_deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            warnings.push("some shards or workers did not report their final stats in time".into());
            break;
        }
        if Instant::now() >= next_print {
            next_print += config.print_interval;
            (hooks.progress)(&aggregator, elapsed, &source.workers());
        }
    }
    let duration = t0.elapsed();
    // Late events from parts that finished after the deadline are still merged.
    while let Some(event) = pending.take().or_else(|| source.next_event(Duration::ZERO)) {
        match event {
            SourceEvent::Snapshot(snapshot) => {
                if aggregator.merge(&snapshot).is_ok() {
                    (hooks.on_snapshot)(&snapshot);
                    merged.keep(*snapshot);
                }
            }
            SourceEvent::Warning(warning) => warnings.push(warning),
            SourceEvent::Retire(_) | SourceEvent::Stop(_) => {}
        }
    }
    if let Some(warning) = super::saturation::judge(&aggregator).warning() {
        warnings.push(warning);
    }
    let workers = source.workers();
    let facts = source.finish();
    let usage = sys::process_usage();
    let info = RunInfo {
        duration_s: duration.as_secs_f64(),
        started_unix_ms,
        threads: facts.threads,
        io_driver: facts.io_driver,
        cpu_seconds: match facts.cpu {
            CpuSource::ThisProcess => usage.cpu_seconds,
            CpuSource::Snapshots => aggregator.cpu_us() as f64 / 1e6,
        },
        max_rss_kb: usage.max_rss_kb,
        fd_limit: facts.fd_limit,
        config: serde_json::to_value(config).unwrap_or_default(),
    };
    // A run whose parts ended on their own with a run time set ran out of time.
    let ended_alone = if config.run_time.is_some() && config.iterations.is_none() {
        StopReason::RunTime
    } else {
        StopReason::Completed
    };
    RunOutcome {
        aggregator,
        info,
        stop_reason: stop_reason.unwrap_or(ended_alone),
        connections_opened: facts.connections_opened,
        warnings,
        snapshots: Vec::new(),
        spool: merged.spool,
        workers,
    }
}

/// The snapshots merged so far, in merge order, when the run is to be saved:
/// replaying them through a fresh aggregator rebuilds the same stats. They
/// go to a spool file as they come, not to memory.
struct MergedLog {
    /// The spool, when the run is saved (`--save-run`).
    spool: Option<crate::report::runfile::Spool>,
}

impl MergedLog {
    /// A log for a run saved at `save_run`; a spool that cannot be made is a warning.
    fn new(save_run: Option<&std::path::Path>, warnings: &mut Vec<String>) -> Self {
        let spool = save_run.and_then(|path| {
            crate::report::runfile::Spool::create(path)
                .map_err(|e| {
                    warnings.push(format!(
                        "--save-run: cannot spool beside {}: {e}",
                        path.display()
                    ))
                })
                .ok()
        });
        MergedLog { spool }
    }

    /// Keeps a snapshot the aggregator has just merged.
    fn keep(&mut self, snapshot: Snapshot) {
        if let Some(spool) = &mut self.spool {
            spool.push(&snapshot);
        }
    }
}

/// When `--abort-on-fail` looks at the thresholds: once per second, after
/// `--abort-delay` (so the first noisy seconds do not end a run).
struct AbortCheck {
    /// Next elapsed time to check at; `None` when the run does not abort.
    next: Option<Duration>,
}

impl AbortCheck {
    fn new(config: &RunConfig) -> Self {
        let enabled = config.abort_on_fail && !config.thresholds.is_empty();
        AbortCheck {
            next: enabled.then_some(config.abort_delay),
        }
    }

    fn due(&mut self, elapsed: Duration) -> bool {
        match self.next {
            Some(next) if elapsed >= next => {
                self.next = Some(elapsed + Duration::from_secs(1));
                true
            }
            _ => false,
        }
    }
}

/// True when any threshold fails on the stats so far.
fn thresholds_fail(config: &RunConfig, aggregator: &Aggregator, elapsed: Duration) -> bool {
    thresholds::evaluate(&config.thresholds, aggregator, elapsed.as_secs_f64())
        .iter()
        .any(|v| !v.passed)
}

/// Wall-clock time now in milliseconds since the Unix epoch; 0 if the clock is before it.
pub fn unix_ms_now() -> u64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since_epoch.map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::run::source::SourceFacts;
    use crate::stats::test_support::{endpoint, snapshot};
    use stampede_proto::FailureKind;

    /// A load source that plays back scripted snapshots, one per call, and
    /// records what the loop asked of it.
    struct Scripted {
        t0: Instant,
        events: std::collections::VecDeque<SourceEvent>,
        stopped: bool,
        steered: u32,
        /// Finish as soon as told to stop (or when the script runs out, if set).
        finish_when_empty: bool,
    }

    impl Scripted {
        fn new(events: Vec<SourceEvent>, finish_when_empty: bool) -> Scripted {
            Scripted {
                t0: Instant::now(),
                events: events.into(),
                stopped: false,
                steered: 0,
                finish_when_empty,
            }
        }
    }

    impl LoadSource for Scripted {
        fn started(&self) -> (Instant, u64) {
            (self.t0, 1)
        }
        fn next_event(&mut self, wait: Duration) -> Option<SourceEvent> {
            let event = self.events.pop_front();
            if event.is_none() {
                std::thread::sleep(wait.min(Duration::from_millis(5)));
            }
            event
        }
        fn finished(&self) -> bool {
            self.stopped || (self.finish_when_empty && self.events.is_empty())
        }
        fn steer(&mut self, _: &mut LiveLoad, _: Duration) {
            self.steered += 1;
        }
        fn stop(&mut self) {
            self.stopped = true;
        }
        fn final_grace(&self) -> Duration {
            Duration::ZERO
        }
        fn workers(&self) -> Vec<WorkerRow> {
            Vec::new()
        }
        fn cpu_source(&self) -> CpuSource {
            CpuSource::Snapshots
        }
        fn sources_expected(&self) -> usize {
            1
        }
        fn source_name(&self, source: u32) -> String {
            format!("scripted {source}")
        }
        fn finish(&mut self) -> SourceFacts {
            SourceFacts {
                threads: 3,
                io_driver: "scripted".into(),
                cpu: CpuSource::Snapshots,
                fd_limit: 7,
                connections_opened: 4,
            }
        }
    }

    fn config(flags: &[(&'static str, &str)]) -> RunConfig {
        let mut settings = Settings::default();
        settings.flag("host", "http://127.0.0.1:1");
        for (key, value) in flags {
            settings.flag(key, *value);
        }
        RunConfig::from_settings(&settings, 1).unwrap()
    }

    fn failing_snapshot(interval: u32) -> SourceEvent {
        let failures = [(FailureKind::Status, "status 500", 2)];
        let endpoints = vec![endpoint("GET", "/", &[1000, 2000], &failures)];
        SourceEvent::Snapshot(Box::new(snapshot(0, interval, 1, endpoints)))
    }

    fn drive_with(
        config: &RunConfig,
        source: &mut Scripted,
        observer: Option<&mut dyn RunObserver>,
    ) -> RunOutcome {
        let stop = AtomicBool::new(false);
        let mut hooks = RunHooks {
            stop: &stop,
            changes: None,
            progress: &mut |_, _, _| {},
            on_snapshot: &mut |_| {},
            observer,
        };
        drive(config, source, &mut hooks)
    }

    /// Every snapshot is merged, the source's facts reach the outcome, and a
    /// source that ends by itself without a run time has completed.
    #[test]
    fn a_source_that_ends_alone_completes() {
        let config = config(&[]);
        let mut source = Scripted::new(vec![failing_snapshot(1), failing_snapshot(2)], true);
        let outcome = drive_with(&config, &mut source, None);
        assert_eq!(outcome.aggregator.total().requests, 4);
        assert_eq!(outcome.stop_reason, StopReason::Completed);
        assert_eq!((outcome.info.threads, outcome.info.fd_limit), (3, 7));
        let snapshot_cpu_s = outcome.aggregator.cpu_us() as f64 / 1e6;
        assert_eq!(outcome.info.cpu_seconds, snapshot_cpu_s);
        assert_eq!(outcome.connections_opened, 4);
        assert!(source.steered > 0);
    }

    /// `--abort-on-fail` stops the source once a threshold fails.
    #[test]
    fn a_failed_threshold_aborts_when_asked() {
        let mut config = config(&[("abort-on-fail", "true"), ("abort-delay", "0s")]);
        config.thresholds = vec![thresholds::parse_threshold("error_rate < 1%").unwrap()];
        let mut source = Scripted::new(vec![failing_snapshot(1)], false);
        let outcome = drive_with(&config, &mut source, None);
        assert!(source.stopped);
        assert_eq!(outcome.stop_reason, StopReason::ThresholdFailed);
        assert!(outcome
            .warnings
            .iter()
            .any(|w| w.contains("--abort-on-fail")));
    }

    /// The run time stops a source that would go on.
    #[test]
    fn the_run_time_stops_the_source() {
        let config = config(&[("run-time", "100ms")]);
        let mut source = Scripted::new(Vec::new(), false);
        let outcome = drive_with(&config, &mut source, None);
        assert!(source.stopped);
        assert_eq!(outcome.stop_reason, StopReason::RunTime);
    }

    /// A source that asks to stop (a lost worker) ends the run with its reason.
    #[test]
    fn a_source_can_end_the_run() {
        let config = config(&[]);
        let events = vec![
            failing_snapshot(1),
            SourceEvent::Stop(StopReason::WorkerLost),
        ];
        let mut source = Scripted::new(events, false);
        let outcome = drive_with(&config, &mut source, None);
        assert_eq!(outcome.stop_reason, StopReason::WorkerLost);
        assert_eq!(outcome.aggregator.total().requests, 2);
    }

    /// The event that ends a batch of snapshots is handled even when it is
    /// the source's last: a lost last worker's stop, a last shard's warning.
    #[test]
    fn the_last_event_after_a_batch_is_not_lost() {
        let config = config(&[]);
        let events = vec![
            failing_snapshot(1),
            SourceEvent::Warning("shard 0: in-flight requests cut off".into()),
        ];
        let mut source = Scripted::new(events, true);
        let outcome = drive_with(&config, &mut source, None);
        assert!(
            outcome.warnings.iter().any(|w| w.contains("cut off")),
            "{:?}",
            outcome.warnings
        );
        let events = vec![
            failing_snapshot(1),
            SourceEvent::Stop(StopReason::WorkerLost),
        ];
        let mut source = Scripted::new(events, true);
        let outcome = drive_with(&config, &mut source, None);
        assert_eq!(outcome.stop_reason, StopReason::WorkerLost);
        assert_eq!(outcome.aggregator.total().requests, 2);
    }

    /// An observer sees the merged stats and can stop the run.
    #[test]
    fn an_observer_sees_the_stats_and_stops_the_run() {
        struct StopAfterFour(u64);
        impl RunObserver for StopAfterFour {
            fn turn(&mut self, view: &RunView<'_>) -> Vec<Steer> {
                self.0 = view.aggregator.total().requests;
                if self.0 >= 4 {
                    vec![Steer::Stop]
                } else {
                    Vec::new()
                }
            }
        }
        let config = config(&[]);
        let events = vec![failing_snapshot(1), failing_snapshot(2)];
        let mut source = Scripted::new(events, false);
        let mut observer = StopAfterFour(0);
        let outcome = drive_with(&config, &mut source, Some(&mut observer));
        assert_eq!(observer.0, 4);
        assert_eq!(outcome.stop_reason, StopReason::Requested);
    }
}
