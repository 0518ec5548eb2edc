//! `--max-rps K`: a server that serves at most K requests per second and
//! queues the rest, so its latency climbs like a saturated server's instead of
//! failing fast. It gives tests a target whose capacity is known exactly.
//!
//! The queue is virtual: one shared atomic holds the time (nanoseconds since
//! the limiter was made) at which the next request may be served. A request
//! reserves the slot `max(now, next)` and moves `next` one service interval
//! (1/K s) on; its connection then waits until that slot before answering.
//! Requests are served first come, first served at exactly K per second, and
//! nothing is ever refused. The arithmetic is the pure [`reserve`]; this module
//! leaves the waiting to `conn`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The highest `--max-rps` accepted.
pub const MAX_RPS_LIMIT: u64 = 100_000_000;

/// A shared first-come, first-served service schedule at a fixed rate.
#[derive(Debug)]
pub struct Limiter {
    /// When the limiter was made; slot times count from here.
    epoch: Instant,
    /// Time between two served requests, in nanoseconds (1e9 / K).
    interval_ns: u64,
    /// The earliest time the next request may be served, ns since `epoch`.
    next_ns: AtomicU64,
}

impl Limiter {
    /// A limiter serving at most `max_rps` requests per second (at least 1).
    pub fn new(max_rps: u64) -> Self {
        Limiter {
            epoch: Instant::now(),
            interval_ns: 1_000_000_000 / max_rps.clamp(1, MAX_RPS_LIMIT),
            next_ns: AtomicU64::new(0),
        }
    }

    /// Reserves the next service slot; returns how long the caller must wait
    /// for it (zero when the server is idle).
    pub fn admit(&self) -> Duration {
        let now_ns = self.epoch.elapsed().as_nanos() as u64;
        let mut next_ns = self.next_ns.load(Ordering::Relaxed);
        loop {
            let (slot_ns, after_ns) = reserve(next_ns, now_ns, self.interval_ns);
            match self.next_ns.compare_exchange_weak(
                next_ns,
                after_ns,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Duration::from_nanos(slot_ns - now_ns),
                Err(current) => next_ns = current,
            }
        }
    }
}

/// The slot a request arriving at `now_ns` gets when the next free slot is
/// `next_ns`, and the next free slot after it: `(max(now, next), that + interval)`.
pub fn reserve(next_ns: u64, now_ns: u64, interval_ns: u64) -> (u64, u64) {
    let slot_ns = next_ns.max(now_ns);
    (slot_ns, slot_ns.saturating_add(interval_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle server serves at once; a busy one queues each request one interval later.
    #[test]
    fn reserve_table() {
        /// (next, now, interval), the arguments of `reserve`.
        type Args = (u64, u64, u64);
        // (next, now, interval) -> (slot, next after)
        let cases: &[(Args, (u64, u64))] = &[
            ((0, 0, 500), (0, 500)),
            ((0, 1_000, 500), (1_000, 1_500)),
            ((1_500, 1_000, 500), (1_500, 2_000)),
            ((2_000, 1_000, 500), (2_000, 2_500)),
            ((u64::MAX - 1, 0, 500), (u64::MAX - 1, u64::MAX)),
        ];
        for &((next, now, interval), want) in cases {
            assert_eq!(reserve(next, now, interval), want, "next={next} now={now}");
        }
    }

    /// A burst of 5 requests at 1000/s waits 0, 1, 2, 3, 4 ms.
    #[test]
    fn a_burst_queues_one_interval_apart() {
        let limiter = Limiter::new(1_000);
        let waits: Vec<Duration> = (0..5).map(|_| limiter.admit()).collect();
        assert!(waits[0] <= Duration::from_micros(100), "{waits:?}");
        for pair in waits.windows(2) {
            let step = pair[1].saturating_sub(pair[0]);
            assert!(
                step <= Duration::from_millis(1) && step >= Duration::from_micros(800),
                "{waits:?}"
            );
        }
    }
}
