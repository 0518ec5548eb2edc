//! Stats: the latency histograms shards record into, the [`Aggregator`] that
//! merges interval snapshots, and the read-side totals reporters consume.
//!
//! A shard records each response into histograms made by
//! [`new_latency_histogram`] and ships them once per interval inside a
//! `stampede_proto::Snapshot`. The aggregator merges those snapshots, from shards
//! in one process or from workers in distributed mode, into cumulative
//! per-endpoint totals and a per-second time series. Recording on the hot path
//! belongs to the shard-local recorder; receiving snapshots to the control
//! actor and `coord`; formatting to `report`.
//!
//! - `aggregate`: the [`Aggregator`], the one merge path.
//! - `decode`: checks and decodes a snapshot before anything of it is merged.
//! - [`recorder`]: a shard's counts and histograms of the current interval.
//! - `sources`: each source's latest interval and users; which intervals are complete.
//! - `series`: per-endpoint time series, kept when a report asks for them.
//! - `compact`: reduces old points' histograms to their reported numbers, so stats stay small.
//! - `current`: requests and failures per second over the last completed intervals.
//! - `summary`: the values reporters read ([`EndpointTotals`], [`IntervalPoint`], ...).

mod aggregate;
mod compact;
mod current;
mod decode;
mod presum;
pub mod recorder;
mod series;
mod sources;
mod summary;

pub use aggregate::{Aggregator, DialTotals};
pub use compact::{
    chart_width_s, CompactLatency, LatencyStats, PointLatency, COARSE_MAX, POINT_PERCENTILES,
};
pub use current::Rates;
pub use summary::{
    max_ms, mean_ms, min_ms, percentile_ms, us_to_ms, EndpointTotals, FailureTotal, IntervalPoint,
};

use hdrhistogram::Histogram;

/// Where a source id's process part begins: a source is
/// `process << SOURCE_PROCESS_SHIFT | shard`, process 0 being the run's own
/// shards and otherwise the id of the worker that ran it (the worker sets it
/// when forwarding).
pub const SOURCE_PROCESS_SHIFT: u32 = 16;

/// Lowest latency a histogram distinguishes, in microseconds.
pub const LATENCY_US_LOWEST: u64 = 1;
/// Highest latency a histogram tracks, in microseconds (one hour).
pub const LATENCY_US_HIGHEST: u64 = 3_600_000_000;
/// Significant decimal figures every latency histogram keeps (0.1 % resolution).
pub const LATENCY_SIGNIFICANT_FIGURES: u8 = 3;

/// A latency histogram in microseconds, 1 µs to 1 h at 3 significant figures.
pub fn new_latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(
        LATENCY_US_LOWEST,
        LATENCY_US_HIGHEST,
        LATENCY_SIGNIFICANT_FIGURES,
    )
    .expect("constant histogram bounds are valid")
}

/// Latency buckets that can be added into a latency histogram: a source's
/// decoded wire buckets, or a whole histogram (several sources summed).
pub(crate) trait AddInto {
    /// Adds every bucket into `into`; values beyond its range saturate.
    fn add_into(&self, into: &mut Histogram<u64>);
    /// Calls `f` with (the bucket's lowest value, count) of each non-empty
    /// bucket.
    fn for_each_bucket(&self, f: impl FnMut(u64, u64));
}

impl AddInto for stampede_proto::BucketCounts {
    fn add_into(&self, into: &mut Histogram<u64>) {
        self.add_to(into);
    }

    fn for_each_bucket(&self, mut f: impl FnMut(u64, u64)) {
        for &(value, count) in &self.pairs {
            f(value, count);
        }
    }
}

impl AddInto for stampede_proto::CheckedBuckets<'_> {
    fn add_into(&self, into: &mut Histogram<u64>) {
        self.add_to(into);
    }

    fn for_each_bucket(&self, mut f: impl FnMut(u64, u64)) {
        for (value, count) in self.pairs() {
            f(value, count);
        }
    }
}

impl AddInto for Histogram<u64> {
    fn add_into(&self, into: &mut Histogram<u64>) {
        // Same layout: one pass over the counts array. Otherwise bucket by
        // bucket, saturating what `into` cannot hold.
        if into.add(self).is_err() {
            self.for_each_bucket(|value, count| into.saturating_record_n(value, count));
        }
    }

    fn for_each_bucket(&self, mut f: impl FnMut(u64, u64)) {
        for bucket in self.iter_recorded() {
            f(
                self.lowest_equivalent(bucket.value_iterated_to()),
                bucket.count_at_value(),
            );
        }
    }
}

/// Builders of real snapshots shared by the stats and report tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::new_latency_histogram;
    use hdrhistogram::Histogram;
    use stampede_proto::{
        EndpointSnapshot, FailureCount, FailureKind, HistogramBuckets, Snapshot, SNAPSHOT_VERSION,
    };

    /// A latency histogram holding exactly these values.
    pub fn histogram(latencies_us: &[u64]) -> Histogram<u64> {
        let mut histogram = new_latency_histogram();
        for &v in latencies_us {
            histogram.record(v).unwrap();
        }
        histogram
    }

    /// One endpoint's interval: a request per latency, 100 bytes each, these failures.
    pub fn endpoint(
        method: &str,
        name: &str,
        latencies_us: &[u64],
        failures: &[(FailureKind, &str, u64)],
    ) -> EndpointSnapshot {
        EndpointSnapshot {
            method: method.into(),
            name: name.into(),
            requests: latencies_us.len() as u64,
            failures: failures
                .iter()
                .map(|&(kind, message, count)| FailureCount {
                    kind,
                    message: message.into(),
                    count,
                })
                .collect(),
            bytes_received: 100 * latencies_us.len() as u64,
            body_bytes: 100 * latencies_us.len() as u64,
            body_bytes_sent: 30 * latencies_us.len() as u64,
            decoded_bytes: 0,
            redirects: 0,
            samples: Vec::new(),
            latency_us: HistogramBuckets::encode(&histogram(latencies_us)).unwrap(),
            service_us: None,
            ttfb_us: HistogramBuckets::encode(&histogram(latencies_us)).unwrap(),
        }
    }

    /// A regular (not final) snapshot of one source and interval, ending on the second.
    pub fn snapshot(
        source: u32,
        interval: u32,
        users: u32,
        endpoints: Vec<EndpointSnapshot>,
    ) -> Snapshot {
        Snapshot {
            version: SNAPSHOT_VERSION,
            source,
            interval,
            elapsed_ms: u64::from(interval) * 1_000,
            users,
            dropped: 0,
            cpu_us: 0,
            is_final: false,
            endpoints,
            wall_us: 1_000_000,
            wait_us: 0,
            sched_lag_us: stampede_proto::HistogramBuckets::default(),
            connect_us: stampede_proto::HistogramBuckets::default(),
            tls_handshake_us: stampede_proto::HistogramBuckets::default(),
            addresses: vec![],
            open_connections: 0,
            max_rss_kb: 0,
        }
    }
}
