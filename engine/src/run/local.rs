//! The local load source: one pinned shard per configured thread in this
//! process, spoken to over flume channels. It raises the open-file limit,
//! runs the scenario's setup, starts the shards together and turns their
//! events into the run loop's; the run's course is the loop's.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flume::{Receiver, RecvTimeoutError, Sender};

use super::control::{unix_ms_now, RunError};
use super::live::LiveLoad;
use super::source::{CpuSource, LoadSource, SourceEvent, SourceFacts};
use super::{pace, setup};
use crate::config::{Load, RunConfig};
use crate::http::dns;
use crate::report::workers::WorkerRow;
use crate::scenario::Plan;
use crate::shard::{self, Command, ShardEvent, ShardLoad, ShardSpec};
use crate::sys;

/// How long shards may take to build their runtimes.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Extra wait for shards' final snapshots beyond the stop timeout.
const FINAL_GRACE: Duration = Duration::from_secs(2);
/// File descriptors kept free for everything but connections.
const FD_RESERVE: u64 = 64;

/// A started shard as the source sees it.
struct ShardHandle {
    commands: Sender<Command>,
    thread: Option<std::thread::JoinHandle<()>>,
    finished: bool,
}

/// This process's shards, started.
pub struct LocalSource {
    shards: Vec<ShardHandle>,
    /// Every shard's command channel, for the live load.
    senders: Vec<Sender<Command>>,
    events: Receiver<ShardEvent>,
    /// Events made here (warnings) waiting to be handed out before the shards'.
    pending: VecDeque<SourceEvent>,
    t0: Instant,
    started_unix_ms: u64,
    drivers: String,
    threads: usize,
    fd_limit: u64,
    connections_opened: u64,
    stop_timeout: Duration,
    /// `--connect-backoff`, for the warning that users paused.
    connect_backoff: Duration,
    stopped: bool,
    /// Re-resolves host names every `--dns-ttl` until the source is dropped.
    _dns: Option<dns::Refresher>,
}

/// How many processes of `limit` descriptors each hold `connections`
/// (each keeps a reserve for itself), at least two: `--processes` advice.
fn processes_needed(connections: u64, limit: u64) -> u64 {
    let per_process = limit.saturating_sub(2 * FD_RESERVE).max(1);
    connections.div_ceil(per_process).max(2)
}

impl LocalSource {
    /// Raises the fd limit, runs setup and starts one shard per thread.
    pub fn start(config: &RunConfig, mut plan: Plan) -> Result<LocalSource, RunError> {
        let mut pending = VecDeque::new();
        let needed = config.max_connections() + FD_RESERVE + 8 * config.threads as u64;
        let (fd_limit, fd_hard) = match sys::raise_fd_limit(needed) {
            Ok(limit) => (limit.soft, limit.hard),
            Err(e) => {
                let warning = format!("cannot read the open-file limit: {e}");
                pending.push_back(SourceEvent::Warning(warning));
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
            pending.push_back(SourceEvent::Warning(format!(
                "open-file limit {fd_limit} is below the {needed} this run may need; \
                 raise it (ulimit -n {needed}, or run as root) or expect connect errors"
            )));
        }

        plan.body_capture_limit = config.max_body_capture;
        plan.max_redirects = config.max_redirects;
        plan.http_debug = crate::shard::http_debug::HttpDebug::new(config.http_debug);
        plan.signing = config.signing.clone();
        plan.s3_errors = config.object_report;
        let values = setup::run(&plan, config).map_err(RunError::Setup)?;
        setup::apply(&mut plan, values);
        let dns = dns::Refresher::start(
            plan.origins.iter().map(|o| o.addrs.clone()).collect(),
            config.dns_ttl,
        );

        let (event_tx, events) = flume::unbounded();
        let (shards, drivers) = start_shards(config, Arc::new(plan), event_tx, &events)?;
        let t0 = Instant::now();
        let started_unix_ms = unix_ms_now();
        for shard in &shards {
            let _ = shard.commands.send(Command::Start { t0 });
        }
        let senders = shards.iter().map(|s| s.commands.clone()).collect();
        Ok(LocalSource {
            shards,
            senders,
            events,
            pending,
            t0,
            started_unix_ms,
            drivers,
            threads: config.threads,
            fd_limit,
            connections_opened: 0,
            stop_timeout: config.stop_timeout,
            connect_backoff: config.connect_backoff,
            stopped: false,
            _dns: dns,
        })
    }
}

impl LoadSource for LocalSource {
    fn started(&self) -> (Instant, u64) {
        (self.t0, self.started_unix_ms)
    }

    fn next_event(&mut self, wait: Duration) -> Option<SourceEvent> {
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        let event = match self.events.recv_timeout(wait) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => return None,
            Err(RecvTimeoutError::Disconnected) => {
                // Every shard thread is gone: nothing more will come.
                for shard in &mut self.shards {
                    shard.finished = true;
                }
                return None;
            }
        };
        match event {
            ShardEvent::Snapshot(snapshot) => Some(SourceEvent::Snapshot(Box::new(snapshot))),
            ShardEvent::Finished {
                shard,
                connections_opened,
                cut_off,
                connect_backoffs,
            } => {
                self.shards[shard].finished = true;
                self.connections_opened += connections_opened;
                if connect_backoffs > 0 {
                    self.pending.push_back(SourceEvent::Warning(format!(
                        "shard {shard}: users paused {connect_backoffs} times after failed connects \
                         (--connect-backoff, up to {:?} each)",
                        self.connect_backoff
                    )));
                }
                cut_off.then(|| {
                    SourceEvent::Warning(format!(
                        "shard {shard}: in-flight requests cut off by the stop timeout ({:?})",
                        self.stop_timeout
                    ))
                })
            }
            ShardEvent::Failed { shard, error } => {
                self.shards[shard].finished = true;
                Some(SourceEvent::Warning(format!(
                    "shard {shard} failed: {error}"
                )))
            }
            ShardEvent::Ready { .. } => None,
        }
    }

    fn finished(&self) -> bool {
        self.shards.iter().all(|s| s.finished)
    }

    fn steer(&mut self, live: &mut LiveLoad, elapsed: Duration) {
        live.tick(elapsed, &self.senders);
    }

    fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            for shard in &self.shards {
                let _ = shard.commands.send(Command::Stop);
            }
        }
    }

    fn final_grace(&self) -> Duration {
        FINAL_GRACE
    }

    fn workers(&self) -> Vec<WorkerRow> {
        Vec::new()
    }

    fn sources_expected(&self) -> usize {
        self.threads
    }

    fn cpu_source(&self) -> CpuSource {
        CpuSource::ThisProcess
    }

    fn source_name(&self, source: u32) -> String {
        format!("shard {source}")
    }

    fn finish(&mut self) -> SourceFacts {
        // Shards past the deadline are left to end with the process.
        for shard in &mut self.shards {
            if shard.finished {
                if let Some(thread) = shard.thread.take() {
                    let _ = thread.join();
                }
            }
        }
        SourceFacts {
            threads: self.threads,
            io_driver: self.drivers.clone(),
            cpu: CpuSource::ThisProcess,
            fd_limit: self.fd_limit,
            connections_opened: self.connections_opened,
        }
    }
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
                rate_per_s: super::live::initial_rate(config),
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
            connect_backoff_max: config.connect_backoff,
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
