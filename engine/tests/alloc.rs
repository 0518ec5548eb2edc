//! The request path allocates nothing once warm: a run of 20 000 requests
//! makes no more allocations than a run of 2 000, counted by a global allocator,
//! one request at a time and pipelined (`--pipeline 16`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use stampede_engine::config::{RunConfig, Settings};
use stampede_engine::{control, demo, runtime, scenario::Plan};

/// Counts every allocation and reallocation in the process.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: delegates to the system allocator; only adds a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by a closed-loop run of `requests` requests, `pipeline`
/// in flight per connection.
fn allocations_for(url: &str, driver: &str, pipeline: u32, requests: u64) -> u64 {
    let mut settings = Settings::default();
    settings.flag("host", url);
    settings.flag("users", "10");
    settings.flag("threads", "1");
    settings.flag("io-driver", driver);
    settings.flag("iterations", requests.to_string());
    settings.flag("pipeline", pipeline.to_string());
    let config = RunConfig::from_settings(&settings, 1).unwrap();
    let plan = Plan::single_request(&config);
    let stop = AtomicBool::new(false);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let outcome = control::run(&config, plan, &stop, &mut |_, _| {}).unwrap();
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(outcome.aggregator.total().requests, requests);
    assert_eq!(outcome.aggregator.total().failures, 0);
    after - before
}

#[test]
fn no_allocation_per_request_once_warm() {
    let target = demo::start_target(1).unwrap();
    let url = format!("http://{}", target.local_addr());
    let mut drivers = vec!["epoll"];
    if runtime::uring_available() {
        drivers.push("uring");
    }
    for driver in drivers {
        for pipeline in [1, 16] {
            // Warm up once so lazily initialised statics do not count.
            allocations_for(&url, driver, pipeline, 1_000);
            let small = allocations_for(&url, driver, pipeline, 2_000);
            let large = allocations_for(&url, driver, pipeline, 20_000);
            let extra = large.saturating_sub(small);
            assert!(
                extra < 180,
                "{driver}, pipeline {pipeline}: 18 000 more requests made {extra} more \
                 allocations ({small} vs {large})"
            );
        }
    }
}
