//! The remote load source: a cluster's workers running one test, as the
//! run loop sees them. Setup runs here, each worker gets its share (users,
//! rate, iterations, feeder rows split by cores), all start together, and
//! their messages become the loop's events; a lost worker is retired,
//! rebalanced or ends the run as `--on-worker-loss` says. Listening and
//! accepting workers is `coordinator`'s.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use flume::{Receiver, RecvTimeoutError};
use stampede_proto::wire::Message;

use super::coordinator::{
    Cluster, CoordError, CoordinatorHooks, Event, OnWorkerLoss, Test, WorkerLinks, FINAL_GRACE,
    READY_TIMEOUT,
};
use super::roster::{rows, Worker};
use super::{share, split, unix_ms_now};
use crate::config::{Load, RunConfig};
use crate::report::workers::WorkerRow;
use crate::run::control::StopReason;
use crate::run::live::LiveLoad;
use crate::run::setup;
use crate::run::source::{CpuSource, LoadSource, SourceEvent, SourceFacts};

/// How long after the start message workers start: time for it to reach
/// them all, so they start together.
const START_AFTER: Duration = Duration::from_millis(300);

/// The remote load source: the cluster's workers running one test.
pub struct RemoteSource<'c> {
    cluster: &'c mut Cluster,
    hooks: &'c mut CoordinatorHooks,
    links: WorkerLinks,
    config: RunConfig,
    on_loss: OnWorkerLoss,
    t0: Instant,
    started_unix_ms: u64,
    /// Events made here waiting to be handed out (a Done's warnings, a loss's retirements).
    pending: VecDeque<SourceEvent>,
    /// The total load last sent after a live change: (users, rate).
    steered: Option<(u32, f64)>,
    /// A worker was lost under `--on-worker-loss rebalance`: re-split the load.
    rebalance: bool,
    stopped: bool,
}

impl<'c> RemoteSource<'c> {
    /// Runs setup here, ships each worker its share, waits until they are
    /// ready and starts them together.
    pub fn start(
        cluster: &'c mut Cluster,
        test: &Test,
        on_loss: OnWorkerLoss,
        hooks: &'c mut CoordinatorHooks,
    ) -> Result<RemoteSource<'c>, CoordError> {
        cluster.settle();
        if cluster.workers.is_empty() {
            return Err(CoordError::Split("no worker has joined".into()));
        }
        cluster.started.store(true, Ordering::SeqCst);
        for worker in cluster.workers.values_mut() {
            worker.reset();
        }
        let in_progress = cluster.started.clone();
        let started = Self::prepare_and_start(cluster, test, on_loss, hooks);
        if started.is_err() {
            // New workers may join again for the next try.
            in_progress.store(false, Ordering::SeqCst);
        }
        started
    }

    /// Setup, shares, ready, the common start (see [`start`](Self::start)).
    fn prepare_and_start(
        cluster: &'c mut Cluster,
        test: &Test,
        on_loss: OnWorkerLoss,
        hooks: &'c mut CoordinatorHooks,
    ) -> Result<RemoteSource<'c>, CoordError> {
        let (config, plan) = (test.config, test.plan);
        let mut pending = VecDeque::new();
        let setup_values = setup::run(plan, config).map_err(CoordError::Setup)?;
        let named_values: Vec<(String, Vec<u8>)> = setup_values
            .into_iter()
            .map(|(slot, value)| (plan.var_names[slot].clone(), value))
            .collect();
        let prepares = share::prepares(
            config,
            test.settings,
            test.scenario,
            plan,
            &cluster.workers,
            named_values,
        )?;
        let mut warnings = Vec::new();
        let mut unsent = Vec::new();
        for ((id, worker), prepare) in cluster.workers.iter().zip(prepares) {
            if !worker.sender.send(&Message::Prepare(Box::new(prepare))) {
                unsent.push(*id);
            }
        }
        drop_unreachable(&mut cluster.workers, &unsent, "its share", &mut warnings);
        wait_ready(&cluster.events, &mut cluster.workers, &mut warnings)?;
        let start = Message::Start {
            after_ms: START_AFTER.as_millis() as u64,
        };
        let unsent: Vec<u32> = cluster
            .workers
            .iter()
            .filter(|(_, w)| !w.sender.send(&start))
            .map(|(id, _)| *id)
            .collect();
        drop_unreachable(&mut cluster.workers, &unsent, "the start", &mut warnings);
        if cluster.workers.is_empty() {
            return Err(CoordError::Split(format!(
                "no worker could start: {}",
                warnings.join("; ")
            )));
        }
        pending.extend(warnings.into_iter().map(SourceEvent::Warning));
        std::thread::sleep(START_AFTER);
        let started_unix_ms = unix_ms_now();
        let t0 = Instant::now();
        let links = WorkerLinks {
            links: cluster
                .workers
                .iter()
                .map(|(id, w)| (*id, w.sender.clone()))
                .collect(),
        };
        if let Some(on_start) = hooks.on_start.as_mut() {
            on_start(&links);
        }
        Ok(RemoteSource {
            cluster,
            hooks,
            links,
            config: config.clone(),
            on_loss,
            t0,
            started_unix_ms,
            pending,
            steered: None,
            rebalance: false,
            stopped: false,
        })
    }

    /// Handles one message from a running worker.
    fn handle(&mut self, id: u32, message: Message) -> Option<SourceEvent> {
        let worker = self.cluster.workers.get_mut(&id)?;
        match message {
            Message::Snapshot(snapshot) => {
                worker.note(&snapshot);
                return Some(SourceEvent::Snapshot(snapshot));
            }
            Message::Done { warnings } => {
                worker.finished = true;
                let warnings = warnings.into_iter().map(|w| format!("worker {id}: {w}"));
                self.pending.extend(warnings.map(SourceEvent::Warning));
            }
            Message::Custom { kind, data } => match self.hooks.handlers.get_mut(&kind) {
                Some(handler) => handler(&self.links, id, &data),
                None => eprintln!(
                    "coordinator: no handler for custom message '{kind}' from worker {id}"
                ),
            },
            _ => {}
        }
        None
    }

    /// A worker is gone mid-run: its stats so far stay, its sources are retired.
    fn lose(&mut self, id: u32, reason: &str) -> Option<SourceEvent> {
        let worker = self.cluster.workers.get_mut(&id).filter(|w| !w.finished)?;
        worker.finished = true;
        worker.lost = true;
        self.pending.push_back(SourceEvent::Warning(format!(
            "worker {id} ({}) lost: {reason}; the stats it sent before are kept",
            worker.hello.hostname
        )));
        let retired = worker.sources.iter().map(|s| SourceEvent::Retire(*s));
        self.pending.extend(retired.collect::<Vec<_>>());
        match self.on_loss {
            OnWorkerLoss::Continue => None,
            OnWorkerLoss::Rebalance => {
                // The next steer re-splits the load wanted now over the others.
                self.rebalance = true;
                None
            }
            OnWorkerLoss::Abort => Some(SourceEvent::Stop(StopReason::WorkerLost)),
        }
    }
}

impl LoadSource for RemoteSource<'_> {
    fn started(&self) -> (Instant, u64) {
        (self.t0, self.started_unix_ms)
    }

    fn next_event(&mut self, wait: Duration) -> Option<SourceEvent> {
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        match self.cluster.events.recv_timeout(wait) {
            Ok(Event::Message { id, message }) => self.handle(id, message),
            Ok(Event::Lost { id, reason }) => self.lose(id, &reason),
            Ok(Event::Joined { sender, .. }) => {
                sender.send(&Message::Reject {
                    reason: "a run is already in progress".into(),
                });
                sender.close();
                None
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                for worker in self.cluster.workers.values_mut() {
                    worker.finished = true;
                }
                None
            }
        }
    }

    fn finished(&self) -> bool {
        self.cluster.workers.values().all(|w| w.finished)
    }

    /// Workers follow their own share of the configured load; after a live
    /// change the coordinator steers: the new total, split by cores.
    fn steer(&mut self, live: &mut LiveLoad, elapsed: Duration) {
        if std::mem::take(&mut self.rebalance) {
            if !live.changed() {
                let said = rebalance(&self.config, &self.cluster.workers);
                self.pending.push_back(SourceEvent::Warning(said));
                return;
            }
            // After a live change the load wanted now is split again below.
            self.steered = None;
            self.pending.push_back(SourceEvent::Warning(
                "load rebalanced over the remaining workers".into(),
            ));
        }
        if !live.changed() {
            return;
        }
        let wanted = live.wanted(elapsed);
        if self.steered == Some(wanted) {
            return;
        }
        self.steered = Some(wanted);
        let alive: Vec<&Worker> = self
            .cluster
            .workers
            .values()
            .filter(|w| !w.finished)
            .collect();
        let cores: Vec<u32> = alive.iter().map(|w| w.hello.cores.max(1)).collect();
        let (users, rate) = wanted;
        let shares = match self.config.load {
            Load::Closed { .. } => split::by_cores(u64::from(users), &cores)
                .into_iter()
                .map(|u| (Some(u as u32), None))
                .collect::<Vec<_>>(),
            Load::Open { .. } => split::rate_by_cores(rate, &cores)
                .into_iter()
                .map(|r| (None, Some(r)))
                .collect(),
        };
        for (worker, (users, rate_per_s)) in alive.iter().zip(shares) {
            worker.sender.send(&Message::SetLoad { users, rate_per_s });
        }
    }

    fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            for worker in self.cluster.workers.values() {
                worker.sender.send(&Message::Stop);
            }
        }
    }

    fn final_grace(&self) -> Duration {
        FINAL_GRACE
    }

    fn workers(&self) -> Vec<WorkerRow> {
        rows(&self.cluster.workers)
    }

    fn sources_expected(&self) -> usize {
        // Each worker runs one shard per core it announced; one that is lost,
        // or ended without a snapshot (its share could not start), sends none.
        let sending = self
            .cluster
            .workers
            .values()
            .filter(|w| !(w.lost || w.finished && w.sources.is_empty()));
        sending.map(|w| w.hello.cores.max(1) as usize).sum()
    }

    fn cpu_source(&self) -> CpuSource {
        CpuSource::Snapshots
    }

    fn source_name(&self, source: u32) -> String {
        let shift = crate::stats::SOURCE_PROCESS_SHIFT;
        format!(
            "worker {} shard {}",
            source >> shift,
            source & ((1 << shift) - 1)
        )
    }

    fn finish(&mut self) -> SourceFacts {
        // Lost workers, and those that did not finish in time, leave the
        // cluster: a later test must not count on them (their links close).
        let gone: Vec<u32> = self
            .cluster
            .workers
            .iter()
            .filter(|(_, w)| w.lost || !w.finished)
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            if let Some(worker) = self.cluster.workers.get(id) {
                // Not flushed: a worker that is gone may never read again.
                worker.sender.abort("it left the cluster");
            }
        }
        let threads = self
            .cluster
            .workers
            .values()
            .map(|w| w.hello.cores as usize)
            .sum();
        let count = self.cluster.workers.len();
        self.cluster.workers.retain(|id, _| !gone.contains(id));
        self.cluster.started.store(false, Ordering::SeqCst);
        SourceFacts {
            threads,
            io_driver: format!("distributed ({count} workers)"),
            cpu: CpuSource::Snapshots,
            fd_limit: 0,
            connections_opened: 0,
        }
    }
}

/// Waits for every worker to acknowledge its share. A worker that cannot
/// prepare it, is lost, or does not answer in time leaves the cluster (its
/// link is closed, so it exits) with a warning.
fn wait_ready(
    events: &Receiver<Event>,
    workers: &mut BTreeMap<u32, Worker>,
    warnings: &mut Vec<String>,
) -> Result<(), CoordError> {
    let mut ready: Vec<u32> = Vec::new();
    let deadline = Instant::now() + READY_TIMEOUT;
    while ready.len() < workers.len() && Instant::now() < deadline {
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(Event::Message {
                id,
                message: Message::Ready,
            }) if workers.contains_key(&id) => ready.push(id),
            Ok(Event::Message {
                id,
                message: Message::Done { warnings: theirs },
            }) => {
                warnings.extend(theirs.into_iter().map(|w| format!("worker {id}: {w}")));
                if let Some(worker) = workers.remove(&id) {
                    worker.sender.close();
                }
            }
            Ok(Event::Lost { id, reason }) => {
                if let Some(worker) = workers.remove(&id) {
                    warnings.push(format!(
                        "worker {id} ({}) lost before the start: {reason}",
                        worker.hello.hostname
                    ));
                    worker.sender.abort("lost");
                }
            }
            Ok(Event::Joined { sender, .. }) => {
                sender.send(&Message::Reject {
                    reason: "a run is already in progress".into(),
                });
                sender.close();
            }
            _ => {}
        }
    }
    let silent: Vec<u32> = workers
        .keys()
        .filter(|id| !ready.contains(id))
        .copied()
        .collect();
    for id in silent {
        if let Some(worker) = workers.remove(&id) {
            warnings.push(format!(
                "worker {id} ({}) lost before the start: it did not prepare within {} s",
                worker.hello.hostname,
                READY_TIMEOUT.as_secs()
            ));
            worker.sender.abort("it did not prepare in time");
        }
    }
    if workers.is_empty() {
        return Err(CoordError::Split(format!(
            "no worker could prepare the run: {}",
            warnings.join("; ")
        )));
    }
    Ok(())
}

/// Workers a message could not even be queued for leave the cluster, named.
fn drop_unreachable(
    workers: &mut BTreeMap<u32, Worker>,
    ids: &[u32],
    what: &str,
    warnings: &mut Vec<String>,
) {
    for id in ids {
        if let Some(worker) = workers.remove(id) {
            let why = worker
                .sender
                .failure()
                .unwrap_or("its link is closed".into());
            warnings.push(format!(
                "worker {id} ({}) lost before the start: cannot send it {what}: {why}",
                worker.hello.hostname
            ));
            worker.sender.abort("lost");
        }
    }
}

/// Gives the run's users (or rate) to the workers still running, by cores;
/// returns what it did, for the warnings.
fn rebalance(config: &RunConfig, workers: &BTreeMap<u32, Worker>) -> String {
    if !config.stages.is_empty() {
        return "--on-worker-loss rebalance does not apply to load shapes; going on".into();
    }
    let alive: Vec<(&u32, &Worker)> = workers.iter().filter(|(_, w)| !w.finished).collect();
    let cores: Vec<u32> = alive.iter().map(|(_, w)| w.hello.cores.max(1)).collect();
    match config.load {
        Load::Closed { users, .. } => {
            for ((_, worker), share) in alive.iter().zip(split::by_cores(u64::from(users), &cores))
            {
                worker.sender.send(&Message::SetLoad {
                    users: Some(share as u32),
                    rate_per_s: None,
                });
            }
        }
        Load::Open { rate_per_s, .. } => {
            for ((_, worker), share) in alive.iter().zip(split::rate_by_cores(rate_per_s, &cores)) {
                worker.sender.send(&Message::SetLoad {
                    users: None,
                    rate_per_s: Some(share),
                });
            }
        }
    }
    format!("load rebalanced over the {} remaining workers", alive.len())
}
