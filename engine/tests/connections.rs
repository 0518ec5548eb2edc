//! Connections open now and request bytes written, through the whole stats
//! path: the client counts opens and (by dropping) closes, each shard puts
//! its count in every snapshot, and the aggregator sums the live shards.
//! The run is in-process against stampede-target, so the aggregator can be
//! read while it runs.

use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard};

use stampede_engine::config::{RunConfig, Settings};
use stampede_engine::http::{encode_request, RequestSpec};
use stampede_engine::run::control::{self, RunOutcome};
use stampede_engine::shard::runtime;
use stampede_engine::{demo, scenario::Plan};

/// Users of each run.
const USERS: u64 = 6;

/// The runs pin their shards to cores: one at a time, or a small machine
/// starves one run's shards and its snapshots come late.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A closed-loop run of `USERS` users on two shards for `run_time`, with the
/// aggregator's open connections and bytes sent read every 100 ms.
fn run(url: &str, driver: &str, run_time: &str) -> (RunOutcome, Vec<(u64, u64)>, u64) {
    let mut settings = Settings::default();
    settings.flag("host", url);
    settings.flag("users", USERS.to_string());
    settings.flag("threads", "2");
    settings.flag("io-driver", driver);
    settings.flag("run-time", run_time);
    settings.flag("print-interval", "100ms");
    settings.flag("quiet", "true");
    let config = RunConfig::from_settings(&settings, 1).unwrap();
    let request = encode_request(&RequestSpec {
        method: config.method.clone(),
        path: config.target.path.clone(),
        host: config.target.authority.clone(),
        headers: config.headers.clone(),
        body: config.body.clone().into_bytes(),
    });
    let plan = Plan::single_request(&config);
    let stop = AtomicBool::new(false);
    let mut seen = Vec::new();
    let outcome = control::run(&config, plan, &stop, &mut |agg, _| {
        seen.push((agg.open_connections(), agg.bytes_sent()));
    })
    .unwrap();
    (outcome, seen, request.len() as u64)
}

fn drivers() -> Vec<&'static str> {
    let mut drivers = vec!["epoll"];
    if runtime::uring_available() {
        drivers.push("uring");
    }
    drivers
}

/// Keep-alive users each hold one connection for the whole run: once both
/// shards reported, open connections are the users; after the run (every
/// shard finished) none. Bytes sent only grow, and end at requests x length.
#[test]
fn keep_alive_users_hold_one_connection_each() {
    let _serial = serial();
    let target = demo::start_target(1).unwrap();
    let url = format!("http://{}", target.local_addr());
    for driver in drivers() {
        let (outcome, seen, length) = run(&url, driver, "3s");
        let agg = &outcome.aggregator;
        let total = agg.total();
        assert!(total.requests > 100, "{driver}: {}", total.requests);
        assert_eq!(total.failures, 0, "{driver}");
        assert_eq!(
            outcome.connections_opened, USERS,
            "{driver}: {:?}",
            outcome.warnings
        );
        assert!(seen.len() >= 10, "{driver}: {seen:?}");
        assert!(
            seen.iter().all(|&(open, _)| open <= USERS),
            "{driver}: {seen:?}"
        );
        assert!(
            seen.iter().any(|&(open, _)| open == USERS),
            "{driver}: {seen:?}"
        );
        assert!(
            seen.windows(2).all(|w| w[0].1 <= w[1].1),
            "{driver}: {seen:?}"
        );
        assert_eq!(agg.open_connections(), 0, "{driver}: all shards finished");
        assert_eq!(agg.bytes_sent(), total.requests * length, "{driver}");
    }
}

/// A server that closes after every response (`/close`): each request runs
/// on a fresh connection and the old one is closed, so open connections
/// never exceed the users although thousands were opened. (They may be 0
/// at a second's end: a connection still connecting is not open yet.)
#[test]
fn closed_connections_are_no_longer_open() {
    let _serial = serial();
    let target = demo::start_target(1).unwrap();
    let url = format!("http://{}/close", target.local_addr());
    for driver in drivers() {
        let (outcome, seen, length) = run(&url, driver, "1500ms");
        let agg = &outcome.aggregator;
        let total = agg.total();
        assert_eq!(total.failures, 0, "{driver}");
        assert!(outcome.connections_opened > 100, "{driver}");
        assert_eq!(outcome.connections_opened, total.requests, "{driver}");
        assert!(
            seen.iter().all(|&(open, _)| open <= USERS),
            "{driver}: {seen:?}"
        );
        assert_eq!(agg.open_connections(), 0, "{driver}");
        assert_eq!(agg.bytes_sent(), total.requests * length, "{driver}");
    }
}
