//! End-to-end tests of issue 6: HTTPS against stampede-target's self-signed
//! certificate (exact counts, session resumption, `--cacert` / `--insecure` /
//! untrusted), `--pipeline` with exact counts and a server that closes
//! mid-pipeline, and 20 000 idle keep-alive users spread over `--source-ips`.
//! Every I/O test runs on each available driver.

use std::time::Duration;

use stampede_tests::{drivers, run_args as args, serial, stampede, temp_file, TargetProcess};

/// Generous wall-clock limit for short runs; a hang fails the test, not CI.
const LIMIT: Duration = Duration::from_secs(90);

/// A TLS target writing its generated certificate next to the test's files.
fn tls_target() -> (TargetProcess, String) {
    let cert = temp_file("cert.pem", "");
    let cert = cert.to_str().unwrap().to_string();
    let target = TargetProcess::start_with(&["--tls-self-signed", "--tls-cert-out", &cert]);
    (target, cert)
}

/// HTTPS with `--cacert` sends exactly the requested count; reconnects
/// (`/close` ends every connection) resume their TLS session instead of a full handshake.
#[test]
fn https_exact_counts_and_session_resumption() {
    let _serial = serial();
    for driver in drivers() {
        let (target, cert) = tls_target();
        let url = format!("https://{}", target.addr);
        let run = stampede(
            &args(&url, driver, &["--cacert", &cert, "-u", "10", "-n", "3000"]),
            LIMIT,
        );
        assert!(run.status.success(), "{driver}: {}", run.stderr);
        assert_eq!(
            (run.total("requests"), run.total("failures")),
            (3000, 0),
            "{driver}: {}",
            run.stderr
        );
        assert_eq!(target.stats(), (3000, 10), "{driver}: keep-alive over TLS");

        let close = format!("https://{}/close", target.addr);
        let run = stampede(
            &args(&close, driver, &["--cacert", &cert, "-u", "2", "-n", "100"]),
            LIMIT,
        );
        assert_eq!(
            (run.total("requests"), run.total("failures")),
            (100, 0),
            "{driver}: {}",
            run.stderr
        );
        let stats = target.stats_json();
        assert_eq!(stats["requests"], 3100, "{driver}");
        let (full, resumed) = (
            stats["tls"]["full"].as_u64().unwrap(),
            stats["tls"]["resumed"].as_u64().unwrap(),
        );
        // 110 stampede connections, and the two `/__stats` reads above.
        assert_eq!(
            full + resumed,
            112,
            "{driver}: one handshake per connection"
        );
        assert!(
            resumed >= 90,
            "{driver}: reconnects resume ({full} full, {resumed} resumed)"
        );
    }
}

/// Without `--cacert` the self-signed certificate is a counted `tls` failure
/// with a fixed reason and nothing reaches the target; `--insecure` connects.
#[test]
fn untrusted_certificate_fails_and_insecure_connects() {
    let _serial = serial();
    for driver in drivers() {
        let (target, _cert) = tls_target();
        let url = format!("https://{}", target.addr);
        let run = stampede(&args(&url, driver, &["-u", "2", "-n", "20"]), LIMIT);
        assert_eq!(run.total("requests"), 20, "{driver}: {}", run.stderr);
        assert_eq!(run.failures_of_kind("tls"), 20, "{driver}: {}", run.stdout);
        let failures = run.summary()["failures"].to_string();
        assert!(
            failures.contains("certificate not trusted"),
            "{driver}: {failures}"
        );
        assert_eq!(
            target.stats().0,
            0,
            "{driver}: no request reached the target"
        );

        let run = stampede(
            &args(&url, driver, &["--insecure", "-u", "2", "-n", "20"]),
            LIMIT,
        );
        assert_eq!(
            (run.total("requests"), run.total("failures")),
            (20, 0),
            "{driver}: {}",
            run.stderr
        );
        assert_eq!(target.stats().0, 20, "{driver}");
    }
}

/// `--pipeline 8` delivers exact counts on few connections; when the server
/// closes after each response (`/close`) the unanswered rest is retried on
/// fresh connections, so every request is answered once and none is lost.
#[test]
fn pipelining_exact_counts_and_close_mid_pipeline() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start();
        let url = target.url();
        let run = stampede(
            &args(&url, driver, &["--pipeline", "8", "-u", "4", "-n", "5000"]),
            LIMIT,
        );
        assert!(run.status.success(), "{driver}: {}", run.stderr);
        assert_eq!(
            (run.total("requests"), run.total("failures")),
            (5000, 0),
            "{driver}"
        );
        assert_eq!(
            target.stats(),
            (5000, 4),
            "{driver}: (requests, connections)"
        );

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
        assert_eq!(
            target.stats(),
            (200, 200),
            "{driver}: one answered request per connection"
        );
    }
}

/// Raises this process's open-file limit (children inherit it); the limit reached.
fn raise_fd_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write structs we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        if limit.rlim_cur < wanted {
            let raised = libc::rlimit {
                rlim_cur: wanted,
                rlim_max: wanted.max(limit.rlim_max),
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                let soft = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &soft);
            }
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur as u64
}

/// 20 000 users, each sending one request and then idling on its keep-alive
/// connection, all connect: the targets count exactly 20 000 connections and
/// 20 000 requests. The open-file limit is per process (20 000 hard in some
/// containers, where one process cannot hold them all), so the load runs as
/// `--processes 2` (10 000 connections each) against two target processes on
/// 127.0.1.1 and 127.0.1.2 behind one name (`--resolve`), from four source
/// addresses. Skips with the numbers only where not even 11 000 descriptors
/// per process are allowed.
#[test]
fn twenty_thousand_idle_users_over_processes_and_source_ips() {
    const USERS: u64 = 20_000;
    const PER_PROCESS: u64 = USERS / 2 + 1_000;
    let _serial = serial();
    // Children (targets, stampede and its workers) inherit the raised limit.
    let limit = raise_fd_limit(PER_PROCESS);
    stampede_tests::require!(
        limit >= PER_PROCESS,
        "twenty_thousand_idle_users needs {PER_PROCESS} open files per process; the limit is \
         {limit} and cannot be raised here (ulimit -Hn)"
    );
    let scenario = temp_file(
        "idle.toml",
        "[[user]]\nwait = \"constant(60)\"\n[[user.task]]\n[[user.task.step]]\npath = \"/\"\n",
    );
    for driver in drivers() {
        let first = TargetProcess::start_with(&["--listen", "127.0.1.1:0"]);
        let port = first.addr.port();
        let second_listen = format!("127.0.1.2:{port}");
        let second = TargetProcess::start_with(&["--listen", &second_listen]);
        let url = format!("http://edge.test:{port}");
        let count = USERS.to_string();
        let extra = [
            "-f",
            scenario.to_str().unwrap(),
            "-u",
            &count,
            "-t",
            "8s",
            "--processes",
            "2",
            "--resolve",
            "edge.test:127.0.1.1,127.0.1.2",
            "--source-ips",
            "127.0.0.2-127.0.0.5",
        ];
        let run = stampede(&args(&url, driver, &extra), LIMIT);
        assert!(run.status.success(), "{driver}: {}", run.stderr);
        assert_eq!(
            (run.total("requests"), run.total("failures")),
            (USERS, 0),
            "{driver}: {}",
            run.stdout
        );
        let (a, b) = (first.stats(), second.stats());
        assert_eq!(
            (a.0 + b.0, a.1 + b.1),
            (USERS, USERS),
            "{driver}: every user connected once ({a:?} + {b:?})"
        );
        assert!(
            a.1 > USERS / 4 && b.1 > USERS / 4,
            "{driver}: connections spread over both addresses ({a:?}, {b:?})"
        );
        assert_eq!(
            run.summary()["generator"]["io_driver"],
            "distributed (2 workers)",
            "{driver}: two worker processes"
        );
    }
}
