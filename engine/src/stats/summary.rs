//! The read-side values the aggregator hands to reporters: per-endpoint totals,
//! failure totals, time-series points, and the numbers derived from them
//! (milliseconds, rates, averages).
//!
//! These are plain values: merging them is `aggregate`'s job, and formatting
//! them is `report`'s. Every derived number is 0 for an empty histogram or a
//! zero duration, so reporters never divide by zero or read an undefined max.

use hdrhistogram::Histogram;
use stampede_proto::FailureKind;

use super::compact::PointLatency;
use super::new_latency_histogram;

/// Cumulative stats of one endpoint (method + name), or of all of them merged.
#[derive(Debug, Clone)]
pub struct EndpointTotals {
    /// HTTP method, e.g. `GET`; empty for the "Aggregated" row.
    pub method: String,
    /// Name the endpoint is reported under; `Aggregated` for all endpoints merged.
    pub name: String,
    /// Requests completed (successes and failures).
    pub requests: u64,
    /// Failed requests, all kinds.
    pub failures: u64,
    /// Response bytes received (head and body).
    pub bytes_received: u64,
    /// Response body bytes as received (compressed ones still compressed).
    pub body_bytes: u64,
    /// Bytes of the compressed bodies that were decoded, after decoding.
    pub decoded_bytes: u64,
    /// Request body bytes sent (once per request that got a response).
    pub body_bytes_sent: u64,
    /// Redirects followed (requests on the wire = requests + redirects).
    pub redirects: u64,
    /// Latency in microseconds (from the intended send time in open loop).
    pub latency_us: Histogram<u64>,
    /// Service time in microseconds from the actual send; present in open loop only.
    pub service_us: Option<Histogram<u64>>,
    /// Time to first byte in microseconds, from the same start as `latency_us`
    /// (which is the time to last byte); responses only.
    pub ttfb_us: Histogram<u64>,
    /// Sum of the latencies in microseconds (each at its bucket's middle, as
    /// the histogram's mean counts it), kept as merged so `/metrics` needs
    /// no pass over the histogram.
    pub latency_sum_us: f64,
    /// Latencies per metrics bucket (`Aggregator::set_metric_bounds`), not
    /// cumulative, the last one past the highest bound; empty when not kept.
    pub metric_counts: Vec<u64>,
}

impl EndpointTotals {
    /// Empty totals for one endpoint.
    pub fn new(method: &str, name: &str) -> Self {
        EndpointTotals {
            method: method.to_string(),
            name: name.to_string(),
            requests: 0,
            failures: 0,
            bytes_received: 0,
            body_bytes: 0,
            decoded_bytes: 0,
            body_bytes_sent: 0,
            redirects: 0,
            latency_us: new_latency_histogram(),
            service_us: None,
            ttfb_us: new_latency_histogram(),
            latency_sum_us: 0.0,
            metric_counts: Vec::new(),
        }
    }

    /// Time to first byte at percentile `q` (0 to 100) in milliseconds.
    pub fn ttfb_percentile_ms(&self, q: f64) -> f64 {
        percentile_ms(&self.ttfb_us, q)
    }

    /// Requests per second over a run of `duration_s` seconds.
    pub fn rps(&self, duration_s: f64) -> f64 {
        per_second(self.requests, duration_s)
    }

    /// Failures per second over a run of `duration_s` seconds.
    pub fn failures_per_s(&self, duration_s: f64) -> f64 {
        per_second(self.failures, duration_s)
    }

    /// Percentage of requests that failed, 0 to 100.
    pub fn failure_percent(&self) -> f64 {
        ratio(self.failures, self.requests) * 100.0
    }

    /// Mean latency in milliseconds.
    pub fn avg_ms(&self) -> f64 {
        mean_ms(&self.latency_us)
    }

    /// Lowest latency in milliseconds.
    pub fn min_ms(&self) -> f64 {
        min_ms(&self.latency_us)
    }

    /// Highest latency in milliseconds.
    pub fn max_ms(&self) -> f64 {
        max_ms(&self.latency_us)
    }

    /// Latency at percentile `q` (0 to 100) in milliseconds.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        percentile_ms(&self.latency_us, q)
    }

    /// Mean response body size in bytes, as Locust's "Average size" (the
    /// head and framing are not counted; `bytes_received` has them).
    pub fn avg_size_bytes(&self) -> f64 {
        ratio(self.body_bytes, self.requests)
    }
}

/// How often one failure (endpoint, kind, message) occurred over the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureTotal {
    /// HTTP method of the failed requests.
    pub method: String,
    /// Endpoint name of the failed requests.
    pub name: String,
    /// The failure's kind.
    pub kind: FailureKind,
    /// The failure's short fixed description, e.g. `HTTP 500`.
    pub message: String,
    /// Occurrences over the run.
    pub count: u64,
    /// First interval (1 = the first second) in which it occurred.
    pub first_t_s: u32,
    /// Last interval in which it occurred.
    pub last_t_s: u32,
    /// One example: the request sent and the response's status and first bytes.
    pub sample: Option<stampede_proto::FailureSample>,
}

/// All sources' stats of one interval: one point of the time series.
#[derive(Debug, Clone)]
pub struct IntervalPoint {
    /// Interval index: 1 covers the first second after the run started.
    pub t_s: u32,
    /// Latest end of the interval any source reported, ms since start; 0 for a gap.
    pub elapsed_ms: u64,
    /// Requests completed in the interval.
    pub requests: u64,
    /// Requests failed in the interval.
    pub failures: u64,
    /// Response bytes received in the interval.
    pub bytes_received: u64,
    /// Response body bytes received in the interval (as counted for the average size).
    pub body_bytes: u64,
    /// Users at the end of the interval, summed over sources.
    pub users: u32,
    /// Open-loop arrivals dropped in the interval.
    pub dropped: u64,
    /// CPU time the sources used in the interval, summed, in microseconds.
    pub cpu_us: u64,
    /// Sources (shards or workers) that reported the interval, so `cpu_us`
    /// can be read as a share of their wall time.
    pub sources: u32,
    /// Latency of the interval's requests in microseconds, all endpoints
    /// merged: whole while recent, compact (its reported numbers) once old.
    pub latency_us: PointLatency,
    /// The busiest source's CPU time as a share of the interval's wall time
    /// (0 to 1, a little more with clock noise): near 1 means a saturated shard.
    pub busy_max: f64,
    /// Open loop: the worst source's 99th percentile of schedule lag (how
    /// late arrivals were dispatched), microseconds; 0 in closed loop.
    pub lag_us_p99: u64,
}

impl IntervalPoint {
    /// A point with nothing in it; also what fills a gap in the series.
    pub fn empty(t_s: u32) -> Self {
        IntervalPoint {
            t_s,
            elapsed_ms: 0,
            requests: 0,
            failures: 0,
            bytes_received: 0,
            body_bytes: 0,
            users: 0,
            dropped: 0,
            cpu_us: 0,
            sources: 0,
            latency_us: PointLatency::new(),
            busy_max: 0.0,
            lag_us_p99: 0,
        }
    }

    /// Length of the interval in seconds: 1, or less for a final, partial one.
    ///
    /// The interval starts at `t_s - 1` seconds; its end is the latest
    /// `elapsed_ms` reported. A gap or an inconsistent clock counts as 1 s.
    pub fn duration_s(&self) -> f64 {
        let start_ms = u64::from(self.t_s.saturating_sub(1)) * 1_000;
        if self.elapsed_ms <= start_ms {
            return 1.0;
        }
        (self.elapsed_ms - start_ms).min(1_000) as f64 / 1_000.0
    }

    /// Requests per second in this interval.
    pub fn rps(&self) -> f64 {
        per_second(self.requests, self.duration_s())
    }

    /// Failures per second in this interval.
    pub fn failures_per_s(&self) -> f64 {
        per_second(self.failures, self.duration_s())
    }
}

/// Significant figures of a time-series point's histogram.
///
/// Two, not three: a point only feeds per-second percentiles on a chart, where
/// 1 % resolution is plenty, and at three figures an hour of points would hold
/// hundreds of megabytes of buckets instead of tens.
const POINT_SIGNIFICANT_FIGURES: u8 = 2;

/// A growable point histogram: its buckets cover only the values seen so far.
pub(super) fn new_point_histogram() -> Histogram<u64> {
    Histogram::new(POINT_SIGNIFICANT_FIGURES).expect("constant significant figures are valid")
}

/// Microseconds as milliseconds.
pub fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1_000.0
}

/// Lowest recorded value in milliseconds; 0 when empty.
pub fn min_ms(histogram: &Histogram<u64>) -> f64 {
    if histogram.is_empty() {
        return 0.0;
    }
    us_to_ms(histogram.min())
}

/// Highest recorded value in milliseconds; 0 when empty.
pub fn max_ms(histogram: &Histogram<u64>) -> f64 {
    if histogram.is_empty() {
        return 0.0;
    }
    us_to_ms(histogram.max())
}

/// Mean of the recorded values in milliseconds; 0 when empty.
pub fn mean_ms(histogram: &Histogram<u64>) -> f64 {
    histogram.mean() / 1_000.0
}

/// Value at percentile `q` (clamped to 0..=100) in milliseconds; 0 when empty.
pub fn percentile_ms(histogram: &Histogram<u64>, q: f64) -> f64 {
    if histogram.is_empty() {
        return 0.0;
    }
    us_to_ms(histogram.value_at_quantile(q.clamp(0.0, 100.0) / 100.0))
}

/// `count` per second over `duration_s`; 0 for a zero or negative duration.
fn per_second(count: u64, duration_s: f64) -> f64 {
    if duration_s > 0.0 {
        count as f64 / duration_s
    } else {
        0.0
    }
}

/// `part / whole`, 0 when `whole` is 0.
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::histogram;

    /// Empty totals report zeros everywhere instead of NaN or an undefined max.
    #[test]
    fn empty_totals_report_zeros() {
        let totals = EndpointTotals::new("GET", "/");
        for value in [
            totals.rps(10.0),
            totals.rps(0.0),
            totals.avg_ms(),
            totals.min_ms(),
            totals.max_ms(),
            totals.percentile_ms(99.0),
            totals.avg_size_bytes(),
            totals.failure_percent(),
        ] {
            assert_eq!(value, 0.0);
        }
    }

    /// The helpers turn microsecond histograms and counts into ms, rates and averages.
    #[test]
    fn helpers_derive_ms_rates_and_sizes() {
        let mut totals = EndpointTotals::new("GET", "/");
        // Values below 2048 µs are exact at 3 significant figures.
        totals.latency_us = histogram(&[1_000, 1_200, 1_500, 2_000]);
        totals.requests = 4;
        totals.failures = 1;
        totals.bytes_received = 1_400;
        totals.body_bytes = 1_000;
        assert_eq!(totals.rps(2.0), 2.0);
        assert_eq!(totals.failures_per_s(0.5), 2.0);
        assert_eq!(totals.failure_percent(), 25.0);
        assert_eq!(totals.avg_size_bytes(), 250.0);
        assert_eq!(totals.min_ms(), 1.0);
        assert_eq!(totals.max_ms(), 2.0);
        assert_eq!(totals.percentile_ms(50.0), 1.2);
        assert_eq!(totals.percentile_ms(75.0), 1.5);
        assert_eq!(totals.percentile_ms(250.0), 2.0);
        assert!((totals.avg_ms() - 1.425).abs() < 1e-9);
    }

    /// A point lasts 1 s unless a final snapshot ended it early; gaps count as 1 s.
    #[test]
    fn point_duration_follows_its_latest_end() {
        let mut point = IntervalPoint::empty(3);
        assert_eq!(point.duration_s(), 1.0);
        point.elapsed_ms = 3_004;
        assert_eq!(point.duration_s(), 1.0);
        point.elapsed_ms = 2_250;
        point.requests = 50;
        assert_eq!(point.duration_s(), 0.25);
        assert_eq!(point.rps(), 200.0);
    }
}
