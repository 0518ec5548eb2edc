//! Checks and decodes a wire snapshot before anything of it is merged.
//!
//! Everything about a snapshot that can be wrong (its version, its interval
//! index, its histogram bytes, values beyond what a latency histogram tracks)
//! is found here, so the aggregator either merges a snapshot whole or refuses
//! it whole. Merging the decoded parts is `aggregate`'s job.

use hdrhistogram::Histogram;
use stampede_proto::{
    CheckedBuckets, EndpointSnapshot, HistogramBuckets, ProtoError, Snapshot, SNAPSHOT_VERSION,
};

use super::LATENCY_US_HIGHEST;

/// Highest interval index accepted (seven days of seconds), so a corrupt index
/// cannot make the time series grow without bound.
const MAX_INTERVAL: u32 = 7 * 86_400;

/// A snapshot's endpoint with its histograms decoded and checked, ready to merge.
pub(super) struct DecodedEndpoint<'a> {
    /// The endpoint as it came off the wire (names, counts, failures).
    pub wire: &'a EndpointSnapshot,
    /// Its failures, all kinds summed.
    pub failures: u64,
    /// Its latency histogram; `None` when empty.
    pub latency_us: Option<CheckedBuckets<'a>>,
    /// `None`: no service time sent; `Some(None)`: sent but empty.
    pub service_us: Option<Option<CheckedBuckets<'a>>>,
    /// Its time-to-first-byte histogram; `None` when empty.
    pub ttfb_us: Option<CheckedBuckets<'a>>,
}

/// A snapshot's dial histograms, decoded and checked.
pub(super) struct DecodedDial<'a> {
    /// TCP connect times; `None` when empty.
    pub connect_us: Option<CheckedBuckets<'a>>,
    /// TLS handshake times; `None` when empty.
    pub tls_handshake_us: Option<CheckedBuckets<'a>>,
}

/// Decodes a snapshot's connect and TLS handshake histograms.
pub(super) fn decode_dial(snapshot: &Snapshot) -> Result<DecodedDial<'_>, ProtoError> {
    Ok(DecodedDial {
        connect_us: counts_in_range(&snapshot.connect_us)?,
        tls_handshake_us: counts_in_range(&snapshot.tls_handshake_us)?,
    })
}

/// Checks a snapshot and decodes all its endpoints, or says what is wrong.
pub(super) fn decode(snapshot: &Snapshot) -> Result<Vec<DecodedEndpoint<'_>>, ProtoError> {
    check_header(snapshot)?;
    snapshot.endpoints.iter().map(decode_endpoint).collect()
}

/// Rejects a snapshot of another version or with an interval index out of range.
fn check_header(snapshot: &Snapshot) -> Result<(), ProtoError> {
    if snapshot.version != SNAPSHOT_VERSION {
        return Err(ProtoError::Version {
            found: snapshot.version,
            expected: SNAPSHOT_VERSION,
        });
    }
    if snapshot.interval == 0 || snapshot.interval > MAX_INTERVAL {
        return Err(ProtoError::Invalid(format!(
            "interval {} outside 1..={MAX_INTERVAL}",
            snapshot.interval
        )));
    }
    Ok(())
}

/// Decodes an endpoint's histograms and sums its failures.
fn decode_endpoint(wire: &EndpointSnapshot) -> Result<DecodedEndpoint<'_>, ProtoError> {
    Ok(DecodedEndpoint {
        wire,
        failures: wire
            .failures
            .iter()
            .fold(0u64, |sum, f| sum.saturating_add(f.count)),
        latency_us: counts_in_range(&wire.latency_us)?,
        service_us: wire.service_us.as_ref().map(counts_in_range).transpose()?,
        ttfb_us: counts_in_range(&wire.ttfb_us)?,
    })
}

/// Checks a snapshot's open-loop schedule-lag histogram; `None` when empty.
pub(super) fn decode_lag(snapshot: &Snapshot) -> Result<Option<CheckedBuckets<'_>>, ProtoError> {
    counts_in_range(&snapshot.sched_lag_us)
}

/// A checked lag histogram's buckets in a histogram of the shards' own
/// bounds, not of the bounds the bytes name: a histogram of any bounds would
/// allocate what the bytes ask for (1 µs to 2^63 at 5 figures is 50 MB from
/// 12 bytes). Made only while its snapshot merges, one at a time.
pub(super) fn lag_histogram(lag: &CheckedBuckets) -> Histogram<u64> {
    let mut histogram = super::new_latency_histogram();
    lag.add_to(&mut histogram);
    histogram
}

/// The bucket counts of a histogram, refusing values above what a latency
/// histogram tracks (which is also what makes adding them to one unable to
/// fail).
fn counts_in_range(buckets: &HistogramBuckets) -> Result<Option<CheckedBuckets<'_>>, ProtoError> {
    let counts = buckets.check()?;
    if let Some(c) = &counts {
        if c.max() > LATENCY_US_HIGHEST {
            return Err(ProtoError::Histogram(format!(
                "value {} µs above the {LATENCY_US_HIGHEST} µs bound",
                c.max()
            )));
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::{endpoint, snapshot};
    use stampede_proto::FailureKind::{Connect, Status};

    /// Found by `fuzz_run_file_replay`: a schedule-lag histogram naming the
    /// bounds 1 to 2^63 at 4 figures (12 bytes) made its decoding allocate
    /// 6.7 MB (50 MB at 5 figures); its buckets now go into a histogram of
    /// the shards' own bounds, as its values must fit them anyway.
    #[test]
    fn lag_histogram_bounds_do_not_size_the_allocation() {
        let mut s = snapshot(0, 1, 1, vec![]);
        s.sched_lag_us = HistogramBuckets {
            encoded: vec![
                83, 1, 255, 255, 255, 255, 255, 255, 255, 255, 127, 5, 200, 1, 3,
            ],
        };
        let (lag, peak) = crate::fuzz::alloc::peak_bytes_during(|| {
            decode_lag(&s).map(|lag| lag.as_ref().map(lag_histogram))
        });
        let lag = lag.unwrap().unwrap();
        assert_eq!((lag.len(), lag.max()), (3, lag.highest_equivalent(200)));
        assert!(peak < 1 << 20, "{peak} bytes");
    }

    /// A good snapshot decodes every endpoint, its histograms and its failure sum.
    #[test]
    fn decodes_a_good_snapshot() {
        let failures = [(Status, "HTTP 500", 2), (Connect, "refused", 3)];
        let mut e = endpoint("GET", "/", &[10, 20], &failures);
        e.service_us = Some(HistogramBuckets::default());
        let s = snapshot(0, 1, 1, vec![e, endpoint("GET", "/x", &[], &[])]);
        let decoded = decode(&s).unwrap();
        assert_eq!(decoded.len(), 2);
        assert_eq!(decoded[0].failures, 5);
        assert_eq!(decoded[0].latency_us.as_ref().map(|h| h.len()), Some(2));
        assert!(matches!(decoded[0].service_us, Some(None)));
        assert!(decoded[1].latency_us.is_none() && decoded[1].service_us.is_none());
    }

    /// Another version, interval 0 or beyond the limit, bad bytes, out-of-range values: refused.
    #[test]
    fn refuses_each_kind_of_bad_snapshot() {
        let mut other_version = snapshot(0, 1, 1, vec![]);
        other_version.version += 1;
        assert!(matches!(
            decode(&other_version),
            Err(ProtoError::Version { .. })
        ));
        for interval in [0, MAX_INTERVAL + 1] {
            let s = snapshot(0, interval, 1, vec![]);
            assert!(matches!(decode(&s), Err(ProtoError::Invalid(_))));
        }
        assert!(decode(&snapshot(0, MAX_INTERVAL, 1, vec![])).is_ok());
        let mut corrupt = endpoint("GET", "/", &[1], &[]);
        corrupt.latency_us.encoded.truncate(3);
        let mut too_high = Histogram::<u64>::new(3).unwrap();
        too_high.record(LATENCY_US_HIGHEST * 2).unwrap();
        let mut bad_service = endpoint("GET", "/", &[1], &[]);
        bad_service.service_us = Some(HistogramBuckets::encode(&too_high).unwrap());
        for bad in [corrupt, bad_service] {
            let s = snapshot(0, 1, 1, vec![endpoint("GET", "/ok", &[1], &[]), bad]);
            assert!(matches!(decode(&s), Err(ProtoError::Histogram(_))));
        }
    }
}
