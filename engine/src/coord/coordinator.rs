//! The coordinator: listens, authenticates workers and keeps the cluster
//! between tests; one test on it is `remote::RemoteSource`, driven by the
//! same run loop a single process uses, which merges the workers' snapshots
//! with the same aggregator.
//!
//! Connections are refused (and logged, never disturbing the run) when the
//! token is wrong, the first frame is not a valid hello, or a run is already
//! in progress. A worker that dies is named in the warnings and the run goes
//! on; every snapshot it sent before stays merged.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flume::Receiver;
use stampede_proto::wire::{Hello, Message};

use super::handshake::{self, Admission};
use super::link::Sender;
pub use super::remote::RemoteSource;
use super::roster::{rows, Worker};
use crate::config::{RunConfig, Settings};
use crate::report::workers::WorkerRow;
use crate::run::control::{self, RunHooks, RunOutcome};
use crate::scenario::{Plan, ScenarioDoc};

/// How a coordinator listens and whom it waits for.
#[derive(Debug, Clone)]
pub struct CoordinatorOptions {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Workers to wait for before starting.
    pub expect_workers: usize,
    /// Shared secret workers must present; `None` accepts any worker.
    pub token: Option<String>,
    /// How long to wait for the workers.
    pub wait_timeout: Duration,
    /// What a lost worker does to the run.
    pub on_loss: OnWorkerLoss,
}

/// What the coordinator does when a worker is lost mid-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnWorkerLoss {
    /// Go on with the other workers (the lost one's share is not replaced).
    #[default]
    Continue,
    /// Give the lost worker's users or rate to the others, by cores.
    Rebalance,
    /// Stop the run (reports are still written).
    Abort,
}

impl OnWorkerLoss {
    /// Parses `continue`, `rebalance` or `abort`.
    pub fn parse(text: &str) -> Result<OnWorkerLoss, String> {
        match text.trim() {
            "continue" => Ok(OnWorkerLoss::Continue),
            "rebalance" => Ok(OnWorkerLoss::Rebalance),
            "abort" => Ok(OnWorkerLoss::Abort),
            other => Err(format!("'{other}': use continue, rebalance or abort")),
        }
    }
}

/// The coordinator's view of its workers, for sending custom messages.
#[derive(Default)]
pub struct WorkerLinks {
    pub(super) links: BTreeMap<u32, Sender>,
}

impl WorkerLinks {
    /// Sends a custom message to one worker; false if it is gone.
    pub fn send(&self, worker: u32, kind: &str, data: &[u8]) -> bool {
        self.links
            .get(&worker)
            .is_some_and(|l| l.send(&custom(kind, data)))
    }

    /// Sends a custom message to every worker.
    pub fn broadcast(&self, kind: &str, data: &[u8]) {
        for link in self.links.values() {
            link.send(&custom(kind, data));
        }
    }

    /// Changes a running worker's users (closed loop) or rate (open loop).
    pub fn set_load(&self, worker: u32, users: Option<u32>, rate_per_s: Option<f64>) -> bool {
        self.links
            .get(&worker)
            .is_some_and(|l| l.send(&Message::SetLoad { users, rate_per_s }))
    }

    /// Ids of the connected workers.
    pub fn workers(&self) -> Vec<u32> {
        self.links.keys().copied().collect()
    }
}

fn custom(kind: &str, data: &[u8]) -> Message {
    Message::Custom {
        kind: kind.to_string(),
        data: data.to_vec(),
    }
}

/// A handler for custom messages of one kind from workers: (links, worker id, data).
pub type CoordinatorHandler = Box<dyn FnMut(&WorkerLinks, u32, &[u8]) + Send>;

/// Called once all workers have started, with their links.
pub type StartHook = Box<dyn FnMut(&WorkerLinks) + Send>;

/// Called with the coordinator's address once it listens.
pub type ListeningHook = Box<dyn FnMut(SocketAddr) -> Result<(), String> + Send>;

/// Extension points of a coordinator run.
#[derive(Default)]
pub struct CoordinatorHooks {
    /// Custom message handlers by kind.
    pub handlers: BTreeMap<String, CoordinatorHandler>,
    /// Called once all workers have started.
    pub on_start: Option<StartHook>,
    /// Called once the coordinator listens, with its address (`--processes`
    /// starts its local workers here); an error ends the run before it starts.
    pub on_listening: Option<ListeningHook>,
}

/// Errors that keep a distributed run from happening.
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// Not enough workers joined in time.
    #[error("only {joined} of {expected} workers joined within {waited:?}")]
    NotEnoughWorkers {
        joined: usize,
        expected: usize,
        waited: Duration,
    },
    /// The run cannot be split over the workers.
    #[error("{0}")]
    Split(String),
    /// The setup phase failed.
    #[error("{0}")]
    Setup(String),
    /// Stopped before the run started.
    #[error("stopped before the run started")]
    Stopped,
    /// The local worker processes could not be started.
    #[error("{0}")]
    Workers(String),
}

/// What the connection threads tell the coordinator.
pub(super) enum Event {
    Joined {
        id: u32,
        hello: Hello,
        sender: Sender,
    },
    Message {
        id: u32,
        message: Message,
    },
    Lost {
        id: u32,
        reason: String,
    },
}

/// Settings a worker never takes from the coordinator: reports, output,
/// thresholds, the web UI and metrics exports are the coordinator's; threads and driver are
/// each worker's own; secrets (the token, web credentials) never travel.
pub(super) const LOCAL_KEYS: &[&str] = &[
    "scenario",
    "json",
    "html",
    "csv",
    "csv-full-history",
    "save-run",
    "threads",
    "io-driver",
    "print-interval",
    "only-summary",
    "quiet",
    "threshold",
    "abort-on-fail",
    "abort-delay",
    "headless",
    "expect-workers",
    "master",
    "worker",
    "master-host",
    "master-port",
    "master-bind-host",
    "master-bind-port",
    "locustfile",
    "processes",
    "web",
    "web-host",
    "web-port",
    "web-auth",
    "autostart",
    "autoquit",
    "token",
    "bind",
    "wait-timeout",
    "on-worker-loss",
    "coordinator",
    "connect-timeout",
    "accept-coordinator-tls",
    "metrics",
    "metrics-buckets",
    "metrics-max-endpoints",
    "metrics-worker-labels",
    "jsonl",
    "prometheus-remote-write",
    "remote-write-interval",
];

/// Extra time past the stop timeout before stragglers are given up.
pub(super) const FINAL_GRACE: Duration = Duration::from_secs(5);
/// How long workers get to acknowledge their share.
pub(super) const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A listening coordinator and the workers that joined it.
pub struct Cluster {
    /// Where it listens.
    local: SocketAddr,
    /// What the connection threads say: joins, messages, departures.
    pub(super) events: Receiver<Event>,
    /// Set while a test runs: new workers are refused.
    pub(super) started: Arc<AtomicBool>,
    /// The joined workers, by id.
    pub(super) workers: BTreeMap<u32, Worker>,
}

impl Cluster {
    /// Listens on `options.bind` and accepts workers from now on; calls
    /// `hooks.on_listening` with the address (`--processes` starts its workers there).
    pub fn listen(
        options: &CoordinatorOptions,
        hooks: &mut CoordinatorHooks,
    ) -> Result<Cluster, CoordError> {
        let listener =
            TcpListener::bind(options.bind).map_err(|e| CoordError::Bind(options.bind, e))?;
        let local = listener
            .local_addr()
            .map_err(|e| CoordError::Bind(options.bind, e))?;
        println!(
            "coordinator listening on {local}, waiting for {} workers",
            options.expect_workers
        );
        let (events_tx, events) = flume::unbounded();
        let started = Arc::new(AtomicBool::new(false));
        let admission = Admission {
            psk: options.token.as_deref().map(super::channel::psk_of),
            started: started.clone(),
            events: events_tx,
            next_id: AtomicU32::new(1),
        };
        handshake::spawn(listener, admission).map_err(|e| CoordError::Bind(local, e))?;
        if let Some(on_listening) = hooks.on_listening.as_mut() {
            on_listening(local).map_err(CoordError::Workers)?;
        }
        Ok(Cluster {
            local,
            events,
            started,
            workers: BTreeMap::new(),
        })
    }

    /// The address workers connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits until the expected workers joined (or the wait times out, or `stop`).
    pub fn wait_for_workers(
        &mut self,
        options: &CoordinatorOptions,
        stop: &AtomicBool,
    ) -> Result<(), CoordError> {
        let deadline = Instant::now() + options.wait_timeout;
        while self.workers.len() < options.expect_workers {
            if stop.load(Ordering::Relaxed) {
                return Err(CoordError::Stopped);
            }
            if Instant::now() >= deadline {
                return Err(CoordError::NotEnoughWorkers {
                    joined: self.workers.len(),
                    expected: options.expect_workers,
                    waited: options.wait_timeout,
                });
            }
            self.accept_for(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Takes in joins and departures for up to `wait` while no test runs.
    pub fn accept_for(&mut self, wait: Duration) {
        if let Ok(event) = self.events.recv_timeout(wait) {
            self.take_in(event);
        }
    }

    /// Takes in every event waiting between tests: joins and departures
    /// count, anything a worker still says about an earlier test is dropped.
    pub(super) fn settle(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            self.take_in(event);
        }
    }

    /// One event while no test runs: a join or a departure.
    fn take_in(&mut self, event: Event) {
        match event {
            Event::Joined { id, hello, sender } => {
                println!(
                    "worker {id} joined from {} ({}, {} cores)",
                    sender.peer(),
                    hello.hostname,
                    hello.cores
                );
                self.workers.insert(id, Worker::new(hello, sender));
            }
            Event::Lost { id, reason } => {
                if self.workers.remove(&id).is_some() {
                    println!("worker {id} left before the start: {reason}");
                }
            }
            Event::Message { .. } => {}
        }
    }

    /// The shards of the joined workers, together.
    pub fn cores(&self) -> u32 {
        self.workers.values().map(|w| w.hello.cores.max(1)).sum()
    }

    /// The workers table of the joined workers.
    pub fn worker_rows(&self) -> Vec<WorkerRow> {
        rows(&self.workers)
    }

    /// Says goodbye to every worker: they end when their link closes.
    pub fn close(&mut self) {
        for worker in self.workers.values() {
            worker.sender.close();
        }
        self.workers.clear();
    }
}

/// Runs a distributed run on its own: listen, wait for the workers, run
/// the one run loop over them, let them go; returns the merged outcome.
#[allow(clippy::too_many_arguments)]
pub fn run(
    config: &RunConfig,
    settings: &Settings,
    scenario: Option<&ScenarioDoc>,
    plan: &Plan,
    options: &CoordinatorOptions,
    hooks: &mut CoordinatorHooks,
    run_hooks: &mut RunHooks<'_, '_>,
) -> Result<RunOutcome, CoordError> {
    let mut cluster = Cluster::listen(options, hooks)?;
    cluster.wait_for_workers(options, run_hooks.stop)?;
    let test = Test {
        config,
        settings,
        scenario,
        plan,
    };
    let outcome = run_test(&mut cluster, &test, options.on_loss, hooks, run_hooks);
    cluster.close();
    outcome
}

/// One test's inputs, as the coordinator splits them.
pub struct Test<'a> {
    /// The validated run.
    pub config: &'a RunConfig,
    /// The settings it came from (shipped to the workers).
    pub settings: &'a Settings,
    /// The scenario file, shipped as text.
    pub scenario: Option<&'a ScenarioDoc>,
    /// The compiled plan (setup and feeders run here).
    pub plan: &'a Plan,
}

/// Runs one test on the cluster's workers with the one run loop; the
/// workers stay joined afterwards.
pub fn run_test(
    cluster: &mut Cluster,
    test: &Test,
    on_loss: OnWorkerLoss,
    hooks: &mut CoordinatorHooks,
    run_hooks: &mut RunHooks<'_, '_>,
) -> Result<RunOutcome, CoordError> {
    let mut source = RemoteSource::start(cluster, test, on_loss, hooks)?;
    Ok(control::drive(test.config, &mut source, run_hooks))
}
