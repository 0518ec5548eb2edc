//! Per-endpoint time series: one [`IntervalPoint`] per interval for each
//! endpoint (requests, failures, bytes and a 2-significant-figure latency
//! histogram), for reports that chart or list endpoints second by second.
//!
//! The aggregator keeps them only when asked
//! ([`Aggregator::with_endpoint_series`](super::Aggregator::with_endpoint_series)):
//! every point holds a histogram of a few kilobytes, so an hour of twenty
//! endpoints would hold hundreds of megabytes that most runs never read. The
//! run-wide series and the cumulative totals stay `aggregate`'s.


use stampede_proto::ProtoError;

use super::decode::DecodedEndpoint;
use super::summary::IntervalPoint;

/// Each endpoint's points, aligned with the aggregator's endpoints.
#[derive(Debug, Default)]
pub(super) struct EndpointSeries {
    /// `by_endpoint[e][i]` is interval `i + 1` of endpoint `e`; a series ends at
    /// the endpoint's last interval with data, and gaps are empty points.
    by_endpoint: Vec<Vec<IntervalPoint>>,
}

impl EndpointSeries {
    /// Makes room for a new endpoint inserted at `index`.
    pub fn insert(&mut self, index: usize) {
        self.by_endpoint.insert(index, Vec::new());
    }

    /// Adds one decoded endpoint interval `t`, ending `elapsed_ms` after the start,
    /// to the point of endpoint `index`.
    pub fn add(
        &mut self,
        index: usize,
        t: u32,
        elapsed_ms: u64,
        endpoint: &DecodedEndpoint,
    ) -> Result<(), ProtoError> {
        let points = &mut self.by_endpoint[index];
        while points.len() < t as usize {
            points.push(IntervalPoint::empty(points.len() as u32 + 1));
        }
        let point = &mut points[t as usize - 1];
        point.elapsed_ms = point.elapsed_ms.max(elapsed_ms);
        point.requests = point.requests.saturating_add(endpoint.wire.requests);
        point.failures = point.failures.saturating_add(endpoint.failures);
        point.bytes_received = point
            .bytes_received
            .saturating_add(endpoint.wire.bytes_received);
        if let Some(latency_us) = &endpoint.latency_us {
            latency_us.add_to(&mut point.latency_us);
        }
        Ok(())
    }

    /// The points of endpoint `index`; empty for an index out of range.
    pub fn get(&self, index: usize) -> &[IntervalPoint] {
        self.by_endpoint.get(index).map_or(&[], Vec::as_slice)
    }
}

