//! Property and fuzz tests of everything this crate decodes from outside the
//! process: snapshots (`decode_snapshot`), their histograms
//! (`HistogramBuckets::counts`) and run files (`decode_run`). Random bytes,
//! and valid encodings mutated (bytes flipped, cut, inserted; for run files
//! also with the checksum made right again, so the frames themselves are
//! parsed), never panic, and never allocate more than a small multiple of
//! their length (a counting allocator, `alloc`, measures the peak).
//!
//! Each test runs a budget of cases that keeps `cargo test` quick;
//! `PROPTEST_CASES=N` runs N cases of each instead (docs/testing.md). The
//! coordinator's wire frames (`wire`) are not fuzzed here: they are being
//! redesigned, and get their own fuzz tests with the new framing.

mod alloc;
mod strategies;

use proptest::prelude::*;

use crate::{decode_run, decode_snapshot, encode_run, encode_snapshot, HistogramBuckets, Snapshot};
use alloc::peak_bytes_during;
use strategies::{mutations, random_bytes, run_facts, snapshot, Mutation};

/// The most a decoder may allocate at its peak for `input_len` bytes of
/// input: rkyv's archived form is at least half the size of the values it
/// decodes to (an empty `String` takes 8 bytes archived, 24 in memory, but
/// allocates nothing), plus the aligned copy of the input and a constant
/// for the error message.
fn allocation_bound(input_len: usize) -> usize {
    8 * input_len + 4096
}

/// The test budget: `PROPTEST_CASES` when set, else `default_cases`; no
/// regression files are written (a failure found is kept as a plain
/// `#[test]` with its bytes, next to the code it fixes).
pub(crate) fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Decodes `bytes` as a snapshot, checking the allocation bound, and when
/// that succeeds decodes each of its histograms too.
fn decode_snapshot_checked(bytes: &[u8]) -> Result<Snapshot, String> {
    let (decoded, peak) = peak_bytes_during(|| decode_snapshot(bytes));
    let bound = allocation_bound(bytes.len());
    if peak > bound {
        return Err(format!(
            "{peak} bytes allocated decoding {} (bound {bound})",
            bytes.len()
        ));
    }
    let snapshot = decoded.map_err(|e| e.to_string())?;
    for endpoint in &snapshot.endpoints {
        let histograms = [&endpoint.latency_us, &endpoint.ttfb_us]
            .into_iter()
            .chain(endpoint.service_us.as_ref());
        for histogram in histograms {
            counts_checked(histogram)?;
        }
    }
    for histogram in [
        &snapshot.sched_lag_us,
        &snapshot.connect_us,
        &snapshot.tls_handshake_us,
    ] {
        counts_checked(histogram)?;
    }
    Ok(snapshot)
}

/// `counts()` of `buckets` within the allocation bound; when it decodes,
/// the pairs are in strictly increasing value order with non-zero counts,
/// within the header's range.
fn counts_checked(buckets: &HistogramBuckets) -> Result<(), String> {
    let (counts, peak) = peak_bytes_during(|| buckets.counts());
    // A pair takes at least two bytes encoded and 16 decoded.
    let bound = 8 * buckets.encoded.len() + 4096;
    if peak > bound {
        return Err(format!(
            "counts() allocated {peak} bytes for {} encoded (bound {bound})",
            buckets.encoded.len()
        ));
    }
    let Ok(Some(counts)) = counts else {
        return Ok(());
    };
    let ordered = counts.pairs.windows(2).all(|w| w[0].0 < w[1].0);
    let positive = counts.pairs.iter().all(|&(_, c)| c > 0);
    let in_range = counts.max() <= counts.highest.saturating_mul(2);
    if !(ordered && positive && in_range) {
        return Err(format!(
            "counts() accepted inconsistent buckets: {counts:?}"
        ));
    }
    Ok(())
}

/// Applies `mutations` to `bytes`, in order.
fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        mutation.apply(&mut bytes);
    }
    bytes
}

/// Makes the trailing checksum of a (mutated) run file right again, so
/// decoding gets past it to the frames.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() >= 24 {
        bytes.truncate(bytes.len() - 8);
        let checksum = crate::run_file::fnv1a_64(&bytes);
        bytes.extend_from_slice(&checksum.to_le_bytes());
    }
    bytes
}

proptest! {
    #![proptest_config(config(1_000))]

    /// Any snapshot survives encoding and decoding unchanged.
    #[test]
    fn fuzz_snapshot_round_trips(snapshot in snapshot()) {
        let bytes = encode_snapshot(&snapshot).unwrap();
        prop_assert_eq!(decode_snapshot_checked(&bytes), Ok(snapshot));
    }

    /// A valid snapshot mutated is refused or decodes to something whose
    /// histograms decode, without a panic or an outsized allocation.
    #[test]
    fn fuzz_snapshot_mutated(snapshot in snapshot(), mutations in mutations()) {
        let bytes = mutate(encode_snapshot(&snapshot).unwrap(), &mutations);
        if let Err(e) = decode_snapshot_checked(&bytes) {
            prop_assert!(!e.contains("allocated"), "{}", e);
        }
    }

    /// A run file mutated, with its checksum left wrong or made right
    /// again, is refused or decodes, without a panic or an outsized
    /// allocation; unmutated, it round-trips.
    #[test]
    fn fuzz_run_file_mutated(
        facts in run_facts(),
        snapshots in prop::collection::vec(snapshot(), 0..4),
        mutations in mutations(),
        resealed in any::<bool>(),
    ) {
        let bytes = encode_run(&facts, &snapshots).unwrap();
        let back = decode_run(&bytes).unwrap();
        prop_assert_eq!(&back.facts, &facts);
        prop_assert_eq!(&back.snapshots, &snapshots);
        let mut bytes = mutate(bytes, &mutations);
        if resealed {
            bytes = reseal(bytes);
        }
        let (_, peak) = peak_bytes_during(|| decode_run(&bytes));
        prop_assert!(peak <= allocation_bound(bytes.len()), "{} bytes for {}", peak, bytes.len());
    }
}

proptest! {
    #![proptest_config(config(30_000))]

    /// Random bytes are refused as a snapshot without a panic or an
    /// outsized allocation.
    #[test]
    fn fuzz_snapshot_random_bytes(bytes in random_bytes(600)) {
        if let Err(e) = decode_snapshot_checked(&bytes) {
            prop_assert!(!e.contains("allocated"), "{}", e);
        }
    }

}

proptest! {
    #![proptest_config(config(50_000))]

    /// Random histogram encodings, biased towards the sparse format's tag,
    /// decode to consistent buckets or are refused.
    #[test]
    fn fuzz_histogram_buckets(
        tagged in any::<bool>(),
        rest in random_bytes(64),
    ) {
        let mut encoded = if tagged { vec![b'S'] } else { Vec::new() };
        encoded.extend_from_slice(&rest);
        let checked = counts_checked(&HistogramBuckets { encoded });
        prop_assert!(checked.is_ok(), "{:?}", checked);
    }

}

proptest! {
    #![proptest_config(config(30_000))]

    /// Random bytes behind a run file's magic and version, sealed with a
    /// right checksum, are refused or decode without a panic or an
    /// outsized allocation.
    #[test]
    fn fuzz_run_file_random_frames(frames in random_bytes(400)) {
        let mut bytes = crate::RUN_FILE_MAGIC.to_vec();
        bytes.extend_from_slice(&crate::RUN_FILE_VERSION.to_le_bytes());
        bytes.extend_from_slice(&[0; 6]);
        bytes.extend_from_slice(&frames);
        bytes.extend_from_slice(&[0; 8]);
        let bytes = reseal(bytes);
        let (_, peak) = peak_bytes_during(|| decode_run(&bytes));
        prop_assert!(peak <= allocation_bound(bytes.len()), "{} bytes for {}", peak, bytes.len());
    }
}
