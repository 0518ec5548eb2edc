//! End-to-end tests of stampede against stampede-target's chaos routes:
//! each misbehaviour (a body dripped slower than the timeout, an invalid
//! chunk, a body cut off, a server that never answers, seeded stalls)
//! becomes a failure of its named kind and message (docs/json-summary.md),
//! the run ends by itself within its timeouts (no hang, no panic), and
//! stampede's request count equals the target's. Every test runs on each
//! available I/O driver.

use std::time::Duration;

use stampede_tests::{drivers, run_args, serial, stampede, Run, TargetProcess};

/// Wall-clock limit past which a run is killed: far above what each run
/// needs (a few seconds), so reaching it means a hang, and fails the test.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs stampede against `path` on `target` with `extra` flags.
fn run(target: &TargetProcess, driver: &str, path: &str, extra: &[&str]) -> Run {
    let url = target.url();
    let mut args = vec!["--path", path];
    args.extend_from_slice(extra);
    stampede(&run_args(&url, driver, &args), LIMIT)
}

/// The run ended by itself, successfully, without a panic, and sent
/// exactly as many requests as the target counted.
fn assert_clean_and_counted(run: &Run, target: &TargetProcess, requests: u64, what: &str) {
    assert!(
        run.status.success(),
        "{what}: {:?}\n{}",
        run.status,
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
    assert_eq!(run.total("requests"), requests, "{what}");
    assert_eq!(target.stats().0, requests, "{what}: the target's count");
}

/// The failures of the run: all of `kind` with `message`, `count` of them.
fn assert_failures(run: &Run, kind: &str, message: &str, count: u64, what: &str) {
    let failures = &run.summary()["failures"];
    assert_eq!(run.total("failures"), count, "{what}: {failures}");
    assert_eq!(run.failures_of_kind(kind), count, "{what}: {failures}");
    if count > 0 {
        assert_eq!(failures[0]["message"], message, "{what}: {failures}");
    }
}

/// A body dripped slower than `--timeout` times out, as `timeout`, each
/// request after the timeout and not after the drip (5 s): four requests on
/// two users end in about two seconds, well before the ten the drips take. A
/// drip within the timeout is read whole; one whose pauses exceed
/// `--read-timeout` fails as the read timeout.
#[test]
fn slow_drip_times_out_by_name() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start();
        let extra = ["-u", "2", "-n", "4", "--timeout", "1s"];
        let slow = run(&target, driver, "/drip/50?ms=100", &extra);
        let what = format!("{driver} slow drip");
        assert_clean_and_counted(&slow, &target, 4, &what);
        assert_failures(&slow, "timeout", "request timed out", 4, &what);
        assert!(
            slow.elapsed < Duration::from_secs(7),
            "{what}: {:?}",
            slow.elapsed
        );

        let target = TargetProcess::start();
        let quick = run(&target, driver, "/drip/5?ms=20", &extra);
        let what = format!("{driver} quick drip");
        assert_clean_and_counted(&quick, &target, 4, &what);
        assert_failures(&quick, "timeout", "", 0, &what);
        let body_bytes = quick.summary()["endpoints"][0]["body_bytes"].as_u64();
        assert_eq!(
            body_bytes,
            Some(4 * 5),
            "{what}: {}",
            quick.summary()["endpoints"]
        );

        let target = TargetProcess::start();
        let read = [
            "-u",
            "1",
            "-n",
            "2",
            "--timeout",
            "10s",
            "--read-timeout",
            "300ms",
        ];
        let paused = run(&target, driver, "/drip/3?ms=1000", &read);
        let what = format!("{driver} drip past --read-timeout");
        assert_clean_and_counted(&paused, &target, 2, &what);
        let message = "no bytes from the server for --read-timeout";
        assert_failures(&paused, "timeout", message, 2, &what);
        assert!(
            paused.elapsed < Duration::from_secs(8),
            "{what}: {:?}",
            paused.elapsed
        );
    }
}

/// An invalid chunk-size line is a `protocol` failure, and the connection
/// is not reused: one connection per request.
#[test]
fn bad_chunk_is_a_protocol_failure() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start();
        let run = run(
            &target,
            driver,
            "/badchunk",
            &["-u", "2", "-n", "10", "--timeout", "1s"],
        );
        let what = format!("{driver} /badchunk");
        assert_clean_and_counted(&run, &target, 10, &what);
        assert_failures(&run, "protocol", "malformed chunked body", 10, &what);
        assert_eq!(target.stats().1, 10, "{what}: connections");
    }
}

/// A body cut off at half its Content-Length is a `protocol` failure
/// (closed before the end of the body), not a success and not retried.
#[test]
fn cut_body_is_a_protocol_failure() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start();
        let run = run(
            &target,
            driver,
            "/cut/1000",
            &["-u", "2", "-n", "10", "--timeout", "1s"],
        );
        let what = format!("{driver} /cut/1000");
        assert_clean_and_counted(&run, &target, 10, &what);
        let message = "connection closed before end of body";
        assert_failures(&run, "protocol", message, 10, &what);
    }
}

/// A server that reads the request and never answers costs each request
/// its timeout, as `timeout`: four requests on two users end in about two
/// seconds, and the run ends by itself.
#[test]
fn silence_times_out_by_name() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start();
        let run = run(
            &target,
            driver,
            "/silence",
            &["-u", "2", "-n", "4", "--timeout", "1s"],
        );
        let what = format!("{driver} /silence");
        assert_clean_and_counted(&run, &target, 4, &what);
        assert_failures(&run, "timeout", "request timed out", 4, &what);
        assert!(
            run.elapsed < Duration::from_secs(7),
            "{what}: {:?}",
            run.elapsed
        );
    }
}

/// Seeded stalls longer than the timeout: exactly the requests the target
/// stalled (its `/__stats` count, the same in every run with seed 2: 8 of
/// the first 40) time out; the others succeed.
#[test]
fn stalls_time_out_exactly_the_stalled_requests() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start_with(&["--chaos-seed", "2"]);
        let extra = ["-u", "8", "-n", "40", "--timeout", "1s"];
        let run = run(&target, driver, "/stall?p=0.25&ms=3000", &extra);
        let what = format!("{driver} /stall");
        assert_clean_and_counted(&run, &target, 40, &what);
        let stalls = &target.stats_json()["stalls"];
        assert_eq!(stalls["requests"], 40, "{what}: {stalls}");
        assert_eq!(stalls["stalled"], 8, "{what}: {stalls}");
        assert_failures(&run, "timeout", "request timed out", 8, &what);
    }
}
