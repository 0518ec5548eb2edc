//! The request path allocates nothing once warm: a run of 20 000 requests
//! makes no more allocations than a run of 2 000, counted by a global allocator,
//! one request at a time and pipelined (`--pipeline 16`). Over HTTPS
//! stampede's own code allocates nothing per request either; what remains is
//! rustls 0.23's one `Vec` per record it encrypts or decrypts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use stampede_engine::config::{RunConfig, Settings};
use stampede_engine::demo;
use stampede_engine::run::control;
use stampede_engine::scenario::{Plan, ScenarioDoc};
use stampede_engine::shard::runtime;
use stampede_target::tls::TlsSource;
use stampede_target::{Target, TargetConfig};

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

/// Set by `signed_requests_allocate_nothing_once_warm` while it runs: sign
/// with this scope, in headers or in the query (`--aws-sigv4-mode`).
static SIGN: Mutex<Option<(&'static str, &'static str)>> = Mutex::new(None);

/// The count is process-wide, so the tests that read it take turns.
static COUNTING: Mutex<()> = Mutex::new(());

/// Allocations made by a closed-loop run of `requests` requests, `pipeline`
/// in flight per connection.
fn allocations_for(url: &str, driver: &str, pipeline: u32, requests: u64) -> u64 {
    allocations_with(url, driver, pipeline, requests, None)
}

/// Allocations made by a closed-loop run of `requests` requests, `pipeline`
/// in flight per connection, trusting `cacert` for HTTPS.
fn allocations_with(
    url: &str,
    driver: &str,
    pipeline: u32,
    requests: u64,
    cacert: Option<&str>,
) -> u64 {
    let mut settings = Settings::default();
    settings.flag("host", url);
    if let Some(path) = cacert {
        settings.flag("cacert", path);
    }
    settings.flag("users", "10");
    settings.flag("threads", "1");
    settings.flag("io-driver", driver);
    settings.flag("iterations", requests.to_string());
    settings.flag("pipeline", pipeline.to_string());
    if let Some((scope, mode)) = *SIGN.lock().unwrap_or_else(|e| e.into_inner()) {
        settings.flag("aws-sigv4", scope);
        settings.flag("aws-sigv4-mode", mode);
    }
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
    let _turn = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
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

/// Signing every request (`--aws-sigv4`) allocates nothing per request
/// either, in headers or in the query (`--aws-sigv4-mode query`, a
/// presigned URL): the signer's buffers are reused and its key derived once
/// a day.
#[test]
fn signed_requests_allocate_nothing_once_warm() {
    let _turn = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY (edition 2021: safe): the variables are set before any thread reads them here.
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    std::env::set_var(
        "AWS_SECRET_ACCESS_KEY",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    );
    let target = demo::start_target(1).unwrap();
    let url = format!("http://{}", target.local_addr());
    for mode in ["header", "query"] {
        *SIGN.lock().unwrap_or_else(|e| e.into_inner()) = Some(("aws:amz:us-east-1:s3", mode));
        allocations_for(&url, "epoll", 1, 1_000);
        let small = allocations_for(&url, "epoll", 1, 2_000);
        let large = allocations_for(&url, "epoll", 1, 20_000);
        *SIGN.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let extra = large.saturating_sub(small);
        assert!(
            extra < 180,
            "signed in the {mode}: 18 000 more requests made {extra} more allocations \
             ({small} vs {large})"
        );
    }
}

/// Set in the child process that serves HTTPS for `https_allocations_per_request`.
const SERVE_ENV: &str = "STAMPEDE_ALLOC_TEST_SERVE_HTTPS";

/// An HTTPS stampede-target in a child process (this test binary running
/// `serve_https_in_child`), so the server's own rustls allocations are not
/// counted; killed on drop.
struct HttpsTarget {
    /// The child.
    child: Child,
    /// `https://127.0.0.1:port`.
    url: String,
    /// The self-signed certificate it serves, for `--cacert`.
    cert: PathBuf,
}

impl HttpsTarget {
    /// Starts the child and waits for its address.
    fn start() -> HttpsTarget {
        let cert = std::env::temp_dir().join(format!("stampede-alloc-{}.pem", std::process::id()));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "serve_https_in_child",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env(SERVE_ENV, &cert)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the HTTPS target");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("the target's address").unwrap();
            if let Some(addr) = line.strip_prefix("listening on ") {
                break format!("https://{addr}");
            }
        };
        HttpsTarget { child, url, cert }
    }
}

impl Drop for HttpsTarget {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.cert);
    }
}

/// Not a test: the HTTPS target of `https_allocations_per_request`, run in a
/// child process; serves until its stdin closes.
#[test]
#[ignore = "run by https_allocations_per_request in a child process"]
fn serve_https_in_child() {
    let Some(cert) = std::env::var_os(SERVE_ENV) else {
        return;
    };
    let target = Target::start(TargetConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        threads: 1,
        tls: Some(TlsSource::SelfSigned {
            cert_out: Some(PathBuf::from(cert)),
        }),
        ..TargetConfig::default()
    })
    .unwrap();
    println!("listening on {}", target.local_addr());
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// Over keep-alive HTTPS (TLS 1.3, the target's default), stampede's TLS
/// stream (buffers lent from a pool, records sealed and opened in place by
/// `tls_record`) allocates nothing per request: 18 000 more requests make
/// fewer than 180 more allocations, the bound of plain HTTP.
#[test]
fn https_allocations_per_request() {
    let _turn = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    let target = HttpsTarget::start();
    let cert = target.cert.to_str().unwrap().to_string();
    let mut drivers = vec!["epoll"];
    if runtime::uring_available() {
        drivers.push("uring");
    }
    for driver in drivers {
        allocations_with(&target.url, driver, 1, 1_000, Some(&cert));
        let small = allocations_with(&target.url, driver, 1, 2_000, Some(&cert));
        let large = allocations_with(&target.url, driver, 1, 20_000, Some(&cert));
        let extra = large.saturating_sub(small);
        let per_request = extra as f64 / 18_000.0;
        eprintln!("{driver}: HTTPS {per_request:.3} allocations per request ({small} vs {large})");
        assert!(
            extra < 180,
            "{driver}: 18 000 more HTTPS requests made {extra} more allocations \
             ({per_request:.3} per request; {small} vs {large})"
        );
    }
}

/// Allocations made by a closed-loop run of `iterations` iterations of the
/// scenario `text` (two requests each, `failing` of them expected to fail).
fn scenario_allocations(
    url: &str,
    driver: &str,
    text: &str,
    iterations: u64,
    failing: u64,
) -> (u64, f64) {
    let mut settings = Settings::default();
    settings.flag("host", url);
    settings.flag("users", "10");
    settings.flag("threads", "1");
    settings.flag("io-driver", driver);
    settings.flag("iterations", iterations.to_string());
    let config = RunConfig::from_settings(&settings, 1).unwrap();
    let doc = ScenarioDoc::parse_str(std::path::Path::new("alloc.toml"), text.into()).unwrap();
    let plan = doc
        .compile_with(&config.target, config.request_options())
        .unwrap();
    let stop = AtomicBool::new(false);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let started = std::time::Instant::now();
    let outcome = control::run(&config, plan, &stop, &mut |_, _| {}).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(outcome.aggregator.total().requests, 2 * iterations);
    assert_eq!(outcome.aggregator.total().failures, failing * iterations);
    (after - before, seconds)
}

/// Allocations each second of a run makes whatever its rate (the
/// snapshot, the tick): a busy machine stretches the longer run by seconds,
/// and these must not read as allocations per request.
const ALLOCATIONS_PER_SECOND: f64 = 40.0;

/// What a failure that recurs every second adds to that: one failure
/// sample (its request line and body bytes) and the snapshot's message texts.
const FAILURE_ALLOCATIONS_PER_SECOND: f64 = 10.0;

/// A scenario user's own work allocates nothing per request once warm
/// either: rendering, a cookie jar kept at its cap by a target that sets a
/// new cookie on every response, and a body check on a body captured in a
/// buffer the shard lends.
#[test]
fn scenario_users_allocate_nothing_per_request_once_warm() {
    let _turn = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    let target = demo::start_target(1).unwrap();
    let url = format!("http://{}", target.local_addr());
    let text = "[[user]]\n[[user.task]]\n[[user.task.step]]\npath = \"/cookies/new\"\n\
                [[user.task.step]]\npath = \"/bytes/4096\"\ncheck = { body_contains = \"xxxx\" }\n";
    // Two steps per iteration: 18,000 more requests.
    assert_warm_scenario_allocates_nothing(&url, text, 10_000);
}

/// PUTs whose bodies are slices of the shared body block (`body_size`)
/// allocate nothing per request once warm either: a 4 KiB body written with
/// its head, a 64 KiB one written from the block after it, a templated size
/// rendered and parsed per request, a `when` condition and a
/// `check.body_bytes` on the response.
#[test]
fn sliced_put_bodies_allocate_nothing_once_warm() {
    let _turn = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    let target = demo::start_target(1).unwrap();
    let url = format!("http://{}", target.local_addr());
    let text = "[vars]\nsize = \"65536\"\n[[user]]\n[[user.task]]\n\
                [[user.task.step]]\nmethod = \"PUT\"\npath = \"/\"\nbody_size = \"4KiB\"\n\
                [[user.task.step]]\nmethod = \"PUT\"\npath = \"/\"\nbody_size = \"${size}\"\n\
                when = { size = \"65536\" }\ncheck = { body_bytes = \"2\" }\n";
    // Two steps per iteration, one of them taken: 8,000 more requests.
    assert_warm_scenario_allocates_nothing(&url, text, 5_000);
}

/// Runs the scenario `text` for 1,000 and for `iterations` iterations (after
/// a warm-up) on every I/O driver: the longer run may allocate only what its
/// extra seconds allow (snapshots), a few dozen a second, never one per
/// request.
fn assert_warm_scenario_allocates_nothing(url: &str, text: &str, iterations: u64) {
    let mut drivers = vec!["epoll"];
    if runtime::uring_available() {
        drivers.push("uring");
    }
    for driver in drivers {
        scenario_allocations(url, driver, text, 500, 0);
        let (small, small_s) = scenario_allocations(url, driver, text, 1_000, 0);
        let (large, large_s) = scenario_allocations(url, driver, text, iterations, 0);
        let extra = large.saturating_sub(small);
        let more = iterations - 1_000;
        let allowed =
            (more / 50) as f64 + ALLOCATIONS_PER_SECOND * (large_s - small_s).max(0.0).ceil();
        eprintln!("{driver}: {small} vs {large} allocations ({small_s:.1} s vs {large_s:.1} s)");
        assert!(
            (extra as f64) < allowed,
            "{driver}: {more} more iterations made {extra} more allocations ({small} vs {large}, \
             {small_s:.1} s vs {large_s:.1} s: {allowed} allowed)"
        );
    }
}

/// Requests signed with a scenario's own `aws_sigv4` scope (a templated PUT
/// and a fixed GET), and an S3 error document read for its code on every
/// other response, allocate nothing per request once warm: the scope's
/// signer keeps its buffers, and the code is kept inline in the failure.
#[test]
fn scenario_signing_and_s3_errors_allocate_nothing_per_request_once_warm() {
    let _turn = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY (edition 2021: safe): the variables are set before any thread reads them here.
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    std::env::set_var(
        "AWS_SECRET_ACCESS_KEY",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    );
    let target = demo::start_target(1).unwrap();
    let url = format!("http://{}", target.local_addr());
    let text = "[[user]]\nauth = { aws_sigv4 = { region = \"eu-west-1\", service = \"s3\" } }\n\
                [[user.task]]\n[[user.task.step]]\nmethod = \"PUT\"\npath = \"/echo/body?i=${iteration}\"\n\
                body = \"object ${user_id}\"\n\
                [[user.task.step]]\npath = \"/s3-error?code=InvalidBucketName&status=400\"\n";
    scenario_allocations(&url, "epoll", text, 500, 1);
    let (small, small_s) = scenario_allocations(&url, "epoll", text, 1_000, 1);
    // Signing is slow in a debug build: a shorter second run keeps the
    // per-second allocations small beside 10 000 more requests.
    let (large, large_s) = scenario_allocations(&url, "epoll", text, 6_000, 1);
    let extra = large.saturating_sub(small);
    // A failing step adds a few allocations per second, not per request:
    // its interval's failure sample and the messages of its snapshot.
    let per_second = ALLOCATIONS_PER_SECOND + FAILURE_ALLOCATIONS_PER_SECOND;
    let allowed = 180.0 + per_second * (large_s - small_s).max(0.0).ceil();
    eprintln!("scenario-signed: {small} vs {large} allocations ({small_s:.1} s vs {large_s:.1} s)");
    assert!(
        (extra as f64) < allowed,
        "scenario-signed: 10 000 more requests made {extra} more allocations ({small} vs {large}, \
         {small_s:.1} s vs {large_s:.1} s: {allowed} allowed)"
    );
}
