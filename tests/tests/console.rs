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

/// A second Ctrl-C while stampede reads keys from a terminal (raw, without
/// echo) exits at once with 130, puts the terminal back (echo on) and says
/// the reports were not written. The terminal is a pseudo-terminal the test
/// opens; the run is paced by its run time and stopped by the signals.
#[test]
fn second_interrupt_restores_the_terminal() {
    use std::os::fd::{FromRawFd, OwnedFd};
    let _serial = serial();
    let target = TargetProcess::start();
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors we then own.
    let opened = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(opened, 0, "openpty");
    // SAFETY: both are fresh descriptors from openpty, owned here once each.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let echo_on = |fd: &OwnedFd| {
        use std::os::fd::AsRawFd;
        // SAFETY: termios is plain data that tcgetattr fills for a pty descriptor.
        let mut mode: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut mode) }, 0);
        mode.c_lflag & libc::ECHO != 0
    };
    assert!(echo_on(&slave), "a fresh terminal echoes");
    // Drain what stampede prints to the terminal, so it never blocks.
    let reader = std::fs::File::from(master.try_clone().unwrap());
    std::thread::spawn(move || std::io::copy(&mut &reader, &mut std::io::sink()));
    let child = Command::new(bin("stampede"))
        .args([
            "run",
            "--host",
            &target.url(),
            "--rate",
            "50",
            "-t",
            "60s",
            "--threads",
            "1",
        ])
        .stdin(std::process::Stdio::from(slave.try_clone().unwrap()))
        .stdout(std::process::Stdio::from(slave.try_clone().unwrap()))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run stampede on a terminal");
    // Wait until it reads keys raw: echo turned off.
    let started = Instant::now();
    while echo_on(&slave) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "keys never read raw"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id() as libc::pid_t;
    // SAFETY: signals to our own child.
    unsafe { libc::kill(pid, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(50));
    unsafe { libc::kill(pid, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("the reports were not written"), "{stderr}");
    assert!(echo_on(&slave), "the terminal echoes again");
    assert!(started.elapsed() < Duration::from_secs(30));
}
