//! Summing the latency buckets of many sources' snapshots of one endpoint
//! and interval before they are added anywhere, which is where a
//! coordinator's merge time goes.
//!
//! A source's buckets arrive as (lowest value, count) pairs. When the
//! source's histogram has the layout of [`new_latency_histogram`] (every
//! shard's does), a pair is added by its index in that layout into a plain
//! array, a handful of instructions against the few dozen of
//! `Histogram::record_n`; the sum then goes into each total once per
//! distinct bucket. Pairs of any other layout are summed in a histogram
//! instead. Either way the counts are exact: an index is a bucket of the
//! same layout, and it is added back at that bucket's lowest value.

use hdrhistogram::Histogram;
use stampede_proto::CheckedBuckets;

use super::{new_latency_histogram, AddInto};
use super::{LATENCY_SIGNIFICANT_FIGURES, LATENCY_US_HIGHEST, LATENCY_US_LOWEST};

/// `log2` of half the sub-buckets of a bucket at 3 significant figures
/// (2,048 sub-buckets cover 1 to 2,047 at a resolution of 1).
const HALF_SUB_BUCKETS_LOG2: u32 = 10;
/// Sub-buckets in the lower half of every bucket but the first.
const HALF_SUB_BUCKETS: usize = 1 << HALF_SUB_BUCKETS_LOG2;
/// Counts slots of the layout: buckets up to [`LATENCY_US_HIGHEST`].
const SLOTS: usize = (index_of(LATENCY_US_HIGHEST) + 1) as usize;

/// The counts index of `value` in the layout of [`new_latency_histogram`]
/// (lowest 1, 3 significant figures), as hdrhistogram computes it.
const fn index_of(value: u64) -> u64 {
    let sub_bucket_mask = (2 * HALF_SUB_BUCKETS as u64) - 1;
    let bucket =
        (64 - HALF_SUB_BUCKETS_LOG2 as u64 - 1) - (value | sub_bucket_mask).leading_zeros() as u64;
    let sub_bucket = value >> bucket;
    ((bucket + 1) << HALF_SUB_BUCKETS_LOG2) + sub_bucket - HALF_SUB_BUCKETS as u64
}

/// The lowest value of counts index `index` (the inverse of [`index_of`]).
const fn lowest_of(index: usize) -> u64 {
    let bucket = (index >> HALF_SUB_BUCKETS_LOG2) as i64 - 1;
    let sub_bucket = (index & (HALF_SUB_BUCKETS - 1)) + HALF_SUB_BUCKETS;
    if bucket < 0 {
        (sub_bucket - HALF_SUB_BUCKETS) as u64
    } else {
        (sub_bucket as u64) << bucket
    }
}

/// A sum of bucket counts, reused batch after batch.
#[derive(Debug, Default)]
pub(super) struct BucketSum {
    /// Counts by index in the shards' layout; all zero outside `touched`.
    counts: Vec<u64>,
    /// The lowest and highest index added to since the last clear.
    touched: Option<(usize, usize)>,
    /// Sources of another layout, summed as histograms.
    other: Option<Histogram<u64>>,
}

impl BucketSum {
    /// Empties the sum (only what was touched is zeroed).
    pub fn clear(&mut self) {
        if let Some((low, high)) = self.touched.take() {
            self.counts[low..=high].fill(0);
        }
        if let Some(other) = &mut self.other {
            other.reset();
        }
    }

    /// Adds one source's buckets.
    pub fn add(&mut self, part: &CheckedBuckets) {
        let ours = part.lowest == LATENCY_US_LOWEST
            && part.highest == LATENCY_US_HIGHEST
            && part.sigfig == LATENCY_SIGNIFICANT_FIGURES;
        // Values were checked against the bound when decoding; a larger one
        // (never from a shard) takes the histogram path, which saturates.
        if !ours || part.max() > LATENCY_US_HIGHEST {
            part.add_to(self.other.get_or_insert_with(new_latency_histogram));
            return;
        }
        let Some((first, _)) = part.pairs().next() else {
            return;
        };
        if self.counts.is_empty() {
            self.counts = vec![0; SLOTS];
        }
        let low = index_of(first) as usize;
        let high = index_of(part.max()) as usize;
        for (value, count) in part.pairs() {
            let slot = &mut self.counts[index_of(value) as usize];
            *slot = slot.saturating_add(count);
        }
        self.touched = Some(match self.touched {
            Some((l, h)) => (l.min(low), h.max(high)),
            None => (low, high),
        });
    }

    /// True when nothing was added since the last clear.
    pub fn is_empty(&self) -> bool {
        self.touched.is_none() && self.other.as_ref().is_none_or(Histogram::is_empty)
    }
}

impl AddInto for BucketSum {
    fn add_into(&self, into: &mut Histogram<u64>) {
        self.for_each_bucket(|value, count| {
            if into.record_n(value, count).is_err() {
                into.saturating_record_n(value, count);
            }
        });
    }

    fn for_each_bucket(&self, mut f: impl FnMut(u64, u64)) {
        if let Some((low, high)) = self.touched {
            for (index, &count) in self.counts[low..=high].iter().enumerate() {
                if count != 0 {
                    f(lowest_of(low + index), count);
                }
            }
        }
        if let Some(other) = &self.other {
            other.for_each_bucket(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::histogram;
    use stampede_proto::HistogramBuckets;

    /// The index of every bucket's lowest value, and of values inside a
    /// bucket, is hdrhistogram's own: a bucket's lowest value comes back.
    #[test]
    fn indices_are_hdrhistograms() {
        let h = new_latency_histogram();
        let mut value = 1u64;
        while value <= LATENCY_US_HIGHEST {
            let lowest = h.lowest_equivalent(value);
            assert_eq!(lowest_of(index_of(value) as usize), lowest, "value {value}");
            assert_eq!(index_of(lowest), index_of(value), "value {value}");
            assert_eq!(index_of(h.highest_equivalent(value)), index_of(value));
            value += 1 + value / 300;
        }
        assert!(index_of(LATENCY_US_HIGHEST) < SLOTS as u64);
    }

    /// Summed from sources of the shards' layout and of another one, the
    /// sum adds into a histogram exactly as the sources' buckets would.
    #[test]
    fn sums_exactly_whatever_the_layout() {
        let values_a = [1, 2, 999, 2_047, 2_048, 5_000, 123_456, 3_599_999_999];
        let values_b = [2, 2, 70_000, 1_000_000];
        let mut other_layout = Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).unwrap();
        for v in [3, 500, 77_777] {
            other_layout.record(v).unwrap();
        }
        let encoded: Vec<HistogramBuckets> =
            [histogram(&values_a), histogram(&values_b), other_layout]
                .iter()
                .map(|h| HistogramBuckets::encode(h).unwrap())
                .collect();
        let parts: Vec<CheckedBuckets> = encoded
            .iter()
            .map(|e| e.check().unwrap().unwrap())
            .collect();
        let mut expected = new_latency_histogram();
        parts.iter().for_each(|p| p.add_to(&mut expected));
        let mut sum = BucketSum::default();
        sum.add(&parts[2]);
        sum.clear();
        assert!(sum.is_empty());
        parts.iter().for_each(|p| sum.add(p));
        let mut got = new_latency_histogram();
        sum.add_into(&mut got);
        assert_eq!(got.len(), expected.len());
        let buckets = |h: &Histogram<u64>| -> Vec<(u64, u64)> {
            h.iter_recorded()
                .map(|b| (b.value_iterated_to(), b.count_at_value()))
                .collect()
        };
        assert_eq!(buckets(&got), buckets(&expected));
        assert_eq!((got.min(), got.max()), (expected.min(), expected.max()));
    }
}
