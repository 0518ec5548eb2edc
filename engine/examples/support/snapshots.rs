//! Realistic interval snapshots for the coordinator benchmarks
//! (`fake_workers`, `merge_cost`): E endpoints of about 1000 requests each,
//! whole HDR histograms of latency and time to first byte.

use stampede_engine::stats::new_latency_histogram;
use stampede_proto::{
    EndpointSnapshot, FailureCount, FailureKind, HistogramBuckets, Snapshot, SNAPSHOT_VERSION,
};

/// One interval's stats for `endpoints` endpoints, about 1000 requests each.
pub fn snapshot(source: u32, interval: u32, endpoints: usize, seed: u64) -> Snapshot {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let endpoints = (0..endpoints)
        .map(|e| {
            let (mut h, mut ttfb) = (new_latency_histogram(), new_latency_histogram());
            for _ in 0..1000 {
                // Latencies from 100 us to about 50 ms, skewed towards the fast end;
                // the first byte at three quarters of the latency.
                let v = 100 + (next() % 1000) * (next() % 50);
                h.saturating_record(v);
                ttfb.saturating_record(v * 3 / 4);
            }
            EndpointSnapshot {
                method: "GET".into(),
                name: format!("/api/endpoint/{e}"),
                requests: 1000,
                failures: vec![FailureCount {
                    kind: FailureKind::Status,
                    message: "HTTP 503".into(),
                    count: 3,
                }],
                bytes_received: 1000 * 700,
                body_bytes: 0,
                body_bytes_sent: 0,
                decoded_bytes: 0,
                redirects: 0,
                samples: Vec::new(),
                latency_us: HistogramBuckets::encode(&h).unwrap(),
                service_us: None,
                ttfb_us: HistogramBuckets::encode(&ttfb).unwrap(),
            }
        })
        .collect();
    Snapshot {
        version: SNAPSHOT_VERSION,
        source,
        interval,
        elapsed_ms: u64::from(interval) * 1000,
        users: 10,
        dropped: 0,
        cpu_us: 900_000,
        is_final: false,
        endpoints,
        wall_us: 1_000_000,
        wait_us: 0,
        sched_lag_us: HistogramBuckets::default(),
        connect_us: HistogramBuckets::default(),
        tls_handshake_us: HistogramBuckets::default(),
        addresses: vec![],
        open_connections: 0,
        max_rss_kb: 0,
    }
}
