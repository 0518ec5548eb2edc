//! Per-endpoint time series: one [`IntervalPoint`] per interval for each
//! endpoint (requests, failures, bytes and a 2-significant-figure latency
//! histogram), for reports that chart or list endpoints second by second.
//!
//! The aggregator keeps them only when asked
//! ([`Aggregator::with_endpoint_series`](super::Aggregator::with_endpoint_series)):
//! a recent point holds a histogram of a few kilobytes (older ones are
//! compacted by `compact` to about 200 bytes), which most runs never read.
//! The run-wide series and the cumulative totals stay `aggregate`'s.

use super::compact::{Compactor, LatencyStats};
use super::decode::DecodedEndpoint;
use super::summary::IntervalPoint;
use super::AddInto;

/// Each endpoint's points, aligned with the aggregator's endpoints.
#[derive(Debug, Default)]
pub(super) struct EndpointSeries {
    /// `by_endpoint[e][i]` is interval `i + 1` of endpoint `e`; a series ends at
    /// the endpoint's last interval with data, and gaps are empty points.
    by_endpoint: Vec<Vec<IntervalPoint>>,
    /// Each endpoint's compactor, aligned with `by_endpoint`: old points keep
    /// only their reported numbers, so a long run stays small.
    compactors: Vec<Compactor>,
    /// Never compact (see `Aggregator::keep_exact_timeseries`).
    keep_exact: bool,
}

impl EndpointSeries {
    /// Makes room for a new endpoint inserted at `index`.
    pub fn insert(&mut self, index: usize) {
        self.by_endpoint.insert(index, Vec::new());
        let mut compactor = Compactor::new(false);
        if self.keep_exact {
            compactor.keep_exact();
        }
        self.compactors.insert(index, compactor);
    }

    /// Keeps every point whole from now on.
    pub fn keep_exact(&mut self) {
        self.keep_exact = true;
        self.compactors.iter_mut().for_each(Compactor::keep_exact);
    }

    /// Compacts every endpoint's points old enough.
    ///
    /// An endpoint's series ends at its last interval with data, so its
    /// points compact as the endpoint sees newer intervals.
    pub fn compact(&mut self) {
        for (points, compactor) in self.by_endpoint.iter_mut().zip(&mut self.compactors) {
            compactor.compact(points);
        }
    }

    /// The running latency at each point of endpoint `index`.
    pub fn running(&self, index: usize) -> Vec<LatencyStats> {
        match (self.by_endpoint.get(index), self.compactors.get(index)) {
            (Some(points), Some(compactor)) => compactor.running(points),
            _ => Vec::new(),
        }
    }

    /// Adds one decoded endpoint interval `t`'s counters, ending
    /// `elapsed_ms` after the start, to the point of endpoint `index`.
    pub fn add_counts(
        &mut self,
        index: usize,
        t: u32,
        elapsed_ms: u64,
        endpoint: &DecodedEndpoint,
    ) {
        let point = point_at(&mut self.by_endpoint[index], t);
        point.elapsed_ms = point.elapsed_ms.max(elapsed_ms);
        point.requests = point.requests.saturating_add(endpoint.wire.requests);
        point.failures = point.failures.saturating_add(endpoint.failures);
        point.bytes_received = point
            .bytes_received
            .saturating_add(endpoint.wire.bytes_received);
        point.body_bytes = point.body_bytes.saturating_add(endpoint.wire.body_bytes);
    }

    /// Adds latencies of interval `t` to the point of endpoint `index`.
    pub fn add_latency(&mut self, index: usize, t: u32, latency_us: &impl AddInto) {
        let point = point_at(&mut self.by_endpoint[index], t);
        self.compactors[index].add(t, &mut point.latency_us, latency_us);
    }

    /// The points of endpoint `index`; empty for an index out of range.
    pub fn get(&self, index: usize) -> &[IntervalPoint] {
        self.by_endpoint.get(index).map_or(&[], Vec::as_slice)
    }
}

/// The point of interval `t` in `points`, with empty points up to it.
fn point_at(points: &mut Vec<IntervalPoint>, t: u32) -> &mut IntervalPoint {
    while points.len() < t as usize {
        points.push(IntervalPoint::empty(points.len() as u32 + 1));
    }
    &mut points[t as usize - 1]
}
