//! A worker: joins a coordinator, receives its share of the run (settings,
//! scenario text, feeder rows, setup values), runs it on its own shards
//! exactly like a single process, and forwards every snapshot as it is merged.
//!
//! The worker needs no files of its own. It runs one test per share it is
//! sent (a coordinator with a web UI sends one per test) and exits when the
//! coordinator lets it go, on Ctrl-C, or within seconds of losing the
//! coordinator (a closed socket or silence). A test ends when the
//! coordinator says stop, or on its own (run time, iterations).

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_proto::wire::{FrameError, Hello, Message, Prepare, PROTOCOL_VERSION};

use super::channel;
use super::link::{self, Incoming, Sender, SILENCE_LIMIT};
use crate::config::{RunConfig, Settings};
use crate::run::control::{self, RunHooks, RunObserver, RunView, Steer};
use crate::run::live::LoadChange;
use crate::run::local::LocalSource;
use crate::scenario::template::with_given_env;
use crate::scenario::{Plan, ScenarioDoc};

/// How a worker finds its coordinator.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// `host:port` of the coordinator.
    pub coordinator: String,
    /// Shared secret.
    pub token: Option<String>,
    /// Shards to run; default one per core.
    pub threads: Option<usize>,
    /// I/O driver (`auto`, `uring`, `epoll`).
    pub io_driver: Option<String>,
    /// How long to keep trying to reach the coordinator.
    pub connect_timeout: Duration,
    /// This worker's own TLS settings (`insecure`, `cacert`, `cert`,
    /// `key`), which apply whatever the coordinator sends...
    pub tls: Vec<(&'static str, String)>,
    /// ...unless it takes the coordinator's instead (`--accept-coordinator-tls`).
    pub accept_coordinator_tls: bool,
}

/// A handler for custom messages of one kind from the coordinator:
/// (link to the coordinator, data).
pub type WorkerHandler = Box<dyn FnMut(&CoordinatorLink, &[u8]) + Send>;

/// The worker's link to its coordinator, for sending custom messages.
pub struct CoordinatorLink {
    sender: Sender,
}

impl CoordinatorLink {
    /// Sends a custom message to the coordinator; false if it is gone.
    pub fn send(&self, kind: &str, data: &[u8]) -> bool {
        self.sender.send(&Message::Custom {
            kind: kind.to_string(),
            data: data.to_vec(),
        })
    }
}

/// Why a worker could not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The coordinator could not be reached.
    #[error("cannot reach the coordinator at {0}: {1}")]
    Connect(String, String),
    /// The coordinator refused this worker.
    #[error("the coordinator refused this worker: {0}")]
    Rejected(String),
    /// The coordinator went away before the run.
    #[error("the coordinator went away: {0}")]
    Lost(String),
    /// The share sent could not be run.
    #[error("cannot run the coordinator's scenario: {0}")]
    Prepare(String),
    /// The run failed.
    #[error("{0}")]
    Run(String),
    /// Without a token the coordinator's address is not on this machine.
    #[error("{0}")]
    Insecure(String),
}

/// What a worker did.
#[derive(Debug)]
pub struct WorkerReport {
    /// Id the coordinator gave it.
    pub worker_id: u32,
    /// Requests it completed.
    pub requests: u64,
}

/// Joins the coordinator and runs the share it is given. `stop` is set by
/// signals; it is also set when the coordinator says stop or goes away.
pub fn run(
    options: &WorkerOptions,
    mut handlers: BTreeMap<String, WorkerHandler>,
    stop: Arc<AtomicBool>,
) -> Result<WorkerReport, WorkerError> {
    let mut stream = connect(options, &stop)?;
    // The whole handshake, up to the welcome, within the silence limit.
    let _ = stream.set_read_timeout(Some(SILENCE_LIMIT * 2));
    let channel::Channel { mut seal, mut open } =
        channel::initiate(&mut stream, options.token.as_deref()).map_err(|e| match e {
            channel::ChannelError::Refused(reason) => WorkerError::Rejected(reason),
            channel::ChannelError::Io(e) => WorkerError::Lost(e.to_string()),
        })?;
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let hello = Hello {
        version: PROTOCOL_VERSION,
        cores: threads as u32,
        hostname: hostname(),
    };
    seal.write(&mut stream, &Message::Hello(hello))
        .map_err(|e| WorkerError::Lost(e.to_string()))?;
    let worker_id = match open.read(&mut stream) {
        Ok(Message::Welcome { worker_id }) => worker_id,
        Ok(Message::Reject { reason }) => return Err(WorkerError::Rejected(reason)),
        Ok(other) => return Err(WorkerError::Lost(format!("unexpected {other:?}"))),
        Err(FrameError::Io(e)) => return Err(WorkerError::Lost(e.to_string())),
        Err(e) => return Err(WorkerError::Lost(e.to_string())),
    };
    let _ = stream.set_read_timeout(None);
    println!(
        "worker {worker_id}: joined the coordinator at {}",
        options.coordinator
    );
    let sender = Sender::new(&stream, seal)
        .map_err(|e| WorkerError::Run(format!("cannot start a thread: {e}")))?;

    let (tx, inbox) = flume::unbounded();
    let (load_tx, load_changes) = flume::unbounded();
    let link = CoordinatorLink {
        sender: sender.clone(),
    };
    // Set when the coordinator says stop (or goes away): ends the test, not the worker.
    let test_stop = Arc::new(AtomicBool::new(false));
    let reader_stop = test_stop.clone();
    link::spawn_reader(stream, open, move |incoming| {
        match incoming {
            Incoming::Message(Message::Custom { kind, data }) => match handlers.get_mut(&kind) {
                Some(handler) => handler(&link, &data),
                None => eprintln!("worker: no handler for custom message '{kind}'"),
            },
            Incoming::Message(Message::Stop) => reader_stop.store(true, Ordering::SeqCst),
            Incoming::Message(Message::SetLoad { users, rate_per_s }) => {
                let _ = load_tx.send(LoadChange::Set { users, rate_per_s });
            }
            Incoming::Message(message) => {
                let _ = tx.send(Ok(message));
            }
            Incoming::Closed(reason) => {
                reader_stop.store(true, Ordering::SeqCst);
                let _ = tx.send(Err(reason));
                return false;
            }
        }
        true
    })
    .map_err(|e| WorkerError::Run(format!("cannot start a thread: {e}")))?;

    let mut requests = 0;
    let mut tests = 0;
    // One test per Prepare, until the coordinator lets this worker go.
    let mut ended = String::from("closed");
    loop {
        let prepare = loop {
            match inbox.recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(Message::Prepare(prepare))) => break Some(prepare),
                Ok(Ok(_)) => {}
                Ok(Err(reason)) => {
                    ended = reason;
                    break None;
                }
                Err(flume::RecvTimeoutError::Disconnected) => break None,
                Err(flume::RecvTimeoutError::Timeout) if stop.load(Ordering::Relaxed) => {
                    break None
                }
                Err(flume::RecvTimeoutError::Timeout) => {}
            }
        };
        let Some(prepare) = prepare else {
            if tests == 0 && !stop.load(Ordering::Relaxed) {
                return Err(WorkerError::Lost(format!(
                    "the link ended before a test: {ended}"
                )));
            }
            break;
        };
        test_stop.store(false, Ordering::SeqCst);
        while load_changes.try_recv().is_ok() {}
        requests += run_share(
            &prepare,
            options,
            threads,
            &sender,
            &inbox,
            worker_id,
            &stop,
            &test_stop,
            &load_changes,
        )?;
        tests += 1;
    }
    // The last snapshots and the Done go out before the process ends.
    sender.finish(LAST_WORDS_MAX);
    Ok(WorkerReport {
        worker_id,
        requests,
    })
}

/// Ends a worker's test when the coordinator says stop (or is gone).
struct CoordinatorStop<'a>(&'a AtomicBool);

impl RunObserver for CoordinatorStop<'_> {
    fn turn(&mut self, _: &RunView<'_>) -> Vec<Steer> {
        if self.0.load(Ordering::Relaxed) {
            vec![Steer::Stop]
        } else {
            Vec::new()
        }
    }
}

/// Runs one share: builds it, says ready, waits for the common start, runs
/// it on this process's shards forwarding every snapshot, says done.
/// Returns the requests it completed.
#[allow(clippy::too_many_arguments)]
fn run_share(
    prepare: &Prepare,
    options: &WorkerOptions,
    threads: usize,
    sender: &Sender,
    inbox: &flume::Receiver<Result<Message, String>>,
    worker_id: u32,
    stop: &AtomicBool,
    test_stop: &AtomicBool,
    load_changes: &flume::Receiver<LoadChange>,
) -> Result<u64, WorkerError> {
    let refuse = |why: String| {
        // Said to the coordinator, which decides whether this worker stays.
        eprintln!("worker {worker_id}: cannot run the share: {why}");
        sender.send(&Message::Done {
            warnings: vec![format!("cannot run the share: {why}")],
        });
    };
    let (config, plan, notes) = match build(prepare, options, threads) {
        Ok(built) => built,
        Err(e) => {
            refuse(e);
            return Ok(0);
        }
    };
    for note in notes {
        eprintln!("worker {worker_id}: {note}");
    }
    sender.send(&Message::Ready);
    let deadline = Instant::now() + START_WAIT_MAX;
    let after_ms = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match inbox.recv_timeout(left) {
            Ok(Ok(Message::Start { after_ms })) => break after_ms,
            Ok(Ok(_)) => {}
            Ok(Err(reason)) => return Err(WorkerError::Lost(reason)),
            Err(_) => return Err(WorkerError::Lost("no start within 60 s".into())),
        }
    };
    match start_delay(after_ms) {
        Ok(delay) => std::thread::sleep(delay),
        Err(why) => {
            refuse(why);
            return Ok(0);
        }
    }

    let source_base = worker_id << crate::stats::SOURCE_PROCESS_SHIFT;
    let mut forward = |snapshot: &stampede_proto::Snapshot| {
        let mut snapshot = snapshot.clone();
        snapshot.source |= source_base;
        // This process's peak memory, for the coordinator's per-process figures.
        snapshot.max_rss_kb = crate::sys::process_usage().max_rss_kb;
        sender.send(&Message::Snapshot(Box::new(snapshot)));
    };
    let mut source = match LocalSource::start(&config, plan) {
        Ok(source) => source,
        Err(e) => {
            // This test goes on without this worker's share; the next may run.
            eprintln!("worker {worker_id}: cannot start the share: {e}");
            sender.send(&Message::Done {
                warnings: vec![format!("cannot start the share: {e}")],
            });
            return Ok(0);
        }
    };
    let mut coordinator_stop = CoordinatorStop(test_stop);
    let mut hooks = RunHooks {
        stop,
        changes: Some(load_changes),
        progress: &mut |_, _, _| {},
        on_snapshot: &mut forward,
        observer: Some(&mut coordinator_stop),
    };
    let outcome = control::drive(&config, &mut source, &mut hooks);
    sender.send(&Message::Done {
        warnings: outcome.warnings.clone(),
    });
    Ok(outcome.aggregator.total().requests)
}

/// How long a worker's last messages may take to leave when it ends.
const LAST_WORDS_MAX: Duration = Duration::from_secs(5);
/// How long a worker waits for the start after saying ready.
const START_WAIT_MAX: Duration = Duration::from_secs(60);
/// The longest start delay a worker accepts (the coordinator asks 300 ms).
const START_DELAY_MAX: Duration = Duration::from_secs(10);
/// Settings that name how this worker trusts TLS servers and which files it
/// reads for that: its own, unless it accepts the coordinator's.
const TLS_KEYS: &[&str] = &["insecure", "cacert", "cert", "key"];

/// The wait a start message asks for, if it is a sane one: relative to its
/// arrival, so no clock has to agree, and never past [`START_DELAY_MAX`].
fn start_delay(after_ms: u64) -> Result<Duration, String> {
    let delay = Duration::from_millis(after_ms);
    if delay > START_DELAY_MAX {
        return Err(format!(
            "a start {after_ms} ms away (at most {} ms)",
            START_DELAY_MAX.as_millis()
        ));
    }
    Ok(delay)
}

/// Builds the run from the coordinator's share; also returns what the
/// worker should say about it (TLS settings taken or ignored).
fn build(
    prepare: &Prepare,
    options: &WorkerOptions,
    threads: usize,
) -> Result<(RunConfig, Plan, Vec<String>), String> {
    let mut settings = Settings::default();
    let mut ignored = Vec::new();
    for (key, value) in &prepare.settings {
        if TLS_KEYS.contains(&key.as_str()) && !options.accept_coordinator_tls {
            ignored.push(format!("--{key}"));
            continue;
        }
        if let Some(key) = crate::config::known_key(key) {
            settings.flag(key, value.clone());
        }
    }
    for (key, value) in &options.tls {
        settings.flag(key, value.clone());
    }
    let mut notes = Vec::new();
    if !ignored.is_empty() {
        notes.push(format!(
            "ignoring the coordinator's {} (this worker's own TLS settings apply; \
             pass --accept-coordinator-tls to take the coordinator's)",
            ignored.join(", ")
        ));
    }
    if options.accept_coordinator_tls && crate::config::load::is_true(&settings, "insecure") {
        notes.push(
            "warning: the coordinator turned on --insecure: TLS certificates are NOT verified; \
             anyone on the path can impersonate the target"
                .into(),
        );
    }
    settings.flag("threads", threads.to_string());
    if let Some(driver) = &options.io_driver {
        settings.flag("io-driver", driver.clone());
    }
    settings.flag("quiet", "true");
    let scenario = match &prepare.scenario {
        Some((name, text)) => {
            let rows = prepare
                .feeders
                .iter()
                .map(|f| (f.name.clone(), (f.columns.clone(), f.rows.clone())))
                .collect();
            let doc = ScenarioDoc::parse_str(std::path::Path::new(name), text.clone())
                .map_err(|e| e.to_string())?;
            Some(doc.with_feeder_rows(rows))
        }
        None => None,
    };
    // `${env.NAME}` are the coordinator's values, never this process's.
    let (config, mut plan) = with_given_env(&prepare.env, || {
        let config = RunConfig::from_settings(&settings, threads).map_err(|e| e.to_string())?;
        let plan = match &scenario {
            Some(doc) => doc
                .compile_with(&config.target, config.request_options())
                .map_err(|e| e.to_string())?,
            None => Plan::single_request(&config),
        };
        Ok::<_, String>((config, plan))
    })?;
    if let Some(weights) = settings.get("class-weights") {
        plan.reweight(&weights.value)?;
    }
    for (name, value) in &prepare.setup_values {
        if let Some(slot) = plan.var_names.iter().position(|n| n == name) {
            plan.initial_vars[slot] = Some(value.clone());
        }
    }
    // Setup ran once, on the coordinator.
    plan.setup.clear();
    plan.user_base = prepare.user_base;
    Ok((config, plan, notes))
}

/// How often a worker that cannot reach its coordinator says so again.
const CONNECT_REPORT_EVERY: Duration = Duration::from_secs(10);

/// Connects, retrying until the timeout (workers may start first); says so
/// at the first failure and every `CONNECT_REPORT_EVERY` after.
fn connect(options: &WorkerOptions, stop: &AtomicBool) -> Result<TcpStream, WorkerError> {
    let deadline = Instant::now() + options.connect_timeout;
    let mut next_report = Instant::now();
    loop {
        if options.token.is_none() {
            // The name may resolve elsewhere now than when the options were read.
            crate::config::load::check_loopback(&options.coordinator)
                .map_err(WorkerError::Insecure)?;
        }
        match TcpStream::connect(&options.coordinator) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) if Instant::now() >= deadline || stop.load(Ordering::Relaxed) => {
                return Err(WorkerError::Connect(
                    options.coordinator.clone(),
                    e.to_string(),
                ))
            }
            Err(e) => {
                if Instant::now() >= next_report {
                    next_report = Instant::now() + CONNECT_REPORT_EVERY;
                    let left = deadline.saturating_duration_since(Instant::now());
                    eprintln!(
                        "worker: cannot reach the coordinator at {} ({e}); retrying for {:.0} s more",
                        options.coordinator,
                        left.as_secs_f64()
                    );
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "unknown".into(), |h| h.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A start is relative and bounded: what the coordinator asks (300 ms)
    /// is kept, whatever the clocks say; a start hours or ages away
    /// (u64::MAX) is refused instead of slept through.
    #[test]
    fn start_delays_are_relative_and_bounded() {
        assert_eq!(start_delay(300), Ok(Duration::from_millis(300)));
        assert_eq!(start_delay(10_000), Ok(Duration::from_secs(10)));
        for far in [10_001, 3_600_000, u64::MAX] {
            assert!(start_delay(far).unwrap_err().contains("at most 10000 ms"));
        }
    }
}
