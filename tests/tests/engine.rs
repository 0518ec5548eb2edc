//! End-to-end tests of the core engine: stampede against stampede-target on
//! 127.0.0.1, comparing what stampede reports with what the target counted.
//! Every I/O test runs on each available driver (io_uring and epoll).

use std::time::{Duration, Instant};

use stampede_tests::{
    drivers, run_args as args, serial, spawn_stampede, stampede, wait_stampede, TargetProcess,
};

/// Generous wall-clock limit for short runs; a hang fails the test, not CI.
const LIMIT: Duration = Duration::from_secs(60);

/// `-u 20 --iterations 5000` sends exactly 5000 requests, all counted by the target.
#[test]
fn exact_iterations_match_the_target() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start();
        let url = target.url();
        let run = stampede(&args(&url, driver, &["-u", "20", "-n", "5000"]), LIMIT);
        assert!(run.status.success(), "{driver}: {}", run.stderr);
        assert_eq!(run.total("requests"), 5000, "{driver}");
        assert_eq!(run.total("failures"), 0, "{driver}");
        assert_eq!(target.stats().0, 5000, "{driver}: target's count");
        assert_eq!(
            run.summary()["generator"]["io_driver"]
                .as_str()
                .unwrap()
                .starts_with("io_uring"),
            driver == "uring"
        );
    }
}

/// Fewer users than shards: the iteration budget follows the users, so the run ends.
#[test]
fn fewer_users_than_shards_still_finish() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    let run = stampede(
        &args(&url, "epoll", &["-u", "1", "-n", "5"]),
        Duration::from_secs(20),
    );
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.total("requests"), 5);
    assert_eq!(target.stats().0, 5);
}

/// 20 users keep 20 keep-alive connections open, not one per request; the
/// request bytes written are exactly 3000 times the request's length.
#[test]
fn users_reuse_keep_alive_connections() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start();
        let url = target.url();
        let run = stampede(&args(&url, driver, &["-u", "20", "-n", "3000"]), LIMIT);
        assert!(run.status.success(), "{driver}: {}", run.stderr);
        assert_eq!(
            target.stats(),
            (3000, 20),
            "{driver}: (requests, connections)"
        );
        // The target never closes a keep-alive connection here, so no request
        // is retried and every one was written exactly once.
        let length = plain_get(&target, "/").len() as u64;
        assert_eq!(run.total("bytes_sent"), 3000 * length, "{driver}");
        assert_eq!(written(&run), (3000, 3000 * length), "{driver}");
    }
}

/// The request stampede renders for a plain `GET path` run against `target`
/// (`http::encode_request`: request line, Host, User-Agent, blank line).
fn plain_get(target: &TargetProcess, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: stampede/{}\r\n\r\n",
        target.addr,
        env!("CARGO_PKG_VERSION")
    )
}

/// (requests, bytes) written over all target addresses, from `connections.addresses`.
fn written(run: &stampede_tests::Run) -> (u64, u64) {
    let addresses = run.summary()["connections"]["addresses"]
        .as_array()
        .unwrap();
    addresses.iter().fold((0, 0), |(r, b), a| {
        let field = |name: &str| a[name].as_u64().unwrap_or_else(|| panic!("{a}: {name}"));
        (r + field("requests"), b + field("bytes_sent"))
    })
}

/// Pipelined requests are counted by what was written: against `/close`
/// (one response per connection) the unanswered rest of each pipeline is
/// written again on a fresh connection, so more bytes go out than
/// answered requests times the length: exactly the writes times the length.
#[test]
fn bytes_sent_count_pipelined_retries() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start();
        let url = target.url();
        let run = stampede(
            &args(&url, driver, &["--pipeline", "8", "-u", "4", "-n", "2000"]),
            LIMIT,
        );
        assert!(run.status.success(), "{driver}: {}", run.stderr);
        assert_eq!(target.stats(), (2000, 4), "{driver}");
        let length = plain_get(&target, "/").len() as u64;
        assert_eq!(run.total("bytes_sent"), 2000 * length, "{driver}");

        let target = TargetProcess::start();
        let close = format!("{}/close", target.url());
        let run = stampede(
            &args(&close, driver, &["--pipeline", "8", "-u", "2", "-n", "200"]),
            LIMIT,
        );
        assert_eq!(
            (run.total("requests"), run.total("failures")),
            (200, 0),
            "{driver}: {}",
            run.stderr
        );
        let length = plain_get(&target, "/close").len() as u64;
        let (writes, bytes) = written(&run);
        assert_eq!(run.total("bytes_sent"), bytes, "{driver}");
        assert_eq!(bytes, writes * length, "{driver}");
        assert!(writes > 200, "{driver}: {writes} writes for 200 answers");
    }
}

/// Chunked and close-delimited bodies are framed exactly; `/close` reconnects.
#[test]
fn body_framings_and_server_close() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start();
        let url = target.url();
        let run = stampede(
            &args(
                &url,
                driver,
                &["--path", "/chunked/10000", "-u", "4", "-n", "200"],
            ),
            LIMIT,
        );
        assert_eq!(
            (run.total("requests"), run.total("failures")),
            (200, 0),
            "{driver}: {}",
            run.stderr
        );
        assert!(
            run.total("bytes_received") > 200 * 10_000,
            "{driver}: chunk framing counted"
        );
        assert_eq!(
            target.stats(),
            (200, 4),
            "{driver}: chunked bodies keep connections alive"
        );

        let target = TargetProcess::start();
        let url = target.url();
        let run = stampede(
            &args(
                &url,
                driver,
                &["--path", "/eof/5000", "-u", "2", "-n", "100"],
            ),
            LIMIT,
        );
        assert_eq!(
            (run.total("requests"), run.total("failures")),
            (100, 0),
            "{driver}: {}",
            run.stderr
        );
        assert!(run.total("bytes_received") >= 100 * 5000);
        assert_eq!(
            target.stats(),
            (100, 100),
            "{driver}: close-delimited bodies end their connection"
        );

        let target = TargetProcess::start();
        let url = target.url();
        let run = stampede(
            &args(&url, driver, &["--path", "/close", "-u", "2", "-n", "100"]),
            LIMIT,
        );
        assert_eq!(
            (run.total("requests"), run.total("failures")),
            (100, 0),
            "{driver}: {}",
            run.stderr
        );
        assert_eq!(
            target.stats(),
            (100, 100),
            "{driver}: Connection: close honoured"
        );
    }
}

/// Error statuses are failures of kind `status`; delays show in the latency.
#[test]
fn status_failures_and_delays() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start();
        let url = target.url();
        let run = stampede(
            &args(
                &url,
                driver,
                &["--path", "/status/500", "-u", "5", "-n", "50"],
            ),
            LIMIT,
        );
        assert_eq!(run.total("requests"), 50, "{driver}: {}", run.stderr);
        assert_eq!(run.failures_of_kind("status"), 50, "{driver}");
        assert_eq!(run.summary()["failures"][0]["message"], "HTTP 500");

        let run = stampede(
            &args(
                &url,
                driver,
                &["--path", "/delay/50", "-u", "5", "-n", "20"],
            ),
            LIMIT,
        );
        assert_eq!(
            (run.total("requests"), run.total("failures")),
            (20, 0),
            "{driver}: {}",
            run.stderr
        );
        let min_ms = run.summary()["totals"]["latency_ms"]["min"]
            .as_f64()
            .unwrap();
        assert!(
            min_ms >= 50.0,
            "{driver}: latency {min_ms} ms below the 50 ms delay"
        );
        assert_eq!(target.stats().0, 70, "{driver}");
    }
}

/// Hostile responses become counted failures of a named kind, never a crash or hang.
#[test]
fn hostile_responses_are_named_failures() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start();
        let url = target.url();
        for (path, kind) in [
            ("/garbage", "protocol"),
            ("/truncated", "protocol"),
            ("/bighead", "protocol"),
            ("/reset", "reset"),
        ] {
            let run = stampede(
                &args(
                    &url,
                    driver,
                    &["--path", path, "-u", "2", "-n", "10", "--timeout", "5s"],
                ),
                LIMIT,
            );
            assert!(run.status.success(), "{driver} {path}: {}", run.stderr);
            assert_eq!(run.total("requests"), 10, "{driver} {path}");
            assert_eq!(
                run.failures_of_kind(kind),
                10,
                "{driver} {path}: {}",
                run.summary()["failures"]
            );
        }
    }
}

/// A target that dies mid-run yields connect failures; the run still ends on time with its report.
#[test]
fn target_stopped_mid_run() {
    let _serial = serial();
    for driver in drivers() {
        let mut target = TargetProcess::start();
        let url = target.url();
        let started = Instant::now();
        let (child, json) = spawn_stampede(&args(
            &url,
            driver,
            &["-u", "5", "-t", "3s", "--timeout", "2s"],
        ));
        std::thread::sleep(Duration::from_millis(1000));
        target.kill();
        let run = wait_stampede(child, json, started, LIMIT);
        assert!(run.status.success(), "{driver}: {}", run.stderr);
        assert!(
            run.elapsed < Duration::from_secs(10),
            "{driver}: took {:?}",
            run.elapsed
        );
        assert!(run.total("requests") > 0);
        assert!(
            run.failures_of_kind("connect") > 0,
            "{driver}: {}",
            run.summary()["failures"]
        );
    }
}

/// Open loop at 2000/s for 3 s delivers exactly the 6000 requests its
/// schedule holds, all counted by the target.
#[test]
fn open_loop_delivers_the_rate() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start();
        let url = target.url();
        let run = stampede(&args(&url, driver, &["--rate", "2000", "-t", "3s"]), LIMIT);
        assert!(run.status.success(), "{driver}: {}", run.stderr);
        let requests = run.total("requests");
        assert_eq!(
            requests, 6000,
            "{driver}: the schedule ends at the run time"
        );
        assert_eq!(run.total("dropped"), 0, "{driver}");
        assert_eq!(target.stats().0, requests, "{driver}: target's count");
    }
}

/// With a slow target and a small in-flight cap, excess arrivals are dropped
/// and latency counts from the intended send time.
#[test]
fn open_loop_drops_beyond_max_in_flight() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start();
        let url = target.url();
        let extra = [
            "--path",
            "/delay/200",
            "--rate",
            "200",
            "-n",
            "400",
            "--max-in-flight",
            "10",
        ];
        let run = stampede(&args(&url, driver, &extra), LIMIT);
        assert!(run.status.success(), "{driver}: {}", run.stderr);
        let (requests, dropped) = (run.total("requests"), run.total("dropped"));
        assert_eq!(
            requests + dropped,
            400,
            "{driver}: every arrival is sent or dropped"
        );
        assert!(dropped >= 200, "{driver}: only {dropped} dropped");
        assert_eq!(target.stats().0, requests, "{driver}");
        let endpoint = &run.summary()["endpoints"][0];
        let latency_min = endpoint["latency_ms"]["min"].as_f64().unwrap();
        let service_min = endpoint["service_ms"]["min"].as_f64().unwrap();
        assert!(
            latency_min >= 200.0 && service_min >= 200.0,
            "{driver}: {endpoint}"
        );
        // Both means must be there: compared as Options, two missing ones
        // would pass (None >= None).
        let mean_ms = |field: &str| {
            endpoint[field]["mean"]
                .as_f64()
                .unwrap_or_else(|| panic!("{driver}: {field}.mean missing: {endpoint}"))
        };
        assert!(
            mean_ms("latency_ms") >= mean_ms("service_ms"),
            "{driver}: latency from the intended send time below service time: {endpoint}"
        );
    }
}

/// SIGTERM stops the run gracefully: in-flight requests finish and the report matches the target.
#[test]
fn sigterm_still_writes_the_report() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    let started = Instant::now();
    let (child, json) = spawn_stampede(&args(&url, "epoll", &["-u", "10", "-t", "60s"]));
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let run = wait_stampede(child, json, started, LIMIT);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(
        run.elapsed < Duration::from_secs(15),
        "took {:?}",
        run.elapsed
    );
    let requests = run.total("requests");
    assert!(requests > 0);
    assert_eq!(
        target.stats().0,
        requests,
        "graceful stop loses no response"
    );
    assert_eq!(run.summary()["config"]["run_time"], 60.0);
}

/// Failures never pass unseen: a run whose every request failed prints one
/// line with the count even under `-q` and exits 0 (k6's convention), or the
/// status `--exit-code-on-error` names (Locust's flag).
#[test]
fn failed_requests_are_said_and_can_set_the_exit_status() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    let base = ["-u", "1", "-n", "20", "--path", "/status/500", "-q"];
    let run = stampede(&args(&url, "epoll", &base), LIMIT);
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert_eq!(run.total("failures"), 20);
    assert!(
        run.stderr.contains("20 of 20 requests failed (100.00%)"),
        "{}",
        run.stderr
    );
    let mut with_status = base.to_vec();
    with_status.extend(["--exit-code-on-error", "3"]);
    let run = stampede(&args(&url, "epoll", &with_status), LIMIT);
    assert_eq!(run.status.code(), Some(3), "{}", run.stderr);
    assert_eq!(target.stats().0, 40, "the target's count");
    // No failure, no line, exit 0 even with the flag.
    let clean = ["-u", "1", "-n", "20", "-q", "--exit-code-on-error", "3"];
    let run = stampede(&args(&url, "epoll", &clean), LIMIT);
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains("requests failed"), "{}", run.stderr);
}

/// Users back off after refused connects: in 2 s against a closed port each
/// user tries at most about a dozen times (10 ms doubling to 1 s), not
/// thousands, and the pauses are reported.
#[test]
fn refused_connects_back_off() {
    let _serial = serial();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let run = stampede(&args(&url, "epoll", &["-u", "2", "-t", "2s"]), LIMIT);
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let failures = run.total("failures");
    assert_eq!(run.total("requests"), failures);
    // Per user in 2 s: 10+20+...+640 ms (7 pauses, 1.27 s) then 1 s pauses: at most 9 tries.
    assert!(
        (1..=2 * 9).contains(&failures),
        "{failures} refused connects in 2 s"
    );
    assert!(
        run.stderr.contains("paused") && run.stderr.contains("--connect-backoff"),
        "{}",
        run.stderr
    );
}
