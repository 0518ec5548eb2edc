//! Whole HDR histograms on the wire, as their non-empty buckets.
//!
//! A histogram travels as a small header (lowest and highest trackable
//! value, significant figures) and one (value, count) pair per non-empty
//! bucket, both LEB128 varints, values delta-encoded in increasing order.
//! That is exact (every bucket count is kept) and its cost is proportional to
//! the buckets in use, not to the histogram's range: a receiver adds the
//! pairs straight into its own histogram without building one per snapshot,
//! which is what lets a coordinator merge a hundred workers cheaply.

use hdrhistogram::Histogram;
use rkyv::{Archive, Deserialize, Serialize};

use crate::ProtoError;

/// Format tag of the encoding, so a future one can be told apart.
const FORMAT_SPARSE_V1: u8 = b'S';

/// A whole HDR histogram as its non-empty buckets; empty bytes for an empty histogram.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct HistogramBuckets {
    /// The encoded header and bucket pairs.
    pub encoded: Vec<u8>,
}

/// The decoded form: bounds and (value, count) pairs in increasing value order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BucketCounts {
    /// Lowest discernible value of the source histogram.
    pub lowest: u64,
    /// Highest trackable value of the source histogram.
    pub highest: u64,
    /// Significant figures of the source histogram.
    pub sigfig: u8,
    /// (the bucket's lowest value, count) per non-empty bucket.
    pub pairs: Vec<(u64, u64)>,
}

impl BucketCounts {
    /// Total count over all buckets.
    pub fn len(&self) -> u64 {
        self.pairs
            .iter()
            .fold(0u64, |sum, &(_, c)| sum.saturating_add(c))
    }

    /// True when no value was recorded.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Largest value present (0 when empty).
    pub fn max(&self) -> u64 {
        self.pairs.last().map_or(0, |&(v, _)| v)
    }

    /// Adds every bucket into `into`: an auto-resizing histogram grows, a
    /// bounded one saturates values beyond its range.
    pub fn add_to(&self, into: &mut Histogram<u64>) {
        for &(value, count) in &self.pairs {
            if into.record_n(value, count).is_err() {
                into.saturating_record_n(value, count);
            }
        }
    }
}

/// An encoding that [`HistogramBuckets::check`] found valid: its bounds,
/// and its pairs still encoded, decoded again each time they are read (a
/// merge reads them once), so checking a snapshot allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckedBuckets<'a> {
    /// Lowest discernible value of the source histogram.
    pub lowest: u64,
    /// Highest trackable value of the source histogram.
    pub highest: u64,
    /// Significant figures of the source histogram.
    pub sigfig: u8,
    /// Largest value present.
    max: u64,
    /// Total count over all buckets.
    len: u64,
    /// The encoded pairs, checked.
    pairs: &'a [u8],
}

impl CheckedBuckets<'_> {
    /// Largest value present.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Total count over all buckets.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when no value was recorded (a header without pairs).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// (the bucket's lowest value, count) per non-empty bucket, in increasing value order.
    pub fn pairs(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut rest = self.pairs;
        let mut value = 0u64;
        std::iter::from_fn(move || {
            // Checked already: every varint is whole and every sum in range.
            let delta = take_varint(&mut rest)?;
            let count = take_varint(&mut rest)?;
            value += delta;
            Some((value, count))
        })
    }

    /// Adds every bucket into `into`: an auto-resizing histogram grows, a
    /// bounded one saturates values beyond its range.
    pub fn add_to(&self, into: &mut Histogram<u64>) {
        for (value, count) in self.pairs() {
            if into.record_n(value, count).is_err() {
                into.saturating_record_n(value, count);
            }
        }
    }
}

impl HistogramBuckets {
    /// Encodes a histogram's non-empty buckets; an empty one encodes to no bytes.
    pub fn encode(histogram: &Histogram<u64>) -> Result<Self, ProtoError> {
        let mut encoded = Vec::new();
        if histogram.is_empty() {
            return Ok(HistogramBuckets { encoded });
        }
        encoded.push(FORMAT_SPARSE_V1);
        put_varint(&mut encoded, histogram.low());
        put_varint(&mut encoded, histogram.high());
        encoded.push(histogram.sigfig());
        let mut previous = 0u64;
        for bucket in histogram.iter_recorded() {
            // The bucket's lowest value, as hdrhistogram's own `add` uses.
            let value = histogram.lowest_equivalent(bucket.value_iterated_to());
            put_varint(&mut encoded, value - previous);
            put_varint(&mut encoded, bucket.count_at_value());
            previous = value;
        }
        Ok(HistogramBuckets { encoded })
    }

    /// Decodes and validates the bucket pairs; `None` for an empty histogram.
    pub fn counts(&self) -> Result<Option<BucketCounts>, ProtoError> {
        Ok(self.check()?.map(|checked| BucketCounts {
            lowest: checked.lowest,
            highest: checked.highest,
            sigfig: checked.sigfig,
            pairs: checked.pairs().collect(),
        }))
    }

    /// Validates the encoding without decoding it into memory; `None` for
    /// an empty histogram. The pairs are read from the bytes when used.
    pub fn check(&self) -> Result<Option<CheckedBuckets<'_>>, ProtoError> {
        if self.encoded.is_empty() {
            return Ok(None);
        }
        let bad = |what: &str| ProtoError::Histogram(format!("malformed histogram: {what}"));
        let (&format, mut rest) = self.encoded.split_first().ok_or_else(|| bad("empty"))?;
        if format != FORMAT_SPARSE_V1 {
            return Err(bad("unknown format"));
        }
        let lowest = take_varint(&mut rest).ok_or_else(|| bad("header"))?;
        let highest = take_varint(&mut rest).ok_or_else(|| bad("header"))?;
        let (&sigfig, rest) = rest.split_first().ok_or_else(|| bad("header"))?;
        // `highest / 2`, not `2 * lowest`, which overflows for a huge `lowest`.
        if lowest == 0 || highest / 2 < lowest || sigfig > 5 {
            return Err(bad("bounds"));
        }
        let pairs = rest;
        let (mut rest, mut value, mut len, mut first) = (rest, 0u64, 0u64, true);
        while !rest.is_empty() {
            let delta = take_varint(&mut rest).ok_or_else(|| bad("bucket"))?;
            let count = take_varint(&mut rest).ok_or_else(|| bad("bucket"))?;
            if (delta == 0 && !first) || count == 0 {
                return Err(bad("bucket order"));
            }
            value = value
                .checked_add(delta)
                .filter(|&v| v <= highest.saturating_mul(2))
                .ok_or_else(|| bad("value"))?;
            len = len.saturating_add(count);
            first = false;
        }
        Ok(Some(CheckedBuckets {
            lowest,
            highest,
            sigfig,
            max: value,
            len,
            pairs,
        }))
    }

    /// Decodes into a histogram of the source's bounds; `None` for an empty one.
    pub fn decode(&self) -> Result<Option<Histogram<u64>>, ProtoError> {
        let Some(counts) = self.counts()? else {
            return Ok(None);
        };
        let mut histogram =
            Histogram::new_with_bounds(counts.lowest, counts.highest, counts.sigfig)
                .map_err(|e| ProtoError::Histogram(format!("{e:?}")))?;
        counts.add_to(&mut histogram);
        Ok(Some(histogram))
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(input: &mut &[u8]) -> Option<u64> {
    // Most deltas and counts fit one byte: decode those without the loop.
    if let Some((&byte, rest)) = input.split_first() {
        if byte < 0x80 {
            *input = rest;
            return Some(u64::from(byte));
        }
    }
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        value |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    /// Encoding keeps every bucket: decoded percentiles, counts and extremes are identical.
    #[test]
    fn round_trip_is_exact() {
        let values: Vec<u64> = (0..5000u64)
            .map(|i| 1 + (i * i * 7919) % 2_000_000)
            .collect();
        let original = histogram(&values);
        let buckets = HistogramBuckets::encode(&original).unwrap();
        let back = buckets.decode().unwrap().unwrap();
        assert_eq!(back.len(), original.len());
        assert_eq!((back.min(), back.max()), (original.min(), original.max()));
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                back.value_at_quantile(q),
                original.value_at_quantile(q),
                "q={q}"
            );
        }
        let mut merged = histogram(&[]);
        buckets.counts().unwrap().unwrap().add_to(&mut merged);
        assert_eq!(merged, original);
        assert!(HistogramBuckets::encode(&histogram(&[]))
            .unwrap()
            .decode()
            .unwrap()
            .is_none());
    }

    /// Found by `fuzz_histogram_buckets`: a lowest value above `u64::MAX / 2`
    /// overflowed `2 * lowest` in the bounds check (a panic in debug builds,
    /// a wrongly passed check in release ones); it is refused.
    #[test]
    fn huge_lowest_value_is_refused() {
        let encoded = vec![b'S', 128, 128, 128, 128, 128, 128, 128, 128, 128, 55, 0, 0];
        let err = HistogramBuckets { encoded }.counts().unwrap_err();
        assert!(err.to_string().contains("bounds"), "{err}");
    }

    /// Malformed encodings are errors, not panics.
    #[test]
    fn malformed_encodings_are_refused() {
        let good = HistogramBuckets::encode(&histogram(&[5, 500, 50_000]))
            .unwrap()
            .encoded;
        let cases: Vec<Vec<u8>> = vec![
            vec![b'X'],
            good[..good.len() - 1].to_vec(),
            vec![b'S', 0, 10, 3],
            vec![b'S', 1, 0xff],
            [good.clone(), vec![0, 1]].concat(),
            [good.clone(), vec![1, 0]].concat(),
            vec![
                b'S', 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 3,
            ],
        ];
        for encoded in cases {
            assert!(
                HistogramBuckets {
                    encoded: encoded.clone()
                }
                .counts()
                .is_err(),
                "{encoded:?}"
            );
        }
    }
}
