//! `--save-run` spools a run's snapshots to disk as they are merged: a
//! day's worth of synthetic snapshots (one a second for 24 hours, several
//! endpoints each) leaves the heap where it started, and the run file
//! written from the spool holds every one of them, in order.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

use stampede_engine::report::runfile::Spool;
use stampede_proto::{
    decode_run, EndpointSnapshot, HistogramBuckets, RunFacts, Snapshot, SNAPSHOT_VERSION,
};

/// Counts the bytes live on the heap, and the most ever live.
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

// SAFETY: defers to the system allocator; only counts around it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed) + layout.size() as i64;
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Seconds in a day: a snapshot each.
const SECONDS: u32 = 86_400;
/// Endpoints in each snapshot.
const ENDPOINTS: usize = 6;

/// One of 16 prebuilt latency histograms (building one per snapshot would
/// be most of the test's time).
fn histogram(seed: u32) -> HistogramBuckets {
    thread_local! {
        static BUILT: Vec<HistogramBuckets> = (0..16)
            .map(|seed| {
                let mut h =
                    hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
                for i in 0..20 {
                    h.record(seed * 1000 + i * 37 + 100).unwrap();
                }
                HistogramBuckets::encode(&h).unwrap()
            })
            .collect();
    }
    BUILT.with(|built| built[seed as usize % built.len()].clone())
}

fn snapshot(interval: u32) -> Snapshot {
    let endpoints = (0..ENDPOINTS)
        .map(|e| EndpointSnapshot {
            method: "GET".into(),
            name: format!("/endpoint/{e}"),
            requests: 20,
            failures: Vec::new(),
            bytes_received: 2_000,
            body_bytes: 1_000,
            body_bytes_sent: 0,
            decoded_bytes: 0,
            redirects: 0,
            samples: Vec::new(),
            latency_us: histogram(interval + e as u32),
            service_us: None,
            ttfb_us: histogram(interval * 3 + e as u32),
        })
        .collect();
    Snapshot {
        version: SNAPSHOT_VERSION,
        source: 0,
        interval,
        elapsed_ms: u64::from(interval) * 1000,
        users: 10,
        dropped: 0,
        cpu_us: 1000,
        is_final: interval == SECONDS,
        endpoints,
        wall_us: 1_000_000,
        wait_us: 0,
        sched_lag_us: HistogramBuckets::default(),
        connect_us: HistogramBuckets::default(),
        tls_handshake_us: HistogramBuckets::default(),
        addresses: Vec::new(),
        open_connections: 1,
        max_rss_kb: 0,
    }
}

#[test]
fn a_day_of_snapshots_spools_in_constant_memory() {
    let dir = std::env::temp_dir().join(format!("stampede-spool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run_path = dir.join("day.run");
    let mut spool = Spool::create(&run_path).unwrap();
    spool.push(&snapshot(1));
    let start = LIVE.load(Ordering::Relaxed);
    PEAK.store(start, Ordering::Relaxed);
    for interval in 2..=SECONDS {
        spool.push(&snapshot(interval));
    }
    let grown = PEAK.load(Ordering::Relaxed) - start;
    // Kept in memory, the day's snapshots would hold hundreds of MiB.
    assert!(
        grown < 4 << 20,
        "heap grew {grown} bytes while spooling a day"
    );
    let facts = RunFacts {
        duration_s: f64::from(SECONDS),
        started_unix_ms: 1_700_000_000_000,
        threads: 1,
        io_driver: "epoll".into(),
        cpu_seconds: 1.0,
        max_rss_kb: 1,
        fd_limit: 1024,
        connections_opened: 1,
        stop_reason: "run_time".into(),
        warnings: Vec::new(),
        config_json: "{}".into(),
    };
    spool.write_run(&run_path, &facts).unwrap();
    drop(spool);
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(entries.len(), 1, "the spool is gone, the run file stays");
    let record = decode_run(&std::fs::read(&run_path).unwrap()).unwrap();
    assert_eq!(record.snapshots.len(), SECONDS as usize);
    assert_eq!(record.snapshots[0], snapshot(1));
    assert_eq!(record.snapshots[SECONDS as usize - 1], snapshot(SECONDS));
    assert_eq!(record.facts, facts);
    std::fs::remove_dir_all(&dir).unwrap();
}
