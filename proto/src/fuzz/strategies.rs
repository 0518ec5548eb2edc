//! proptest strategies for this crate's types, and byte mutations of their
//! encodings.

use std::sync::LazyLock;

use hdrhistogram::Histogram;
use proptest::prelude::*;

use crate::{
    AddressCount, EndpointSnapshot, FailureCount, FailureKind, FailureSample, HistogramBuckets,
    RunFacts, Snapshot, SNAPSHOT_VERSION,
};

/// A histogram of latencies as shards record them (1 µs to 1 h, 3
/// figures), from a pool made once: building and encoding one per case
/// would cost more than everything else a case does.
fn histogram() -> impl Strategy<Value = HistogramBuckets> {
    static POOL: LazyLock<Vec<HistogramBuckets>> = LazyLock::new(|| {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        (0..32)
            .map(|i| {
                let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
                for _ in 0..i * i {
                    // xorshift64: spread values over the whole range.
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    histogram
                        .record(1 + ((rng % 3_600_000_000) >> (rng % 24)))
                        .unwrap();
                }
                HistogramBuckets::encode(&histogram).unwrap()
            })
            .collect()
    });
    prop::sample::select(POOL.as_slice())
}

fn failure_kind() -> impl Strategy<Value = FailureKind> {
    prop::sample::select(FailureKind::ALL.to_vec())
}

fn failure() -> impl Strategy<Value = FailureCount> {
    (failure_kind(), ".{0,12}", any::<u64>()).prop_map(|(kind, message, count)| FailureCount {
        kind,
        message,
        count,
    })
}

fn sample() -> impl Strategy<Value = FailureSample> {
    (
        failure_kind(),
        ".{0,12}",
        ".{0,20}",
        any::<u16>(),
        prop::collection::vec(any::<u8>(), 0..32),
    )
        .prop_map(|(kind, message, request, status, body)| FailureSample {
            kind,
            message,
            request,
            status,
            body,
        })
}

fn endpoint() -> impl Strategy<Value = EndpointSnapshot> {
    (
        ("[A-Z]{1,7}", ".{0,16}"),
        any::<[u64; 6]>(),
        prop::collection::vec(failure(), 0..3),
        prop::collection::vec(sample(), 0..2),
        (histogram(), prop::option::of(histogram()), histogram()),
    )
        .prop_map(
            |((method, name), counts, failures, samples, (latency_us, service_us, ttfb_us))| {
                EndpointSnapshot {
                    method,
                    name,
                    requests: counts[0],
                    failures,
                    bytes_received: counts[1],
                    body_bytes: counts[2],
                    body_bytes_sent: counts[5],
                    decoded_bytes: counts[3],
                    redirects: counts[4],
                    samples,
                    latency_us,
                    service_us,
                    ttfb_us,
                }
            },
        )
}

fn address() -> impl Strategy<Value = AddressCount> {
    ("[0-9.:]{1,21}", any::<u64>(), any::<u64>()).prop_map(|(addr, requests, bytes_sent)| {
        AddressCount {
            addr,
            requests,
            bytes_sent,
        }
    })
}

/// Any snapshot of this version.
pub fn snapshot() -> impl Strategy<Value = Snapshot> {
    (
        (any::<u32>(), any::<u32>(), any::<u64>(), any::<u32>()),
        (any::<u64>(), any::<u64>(), any::<bool>(), any::<u64>()),
        prop::collection::vec(endpoint(), 0..3),
        (any::<u64>(), histogram(), histogram(), histogram()),
        prop::collection::vec(address(), 0..2),
        (any::<u32>(), any::<u64>()),
    )
        .prop_map(
            |(
                (source, interval, elapsed_ms, users),
                (dropped, cpu_us, is_final, wall_us),
                endpoints,
                (wait_us, sched_lag_us, connect_us, tls_handshake_us),
                addresses,
                (open_connections, max_rss_kb),
            )| Snapshot {
                version: SNAPSHOT_VERSION,
                source,
                interval,
                elapsed_ms,
                users,
                dropped,
                cpu_us,
                is_final,
                endpoints,
                wall_us,
                wait_us,
                sched_lag_us,
                connect_us,
                tls_handshake_us,
                addresses,
                open_connections,
                max_rss_kb,
            },
        )
}

/// Any run facts (floats finite, so they compare equal after a round trip).
pub fn run_facts() -> impl Strategy<Value = RunFacts> {
    (
        (0.0f64..1e9, any::<u64>(), any::<u64>(), "[a-z_]{0,10}"),
        (0.0f64..1e9, any::<u64>(), any::<u64>(), any::<u64>()),
        (
            "[a-z_]{0,12}",
            prop::collection::vec(".{0,20}", 0..3),
            ".{0,40}",
        ),
    )
        .prop_map(
            |(
                (duration_s, started_unix_ms, threads, io_driver),
                (cpu_seconds, max_rss_kb, fd_limit, connections_opened),
                (stop_reason, warnings, config_json),
            )| RunFacts {
                duration_s,
                started_unix_ms,
                threads,
                io_driver,
                cpu_seconds,
                max_rss_kb,
                fd_limit,
                connections_opened,
                stop_reason,
                warnings,
                config_json,
            },
        )
}

/// One change to an encoding; positions wrap around its length.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// XOR the byte at this position with a non-zero mask.
    Flip(usize, u8),
    /// Overwrite four bytes with a little-endian u32 (a length or offset).
    Word(usize, u32),
    /// Cut the encoding at this position.
    Truncate(usize),
    /// Insert bytes at this position.
    Insert(usize, Vec<u8>),
    /// Remove up to this many bytes from this position.
    Remove(usize, usize),
}

impl Mutation {
    /// Applies the change to `bytes`.
    pub fn apply(&self, bytes: &mut Vec<u8>) {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        let len = bytes.len();
        match self {
            Mutation::Flip(i, mask) if len > 0 => bytes[at(*i, len)] ^= mask,
            Mutation::Word(i, word) if len >= 4 => {
                let i = at(*i, len - 3);
                bytes[i..i + 4].copy_from_slice(&word.to_le_bytes());
            }
            Mutation::Truncate(i) => bytes.truncate(at(*i, len + 1)),
            Mutation::Insert(i, more) => {
                let i = at(*i, len + 1);
                bytes.splice(i..i, more.iter().copied());
            }
            Mutation::Remove(i, n) if len > 0 => {
                let i = at(*i, len);
                bytes.drain(i..(i + n).min(len));
            }
            _ => {}
        }
    }
}

/// One to four mutations; words favour small and boundary values.
pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let word = prop_oneof![
        0u32..64,
        Just(u32::MAX),
        Just(0x8000_0000),
        Just(0xffff),
        any::<u32>(),
    ];
    let mutation = prop_oneof![
        4 => (any::<usize>(), 1u8..=255).prop_map(|(i, m)| Mutation::Flip(i, m)),
        2 => (any::<usize>(), word).prop_map(|(i, w)| Mutation::Word(i, w)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ];
    prop::collection::vec(mutation, 1..5)
}

/// Up to `len_max` random bytes made from a seed: a byte-by-byte strategy
/// costs more per case than the decoding it feeds.
pub fn random_bytes(len_max: usize) -> impl Strategy<Value = Vec<u8>> {
    (0..=len_max, any::<u64>()).prop_map(|(len, seed)| {
        // xorshift64*, seeded away from zero.
        let mut state = seed | 1;
        (0..len)
            .map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    })
}
