//! Checks and decodes a wire snapshot before anything of it is merged.
//!
//! Everything about a snapshot that can be wrong (its version, its interval
//! index, its histogram bytes, values beyond what a latency histogram tracks)
//! is found here, so the aggregator either merges a snapshot whole or refuses
//! it whole. Merging the decoded parts is `aggregate`'s job.

use hdrhistogram::Histogram;
use stampede_proto::{
    BucketCounts, EndpointSnapshot, HistogramBuckets, ProtoError, Snapshot, SNAPSHOT_VERSION,
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
    pub latency_us: Option<BucketCounts>,
    /// `None`: no service time sent; `Some(None)`: sent but empty.
    pub service_us: Option<Option<BucketCounts>>,
    /// Its time-to-first-byte histogram; `None` when empty.
    pub ttfb_us: Option<BucketCounts>,
}

/// A snapshot's dial histograms, decoded and checked.
pub(super) struct DecodedDial {
    /// TCP connect times; `None` when empty.
    pub connect_us: Option<BucketCounts>,
    /// TLS handshake times; `None` when empty.
    pub tls_handshake_us: Option<BucketCounts>,
}

/// Decodes a snapshot's connect and TLS handshake histograms.
pub(super) fn decode_dial(snapshot: &Snapshot) -> Result<DecodedDial, ProtoError> {
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

/// Decodes a snapshot's open-loop schedule-lag histogram; `None` when empty.
pub(super) fn decode_lag(snapshot: &Snapshot) -> Result<Option<Histogram<u64>>, ProtoError> {
    decode_in_range(&snapshot.sched_lag_us)
}

/// Decodes a histogram, refusing values above what a latency histogram tracks
/// (which is also what makes adding it to one unable to fail).
/// The bucket counts of a histogram, checked against the latency range.
fn counts_in_range(buckets: &HistogramBuckets) -> Result<Option<BucketCounts>, ProtoError> {
    let counts = buckets.counts()?;
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

fn decode_in_range(buckets: &HistogramBuckets) -> Result<Option<Histogram<u64>>, ProtoError> {
    let histogram = buckets.decode()?;
    if let Some(h) = &histogram {
        if h.max() > LATENCY_US_HIGHEST {
            return Err(ProtoError::Histogram(format!(
                "value {} µs above the {LATENCY_US_HIGHEST} µs bound",
                h.max()
            )));
        }
    }
    Ok(histogram)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::{endpoint, snapshot};
    use stampede_proto::FailureKind::{Connect, Status};

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
