//! What the aggregator costs per merged histogram bucket, without sockets,
//! decryption or threads: SOURCES snapshots of ENDPOINTS endpoints for each
//! of SECONDS intervals, made up front (as `fake_workers` sends them), then
//! merged BATCH at a time (`Aggregator::merge_batch`; 1 merges one by one).
//! BATCH 0 makes the snapshots and merges nothing, so under
//! `valgrind --tool=callgrind` the difference of two runs is the merge alone.
//!
//! Usage: merge_cost SOURCES ENDPOINTS SECONDS BATCH

use std::time::Instant;

use stampede_engine::stats::Aggregator;

#[path = "support/snapshots.rs"]
mod snapshots;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let [sources, endpoints, seconds, batch] = args[..] else {
        eprintln!("usage: merge_cost SOURCES ENDPOINTS SECONDS BATCH");
        std::process::exit(2);
    };
    let snapshots: Vec<_> = (1..=seconds as u32)
        .flat_map(|t| {
            (0..sources as u32).map(move |s| {
                snapshots::snapshot(s << 16, t, endpoints, u64::from(s) * 7919 + u64::from(t))
            })
        })
        .collect();
    let buckets: usize = snapshots
        .iter()
        .flat_map(|s| &s.endpoints)
        .map(|e| {
            [&e.latency_us, &e.ttfb_us]
                .iter()
                .map(|h| h.counts().unwrap().map_or(0, |c| c.pairs.len()))
                .sum::<usize>()
        })
        .sum();
    if batch == 0 {
        println!("made {} snapshots, {buckets} buckets", snapshots.len());
        return;
    }
    let mut aggregator = Aggregator::new();
    let started = Instant::now();
    for chunk in snapshots.chunks(batch) {
        let chunk: Vec<_> = chunk.iter().collect();
        for result in aggregator.merge_batch(&chunk) {
            result.expect("merged");
        }
    }
    let spent = started.elapsed();
    let total = aggregator.total();
    assert_eq!(
        total.requests,
        (sources * endpoints * seconds * 1000) as u64
    );
    println!(
        "merged {} snapshots, {buckets} buckets in {:.1} ms: {:.1} ns per bucket",
        snapshots.len(),
        spent.as_secs_f64() * 1e3,
        spent.as_nanos() as f64 / buckets as f64
    );
}
