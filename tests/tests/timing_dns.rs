//! End-to-end tests of the rest of issue 6: time to first byte, connect and
//! TLS handshake times and bytes/s in the JSON; `--resolve` spreading
//! connections over several loopback addresses with per-address counts; a
//! 5000 users/s ramp under `--max-connecting` with every user connected; a
//! certificate for another name failing as kind tls; and refusing to start
//! when the fd limit is too low. Every I/O test runs on each available driver.

use std::time::Duration;

use stampede_tests::{drivers, run_args as args, serial, stampede, temp_file, TargetProcess};

/// Generous wall-clock limit for short runs; a hang fails the test, not CI.
const LIMIT: Duration = Duration::from_secs(90);

/// A name given three loopback addresses by `--resolve` gets its six
/// connections spread over all three, the per-address counts add up to the
/// exact request count, and the timing fields are present and consistent.
#[test]
fn resolve_spreads_over_addresses_and_timings_are_reported() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start_with(&["--listen", "0.0.0.0:0"]);
        let url = format!("http://cdn.test:{}/", target.addr.port());
        let run = stampede(
            &args(
                &url,
                driver,
                &[
                    "--resolve",
                    "cdn.test:127.0.0.1,127.0.0.2,127.0.0.3",
                    "-u",
                    "6",
                    "-n",
                    "600",
                ],
            ),
            LIMIT,
        );
        assert!(run.status.success(), "{driver}: {}", run.stderr);
        assert_eq!(
            (run.total("requests"), run.total("failures")),
            (600, 0),
            "{driver}: {}",
            run.stderr
        );
        assert_eq!(
            target.stats(),
            (600, 6),
            "{driver}: one connection per user"
        );
        let summary = run.summary();
        let addresses = summary["connections"]["addresses"].as_array().unwrap();
        let counts: Vec<(&str, u64)> = addresses
            .iter()
            .map(|a| (a["addr"].as_str().unwrap(), a["requests"].as_u64().unwrap()))
            .collect();
        assert_eq!(counts.len(), 3, "{driver}: {counts:?}");
        assert!(counts.iter().all(|(_, n)| *n > 0), "{driver}: {counts:?}");
        assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), 600, "{driver}");
        assert_eq!(summary["connections"]["connect_ms"]["count"], 6, "{driver}");
        assert!(
            summary["connections"]["tls_handshake_ms"]["count"] == 0,
            "{driver}: plain HTTP"
        );
        let (ttfb, ttlb) = (
            &summary["totals"]["ttfb_ms"],
            &summary["totals"]["latency_ms"],
        );
        assert!(ttfb["max"].as_f64().unwrap() > 0.0, "{driver}: {ttfb}");
        assert!(
            ttfb["min"].as_f64().unwrap() <= ttlb["min"].as_f64().unwrap(),
            "{driver}"
        );
        let bytes_per_s: f64 = summary["timeseries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["bytes_per_s"].as_f64().unwrap())
            .sum();
        assert!(bytes_per_s > 0.0, "{driver}");
    }
}

/// 2000 users started at 5000/s, with connects bounded per shard, all get
/// connected (the target counts 2000 connections) and nothing fails.
#[test]
fn fast_ramp_connects_every_user_without_failures() {
    let _serial = serial();
    for driver in drivers() {
        let target = TargetProcess::start();
        let run = stampede(
            &args(
                &target.url(),
                driver,
                &[
                    "-u",
                    "2000",
                    "--spawn-rate",
                    "5000",
                    "-t",
                    "3s",
                    "--max-connecting",
                    "64",
                ],
            ),
            LIMIT,
        );
        assert!(run.status.success(), "{driver}: {}", run.stderr);
        assert_eq!(run.total("failures"), 0, "{driver}: {}", run.stderr);
        let (requests, connections) = target.stats();
        assert_eq!(connections, 2000, "{driver}: every user connected");
        assert_eq!(requests, run.total("requests"), "{driver}");
        assert_eq!(
            run.summary()["connections"]["connect_ms"]["count"],
            2000,
            "{driver}"
        );
    }
}

/// A certificate valid for localhost and 127.0.0.1, reached under another
/// name (`--resolve`), fails every request as kind tls with the reason
/// (two users, so each of the two shards has one).
#[test]
fn certificate_for_another_name_is_a_tls_failure() {
    let _serial = serial();
    for driver in drivers() {
        let cert = temp_file("cert.pem", "");
        let cert = cert.to_str().unwrap().to_string();
        let target = TargetProcess::start_with(&["--tls-self-signed", "--tls-cert-out", &cert]);
        let url = format!("https://wrong.test:{}/", target.addr.port());
        let run = stampede(
            &args(
                &url,
                driver,
                &[
                    "--resolve",
                    "wrong.test:127.0.0.1",
                    "--cacert",
                    &cert,
                    "-u",
                    "2",
                    "-n",
                    "6",
                ],
            ),
            LIMIT,
        );
        assert_eq!(
            (run.total("requests"), run.failures_of_kind("tls")),
            (6, 6),
            "{driver}: {}",
            run.stderr
        );
        let failures = run.summary()["failures"].as_array().unwrap();
        assert_eq!(
            failures[0]["message"], "certificate not valid for the host name",
            "{driver}"
        );
        assert_eq!(
            target.stats().0,
            0,
            "{driver}: no request reached the target"
        );
    }
}

/// A run that needs more descriptors than the limit allows refuses to start
/// (exit 1) with the numbers and the fix, before any connection is made.
#[test]
fn too_low_fd_limit_refuses_to_start() {
    let _serial = serial();
    let target = TargetProcess::start();
    // Five million users need more descriptors than any fs.nr_open allows.
    let run = stampede(
        &["run", "--host", &target.url(), "-u", "5000000", "-n", "1"],
        LIMIT,
    );
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    for part in [
        "open-file limit",
        "5000",
        "ulimit -Hn",
        "--processes ",
        "--allow-low-fd-limit",
    ] {
        assert!(
            run.stderr.contains(part),
            "missing {part:?} in: {}",
            run.stderr
        );
    }
    assert_eq!(target.stats(), (0, 0));
}
