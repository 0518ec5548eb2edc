//! A shard: one pinned OS thread running its own monoio runtime, owning its
//! users, its HTTP client and connection pool, and its stats recorder.
//!
//! Nothing on the request path is shared with other shards. The control actor
//! talks to a shard only through flume channels: [`Command`]s down, polled by
//! the shard every few milliseconds (so no other thread ever wakes a shard's
//! tasks), and [`ShardEvent`]s up, one snapshot per second.

pub mod arrivals;
pub mod http_debug;
pub mod pipeline;
pub mod runtime;
pub mod user;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flume::{Receiver, Sender, TryRecvError};
use stampede_proto::Snapshot;

use crate::http::stream::ConnSettings;
use crate::http::{Client, Limits};
use crate::scenario::{feeder, Plan};
use crate::stats::recorder::{IntervalMark, Recorder};
use crate::sys;
use runtime::{DriverKind, IoDriver};

/// How often a shard looks for commands.
const COMMAND_POLL: Duration = Duration::from_millis(10);
/// Length of one stats interval.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// What the control actor tells a shard.
#[derive(Debug, Clone, Copy)]
pub enum Command {
    /// The run starts at `t0`: begin ticking and, in open loop, sending.
    Start {
        /// The common start instant of all shards.
        t0: Instant,
    },
    /// Start this many more users (closed loop).
    SpawnUsers(u32),
    /// Run this many users on the shard (closed loop): start more, or let
    /// the surplus leave after their current iteration.
    SetUsers(u32),
    /// Follow this open-loop schedule from now on (the rate changed).
    SetRate(crate::run::shape::Anchor),
    /// Stop gracefully: let in-flight requests finish, then report.
    Stop,
}

/// What a shard tells the control actor.
#[derive(Debug)]
pub enum ShardEvent {
    /// The runtime is up on this driver.
    Ready {
        /// Shard index.
        shard: usize,
        /// The driver it runs on.
        driver: DriverKind,
    },
    /// The shard could not start.
    Failed {
        /// Shard index.
        shard: usize,
        /// Why.
        error: String,
    },
    /// One interval of stats.
    Snapshot(Snapshot),
    /// The shard sent its final snapshot and is gone.
    Finished {
        /// Shard index.
        shard: usize,
        /// Connections it opened during the run.
        connections_opened: u64,
        /// Whether in-flight work was cut off by the stop timeout.
        cut_off: bool,
        /// Pauses its users took after failed connects (`--connect-backoff`).
        connect_backoffs: u64,
    },
}

/// The load one shard generates.
#[derive(Debug, Clone, Copy)]
pub enum ShardLoad {
    /// Users sent by [`Command::SpawnUsers`]; `budget` caps this shard's requests.
    Closed {
        /// This shard's share of `--iterations`.
        budget: Option<u64>,
    },
    /// This shard's slice of the global arrival schedule.
    Open {
        /// Global arrivals per second.
        rate_per_s: f64,
        /// Global arrival count to stop at (`--iterations`).
        total: Option<u64>,
        /// Offset from the start past which no arrival is issued (`--run-time`).
        end: Option<Duration>,
        /// This shard's in-flight cap.
        max_in_flight: u32,
    },
}

/// Everything a shard needs to start.
pub struct ShardSpec {
    /// Shard index.
    pub index: usize,
    /// Number of shards in the run.
    pub shards: usize,
    /// Core to pin to, if pinning is possible.
    pub core: Option<core_affinity::CoreId>,
    /// The compiled scenario, shared read-only.
    pub plan: Arc<Plan>,
    /// The load this shard generates.
    pub load: ShardLoad,
    /// I/O driver preference.
    pub io_driver: IoDriver,
    /// Connect and request timeout.
    pub timeout: Duration,
    /// How long in-flight requests may finish after a stop.
    pub stop_timeout: Duration,
    /// Response size limits.
    pub limits: Limits,
    /// TLS, source addresses and pipelining.
    pub conn: ConnSettings,
    /// Longest pause of a user after refused connects (`--connect-backoff`); zero: none.
    pub connect_backoff_max: Duration,
}

/// Starts a shard thread.
pub fn spawn(
    spec: ShardSpec,
    commands: Receiver<Command>,
    events: Sender<ShardEvent>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("stampede-shard-{}", spec.index))
        .spawn(move || {
            if let Some(core) = spec.core {
                core_affinity::set_for_current(core);
            }
            let index = spec.index;
            let driver = spec.io_driver;
            let failed = events.clone();
            let ran = runtime::block_on(driver, |kind| run(spec, kind, commands, events));
            if let Err(e) = ran {
                let _ = failed.send(ShardEvent::Failed {
                    shard: index,
                    error: e.to_string(),
                });
            }
        })
}

/// State of a running shard, shared by its tasks (never by other threads).
pub struct Shard {
    /// Shard index, the `source` of its snapshots.
    pub index: usize,
    /// Shards in the run (user numbers and feeder rows interleave by it).
    pub shards: usize,
    /// This shard's position in each feeder.
    feeder_cursors: RefCell<Vec<feeder::Cursor>>,
    /// The compiled scenario.
    pub plan: Arc<Plan>,
    /// HTTP client with this shard's connection pool.
    pub client: Client,
    /// Stats of the current interval.
    pub recorder: RefCell<Recorder>,
    /// The run's common start.
    pub t0: Instant,
    /// Set at stop: users and arrivals start nothing new.
    pub stopping: Cell<bool>,
    /// Users currently running.
    pub users_running: Cell<u32>,
    /// Users the shard should run (closed loop); surplus users leave.
    users_target: Cell<u32>,
    /// Users started and not yet told to leave.
    users_alive: Cell<u32>,
    /// The open-loop schedule now in force.
    pub rate_anchor: Cell<crate::run::shape::Anchor>,
    /// When the last snapshot was taken, for the interval's wall time.
    last_snapshot_at: Cell<Instant>,
    /// Open-loop requests in flight.
    pub in_flight: Cell<u32>,
    /// Set when the open-loop schedule has issued its last arrival.
    pub arrivals_done: Cell<bool>,
    /// Requests this shard may still start (closed loop with `--iterations`).
    budget: Cell<Option<u64>>,
    /// Set when a user stopped because this shard's share of a `unique`
    /// feeder (with `exhausted = "stop"`) ran out: once no user runs, the
    /// shard's work is done, as with a spent budget.
    pub rows_exhausted: Cell<bool>,
    /// Index of the interval the next snapshot closes.
    next_interval: Cell<u32>,
    /// Thread CPU time at the last snapshot.
    last_cpu_us: Cell<u64>,
    /// The thread's run-queue wait at the last snapshot (see `sys::thread_wait_us`).
    last_wait_us: Cell<u64>,
    /// Longest pause of a closed-loop user after a failed connect; zero: none.
    pub connect_backoff_max: Duration,
    /// Pauses users took after failed connects, over the run.
    pub connect_backoffs: Cell<u64>,
}

impl Shard {
    /// Takes a permit to start one request; false once the budget is spent.
    #[inline]
    pub fn take_permit(&self) -> bool {
        match self.budget.get() {
            None => true,
            Some(0) => false,
            Some(n) => {
                self.budget.set(Some(n - 1));
                true
            }
        }
    }

    /// Whether a closed-loop user may start another iteration; false tells
    /// one surplus user to leave (and counts it as gone) after a `SetUsers`.
    #[inline]
    pub fn user_stays(&self) -> bool {
        let alive = self.users_alive.get();
        if alive > self.users_target.get() {
            self.users_alive.set(alive - 1);
            return false;
        }
        true
    }

    /// The next feeder row for a user of this shard, if any is left.
    pub fn next_row(&self, feeder: usize, rng: &mut fastrand::Rng) -> Option<usize> {
        let mut cursors = self.feeder_cursors.borrow_mut();
        cursors[feeder].next_row(&self.plan.feeders[feeder], self.index, self.shards, rng)
    }

    /// True when no request is in progress.
    fn is_quiescent(&self) -> bool {
        self.users_running.get() == 0 && self.in_flight.get() == 0
    }

    /// Closes the current interval into a snapshot.
    fn snapshot(&self, is_final: bool) -> Option<Snapshot> {
        let cpu_us = sys::thread_cpu_us();
        let wait_us = sys::thread_wait_us();
        let now = Instant::now();
        let wall_us = now
            .saturating_duration_since(self.last_snapshot_at.replace(now))
            .as_micros() as u64;
        let mark = IntervalMark {
            source: self.index as u32,
            interval: self.next_interval.get(),
            elapsed_ms: self.t0.elapsed().as_millis() as u64,
            users: self.users_running.get() + self.in_flight.get(),
            cpu_us: cpu_us.saturating_sub(self.last_cpu_us.replace(cpu_us)),
            wall_us,
            wait_us: wait_us.saturating_sub(self.last_wait_us.replace(wait_us)),
            is_final,
        };
        self.next_interval.set(mark.interval + 1);
        let mut snapshot = self.recorder.borrow_mut().take_snapshot(mark).ok()?;
        let (connect_us, tls_handshake_us, addresses) =
            self.client.dial_stats().borrow_mut().take().ok()?;
        snapshot.connect_us = connect_us;
        snapshot.tls_handshake_us = tls_handshake_us;
        snapshot.addresses = addresses;
        let open = self.client.connections_open();
        snapshot.open_connections = u32::try_from(open).unwrap_or(u32::MAX);
        Some(snapshot)
    }
}

/// The shard's main task.
async fn run(
    spec: ShardSpec,
    driver: DriverKind,
    commands: Receiver<Command>,
    events: Sender<ShardEvent>,
) {
    let _ = events.send(ShardEvent::Ready {
        shard: spec.index,
        driver,
    });
    let t0 = loop {
        match commands.try_recv() {
            Ok(Command::Start { t0 }) => break t0,
            Ok(_) => {}
            Err(TryRecvError::Empty) => runtime::sleep(COMMAND_POLL).await,
            Err(TryRecvError::Disconnected) => return,
        }
    };
    let open_loop = matches!(spec.load, ShardLoad::Open { .. });
    let messages: Arc<[String]> = spec.plan.messages.clone().into();
    let shard = Rc::new(Shard {
        index: spec.index,
        shards: spec.shards,
        feeder_cursors: RefCell::new(vec![feeder::Cursor::default(); spec.plan.feeders.len()]),
        client: Client::new(
            spec.plan.origins.clone(),
            spec.conn.connector(spec.index),
            spec.limits,
            spec.timeout,
            spec.timeout,
        ),
        recorder: RefCell::new(Recorder::new(&spec.plan.endpoints, open_loop, messages)),
        plan: spec.plan,
        t0,
        stopping: Cell::new(false),
        users_running: Cell::new(0),
        users_target: Cell::new(0),
        users_alive: Cell::new(0),
        rate_anchor: Cell::new(crate::run::shape::Anchor::start(match spec.load {
            ShardLoad::Open { rate_per_s, .. } => rate_per_s,
            ShardLoad::Closed { .. } => 0.0,
        })),
        last_snapshot_at: Cell::new(t0),
        in_flight: Cell::new(0),
        arrivals_done: Cell::new(false),
        budget: Cell::new(match spec.load {
            ShardLoad::Closed { budget } => budget,
            ShardLoad::Open { .. } => None,
        }),
        rows_exhausted: Cell::new(false),
        next_interval: Cell::new(1),
        connect_backoff_max: spec.connect_backoff_max,
        connect_backoffs: Cell::new(0),
        last_cpu_us: Cell::new(sys::thread_cpu_us()),
        last_wait_us: Cell::new(sys::thread_wait_us()),
    });
    runtime::spawn(tick(shard.clone(), events.clone()));
    if let ShardLoad::Open {
        rate_per_s,
        total,
        end,
        max_in_flight,
    } = spec.load
    {
        let schedule = arrivals::Schedule {
            rate_per_s,
            total,
            end,
            shards: spec.shards,
            max_in_flight,
        };
        runtime::spawn(arrivals::run(shard.clone(), schedule));
    }
    let mut stop_deadline: Option<Instant> = None;
    let mut next_user = 0u64;
    loop {
        loop {
            match commands.try_recv() {
                Ok(Command::SpawnUsers(n)) if stop_deadline.is_none() => {
                    shard
                        .users_target
                        .set(shard.users_target.get().saturating_add(n));
                    spawn_users(&shard, &mut next_user);
                }
                Ok(Command::SetUsers(n)) if stop_deadline.is_none() => {
                    shard.users_target.set(n);
                    spawn_users(&shard, &mut next_user);
                }
                Ok(Command::SetRate(anchor)) => shard.rate_anchor.set(anchor),
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) if stop_deadline.is_none() => {
                    shard.stopping.set(true);
                    stop_deadline = Some(Instant::now() + spec.stop_timeout);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let work_done = match spec.load {
            ShardLoad::Closed { budget } => {
                budget.is_some() && shard.budget.get() == Some(0) || shard.rows_exhausted.get()
            }
            ShardLoad::Open { .. } => shard.arrivals_done.get(),
        };
        let cut_off = stop_deadline.is_some_and(|d| Instant::now() >= d);
        if (stop_deadline.is_some() || work_done) && shard.is_quiescent() || cut_off {
            shard.stopping.set(true);
            // Closed first, so the final snapshot counts only what stays open
            // (connections of requests cut off by the stop timeout).
            shard.client.close_idle();
            if cut_off {
                shard.recorder.borrow_mut().record_cut_offs();
            }
            if let Some(snapshot) = shard.snapshot(true) {
                let _ = events.send(ShardEvent::Snapshot(snapshot));
            }
            let _ = events.send(ShardEvent::Finished {
                shard: shard.index,
                connections_opened: shard.client.connections_opened(),
                cut_off: cut_off && !shard.is_quiescent(),
                connect_backoffs: shard.connect_backoffs.get(),
            });
            return;
        }
        runtime::sleep(COMMAND_POLL).await;
    }
}

/// Starts users until as many are alive as the shard's target.
fn spawn_users(shard: &Rc<Shard>, next_user: &mut u64) {
    while shard.users_alive.get() < shard.users_target.get() {
        shard.users_alive.set(shard.users_alive.get() + 1);
        runtime::spawn(user::run(shard.clone(), *next_user));
        *next_user += 1;
    }
}

/// Sends a snapshot at every interval boundary after `t0`.
async fn tick(shard: Rc<Shard>, events: Sender<ShardEvent>) {
    loop {
        let due = shard.t0 + INTERVAL * shard.next_interval.get();
        runtime::sleep_until(due).await;
        if let Some(snapshot) = shard.snapshot(false) {
            if events.send(ShardEvent::Snapshot(snapshot)).is_err() {
                return;
            }
        }
    }
}

/// Lets the shard's other tasks run once before continuing.
pub fn yield_now() -> impl Future<Output = ()> {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldNow(false)
}
