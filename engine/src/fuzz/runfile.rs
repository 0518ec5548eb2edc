//! Fuzz tests of run files as `stampede report` and `compare` read them:
//! decoded (`stampede_proto::decode_run`), replayed through a fresh
//! aggregator (`report::runfile`) and rendered (JSON summary, CSV files).
//! Mutated files, their checksum made right again so the frames are
//! parsed, and files of odd but well-formed snapshots (far intervals,
//! extreme counts, histograms of any bounds) load or are refused with one
//! line, never panic, and allocate at most a small multiple of their size
//! beyond the run-long histograms of the endpoints they name.

use std::collections::BTreeSet;

use proptest::prelude::*;
use stampede_proto::{
    decode_run, encode_run, EndpointSnapshot, FailureCount, FailureKind, HistogramBuckets,
    RunFacts, Snapshot, SNAPSHOT_VERSION,
};

use super::alloc::peak_bytes_during;
use super::config;
use crate::report::runfile::outcome_of;
use crate::report::{csv, json};
use crate::run::control::StopReason;

/// Histogram encodings: ones a shard makes, and ones no shard makes (any
/// bounds, values past the latency range, bad bytes).
fn histogram() -> impl Strategy<Value = HistogramBuckets> {
    let varint = |mut v: u64, out: &mut Vec<u8>| {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    };
    let crafted = (
        prop_oneof![Just(1u64), 1u64..1_000, Just(u64::MAX / 4)],
        prop_oneof![Just(3_600_000_000u64), Just(u64::MAX / 2), 2u64..10_000_000],
        0u8..7,
        prop::collection::vec((1u64..1 << 40, 1u64..1 << 20), 0..6),
    )
        .prop_map(move |(lowest, highest, sigfig, pairs)| {
            let mut encoded = vec![b'S'];
            varint(lowest, &mut encoded);
            varint(highest, &mut encoded);
            encoded.push(sigfig);
            for (delta, count) in pairs {
                varint(delta, &mut encoded);
                varint(count, &mut encoded);
            }
            HistogramBuckets { encoded }
        });
    let recorded = prop::collection::vec(1u64..3_600_000_000, 0..8).prop_map(|values| {
        let mut histogram = crate::stats::new_latency_histogram();
        for value in values {
            histogram.record(value).unwrap();
        }
        HistogramBuckets::encode(&histogram).unwrap()
    });
    prop_oneof![
        3 => recorded,
        2 => crafted,
        1 => prop::collection::vec(any::<u8>(), 0..12).prop_map(|encoded| HistogramBuckets { encoded }),
    ]
}

fn endpoint() -> impl Strategy<Value = EndpointSnapshot> {
    (
        prop::sample::select(vec!["GET", "POST", ""]),
        prop::sample::select(vec!["/", "/a", "Aggregated", ""]),
        prop_oneof![0u64..100, Just(u64::MAX)],
        prop::collection::vec(
            (
                prop::sample::select(FailureKind::ALL.to_vec()),
                prop_oneof![0u64..5, Just(u64::MAX)],
            ),
            0..3,
        ),
        (histogram(), prop::option::of(histogram()), histogram()),
    )
        .prop_map(
            |(method, name, requests, failures, (latency_us, service_us, ttfb_us))| {
                EndpointSnapshot {
                    method: method.into(),
                    name: name.into(),
                    requests,
                    failures: failures
                        .into_iter()
                        .map(|(kind, count)| FailureCount {
                            kind,
                            message: "m".into(),
                            count,
                        })
                        .collect(),
                    bytes_received: requests,
                    body_bytes: requests,
                    body_bytes_sent: requests.saturating_mul(3),
                    decoded_bytes: 0,
                    redirects: requests / 2,
                    samples: Vec::new(),
                    latency_us,
                    service_us,
                    ttfb_us,
                }
            },
        )
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    (
        (
            0u32..3,
            prop_oneof![8 => 1u32..6, 1 => Just(0), 1 => Just(604_800), 1 => Just(u32::MAX)],
        ),
        (
            prop_oneof![0u64..10_000, Just(u64::MAX)],
            any::<bool>(),
            prop_oneof![Just(0u64), Just(1_000_000), Just(u64::MAX)],
        ),
        prop::collection::vec(endpoint(), 0..3),
        (histogram(), histogram(), histogram()),
    )
        .prop_map(
            |(
                (source, interval),
                (elapsed_ms, is_final, wall_us),
                endpoints,
                (lag, connect, tls),
            )| Snapshot {
                version: SNAPSHOT_VERSION,
                source,
                interval,
                elapsed_ms,
                users: 1,
                dropped: wall_us / 3,
                cpu_us: wall_us / 2,
                is_final,
                endpoints,
                wall_us,
                wait_us: 0,
                sched_lag_us: lag,
                connect_us: connect,
                tls_handshake_us: tls,
                addresses: Vec::new(),
                open_connections: 0,
                max_rss_kb: 0,
            },
        )
}

fn facts() -> impl Strategy<Value = RunFacts> {
    let reasons: Vec<&str> = [
        StopReason::RunTime,
        StopReason::Completed,
        StopReason::Signal,
        StopReason::ThresholdFailed,
        StopReason::WorkerLost,
        StopReason::Requested,
    ]
    .iter()
    .map(|r| r.as_str())
    .chain(["", "nope"])
    .collect();
    (
        prop_oneof![
            Just(0.0f64),
            0.001f64..1e6,
            Just(f64::NAN),
            Just(f64::INFINITY)
        ],
        prop::sample::select(reasons),
        prop::sample::select(vec![
            "{}",
            r#"{"users": 5, "thresholds": ["p95 < 1s"]}"#,
            r#"{"thresholds": ["nonsense"]}"#,
            r#"{"thresholds": 3}"#,
            "[]",
            "not json",
        ]),
        prop_oneof![Just(0u64), 1u64..64, Just(u64::MAX)],
    )
        .prop_map(|(duration_s, stop_reason, config_json, threads)| RunFacts {
            duration_s,
            started_unix_ms: 1_700_000_000_000,
            threads,
            io_driver: "epoll".into(),
            cpu_seconds: duration_s,
            max_rss_kb: 0,
            fd_limit: 1024,
            connections_opened: 1,
            stop_reason: stop_reason.into(),
            warnings: Vec::new(),
            config_json: config_json.into(),
        })
}

/// FNV-1a 64, the run file's checksum.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Loads `bytes` as `stampede report` does and renders what the reports
/// read; returns the error line when refused.
fn load_and_render(bytes: &[u8], endpoint_series: bool) -> Result<(), String> {
    let record = decode_run(bytes).map_err(|e| e.to_string())?;
    let outcome = outcome_of(record, endpoint_series).map_err(|e| e.to_string())?;
    let agg = &outcome.aggregator;
    let _ = json::summary(agg, &outcome.info, &[]);
    let _ = csv::stats_csv(agg, outcome.info.duration_s);
    let _ = csv::stats_history_csv(agg, outcome.info.started_unix_ms, endpoint_series);
    let _ = csv::failures_csv(agg, outcome.info.started_unix_ms);
    let _ = crate::report::runfile::saved_thresholds(&outcome.info);
    Ok(())
}

proptest! {
    #![proptest_config(config(200))]

    /// Well-formed files of odd snapshots, and the same files with bytes
    /// flipped under a right checksum, load or are refused with one line,
    /// without a panic or an outsized allocation.
    #[test]
    fn fuzz_run_file_replay(
        facts in facts(),
        snapshots in prop::collection::vec(snapshot(), 0..5),
        flips in prop::collection::vec((any::<usize>(), 1u8..=255), 0..3),
        endpoint_series in any::<bool>(),
    ) {
        let mut bytes = encode_run(&facts, &snapshots).unwrap();
        if !flips.is_empty() {
            let body_len = bytes.len() - 8;
            for (at, mask) in flips {
                // Past the 16-byte header, whose magic and version are checked first.
                let at = 16 + at % (body_len - 16);
                bytes[at] ^= mask;
            }
            bytes.truncate(body_len);
            let sum = checksum(&bytes);
            bytes.extend_from_slice(&sum.to_le_bytes());
        }
        let (loaded, peak) = peak_bytes_during(|| load_and_render(&bytes, endpoint_series));
        if let Err(line) = loaded {
            prop_assert_eq!(line.lines().count(), 1, "{}", line);
        }
        // Each endpoint the file names (and the Aggregated row) costs its
        // run-long histograms, about 2 MiB; the rest follows the file's size.
        let endpoints = decode_run(&bytes).map_or(0, |record| {
            let names: BTreeSet<(String, String)> = record
                .snapshots
                .iter()
                .flat_map(|s| &s.endpoints)
                .map(|e| (e.method.clone(), e.name.clone()))
                .collect();
            names.len()
        });
        let bound = 64 * bytes.len() + (4 << 20) + (3 << 20) * endpoints;
        prop_assert!(
            peak <= bound,
            "{} bytes allocated for a {}-byte file naming {} endpoints",
            peak,
            bytes.len(),
            endpoints
        );
    }
}
