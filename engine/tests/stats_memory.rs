//! Issue 7 (endurance): the aggregator's memory stays nearly flat as a run
//! goes on, because seconds older than a few are compacted to their reported
//! numbers; kept whole, as before compaction, each second costs kilobytes.
//! Measured as live heap bytes by a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stampede_engine::stats::recorder::{IntervalMark, Recorder};
use stampede_engine::stats::Aggregator;

/// Tracks the bytes currently allocated in the process.
struct Counting;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: delegates to the system allocator; only adds a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Requests per simulated second, as in `bench/endurance.sh`.
const RATE_PER_S: u64 = 2_000;

/// Live heap bytes the aggregator gained per second between second `warm`
/// and second `last` of a one-shard run at [`RATE_PER_S`].
fn growth_per_s(warm: u32, last: u32, keep_exact: bool) -> f64 {
    let endpoints = [("GET".to_string(), "/".to_string())];
    let mut recorder = Recorder::new(&endpoints, true, Arc::from(Vec::new()));
    let mut agg = Aggregator::new();
    if keep_exact {
        agg.keep_exact_timeseries();
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut live_at_warm = 0;
    for t in 1..=last {
        for _ in 0..RATE_PER_S {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Mostly 0.5 to 2.5 ms, one request in a hundred up to 400 ms.
            let us = if seed % 100 == 0 {
                2_000 + seed % 400_000
            } else {
                500 + seed % 2_000
            };
            let latency = Duration::from_micros(us);
            recorder.record(0, 100, None, latency, latency, Some(latency));
        }
        let mark = IntervalMark {
            source: 0,
            interval: t,
            elapsed_ms: u64::from(t) * 1_000,
            users: 10,
            cpu_us: 100_000,
            wall_us: 1_000_000,
            wait_us: 0,
            is_final: false,
        };
        let snapshot = recorder.take_snapshot(mark).unwrap();
        agg.merge(&snapshot).unwrap();
        drop(snapshot);
        if t == warm {
            live_at_warm = LIVE_BYTES.load(Ordering::Relaxed);
        }
    }
    let grown = LIVE_BYTES.load(Ordering::Relaxed) - live_at_warm;
    drop(agg);
    grown as f64 / f64::from(last - warm)
}

/// Whole per-second histograms grow the heap by kilobytes a second (the cause
/// the endurance bench found); compacted, a second costs a few hundred bytes
/// once the chart's coarse histograms span 10 s (after 20 minutes), and
/// about a kilobyte before, while they span 2 s (at most 600 of them).
#[test]
fn stats_memory_per_second_is_small() {
    let exact = growth_per_s(60, 660, true);
    let early = growth_per_s(60, 660, false);
    let late = growth_per_s(1_300, 2_500, false);
    println!(
        "live heap growth: whole points {exact:.0} B/s; compacted {early:.0} B/s \
         (60-660 s), {late:.0} B/s (1300-2500 s)"
    );
    assert!(exact > 4_000.0, "whole points grew only {exact:.0} B/s");
    assert!(early < 1_500.0, "compacted points grew {early:.0} B/s");
    // About 290 B a second (the point and its users) plus the points vector's
    // doubling, which counts a whole new buffer when it happens.
    assert!(late < 1_000.0, "compacted points grew {late:.0} B/s");
}
