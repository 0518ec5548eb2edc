//! Console behaviour: one progress line per interval in logs, --quiet, and
//! --abort-on-fail stopping a run whose threshold fails.

use std::process::Command;
use std::time::{Duration, Instant};

use stampede_tests::{bin, serial, stampede, TargetProcess};

/// When stdout is not a terminal, each interval prints one progress line, not a table.
#[test]
fn logs_get_one_progress_line_per_interval() {
    let _serial = serial();
    let target = TargetProcess::start();
    let output = Command::new(bin("stampede"))
        .args([
            "run",
            "--host",
            &target.url(),
            "-u",
            "2",
            "-t",
            "3s",
            "--print-interval",
            "1s",
            "--threads",
            "1",
        ])
        .output()
        .expect("run stampede");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (live, summary) = stdout.split_once("=== Summary").expect("a summary");
    let progress: Vec<&str> = live.lines().filter(|l| l.starts_with('[')).collect();
    assert!(progress.len() >= 2, "{stdout}");
    assert!(
        progress[0].contains("users 2") && progress[0].contains("req/s"),
        "{}",
        progress[0]
    );
    assert!(!live.contains("# reqs"), "no live table in logs:\n{live}");
    assert!(summary.contains("# reqs"));
}

/// --quiet prints nothing on stdout but still writes the reports.
#[test]
fn quiet_prints_nothing() {
    let _serial = serial();
    let target = TargetProcess::start();
    let run = stampede(
        &[
            "run",
            "--host",
            &target.url(),
            "-u",
            "2",
            "-n",
            "100",
            "--quiet",
        ],
        Duration::from_secs(30),
    );
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(run.total("requests"), 100);
}

/// --abort-on-fail ends a run early once a threshold fails, with exit code 99.
#[test]
fn abort_on_fail_stops_early() {
    let _serial = serial();
    let target = TargetProcess::start();
    let started = Instant::now();
    let args = [
        "run",
        "--host",
        &target.url(),
        "--path",
        "/status/500",
        "-u",
        "2",
        "-t",
        "60s",
        "--threshold",
        "error_rate < 1%",
        "--abort-on-fail",
        "--abort-delay",
        "1s",
    ];
    let run = stampede(&args, Duration::from_secs(60));
    assert_eq!(run.status.code(), Some(99), "{}", run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(run.stderr.contains("--abort-on-fail"), "{}", run.stderr);
    assert_eq!(target.stats().0, run.total("requests"));
}
