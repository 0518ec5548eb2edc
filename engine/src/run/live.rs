//! Live load: what the users or the rate should be right now, and the
//! commands that tell the shards. It combines the configured load (fixed,
//! ramped with `--spawn-rate`, or shaped by stages) with the adjustments made
//! from the console keys, and sends `SetUsers` / `SetRate` only on change.
//!
//! The arithmetic is pure (`shape`, `pace`, [`apply_key`]); the control actor
//! calls [`LiveLoad::tick`] with the time it read. [`KeyReader`] reads single
//! key presses from a terminal; it is the only terminal code here.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::Duration;

use flume::{Receiver, Sender};

use crate::config::{Load, RunConfig};
use crate::run::pace;
use crate::run::shape::{self, Anchor, Stage};
use crate::shard::Command;

/// Most users the console keys may ask for.
const KEY_USERS_MAX: i64 = 10_000_000;
/// How much `+` and `-` change the rate (a factor).
const RATE_KEY_FACTOR: f64 = 1.1;
/// A rate change smaller than this fraction is not sent to the shards.
const RATE_EPSILON: f64 = 1e-6;

/// A change of load while running: a console key, or a new absolute load
/// (a coordinator's set-load).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadChange {
    /// A key press, see [`apply_key`].
    Key(u8),
    /// From now on run exactly this many users, or this rate.
    Set {
        /// Users (closed loop).
        users: Option<u32>,
        /// Rate per second (open loop).
        rate_per_s: Option<f64>,
    },
}

/// What the console keys have changed, on top of the configured load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adjust {
    /// Users added (negative: removed).
    pub users_delta: i64,
    /// Factor the rate is multiplied by.
    pub rate_factor: f64,
}

impl Default for Adjust {
    fn default() -> Self {
        Adjust {
            users_delta: 0,
            rate_factor: 1.0,
        }
    }
}

/// Applies one key press, Locust's keys: `w`/`W` add 1/10 users, `s`/`S`
/// remove 1/10; `+`/`-` raise or lower the rate by 10%. Returns `None` for a
/// key that means nothing (or nothing in this load model).
pub fn apply_key(key: u8, adjust: Adjust, open_loop: bool) -> Option<Adjust> {
    let users = |delta: i64| Adjust {
        users_delta: (adjust.users_delta + delta).clamp(-KEY_USERS_MAX, KEY_USERS_MAX),
        ..adjust
    };
    let rate = |factor: f64| Adjust {
        rate_factor: (adjust.rate_factor * factor).clamp(1e-6, 1e6),
        ..adjust
    };
    match (key, open_loop) {
        (b'w', false) => Some(users(1)),
        (b'W', false) => Some(users(10)),
        (b's', false) => Some(users(-1)),
        (b'S', false) => Some(users(-10)),
        (b'+' | b'=', true) => Some(rate(RATE_KEY_FACTOR)),
        (b'-' | b'_', true) => Some(rate(1.0 / RATE_KEY_FACTOR)),
        _ => None,
    }
}

/// Users wanted `elapsed` into the run: the shape's (or the ramp's) plus the keys'.
pub fn users_wanted(load: &Load, stages: &[Stage], adjust: Adjust, elapsed: Duration) -> u32 {
    let base = match load {
        _ if !stages.is_empty() => shape::users_for(shape::target_at(stages, elapsed)),
        Load::Closed {
            users,
            spawn_rate_per_s,
        } => pace::users_due(elapsed, *spawn_rate_per_s, *users),
        Load::Open { .. } => 0,
    };
    (i64::from(base) + adjust.users_delta).clamp(0, i64::from(u32::MAX)) as u32
}

/// The rate wanted `elapsed` into the run: the shape's (or the fixed one) times the keys' factor.
pub fn rate_wanted(load: &Load, stages: &[Stage], adjust: Adjust, elapsed: Duration) -> f64 {
    let base = match load {
        _ if !stages.is_empty() => shape::target_at(stages, elapsed),
        Load::Open { rate_per_s, .. } => *rate_per_s,
        Load::Closed { .. } => 0.0,
    };
    base * adjust.rate_factor
}

/// The rate the shards start at.
pub fn initial_rate(config: &RunConfig) -> f64 {
    rate_wanted(
        &config.load,
        &config.stages,
        Adjust::default(),
        Duration::ZERO,
    )
}

/// The control actor's view of the live load.
pub struct LiveLoad {
    /// The configured load model.
    load: Load,
    /// The configured shape; empty for none.
    stages: Vec<Stage>,
    /// The console keys' changes so far.
    adjust: Adjust,
    /// Users last sent to the shards (closed loop).
    users_sent: u32,
    /// The schedule last sent to the shards (open loop).
    anchor: Anchor,
    /// Whether any live change (key, API, set-load) was applied.
    changed: bool,
}

impl LiveLoad {
    /// The live load of a run about to start.
    pub fn new(config: &RunConfig) -> Self {
        LiveLoad {
            load: config.load.clone(),
            stages: config.stages.clone(),
            adjust: Adjust::default(),
            users_sent: 0,
            anchor: Anchor::start(initial_rate(config)),
            changed: false,
        }
    }

    /// Applies a change; returns a line saying what changed, if anything did.
    pub fn change(&mut self, change: LoadChange, elapsed: Duration) -> Option<String> {
        let said = match change {
            LoadChange::Key(key) => self.key(key, elapsed),
            LoadChange::Set { users, rate_per_s } => self.set(users, rate_per_s),
        };
        self.changed |= said.is_some();
        said
    }

    /// True once any live change was applied (a coordinator then steers its workers).
    pub fn changed(&self) -> bool {
        self.changed
    }

    /// True for an open-loop (rate) run.
    pub fn open_loop(&self) -> bool {
        matches!(self.load, Load::Open { .. })
    }

    /// Replaces the load by a fixed one from now on (the shape and the keys'
    /// changes end): `users` in closed loop, `rate_per_s` in open loop.
    pub fn set(&mut self, users: Option<u32>, rate_per_s: Option<f64>) -> Option<String> {
        self.stages.clear();
        self.adjust = Adjust::default();
        match (&mut self.load, users, rate_per_s) {
            (
                Load::Closed {
                    users: configured,
                    spawn_rate_per_s,
                },
                Some(users),
                _,
            ) => {
                *configured = users;
                *spawn_rate_per_s = None;
                Some(format!("users set to {users}"))
            }
            (
                Load::Open {
                    rate_per_s: configured,
                    ..
                },
                _,
                Some(rate),
            ) if rate > 0.0 => {
                *configured = rate;
                Some(format!("rate set to {rate:.1}/s"))
            }
            _ => None,
        }
    }

    /// What the load should be `elapsed` into the run: (users, rate).
    pub fn wanted(&self, elapsed: Duration) -> (u32, f64) {
        (
            users_wanted(&self.load, &self.stages, self.adjust, elapsed),
            rate_wanted(&self.load, &self.stages, self.adjust, elapsed),
        )
    }

    /// Applies a key press; returns a line saying what changed, if anything did.
    pub fn key(&mut self, key: u8, elapsed: Duration) -> Option<String> {
        let open_loop = matches!(self.load, Load::Open { .. });
        self.adjust = apply_key(key, self.adjust, open_loop)?;
        Some(if open_loop {
            format!(
                "rate now {:.1}/s",
                rate_wanted(&self.load, &self.stages, self.adjust, elapsed)
            )
        } else {
            format!(
                "users now {}",
                users_wanted(&self.load, &self.stages, self.adjust, elapsed)
            )
        })
    }

    /// Sends the shards what changed since the last tick: their share of
    /// the users, or a re-anchored schedule for a new rate.
    pub fn tick(&mut self, elapsed: Duration, shards: &[Sender<Command>]) {
        match self.load {
            Load::Closed { .. } => {
                let users = users_wanted(&self.load, &self.stages, self.adjust, elapsed);
                if users != self.users_sent {
                    for (index, shard) in shards.iter().enumerate() {
                        let share = pace::share(u64::from(users), shards.len(), index) as u32;
                        let _ = shard.send(Command::SetUsers(share));
                    }
                    self.users_sent = users;
                }
            }
            Load::Open { .. } => {
                let rate = rate_wanted(&self.load, &self.stages, self.adjust, elapsed);
                let old = self.anchor.rate_per_s;
                if (rate - old).abs() > RATE_EPSILON * old.max(1.0) {
                    self.anchor = self.anchor.reanchor(elapsed, rate);
                    for shard in shards {
                        let _ = shard.send(Command::SetRate(self.anchor));
                    }
                }
            }
        }
    }
}

/// The terminal mode to restore while keys are read raw, for a second
/// Ctrl-C that exits at once (the signal handler reads it; null otherwise).
static SAVED_TERMINAL: AtomicPtr<libc::termios> = AtomicPtr::new(std::ptr::null_mut());

/// Puts the terminal back as it was before keys were read raw, if they
/// are. Async-signal-safe (an atomic load and `tcsetattr`): for the signal
/// handler of a second Ctrl-C, which exits without running destructors.
pub fn restore_terminal_from_signal() {
    let saved = SAVED_TERMINAL.load(Ordering::Acquire);
    if !saved.is_null() {
        // SAFETY: a non-null pointer is a leaked termios that `KeyReader`
        // set and never frees.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, saved) };
    }
}

/// Reads single key presses from the terminal on a thread; restores the
/// terminal's mode when dropped.
pub struct KeyReader {
    /// Key presses, one byte each.
    pub keys: Receiver<LoadChange>,
    /// The terminal mode to restore.
    saved: libc::termios,
}

impl KeyReader {
    /// Starts reading keys when stdin and stdout are both terminals; `None` otherwise.
    pub fn start() -> Option<KeyReader> {
        use std::io::IsTerminal;
        if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
            return None;
        }
        // SAFETY: termios is plain data; tcgetattr fills it for fd 0, a terminal.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        // Keys arrive one by one and are not echoed; Ctrl-C still signals (ISIG stays).
        raw.c_lflag &= !(libc::ICANON | libc::ECHO);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: sets fd 0's mode from a termios value we own.
        if unsafe { libc::tcsetattr(0, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        let (tx, keys) = flume::unbounded();
        let spawned = std::thread::Builder::new()
            .name("stampede-keys".into())
            .spawn(move || loop {
                let mut byte = 0u8;
                // SAFETY: reads at most one byte into a local we own.
                let n = unsafe { libc::read(0, (&mut byte as *mut u8).cast(), 1) };
                if n != 1 || tx.send(LoadChange::Key(byte)).is_err() {
                    return;
                }
            });
        let reader = KeyReader { keys, saved };
        SAVED_TERMINAL.store(Box::into_raw(Box::new(saved)), Ordering::Release);
        spawned.ok().map(|_| reader)
    }
}

impl Drop for KeyReader {
    fn drop(&mut self) {
        // SAFETY: restores fd 0's mode to what it was before `start`.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.saved) };
        // The termios is never freed: a signal handler on another thread may
        // have loaded the pointer just before this swap (a few dozen bytes,
        // once per run that reads keys).
        SAVED_TERMINAL.swap(std::ptr::null_mut(), Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys change users in closed loop and the rate in open loop, nothing else.
    #[test]
    fn apply_key_table() {
        let none = Adjust::default();
        let users = |d| {
            Some(Adjust {
                users_delta: d,
                rate_factor: 1.0,
            })
        };
        let cases: &[(u8, bool, Option<Adjust>)] = &[
            (b'w', false, users(1)),
            (b'W', false, users(10)),
            (b's', false, users(-1)),
            (b'S', false, users(-10)),
            (b'w', true, None),
            (b'+', false, None),
            (b'x', false, None),
            (b'q', true, None),
        ];
        for &(key, open, want) in cases {
            assert_eq!(apply_key(key, none, open), want, "key {}", key as char);
        }
        let up = apply_key(b'+', none, true).unwrap();
        assert!((up.rate_factor - 1.1).abs() < 1e-12);
        let back = apply_key(b'-', up, true).unwrap();
        assert!((back.rate_factor - 1.0).abs() < 1e-12);
    }

    /// Wanted users follow the ramp or the shape plus the keys, never below 0.
    #[test]
    fn users_wanted_table() {
        let ramp = Load::Closed {
            users: 10,
            spawn_rate_per_s: Some(2.0),
        };
        let fixed = Load::Closed {
            users: 10,
            spawn_rate_per_s: None,
        };
        let stages = shape::parse_stages("10s:20").unwrap();
        let s = Duration::from_secs;
        let keys = |d| Adjust {
            users_delta: d,
            rate_factor: 1.0,
        };
        let cases: &[(&Load, &[Stage], i64, Duration, u32)] = &[
            (&fixed, &[], 0, s(0), 10),
            (&ramp, &[], 0, s(2), 5),
            (&ramp, &[], 10, s(99), 20),
            (&fixed, &[], -15, s(1), 0),
            (&fixed, &stages, 0, s(5), 10),
            (&fixed, &stages, 3, s(10), 23),
        ];
        for &(load, stages, delta, elapsed, want) in cases {
            assert_eq!(
                users_wanted(load, stages, keys(delta), elapsed),
                want,
                "{load:?} {delta} {elapsed:?}"
            );
        }
    }

    /// A rate change re-anchors every shard's schedule; no change sends nothing.
    #[test]
    fn tick_sends_only_changes() {
        let mut live = LiveLoad {
            load: Load::Open {
                rate_per_s: 100.0,
                max_in_flight: 10,
            },
            stages: Vec::new(),
            adjust: Adjust::default(),
            users_sent: 0,
            anchor: Anchor::start(100.0),
            changed: false,
        };
        let (tx, rx) = flume::unbounded();
        live.tick(Duration::from_secs(1), &[tx.clone()]);
        assert!(rx.try_recv().is_err());
        live.key(b'+', Duration::from_secs(1));
        live.tick(Duration::from_secs(1), &[tx]);
        match rx.try_recv() {
            Ok(Command::SetRate(anchor)) => {
                assert_eq!((anchor.index, anchor.at), (100, Duration::from_secs(1)));
                assert!((anchor.rate_per_s - 110.0).abs() < 1e-9);
            }
            other => panic!("{other:?}"),
        }
    }
}
