//! What `/metrics` costs the run loop: the metric families are built once a
//! second from the aggregator (and rendered per scrape). This merges
//! ENDPOINTS endpoints' worth of realistic per-second snapshots from SHARDS
//! shards for SECONDS seconds, then times building the families and
//! rendering them, and prints the share of one core that costs at 1 Hz.
//!
//! Usage: metrics_cost [ENDPOINTS=100] [SECONDS=600] [SHARDS=2] [ROUNDS=200]

use std::time::Instant;

use stampede_engine::stats::{new_latency_histogram, Aggregator};
use stampede_engine::web::metrics::{self, Format, MetricsConfig, MetricsInput};
use stampede_proto::{
    EndpointSnapshot, FailureCount, FailureKind, HistogramBuckets, Snapshot, SNAPSHOT_VERSION,
};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("whole numbers"))
        .collect();
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let (endpoints, seconds, shards, rounds) = (arg(0, 100), arg(1, 600), arg(2, 2), arg(3, 200));
    let config = MetricsConfig::default();
    let mut aggregator = Aggregator::new();
    // As the run loop does when something exports metrics.
    aggregator.set_metric_bounds(
        config
            .buckets_s
            .iter()
            .map(|&b| (b * 1e6).round() as u64)
            .collect(),
    );
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for interval in 1..=seconds as u32 {
        for source in 0..shards as u32 {
            let snapshot = snapshot(source, interval, endpoints, &mut seed);
            aggregator.merge(&snapshot).expect("merge");
        }
    }
    let busy: Vec<(String, f64)> = (0..shards).map(|s| (format!("shard {s}"), 0.5)).collect();
    let input = MetricsInput {
        run_id: "bench",
        scenario: "-",
        state: "running",
        users: Some(100),
        rate_per_s: None,
        busy: &busy,
        workers: &[],
        elapsed_s: seconds as f64,
        saturated: false,
    };
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..rounds {
        let families = metrics::families(&aggregator, &input, &config);
        bytes = metrics::render(&families, Format::Prometheus).len();
    }
    let per_round_ms = started.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
    println!(
        "{endpoints} endpoints, {seconds} s merged from {shards} shards: families + render {per_round_ms:.3} ms \
         ({bytes} bytes of text) = {:.3}% of one core at 1 Hz",
        per_round_ms / 10.0
    );
}

/// One shard's second: a few hundred requests per endpoint, a 1% status failure.
fn snapshot(source: u32, interval: u32, endpoints: usize, seed: &mut u64) -> Snapshot {
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    };
    let endpoints = (0..endpoints)
        .map(|e| {
            let mut latency = new_latency_histogram();
            let requests = 200 + next() % 200;
            for _ in 0..requests {
                latency.saturating_record(200 + next() % 20_000);
            }
            let buckets = HistogramBuckets::encode(&latency).expect("encode");
            EndpointSnapshot {
                method: "GET".into(),
                name: format!("/api/endpoint/{e}"),
                requests,
                failures: vec![FailureCount {
                    kind: FailureKind::Status,
                    message: "status 500".into(),
                    count: requests / 100,
                }],
                bytes_received: requests * 512,
                body_bytes: 0,
                body_bytes_sent: 0,
                decoded_bytes: 0,
                redirects: 0,
                samples: Vec::new(),
                latency_us: buckets.clone(),
                service_us: None,
                ttfb_us: buckets,
            }
        })
        .collect();
    Snapshot {
        version: SNAPSHOT_VERSION,
        source,
        interval,
        elapsed_ms: u64::from(interval) * 1000,
        users: 50,
        dropped: 0,
        cpu_us: 500_000,
        is_final: false,
        endpoints,
        wall_us: 1_000_000,
        wait_us: 0,
        sched_lag_us: HistogramBuckets::default(),
        connect_us: HistogramBuckets::default(),
        tls_handshake_us: HistogramBuckets::default(),
        addresses: Vec::new(),
        open_connections: 50,
        max_rss_kb: 0,
    }
}
