//! The control actor: starts the shards, ramps users, decides when the run
//! stops, and feeds every snapshot to the aggregator.
//!
//! It runs on the calling (main) thread and talks to shards only over flume
//! channels. It owns the run's clock decisions (ramp, run time, stop timeout,
//! signals); pacing arithmetic is in `pace`, request work in the shards,
//! formatting in `report`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flume::{Receiver, RecvTimeoutError, Sender};
use stampede_proto::Snapshot;

use crate::config::{Load, RunConfig};
use crate::run::live::{LiveLoad, LoadChange};
use crate::run::pace;
use crate::report::{thresholds, RunInfo};
use crate::scenario::Plan;
use crate::shard::{self, Command, ShardEvent, ShardLoad, ShardSpec};
use crate::stats::Aggregator;
use crate::run::setup;
use crate::sys;

/// How often the control loop wakes when no event arrives.
const CONTROL_TICK: Duration = Duration::from_millis(50);
/// How long shards may take to build their runtimes.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Extra wait for shards' final snapshots beyond the stop timeout.
const FINAL_GRACE: Duration = Duration::from_secs(2);
/// File descriptors kept free for everything but connections.
const FD_RESERVE: u64 = 64;

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
    /// empty unless `config.save_run` is set (they hold whole histograms).
    pub snapshots: Vec<Snapshot>,
    /// The workers of a distributed run; empty otherwise.
    pub workers: Vec<crate::report::workers::WorkerRow>,
}

/// Installs Ctrl-C and SIGTERM handlers: the first sets the returned flag (a
/// graceful stop); a second one exits at once with status 130.
pub fn install_stop_signals() -> std::io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, flag.clone())?;
        signal_hook::flag::register(signal, flag.clone())?;
    }
    Ok(flag)
}

/// How many processes of `limit` descriptors each hold `connections`
/// (each keeps a reserve for itself), at least two: `--processes` advice.
fn processes_needed(connections: u64, limit: u64) -> u64 {
    let per_process = limit.saturating_sub(2 * FD_RESERVE).max(1);
    connections.div_ceil(per_process).max(2)
}

/// A started shard as the control actor sees it.
struct ShardHandle {
    commands: Sender<Command>,
    thread: Option<std::thread::JoinHandle<()>>,
    finished: bool,
}

/// Runs `plan` as configured. `stop` requests a graceful stop (signals);
/// `progress` is called every print interval with the stats so far.
pub fn run(
    config: &RunConfig,
    plan: Plan,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Aggregator, Duration),
) -> Result<RunOutcome, RunError> {
    run_with(config, plan, stop, progress, &mut |_| {})
}

/// Like [`run`], also handing every merged snapshot to `on_snapshot` (a
/// worker forwards them to its coordinator).
pub fn run_with(
    config: &RunConfig,
    plan: Plan,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Aggregator, Duration),
    on_snapshot: &mut dyn FnMut(&Snapshot),
) -> Result<RunOutcome, RunError> {
    run_live(config, plan, stop, progress, on_snapshot, None)
}

/// Like [`run_with`], also changing the load on the console's key presses
/// or a coordinator's set-load (`changes`, see `live`).
pub fn run_live(
    config: &RunConfig,
    mut plan: Plan,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Aggregator, Duration),
    on_snapshot: &mut dyn FnMut(&Snapshot),
    changes: Option<&Receiver<LoadChange>>,
) -> Result<RunOutcome, RunError> {
    let mut warnings = Vec::new();
    let needed = config.max_connections() + FD_RESERVE + 8 * config.threads as u64;
    let (fd_limit, fd_hard) = match sys::raise_fd_limit(needed) {
        Ok(limit) => (limit.soft, limit.hard),
        Err(e) => {
            warnings.push(format!("cannot read the open-file limit: {e}"));
            (0, 0)
        }
    };
    if fd_limit > 0 && fd_limit < needed && !config.allow_low_fd_limit {
        return Err(RunError::FdLimit {
            limit: fd_limit,
            hard: fd_hard,
            needed,
            processes: processes_needed(config.max_connections(), fd_hard.max(fd_limit)),
        });
    }
    if fd_limit < needed {
        warnings.push(format!(
            "open-file limit {fd_limit} is below the {needed} this run may need; \
             raise it (ulimit -n {needed}, or run as root) or expect connect errors"
        ));
    }

    plan.body_capture_limit = config.max_body_capture;
    let values = setup::run(&plan, config).map_err(RunError::Setup)?;
    setup::apply(&mut plan, values);
    // Re-resolves host names every --dns-ttl until the run ends (dropped).
    let _dns = crate::http::dns::Refresher::start(
        plan.origins.iter().map(|o| o.addrs.clone()).collect(),
        config.dns_ttl,
    );

    let (event_tx, events) = flume::unbounded();
    let (mut shards, drivers) = start_shards(config, Arc::new(plan), event_tx, &events)?;
    let t0 = Instant::now();
    let started_unix_ms = unix_ms_now();
    for shard in &shards {
        let _ = shard.commands.send(Command::Start { t0 });
    }

    // Per-endpoint series cost a histogram per endpoint and second: kept only when a report reads them.
    let mut aggregator = if config.csv_full_history {
        Aggregator::with_endpoint_series()
    } else {
        Aggregator::new()
    };
    if config.keep_exact_timeseries {
        aggregator.keep_exact_timeseries();
    }
    let mut connections_opened = 0;
    let senders: Vec<Sender<Command>> = shards.iter().map(|s| s.commands.clone()).collect();
    let mut live = LiveLoad::new(config);
    let mut stop_reason = None;
    let mut final_deadline = None;
    let mut next_print = t0 + config.print_interval;
    let mut abort_check = AbortCheck::new(config);
    let mut merged = MergedLog::new(config.save_run.is_some());
    while !shards.iter().all(|s| s.finished) {
        match events.recv_timeout(CONTROL_TICK) {
            Ok(ShardEvent::Snapshot(snapshot)) => match aggregator.merge(&snapshot) {
                Ok(()) => {
                    on_snapshot(&snapshot);
                    merged.keep(snapshot);
                }
                Err(e) => warnings.push(format!(
                    "dropped a snapshot from shard {}: {e}",
                    snapshot.source
                )),
            },
            Ok(ShardEvent::Finished {
                shard,
                connections_opened: opened,
                cut_off,
            }) => {
                shards[shard].finished = true;
                connections_opened += opened;
                if cut_off {
                    warnings.push(format!(
                        "shard {shard}: in-flight requests cut off by the stop timeout ({:?})",
                        config.stop_timeout
                    ));
                }
            }
            Ok(ShardEvent::Failed { shard, error }) => {
                warnings.push(format!("shard {shard} failed: {error}"));
                shards[shard].finished = true;
            }
            Ok(ShardEvent::Ready { .. }) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let elapsed = t0.elapsed();
        if stop_reason.is_none() {
            for change in changes.into_iter().flat_map(|changes| changes.try_iter()) {
                if let Some(said) = live.change(change, elapsed) {
                    if !config.quiet {
                        println!("{said}");
                    }
                }
            }
            live.tick(elapsed, &senders);
            let reason = if stop.load(Ordering::Relaxed) {
                Some(StopReason::Signal)
            } else if config.run_time.is_some_and(|run_time| elapsed >= run_time) {
                Some(StopReason::RunTime)
            } else if abort_check.due(elapsed) && thresholds_fail(config, &aggregator, elapsed) {
                warnings.push(format!(
                    "a threshold failed after {:.0} s: run aborted (--abort-on-fail)",
                    elapsed.as_secs_f64()
                ));
                Some(StopReason::ThresholdFailed)
            } else {
                None
            };
            if let Some(reason) = reason {
                stop_reason = Some(reason);
                final_deadline = Some(Instant::now() + config.stop_timeout + FINAL_GRACE);
                for shard in &shards {
                    let _ = shard.commands.send(Command::Stop);
                }
            }
        }
        if final_deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            warnings.push("some shards did not report their final stats in time".to_string());
            break;
        }
        if Instant::now() >= next_print {
            next_print += config.print_interval;
            progress(&aggregator, elapsed);
        }
    }
    let duration = t0.elapsed();
    if let Some(warning) = crate::run::saturation::judge(&aggregator).warning() {
        warnings.push(warning);
    }
    // Late events from shards that finished after the deadline are still merged.
    while let Ok(event) = events.try_recv() {
        if let ShardEvent::Snapshot(snapshot) = event {
            if aggregator.merge(&snapshot).is_ok() {
                on_snapshot(&snapshot);
                merged.keep(snapshot);
            }
        }
    }
    for shard in &mut shards {
        if shard.finished {
            if let Some(thread) = shard.thread.take() {
                let _ = thread.join();
            }
        }
    }
    let usage = sys::process_usage();
    let info = RunInfo {
        duration_s: duration.as_secs_f64(),
        started_unix_ms,
        threads: config.threads,
        io_driver: drivers,
        cpu_seconds: usage.cpu_seconds,
        max_rss_kb: usage.max_rss_kb,
        fd_limit,
        config: serde_json::to_value(config).unwrap_or_default(),
    };
    Ok(RunOutcome {
        aggregator,
        info,
        stop_reason: stop_reason.unwrap_or(StopReason::Completed),
        connections_opened,
        warnings,
        snapshots: merged.snapshots,
        workers: Vec::new(),
    })
}

/// The snapshots merged so far, in merge order, when the run is to be saved:
/// replaying them through a fresh aggregator rebuilds the same stats.
struct MergedLog {
    /// Whether to keep them at all (`--save-run`).
    enabled: bool,
    snapshots: Vec<Snapshot>,
}

impl MergedLog {
    fn new(enabled: bool) -> Self {
        MergedLog {
            enabled,
            snapshots: Vec::new(),
        }
    }

    /// Keeps a snapshot the aggregator has just merged.
    fn keep(&mut self, snapshot: Snapshot) {
        if self.enabled {
            self.snapshots.push(snapshot);
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

/// Starts one shard per configured thread and waits until each is ready;
/// returns them with the name of the driver(s) they run on.
fn start_shards(
    config: &RunConfig,
    plan: Arc<Plan>,
    event_tx: Sender<ShardEvent>,
    events: &Receiver<ShardEvent>,
) -> Result<(Vec<ShardHandle>, String), RunError> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let mut shards = Vec::with_capacity(config.threads);
    // Iterations follow the users: a shard that gets no user gets no budget
    // (it would otherwise wait for work no user of its own will ever do).
    let budgets = match (config.iterations, &config.load) {
        (Some(n), Load::Closed { users, .. }) => {
            let users: Vec<u64> = (0..config.threads)
                .map(|i| pace::share(u64::from(*users), config.threads, i))
                .collect();
            Some(pace::share_weighted(n, &users))
        }
        _ => None,
    };
    for index in 0..config.threads {
        let load = match config.load {
            Load::Closed { .. } => ShardLoad::Closed {
                budget: budgets.as_ref().map(|b| b[index]),
            },
            Load::Open { max_in_flight, .. } => ShardLoad::Open {
                rate_per_s: crate::run::live::initial_rate(config),
                total: config.iterations,
                end: config.run_time,
                max_in_flight: pace::share(u64::from(max_in_flight), config.threads, index).max(1)
                    as u32,
            },
        };
        let spec = ShardSpec {
            index,
            shards: config.threads,
            core: (!cores.is_empty()).then(|| cores[index % cores.len()]),
            plan: plan.clone(),
            load,
            io_driver: config.io_driver,
            timeout: config.timeout,
            stop_timeout: config.stop_timeout,
            limits: config.limits,
            conn: config.conn.clone(),
        };
        let (commands, receiver) = flume::unbounded();
        let thread = shard::spawn(spec, receiver, event_tx.clone())?;
        shards.push(ShardHandle {
            commands,
            thread: Some(thread),
            finished: false,
        });
    }
    let mut drivers: Vec<String> = Vec::new();
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while drivers.len() < config.threads {
        let wait = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(wait) {
            Ok(ShardEvent::Ready { driver, .. }) => drivers.push(driver.to_string()),
            Ok(ShardEvent::Failed { shard, error }) => {
                return Err(RunError::Shard { shard, error })
            }
            Ok(_) => {}
            Err(_) => return Err(RunError::StartupTimeout(STARTUP_TIMEOUT)),
        }
    }
    drivers.sort();
    drivers.dedup();
    Ok((shards, drivers.join(", ")))
}

/// Wall-clock time now in milliseconds since the Unix epoch; 0 if the clock is before it.
fn unix_ms_now() -> u64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since_epoch.map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `--processes` advice: enough processes of the limit for the connections.
    #[test]
    fn processes_needed_fit_the_limit() {
        assert_eq!(processes_needed(50_000, 20_000), 3);
        assert_eq!(processes_needed(19_900, 20_000), 2);
        assert_eq!(processes_needed(1_000, 1_024), 2);
        assert_eq!(processes_needed(5_000_000, 1_048_576), 5);
        assert_eq!(processes_needed(10, 0), 10);
    }
}
