//! The aggregator: merges interval snapshots into cumulative per-endpoint
//! totals and a per-second time series.
//!
//! One merge path serves both levels: shards to the aggregator inside one
//! process, and workers to the coordinator across processes, so it takes a
//! `stampede_proto::Snapshot` either way. It owns the merged numbers. Checking
//! and decoding a snapshot is `decode`'s job, tracking sources `sources`', and
//! the current-rate window `current`'s; receiving snapshots belongs to the
//! control actor and `coord`, formatting them to `report`.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use stampede_proto::{FailureKind, ProtoError, Snapshot};

use super::compact::{Compactor, LatencyStats};
use super::current::{rates_over, Rates, RecentCounts};
use super::decode::{decode, decode_dial, decode_lag, DecodedEndpoint};
use super::series::EndpointSeries;
use super::sources::Sources;
use super::summary::{EndpointTotals, FailureTotal, IntervalPoint};

/// Merged stats of a run: cumulative per endpoint, and per interval.
#[derive(Debug, Default)]
pub struct Aggregator {
    /// Cumulative totals per endpoint, sorted by (name, method) so reports are stable.
    endpoints: Vec<EndpointTotals>,
    /// Per-interval (requests, failures) of each endpoint, aligned with `endpoints`,
    /// kept for the last few intervals to compute current rates per endpoint.
    recent: Vec<RecentCounts>,
    /// All endpoints merged: the "Aggregated" row; `None` until the first merge.
    total: Option<EndpointTotals>,
    /// Failure counts and first/last intervals, keyed by (method, name, kind, message).
    failures: BTreeMap<(String, String, FailureKind, String), FailureSeen>,
    /// The time series: `points[i]` is interval `i + 1`.
    points: Vec<IntervalPoint>,
    /// Compacts `points` once old, so a long run's series stays small.
    compactor: Compactor,
    /// (source, users) reported for each point, aligned with `points`, so a second
    /// snapshot of the same interval from one source replaces its users instead of adding.
    point_users: Vec<Vec<(u32, u32)>>,
    /// Every source's latest interval and users, for users now and completeness.
    sources: Sources,
    /// Open-loop arrivals dropped, over the run.
    dropped: u64,
    /// CPU time of all sources, in microseconds, over the run.
    cpu_us: u64,
    /// Per-endpoint time series, aligned with `endpoints`; only when asked for.
    endpoint_series: Option<EndpointSeries>,
    /// Open loop: schedule lag of every arrival over the run, microseconds.
    sched_lag_us: Option<Histogram<u64>>,
    /// Connect, TLS handshake and per-address counts over the run (`dial_totals`).
    dial: DialTotals,
    /// Upper bounds (µs) of the latency buckets `/metrics` exports, counted
    /// as snapshots merge; empty when nothing exports them.
    metric_bounds_us: Vec<u64>,
}

/// Connection setup over a run, all sources and origins together.
#[derive(Debug, Default)]
pub struct DialTotals {
    /// TCP connect times, microseconds; `None` until a connection was opened.
    pub connect_us: Option<Histogram<u64>>,
    /// TLS handshake times, microseconds; `None` without https connections.
    pub tls_handshake_us: Option<Histogram<u64>>,
    /// Requests written to each target address, by address.
    pub addresses: BTreeMap<String, u64>,
    /// Request bytes written to each target address, by address (the same
    /// keys as `addresses`).
    pub address_bytes: BTreeMap<String, u64>,
    /// Request bytes written over the run, all addresses together.
    pub bytes_sent: u64,
}

/// How often one failure occurred, and in which intervals first and last.
#[derive(Debug, Clone, Copy)]
struct FailureSeen {
    count: u64,
    first_t_s: u32,
    last_t_s: u32,
}

impl Aggregator {
    /// An aggregator that has merged nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// An aggregator that also keeps a time series per endpoint
    /// ([`endpoint_timeseries`](Self::endpoint_timeseries)), at a few KiB per
    /// endpoint and second.
    pub fn with_endpoint_series() -> Self {
        Aggregator {
            endpoint_series: Some(EndpointSeries::default()),
            ..Self::default()
        }
    }

    /// Merges one snapshot into the cumulative per-endpoint totals and into the
    /// time-series point of its interval.
    ///
    /// Everything that can fail (version, interval index, histogram decoding and
    /// range) is checked first, so a refused snapshot changes nothing.
    pub fn merge(&mut self, snapshot: &Snapshot) -> Result<(), ProtoError> {
        let decoded = decode(snapshot)?;
        let lag = decode_lag(snapshot)?;
        let dial = decode_dial(snapshot)?;
        let t = snapshot.interval;
        self.ensure_point(t);
        for endpoint in &decoded {
            self.merge_endpoint(t, snapshot.elapsed_ms, endpoint)?;
        }
        self.merge_point_header(snapshot);
        if let Some(lag) = &lag {
            let point = &mut self.points[t as usize - 1];
            point.lag_us_p99 = point.lag_us_p99.max(lag.value_at_quantile(0.99));
            let total = self
                .sched_lag_us
                .get_or_insert_with(super::new_latency_histogram);
            add_histogram(total, Some(lag))?;
        }
        for (counts, into) in [
            (&dial.connect_us, &mut self.dial.connect_us),
            (&dial.tls_handshake_us, &mut self.dial.tls_handshake_us),
        ] {
            if let Some(counts) = counts {
                counts.add_to(into.get_or_insert_with(super::new_latency_histogram));
            }
        }
        for address in &snapshot.addresses {
            let requests = self.dial.addresses.entry(address.addr.clone()).or_default();
            *requests = requests.saturating_add(address.requests);
            let bytes = self
                .dial
                .address_bytes
                .entry(address.addr.clone())
                .or_default();
            *bytes = bytes.saturating_add(address.bytes_sent);
            self.dial.bytes_sent = self.dial.bytes_sent.saturating_add(address.bytes_sent);
        }
        self.sources.merge(snapshot);
        self.dropped = self.dropped.saturating_add(snapshot.dropped);
        self.cpu_us = self.cpu_us.saturating_add(snapshot.cpu_us);
        self.prune_recent();
        self.compactor.compact(&mut self.points);
        if let Some(series) = &mut self.endpoint_series {
            series.compact();
        }
        Ok(())
    }

    /// Marks a source as gone (e.g. a dead worker): its users no longer count,
    /// and no interval waits for it.
    pub fn retire_source(&mut self, source: u32) {
        self.sources.retire(source);
    }

    /// Cumulative totals per endpoint, sorted by (name, method).
    pub fn endpoints(&self) -> &[EndpointTotals] {
        &self.endpoints
    }

    /// The "Aggregated" row: all endpoints merged, method "" and name "Aggregated".
    pub fn total(&self) -> EndpointTotals {
        self.total
            .clone()
            .unwrap_or_else(|| EndpointTotals::new("", "Aggregated"))
    }

    /// Failure totals, most frequent first (ties in method, name, kind, message order).
    pub fn failures(&self) -> Vec<FailureTotal> {
        let mut failures: Vec<FailureTotal> = self
            .failures
            .iter()
            .map(|((method, name, kind, message), seen)| FailureTotal {
                method: method.clone(),
                name: name.clone(),
                kind: *kind,
                message: message.clone(),
                count: seen.count,
                first_t_s: seen.first_t_s,
                last_t_s: seen.last_t_s,
            })
            .collect();
        failures.sort_by_key(|f| std::cmp::Reverse(f.count));
        failures
    }

    /// The time series: one point per interval 1..=n, gaps filled with empty points.
    pub fn timeseries(&self) -> &[IntervalPoint] {
        &self.points
    }

    /// The time series of `endpoints()[index]`: point `i` is interval `i + 1`,
    /// up to the endpoint's last interval with data (later ones are empty);
    /// `users` and `dropped` stay 0 (they are the run's, in [`timeseries`](Self::timeseries)).
    /// Empty unless made by [`with_endpoint_series`](Self::with_endpoint_series).
    pub fn endpoint_timeseries(&self, index: usize) -> &[IntervalPoint] {
        self.endpoint_series
            .as_ref()
            .map_or(&[], |series| series.get(index))
    }

    /// Keeps every point's whole histogram from now on (no compaction), for
    /// a caller that merges arbitrary seconds, such as a capacity step.
    pub fn keep_exact_timeseries(&mut self) {
        self.compactor.keep_exact();
        if let Some(series) = &mut self.endpoint_series {
            series.keep_exact();
        }
    }

    /// The exact merged latency of intervals `first_t..=last_t`: from whole
    /// point histograms and, for compacted points, the coarse histograms of
    /// whole spans. `None` when the range cuts through a compacted span
    /// (spans are [`chart_width_s`](super::chart_width_s) seconds long).
    pub fn timeseries_latency(&self, first_t: u32, last_t: u32) -> Option<Histogram<u64>> {
        self.compactor.merged(&self.points, first_t, last_t)
    }

    /// The running latency at each point of [`timeseries`](Self::timeseries):
    /// every interval up to it merged (the CSV history's running columns).
    pub fn timeseries_running_latency(&self) -> Vec<LatencyStats> {
        self.compactor.running(&self.points)
    }

    /// The running latency at each point of [`endpoint_timeseries`](Self::endpoint_timeseries).
    pub fn endpoint_running_latency(&self, index: usize) -> Vec<LatencyStats> {
        self.endpoint_series
            .as_ref()
            .map_or(Vec::new(), |series| series.running(index))
    }

    /// Whether per-endpoint time series are kept.
    pub fn keeps_endpoint_series(&self) -> bool {
        self.endpoint_series.is_some()
    }

    /// Open-loop arrivals dropped over the run.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Open loop: how late arrivals were dispatched over the run; `None` in closed loop.
    pub fn sched_lag_us(&self) -> Option<&Histogram<u64>> {
        self.sched_lag_us.as_ref()
    }

    /// Connect and TLS handshake times and per-address request and byte counts over the run.
    pub fn dial_totals(&self) -> &DialTotals {
        &self.dial
    }

    /// Request bytes written over the run, all sources and addresses (a
    /// retried request counts at each attempt).
    pub fn bytes_sent(&self) -> u64 {
        self.dial.bytes_sent
    }

    /// Connections open now: the sum over live sources of the connections
    /// each held open at the end of its latest interval; a finished or
    /// retired source counts 0.
    pub fn open_connections(&self) -> u64 {
        self.sources.open_connections()
    }

    /// CPU time all sources reported, in microseconds.
    pub fn cpu_us(&self) -> u64 {
        self.cpu_us
    }

    /// How many points of [`timeseries`](Self::timeseries) every live source
    /// has reported (later ones may still grow).
    pub fn completed_points(&self) -> usize {
        let newest = self.points.len() as u32;
        (self.sources.completed_interval(newest) as usize).min(self.points.len())
    }

    /// Counts latencies into `/metrics` buckets with these upper bounds (µs,
    /// ascending) as snapshots merge, so an export needs no pass over the
    /// histograms; call before the first merge.
    pub fn set_metric_bounds(&mut self, bounds_us: Vec<u64>) {
        self.metric_bounds_us = bounds_us;
    }

    /// The `/metrics` bucket bounds being counted (µs); empty for none.
    pub fn metric_bounds_us(&self) -> &[u64] {
        &self.metric_bounds_us
    }

    /// How many points every one of `expected_sources` has reported (or
    /// never will), waiting for stragglers: points that no longer change.
    pub fn settled_points(&self, expected_sources: usize) -> usize {
        let newest = self.points.len() as u32;
        (self.sources.settled_interval(expected_sources, newest) as usize).min(self.points.len())
    }

    /// Each live source's busy share in its latest interval (0 to 1), by source id.
    pub fn busy_by_source(&self) -> Vec<(u32, f64)> {
        self.sources.busy()
    }

    /// Users now: the sum over sources of the users in each one's latest snapshot.
    pub fn users(&self) -> u32 {
        self.sources.users()
    }

    /// Requests per second over the last (up to 3) completed intervals.
    pub fn current_rps(&self) -> f64 {
        self.current_rates(|point| (point.requests, point.failures))
            .requests_per_s
    }

    /// Failures per second over the last (up to 3) completed intervals.
    pub fn current_failures_per_s(&self) -> f64 {
        self.current_rates(|point| (point.requests, point.failures))
            .failures_per_s
    }

    /// Current rates of `endpoints()[index]`; zeros for an index out of range.
    pub fn current_endpoint_rates(&self, index: usize) -> Rates {
        let Some(recent) = self.recent.get(index) else {
            return Rates::default();
        };
        self.current_rates(|point| recent.get(point.t_s))
    }

    /// Rates over the last completed intervals, counts taken by `counts`.
    fn current_rates(&self, counts: impl Fn(&IntervalPoint) -> (u64, u64)) -> Rates {
        let completed = self.sources.completed_interval(self.points.len() as u32);
        rates_over(&self.points, completed, counts)
    }

    /// Extends the time series with empty points up to interval `t`.
    fn ensure_point(&mut self, t: u32) {
        while self.points.len() < t as usize {
            self.points
                .push(IntervalPoint::empty(self.points.len() as u32 + 1));
            self.point_users.push(Vec::new());
        }
    }

    /// Adds one endpoint's interval to its totals, the total row, the point and failures.
    fn merge_endpoint(
        &mut self,
        t: u32,
        elapsed_ms: u64,
        endpoint: &DecodedEndpoint,
    ) -> Result<(), ProtoError> {
        let wire = endpoint.wire;
        let index = self.endpoint_index(&wire.method, &wire.name);
        add_to_totals(&mut self.endpoints[index], endpoint, &self.metric_bounds_us)?;
        let total = self
            .total
            .get_or_insert_with(|| EndpointTotals::new("", "Aggregated"));
        add_to_totals(total, endpoint, &self.metric_bounds_us)?;
        self.recent[index].add(t, wire.requests, endpoint.failures);
        for failure in &wire.failures {
            let key = (
                wire.method.clone(),
                wire.name.clone(),
                failure.kind,
                failure.message.clone(),
            );
            let seen = self.failures.entry(key).or_insert(FailureSeen {
                count: 0,
                first_t_s: t,
                last_t_s: t,
            });
            seen.count = seen.count.saturating_add(failure.count);
            seen.first_t_s = seen.first_t_s.min(t);
            seen.last_t_s = seen.last_t_s.max(t);
        }
        if let Some(series) = &mut self.endpoint_series {
            series.add(index, t, elapsed_ms, endpoint)?;
        }
        let point = &mut self.points[t as usize - 1];
        point.requests = point.requests.saturating_add(wire.requests);
        point.failures = point.failures.saturating_add(endpoint.failures);
        point.bytes_received = point.bytes_received.saturating_add(wire.bytes_received);
        if let Some(counts) = &endpoint.latency_us {
            self.compactor.add(t, &mut point.latency_us, counts);
        }
        Ok(())
    }

    /// Index of the endpoint in `endpoints`, inserting empty totals in sorted place.
    fn endpoint_index(&mut self, method: &str, name: &str) -> usize {
        let key = (name, method);
        match self
            .endpoints
            .binary_search_by(|e| (e.name.as_str(), e.method.as_str()).cmp(&key))
        {
            Ok(index) => index,
            Err(index) => {
                self.endpoints
                    .insert(index, EndpointTotals::new(method, name));
                self.recent.insert(index, RecentCounts::default());
                if let Some(series) = &mut self.endpoint_series {
                    series.insert(index);
                }
                index
            }
        }
    }

    /// Merges the snapshot's own fields (end time, users, dropped, CPU) into its point.
    fn merge_point_header(&mut self, snapshot: &Snapshot) {
        let index = snapshot.interval as usize - 1;
        let point = &mut self.points[index];
        point.elapsed_ms = point.elapsed_ms.max(snapshot.elapsed_ms);
        point.dropped = point.dropped.saturating_add(snapshot.dropped);
        point.cpu_us = point.cpu_us.saturating_add(snapshot.cpu_us);
        let wall_us = if snapshot.wall_us > 0 {
            snapshot.wall_us
        } else {
            1_000_000
        };
        // Busy: the CPU the shard used plus the CPU it was ready for and did not get.
        let busy_us = snapshot.cpu_us.saturating_add(snapshot.wait_us);
        point.busy_max = point.busy_max.max(busy_us as f64 / wall_us as f64);
        let users = &mut self.point_users[index];
        match users
            .iter_mut()
            .find(|(source, _)| *source == snapshot.source)
        {
            Some(entry) => entry.1 = snapshot.users,
            None => users.push((snapshot.source, snapshot.users)),
        }
        point.users = users.iter().fold(0u32, |sum, u| sum.saturating_add(u.1));
        point.sources = users.len() as u32;
    }

    /// Forgets per-endpoint interval counts too old for any current window.
    fn prune_recent(&mut self) {
        let newest = self.points.len() as u32;
        for recent in &mut self.recent {
            recent.prune(newest);
        }
    }
}

/// Adds one decoded endpoint interval to cumulative totals.
fn add_to_totals(
    totals: &mut EndpointTotals,
    endpoint: &DecodedEndpoint,
    metric_bounds_us: &[u64],
) -> Result<(), ProtoError> {
    let wire = endpoint.wire;
    if let Some(latency) = &endpoint.latency_us {
        if !metric_bounds_us.is_empty() && totals.metric_counts.len() != metric_bounds_us.len() + 1
        {
            totals.metric_counts = vec![0; metric_bounds_us.len() + 1];
        }
        for &(value, count) in &latency.pairs {
            let middle = totals.latency_us.median_equivalent(value);
            totals.latency_sum_us += middle as f64 * count as f64;
            if !metric_bounds_us.is_empty() {
                // A bucket counts at or below the first bound at or above its lowest value.
                let slot = metric_bounds_us.partition_point(|&bound| bound < value);
                totals.metric_counts[slot] += count;
            }
        }
    }
    totals.requests = totals.requests.saturating_add(wire.requests);
    totals.failures = totals.failures.saturating_add(endpoint.failures);
    totals.bytes_received = totals.bytes_received.saturating_add(wire.bytes_received);
    add_counts(&mut totals.latency_us, endpoint.latency_us.as_ref())?;
    add_counts(&mut totals.ttfb_us, endpoint.ttfb_us.as_ref())?;
    if let Some(service_us) = &endpoint.service_us {
        let merged = totals
            .service_us
            .get_or_insert_with(super::new_latency_histogram);
        add_counts(merged, service_us.as_ref())?;
    }
    Ok(())
}

/// Adds decoded bucket counts (if any) into `into`, bucket by bucket: no
/// histogram is built per snapshot, so merging costs what the buckets in use
/// cost, not the histogram's whole range.
fn add_counts(
    into: &mut Histogram<u64>,
    source: Option<&stampede_proto::BucketCounts>,
) -> Result<(), ProtoError> {
    if let Some(source) = source {
        source.add_to(into);
    }
    Ok(())
}

/// Adds `source` (if any) into `into`; the range was checked when decoding.
fn add_histogram(
    into: &mut Histogram<u64>,
    source: Option<&Histogram<u64>>,
) -> Result<(), ProtoError> {
    match source {
        Some(source) => into
            .add(source)
            .map_err(|e| ProtoError::Histogram(format!("{e:?}"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::{endpoint, histogram, snapshot};
    use stampede_proto::FailureKind::{Connect, Status};
    use stampede_proto::HistogramBuckets;

    /// Two sources over three intervals, with the values each endpoint saw.
    fn two_source_run() -> (Aggregator, Vec<u64>, Vec<u64>) {
        let (mut home, mut login) = (Vec::new(), Vec::new());
        let mut agg = Aggregator::new();
        for t in 1..=3u32 {
            for source in 0..2u32 {
                let base = u64::from(t * 10 + source);
                let home_us = [base * 100, base * 1_000 + 7, base * 37_001];
                let login_us = [base * 3_333];
                home.extend(home_us);
                login.extend(login_us);
                let failures = [(Status, "HTTP 500", 1)];
                let endpoints = vec![
                    endpoint("GET", "/", &home_us, &[]),
                    endpoint("POST", "/login", &login_us, &failures),
                ];
                agg.merge(&snapshot(source, t, 5 + source, endpoints))
                    .unwrap();
            }
        }
        (agg, home, login)
    }

    /// Merged counts add up exactly and merged percentiles equal one histogram of all values.
    #[test]
    fn merges_counts_and_percentiles_exactly() {
        let (agg, home, login) = two_source_run();
        let all: Vec<u64> = home.iter().chain(&login).copied().collect();
        let cases = [(&agg.endpoints()[0], &home), (&agg.endpoints()[1], &login)];
        for (totals, values) in cases.into_iter().chain([(&agg.total(), &all)]) {
            let reference = histogram(values);
            assert_eq!(totals.requests, values.len() as u64);
            assert_eq!(totals.bytes_received, 100 * values.len() as u64);
            assert_eq!(totals.latency_us.len(), values.len() as u64);
            for q in [0.0, 50.0, 66.0, 90.0, 99.0, 99.9, 100.0] {
                let expected = reference.value_at_quantile(q / 100.0) as f64 / 1_000.0;
                assert_eq!(totals.percentile_ms(q), expected, "q {q}");
            }
            assert_eq!(totals.latency_us.mean(), reference.mean());
        }
        assert_eq!(agg.endpoints()[0].failures, 0);
        assert_eq!(agg.endpoints()[1].failures, 6);
        let total = agg.total();
        assert_eq!(
            (total.method.as_str(), total.name.as_str()),
            ("", "Aggregated")
        );
        assert_eq!((total.requests, total.failures), (24, 6));
    }

    /// Endpoints are sorted by name then method, whatever order they arrive in.
    #[test]
    fn endpoints_sort_by_name_then_method() {
        let mut agg = Aggregator::new();
        let endpoints = vec![
            endpoint("POST", "/b", &[1], &[]),
            endpoint("GET", "/b", &[1], &[]),
            endpoint("PUT", "/a", &[1], &[]),
        ];
        agg.merge(&snapshot(0, 1, 1, endpoints)).unwrap();
        let keys: Vec<_> = agg
            .endpoints()
            .iter()
            .map(|e| format!("{} {}", e.method, e.name))
            .collect();
        assert_eq!(keys, ["PUT /a", "GET /b", "POST /b"]);
    }

    /// Points merge sources of the same interval in any order, fill gaps, and count users once per source.
    #[test]
    fn timeseries_merges_sources_and_fills_gaps() {
        let mut agg = Aggregator::new();
        let (a, b) = ([1_000, 3_000], [2_000, 4_000, 5_000]);
        agg.merge(&snapshot(0, 4, 3, vec![endpoint("GET", "/", &a, &[])]))
            .unwrap();
        agg.merge(&snapshot(1, 4, 4, vec![endpoint("GET", "/", &b, &[])]))
            .unwrap();
        agg.merge(&snapshot(0, 1, 2, vec![endpoint("GET", "/", &[9], &[])]))
            .unwrap();
        let points = agg.timeseries();
        let t_s: Vec<u32> = points.iter().map(|p| p.t_s).collect();
        assert_eq!(t_s, [1, 2, 3, 4]);
        assert_eq!((points[0].requests, points[0].users), (1, 2));
        for gap in &points[1..3] {
            assert_eq!((gap.requests, gap.users, gap.latency_us.len()), (0, 0, 0));
        }
        assert_eq!((points[3].requests, points[3].users), (5, 7));
        assert_eq!(points[3].bytes_received, 500);
        let mut reference = hdrhistogram::Histogram::<u64>::new(2).unwrap();
        for v in a.iter().chain(&b) {
            reference.record(*v).unwrap();
        }
        for q in [0.5, 0.95, 1.0] {
            assert_eq!(
                points[3]
                    .latency_us
                    .histogram()
                    .unwrap()
                    .value_at_quantile(q),
                reference.value_at_quantile(q)
            );
        }
        let mut last = snapshot(1, 4, 0, vec![endpoint("GET", "/", &[7], &[])]);
        last.is_final = true;
        agg.merge(&last).unwrap();
        // A final repeat of interval 4 replaces source 1's users there and adds its request.
        let point = &agg.timeseries()[3];
        assert_eq!((point.users, point.requests), (3, 6));
    }

    /// The same failure from two sources is one row; rows come most frequent first.
    #[test]
    fn failures_group_and_sort_by_count() {
        let mut agg = Aggregator::new();
        let refused = (Connect, "connection refused", 2);
        let e0 = endpoint("GET", "/", &[1, 1, 1], &[(Status, "HTTP 500", 1), refused]);
        let e1 = endpoint("GET", "/", &[1, 1], &[(Status, "HTTP 500", 2)]);
        agg.merge(&snapshot(0, 1, 1, vec![e0])).unwrap();
        agg.merge(&snapshot(1, 1, 1, vec![e1])).unwrap();
        let rows: Vec<_> = agg
            .failures()
            .into_iter()
            .map(|f| (f.method, f.name, f.kind, f.message, f.count))
            .collect();
        let expect =
            |kind, message: &str, count| ("GET".into(), "/".into(), kind, message.into(), count);
        assert_eq!(
            rows,
            [
                expect(Status, "HTTP 500", 3),
                expect(Connect, "connection refused", 2)
            ]
        );
        assert_eq!(
            (agg.endpoints()[0].failures, agg.timeseries()[0].failures),
            (5, 5)
        );
    }

    /// Current rates skip the newest interval until every source sent it, and use 3 intervals.
    #[test]
    fn current_rates_use_completed_intervals_only() {
        let mut agg = Aggregator::new();
        let fail = [(Status, "HTTP 503", 1)];
        for t in 1..=4u32 {
            let requests = vec![1u64; t as usize * 10];
            let e = endpoint("GET", "/", &requests, &fail);
            agg.merge(&snapshot(0, t, 1, vec![e.clone()])).unwrap();
            if t < 4 {
                agg.merge(&snapshot(1, t, 1, vec![e])).unwrap();
            }
        }
        // Intervals 1..=3 are complete: (20 + 40 + 60) requests over 3 s.
        assert_eq!(agg.current_rps(), 40.0);
        assert_eq!(agg.current_failures_per_s(), 2.0);
        let e = endpoint("GET", "/", &[1u64; 40], &fail);
        agg.merge(&snapshot(1, 4, 1, vec![e])).unwrap();
        // Now 2..=4: (40 + 60 + 80) over 3 s.
        assert_eq!(agg.current_rps(), 60.0);
        assert_eq!(
            agg.current_endpoint_rates(0),
            Rates {
                requests_per_s: 60.0,
                failures_per_s: 2.0
            }
        );
        assert_eq!(agg.current_endpoint_rates(1), Rates::default());
    }

    /// Dropped arrivals, CPU time and service histograms are summed across sources.
    #[test]
    fn sums_dropped_cpu_and_service_time() {
        let mut agg = Aggregator::new();
        for source in 0..2u32 {
            let mut e = endpoint("GET", "/", &[5_000], &[]);
            let service =
                HistogramBuckets::encode(&histogram(&[1_000 + u64::from(source)])).unwrap();
            e.service_us = Some(service);
            let mut s = snapshot(source, 1, 1, vec![e, endpoint("GET", "/x", &[9], &[])]);
            (s.dropped, s.cpu_us) = (3, 250_000);
            agg.merge(&s).unwrap();
        }
        assert_eq!((agg.dropped(), agg.cpu_us()), (6, 500_000));
        assert_eq!(agg.timeseries()[0].dropped, 6);
        let point = &agg.timeseries()[0];
        assert_eq!((point.cpu_us, point.sources), (500_000, 2));
        let service = agg.endpoints()[0].service_us.as_ref().unwrap();
        assert_eq!(
            (service.len(), service.min(), service.max()),
            (2, 1_000, 1_001)
        );
        assert!(agg.endpoints()[1].service_us.is_none());
        assert_eq!(agg.total().service_us.unwrap().len(), 2);
    }

    /// A shard's busy share counts the CPU it waited for: 50% used plus 45%
    /// on the run queue is 95% busy; CPU totals count only what was used.
    #[test]
    fn busy_share_counts_run_queue_wait() {
        let mut agg = Aggregator::new();
        let mut s = snapshot(0, 1, 1, vec![endpoint("GET", "/", &[5_000], &[])]);
        (s.cpu_us, s.wait_us, s.wall_us) = (500_000, 450_000, 1_000_000);
        agg.merge(&s).unwrap();
        let point = &agg.timeseries()[0];
        assert!((point.busy_max - 0.95).abs() < 1e-9, "{}", point.busy_max);
        assert_eq!(agg.cpu_us(), 500_000);
    }

    /// A refused snapshot changes nothing, not even the parts of it that were valid.
    #[test]
    fn refused_snapshots_change_nothing() {
        let mut agg = Aggregator::new();
        agg.merge(&snapshot(0, 1, 3, vec![endpoint("GET", "/", &[7], &[])]))
            .unwrap();
        let mut corrupt = endpoint("GET", "/x", &[1], &[]);
        corrupt.latency_us.encoded.truncate(3);
        let mut bad = snapshot(1, 3, 5, vec![endpoint("GET", "/", &[9, 9], &[]), corrupt]);
        bad.dropped = 4;
        assert!(agg.merge(&bad).is_err());
        assert!(agg.merge(&snapshot(1, 0, 5, vec![])).is_err());
        assert_eq!((agg.endpoints().len(), agg.timeseries().len()), (1, 1));
        assert_eq!(
            (agg.total().requests, agg.users(), agg.dropped()),
            (1, 3, 0)
        );
        assert_eq!(agg.timeseries()[0].latency_us.len(), 1);
    }

    /// Per-endpoint series, when kept, hold each endpoint's own counts and latencies per interval.
    #[test]
    fn endpoint_series_follow_each_endpoint() {
        let plain = two_source_run().0;
        assert!(!plain.keeps_endpoint_series());
        assert!(plain.endpoint_timeseries(0).is_empty());
        let mut agg = Aggregator::with_endpoint_series();
        let fail = [(Status, "HTTP 500", 1)];
        // Values below 256 µs, which 2 significant figures hold exactly.
        let b0 = endpoint("GET", "/b", &[100, 200], &[]);
        let b1 = endpoint("GET", "/b", &[100], &fail);
        agg.merge(&snapshot(0, 1, 2, vec![b0])).unwrap();
        agg.merge(&snapshot(1, 1, 2, vec![b1])).unwrap();
        // "/a" arrives later and sorts before "/b": its series is inserted in place.
        let mut last = snapshot(0, 3, 2, vec![endpoint("GET", "/a", &[500], &[])]);
        last.elapsed_ms = 2_500;
        agg.merge(&last).unwrap();
        let (a, b) = (agg.endpoint_timeseries(0), agg.endpoint_timeseries(1));
        assert_eq!((a.len(), b.len()), (3, 1));
        assert_eq!((a[0].requests, a[1].requests, a[2].requests), (0, 0, 1));
        assert_eq!(a[2].duration_s(), 0.5);
        let counts = (b[0].requests, b[0].failures, b[0].bytes_received);
        assert_eq!(counts, (3, 1, 300));
        assert_eq!((b[0].latency_us.len(), b[0].latency_us.max_ms()), (3, 0.2));
        assert_eq!((b[0].users, b[0].dropped), (0, 0));
        assert!(agg.endpoint_timeseries(2).is_empty());
        assert_eq!(agg.timeseries()[0].requests, 3);
    }

    /// Bytes sent add up over sources and intervals, per address and in all;
    /// open connections are each live source's latest, gone once it finishes.
    #[test]
    fn bytes_sent_and_open_connections() {
        use stampede_proto::AddressCount;
        let sent = |addr: &str, requests, bytes_sent| AddressCount {
            addr: addr.into(),
            requests,
            bytes_sent,
        };
        let mut agg = Aggregator::new();
        assert_eq!((agg.bytes_sent(), agg.open_connections()), (0, 0));
        let mut s = snapshot(0, 1, 4, vec![endpoint("GET", "/", &[10; 3], &[])]);
        s.addresses = vec![sent("10.0.0.1:80", 2, 200), sent("10.0.0.2:80", 1, 100)];
        s.open_connections = 4;
        agg.merge(&s).unwrap();
        let mut s = snapshot(1, 1, 2, vec![endpoint("GET", "/", &[10], &[])]);
        s.addresses = vec![sent("10.0.0.1:80", 1, 100)];
        s.open_connections = 2;
        agg.merge(&s).unwrap();
        assert_eq!((agg.bytes_sent(), agg.open_connections()), (400, 6));
        let mut s = snapshot(0, 2, 4, vec![]);
        s.addresses = vec![sent("10.0.0.2:80", 5, 500)];
        s.open_connections = 3;
        agg.merge(&s).unwrap();
        assert_eq!((agg.bytes_sent(), agg.open_connections()), (900, 5));
        let dial = agg.dial_totals();
        let per_address: Vec<_> = dial
            .address_bytes
            .iter()
            .map(|(a, b)| (a.as_str(), *b))
            .collect();
        assert_eq!(per_address, [("10.0.0.1:80", 300), ("10.0.0.2:80", 600)]);
        assert_eq!(dial.addresses["10.0.0.2:80"], 6);
        // A refused snapshot adds no bytes.
        let mut bad = snapshot(1, 0, 2, vec![]);
        bad.addresses = vec![sent("10.0.0.1:80", 1, 100)];
        assert!(agg.merge(&bad).is_err());
        assert_eq!(agg.bytes_sent(), 900);
        let mut last = snapshot(1, 2, 0, vec![]);
        (last.is_final, last.open_connections) = (true, 2);
        agg.merge(&last).unwrap();
        assert_eq!(agg.open_connections(), 3);
        agg.retire_source(0);
        assert_eq!((agg.bytes_sent(), agg.open_connections()), (900, 0));
    }

    /// A failure remembers the first and last interval it occurred in.
    #[test]
    fn failures_remember_first_and_last_interval() {
        let mut agg = Aggregator::new();
        let fail = [(Status, "HTTP 500", 1)];
        for (source, t) in [(0, 4), (1, 2), (0, 7)] {
            let e = endpoint("GET", "/", &[1], &fail);
            agg.merge(&snapshot(source, t, 1, vec![e])).unwrap();
        }
        let f = &agg.failures()[0];
        assert_eq!((f.count, f.first_t_s, f.last_t_s), (3, 2, 7));
    }
}
