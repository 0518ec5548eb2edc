//! The server's own record of its service times, kept when it runs with
//! `--delay`: for every counted request, the time from its head being parsed
//! to its response being written, and the delay `delay` drew for it. This
//! is the truth a load generator's latency percentiles are compared with.
//! Each shard records into its own HDR histograms (microseconds, 3
//! significant figures: within 0.1%, about 20 us at 20 ms) behind its own
//! lock, so shards never contend; `/__stats` merges them exactly. Deciding
//! what is timed is `conn`'s business, rendering the JSON `stats`'.

use std::sync::{Mutex, MutexGuard};

use hdrhistogram::Histogram;

use crate::delay::Delay;

/// The longest service time recorded as itself (one hour); longer ones are
/// recorded as this.
const SERVICE_US_MAX: u64 = 3_600_000_000;

/// Significant figures kept by the histograms.
const SIGFIG: u8 = 3;

/// One shard's histograms, on cache lines of their own.
#[derive(Debug)]
#[repr(align(128))]
struct Slot(Mutex<Pair>);

/// What a slot's lock guards.
#[derive(Debug, Clone)]
struct Pair {
    /// Head parsed to response written, in microseconds.
    served: Histogram<u64>,
    /// The delays drawn, in microseconds.
    drawn: Histogram<u64>,
}

impl Pair {
    fn new() -> Self {
        let histogram = || {
            // The bounds are constants that hdrhistogram accepts.
            Histogram::new_with_bounds(1, SERVICE_US_MAX, SIGFIG).expect("valid bounds")
        };
        Pair {
            served: histogram(),
            drawn: histogram(),
        }
    }
}

/// The service times of every shard, or nothing when the server has no delay.
#[derive(Debug, Default)]
pub struct ServiceTimes {
    /// `--delay`: what is drawn; `None` when requests are not timed.
    delay: Option<Delay>,
    /// One per shard; empty when `delay` is `None`.
    slots: Box<[Slot]>,
}

/// The merged percentiles of one histogram, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// Values recorded.
    pub count: u64,
    /// The smallest value.
    pub min_us: u64,
    /// The arithmetic mean.
    pub mean_us: f64,
    /// The median.
    pub p50_us: u64,
    /// The 90th percentile.
    pub p90_us: u64,
    /// The 95th percentile.
    pub p95_us: u64,
    /// The 99th percentile.
    pub p99_us: u64,
    /// The 99.9th percentile.
    pub p999_us: u64,
    /// The largest value.
    pub max_us: u64,
}

impl Summary {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            min_us: h.min(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p95_us: h.value_at_quantile(0.95),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

/// All shards' service times at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServiceSnapshot {
    /// The distribution the delays were drawn from.
    pub delay: Delay,
    /// Head parsed to response written.
    pub served: Summary,
    /// The delays drawn.
    pub drawn: Summary,
}

impl ServiceTimes {
    /// Service times for `shards` shards, recorded only when `delay` is set.
    pub fn new(shards: usize, delay: Option<Delay>) -> Self {
        let slots = match delay {
            Some(_) => (0..shards.max(1))
                .map(|_| Slot(Mutex::new(Pair::new())))
                .collect(),
            None => Box::default(),
        };
        ServiceTimes { delay, slots }
    }

    /// The delay requests wait for, if any.
    pub fn delay(&self) -> Option<Delay> {
        self.delay
    }

    /// Records one request of shard `shard`: the delay drawn for it and the
    /// time it was served in, both in microseconds. Does nothing without a delay.
    pub fn record(&self, shard: usize, drawn_us: u64, served_us: u64) {
        if self.slots.is_empty() {
            return;
        }
        let mut pair = lock(&self.slots[shard % self.slots.len()]);
        pair.served.saturating_record(served_us);
        pair.drawn.saturating_record(drawn_us);
    }

    /// The merged summaries, or `None` without a delay.
    pub fn snapshot(&self) -> Option<ServiceSnapshot> {
        let delay = self.delay?;
        let mut merged = Pair::new();
        for slot in self.slots.iter() {
            let pair = lock(slot);
            // Same bounds on both sides, so adding cannot fail.
            let _ = merged.served.add(&pair.served);
            let _ = merged.drawn.add(&pair.drawn);
        }
        Some(ServiceSnapshot {
            delay,
            served: Summary::of(&merged.served),
            drawn: Summary::of(&merged.drawn),
        })
    }

    /// Forgets everything recorded.
    pub fn reset(&self) {
        for slot in self.slots.iter() {
            let mut pair = lock(slot);
            pair.served.reset();
            pair.drawn.reset();
        }
    }
}

/// Locks a slot; a shard that panicked while holding it left whole histograms.
fn lock(slot: &Slot) -> MutexGuard<'_, Pair> {
    slot.0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    //! Recording, merging across shards and resetting, with percentiles
    //! exact to well under a millisecond.
    use super::*;

    #[test]
    fn nothing_is_kept_without_a_delay() {
        let times = ServiceTimes::new(4, None);
        times.record(0, 20_000, 20_100);
        assert_eq!(times.snapshot(), None);
        assert_eq!(ServiceTimes::default().snapshot(), None);
    }

    #[test]
    fn shards_merge_into_exact_percentiles() {
        let delay = Delay::Fixed { us: 20_000 };
        let times = ServiceTimes::new(2, Some(delay));
        // 1..=1000 ms served over both shards (index 2 wraps to 0), each
        // drawn as 20 ms.
        for ms in 1..=1000u64 {
            times.record(ms as usize % 3, 20_000, ms * 1000);
        }
        let snap = times.snapshot().unwrap();
        assert_eq!(snap.delay, delay);
        let served = snap.served;
        assert_eq!(served.count, 1000);
        let close = |got: u64, want_ms: u64| got.abs_diff(want_ms * 1000) <= want_ms; // 0.1%
        for (got, want_ms) in [
            (served.min_us, 1),
            (served.p50_us, 500),
            (served.p90_us, 900),
            (served.p95_us, 950),
            (served.p99_us, 990),
            (served.p999_us, 999),
            (served.max_us, 1000),
        ] {
            assert!(close(got, want_ms), "got {got} us, want {want_ms} ms");
        }
        assert!(
            (served.mean_us - 500_500.0).abs() < 500.0,
            "{}",
            served.mean_us
        );
        let drawn = snap.drawn;
        assert_eq!((drawn.count, drawn.min_us), (1000, 20_000));
        assert!(close(drawn.p99_us, 20) && close(drawn.max_us, 20));
    }

    #[test]
    fn reset_forgets_and_huge_values_saturate() {
        let times = ServiceTimes::new(1, Some(Delay::Fixed { us: 1 }));
        times.record(0, 1, u64::MAX);
        let served = times.snapshot().unwrap().served;
        assert_eq!(served.count, 1);
        assert!(served.max_us >= SERVICE_US_MAX);
        times.reset();
        let snap = times.snapshot().unwrap();
        assert_eq!(
            (snap.served, snap.drawn),
            (Summary::default(), Summary::default())
        );
    }
}
