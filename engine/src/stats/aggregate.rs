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
use stampede_proto::{BucketCounts, CheckedBuckets, FailureKind, ProtoError, Snapshot};

use super::compact::{Compactor, LatencyStats};
use super::current::{rates_over, Rates, RecentCounts};
use super::decode::{decode, decode_dial, decode_lag, lag_histogram, DecodedDial, DecodedEndpoint};
use super::presum::BucketSum;
use super::series::EndpointSeries;
use super::sources::Sources;
use super::summary::{EndpointTotals, FailureTotal, IntervalPoint};
use super::AddInto;

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
    /// Where a batch sums the histograms of one endpoint and interval.
    presum: Presum,
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
#[derive(Debug, Clone)]
struct FailureSeen {
    count: u64,
    first_t_s: u32,
    last_t_s: u32,
    /// The first sample that came with it.
    sample: Option<stampede_proto::FailureSample>,
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
        self.merge_batch(&[snapshot])
            .pop()
            .expect("one result per snapshot")
    }

    /// Merges several snapshots, each as [`merge`](Self::merge) would (one
    /// result per snapshot, in order; a refused one changes nothing), and
    /// cheaper than one by one: the histograms of one endpoint and interval
    /// from many sources are summed first, then added to the totals, the
    /// point and the metrics buckets once. That is where a coordinator's
    /// time goes (a hundred workers each send every endpoint every second).
    pub fn merge_batch(&mut self, snapshots: &[&Snapshot]) -> Vec<Result<(), ProtoError>> {
        let mut results = Vec::with_capacity(snapshots.len());
        let mut accepted = Vec::with_capacity(snapshots.len());
        for &snapshot in snapshots {
            match decode_whole(snapshot) {
                Ok(decoded) => {
                    accepted.push(decoded);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        // Endpoints are inserted in sorted place first, so the indices the
        // deferred histograms carry stay put.
        for decoded in &accepted {
            for endpoint in &decoded.endpoints {
                self.endpoint_index(&endpoint.wire.method, &endpoint.wire.name);
            }
        }
        let mut deferred = Vec::new();
        for decoded in &accepted {
            let snapshot = decoded.snapshot;
            let t = snapshot.interval;
            self.ensure_point(t);
            for endpoint in &decoded.endpoints {
                let index = self.endpoint_index(&endpoint.wire.method, &endpoint.wire.name);
                self.merge_endpoint_counts(index, t, snapshot.elapsed_ms, endpoint);
                deferred.push((index, t, endpoint));
            }
            self.merge_snapshot_header(decoded);
        }
        deferred.sort_by_key(|&(index, t, _)| (index, t));
        for group in deferred.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            let (index, t) = (group[0].0, group[0].1);
            let endpoints: Vec<&DecodedEndpoint> = group.iter().map(|&(_, _, e)| e).collect();
            self.merge_endpoint_histograms(index, t, &endpoints);
        }
        self.prune_recent();
        self.compactor.compact(&mut self.points);
        if let Some(series) = &mut self.endpoint_series {
            series.compact();
        }
        results
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
                sample: seen.sample.clone(),
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

    /// Peak memory of each worker process of a distributed run, in KiB, by
    /// worker id; empty for a run in one process.
    pub fn worker_rss_kb(&self) -> Vec<(u32, u64)> {
        self.sources.worker_rss_kb()
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

    /// Adds one endpoint interval's counters (not its histograms) to its
    /// totals, the total row, the point, the series and failures.
    fn merge_endpoint_counts(
        &mut self,
        index: usize,
        t: u32,
        elapsed_ms: u64,
        endpoint: &DecodedEndpoint,
    ) {
        let wire = endpoint.wire;
        add_counters(&mut self.endpoints[index], endpoint);
        let total = self
            .total
            .get_or_insert_with(|| EndpointTotals::new("", "Aggregated"));
        add_counters(total, endpoint);
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
                sample: None,
            });
            if seen.sample.is_none() {
                seen.sample = wire
                    .samples
                    .iter()
                    .find(|s| s.kind == failure.kind && s.message == failure.message)
                    .cloned();
            }
            seen.count = seen.count.saturating_add(failure.count);
            seen.first_t_s = seen.first_t_s.min(t);
            seen.last_t_s = seen.last_t_s.max(t);
        }
        if let Some(series) = &mut self.endpoint_series {
            series.add_counts(index, t, elapsed_ms, endpoint);
        }
        let point = &mut self.points[t as usize - 1];
        point.requests = point.requests.saturating_add(wire.requests);
        point.failures = point.failures.saturating_add(endpoint.failures);
        point.bytes_received = point.bytes_received.saturating_add(wire.bytes_received);
        point.body_bytes = point.body_bytes.saturating_add(wire.body_bytes);
    }

    /// Adds the histograms of one endpoint's interval `t`, from one or more
    /// sources, to its totals, the total row, the point and the series. From
    /// a few sources the buckets go straight in; from more they are summed
    /// into one histogram first, which then goes in once.
    fn merge_endpoint_histograms(&mut self, index: usize, t: u32, endpoints: &[&DecodedEndpoint]) {
        if endpoints.len() < PRESUM_FROM_SOURCES {
            // Each source's pairs are decoded once here, then added to
            // every total from memory.
            let decoded = |buckets: &Option<CheckedBuckets>| buckets.as_ref().map(pairs_of);
            for endpoint in endpoints {
                let (latency_us, ttfb_us) =
                    (decoded(&endpoint.latency_us), decoded(&endpoint.ttfb_us));
                let service_us = endpoint.service_us.as_ref().map(decoded);
                let sums = Sums {
                    latency_us: latency_us.as_ref(),
                    ttfb_us: ttfb_us.as_ref(),
                    service_us: service_us.as_ref().map(Option::as_ref),
                };
                self.add_sums(index, t, &sums);
            }
            return;
        }
        let mut presum = std::mem::take(&mut self.presum);
        let latency_us = sum_into(
            &mut presum.latency_us,
            endpoints.iter().map(|e| e.latency_us.as_ref()),
        );
        let ttfb_us = sum_into(
            &mut presum.ttfb_us,
            endpoints.iter().map(|e| e.ttfb_us.as_ref()),
        );
        let sent_service = endpoints.iter().any(|e| e.service_us.is_some());
        let service_us = sum_into(
            &mut presum.service_us,
            endpoints
                .iter()
                .map(|e| e.service_us.as_ref().and_then(Option::as_ref)),
        );
        let sums = Sums {
            latency_us,
            ttfb_us,
            service_us: sent_service.then_some(service_us),
        };
        self.add_sums(index, t, &sums);
        self.presum = presum;
    }

    /// Adds one endpoint interval's histograms to everything that holds them.
    fn add_sums<B: AddInto>(&mut self, index: usize, t: u32, sums: &Sums<'_, B>) {
        add_histograms(&mut self.endpoints[index], sums, &self.metric_bounds_us);
        let total = self
            .total
            .get_or_insert_with(|| EndpointTotals::new("", "Aggregated"));
        add_histograms(total, sums, &self.metric_bounds_us);
        if let Some(latency_us) = sums.latency_us {
            if let Some(series) = &mut self.endpoint_series {
                series.add_latency(index, t, latency_us);
            }
            let point = &mut self.points[t as usize - 1];
            self.compactor.add(t, &mut point.latency_us, latency_us);
        }
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

    /// Merges a snapshot's own fields (end time, users, dropped, CPU, lag,
    /// connection setup, addresses) into its point and the run's totals.
    fn merge_snapshot_header(&mut self, decoded: &DecodedSnapshot) {
        let snapshot = decoded.snapshot;
        let t = snapshot.interval;
        if let Some(lag) = decoded.lag.as_ref().map(lag_histogram) {
            let point = &mut self.points[t as usize - 1];
            point.lag_us_p99 = point.lag_us_p99.max(lag.value_at_quantile(0.99));
            let total = self
                .sched_lag_us
                .get_or_insert_with(super::new_latency_histogram);
            lag.add_into(total);
        }
        for (counts, into) in [
            (&decoded.dial.connect_us, &mut self.dial.connect_us),
            (
                &decoded.dial.tls_handshake_us,
                &mut self.dial.tls_handshake_us,
            ),
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

/// Adds one decoded endpoint interval's counters to cumulative totals.
fn add_counters(totals: &mut EndpointTotals, endpoint: &DecodedEndpoint) {
    let wire = endpoint.wire;
    totals.requests = totals.requests.saturating_add(wire.requests);
    totals.failures = totals.failures.saturating_add(endpoint.failures);
    totals.bytes_received = totals.bytes_received.saturating_add(wire.bytes_received);
    totals.body_bytes = totals.body_bytes.saturating_add(wire.body_bytes);
    totals.decoded_bytes = totals.decoded_bytes.saturating_add(wire.decoded_bytes);
    totals.body_bytes_sent = totals.body_bytes_sent.saturating_add(wire.body_bytes_sent);
    totals.redirects = totals.redirects.saturating_add(wire.redirects);
}

/// Adds one endpoint interval's histograms to cumulative totals, with the
/// latency sum and `/metrics` bucket counts.
fn add_histograms<B: AddInto>(
    totals: &mut EndpointTotals,
    sums: &Sums<'_, B>,
    metric_bounds_us: &[u64],
) {
    if let Some(latency) = sums.latency_us {
        if !metric_bounds_us.is_empty() && totals.metric_counts.len() != metric_bounds_us.len() + 1
        {
            totals.metric_counts = vec![0; metric_bounds_us.len() + 1];
        }
        latency.for_each_bucket(|value, count| {
            let middle = totals.latency_us.median_equivalent(value);
            totals.latency_sum_us += middle as f64 * count as f64;
            if !metric_bounds_us.is_empty() {
                // A bucket counts at or below the first bound at or above its lowest value.
                let slot = metric_bounds_us.partition_point(|&bound| bound < value);
                totals.metric_counts[slot] = totals.metric_counts[slot].saturating_add(count);
            }
        });
        latency.add_into(&mut totals.latency_us);
    }
    if let Some(ttfb) = sums.ttfb_us {
        ttfb.add_into(&mut totals.ttfb_us);
    }
    if let Some(service_us) = sums.service_us {
        let merged = totals
            .service_us
            .get_or_insert_with(super::new_latency_histogram);
        if let Some(service_us) = service_us {
            service_us.add_into(merged);
        }
    }
}

/// From this many sources of one endpoint and interval in a batch, their
/// histograms are summed before they are added to the totals: the sum
/// walks the range of buckets it touched, which pays off once it saves
/// adding the buckets of a few sources several times each.
const PRESUM_FROM_SOURCES: usize = 4;

/// One endpoint interval's histograms, from one source or summed over several.
struct Sums<'a, B> {
    latency_us: Option<&'a B>,
    ttfb_us: Option<&'a B>,
    /// `None`: no source sent a service time; `Some(None)`: sent but empty.
    service_us: Option<Option<&'a B>>,
}

/// Histograms of several sources summed; reused batch after batch.
#[derive(Debug, Default)]
struct Presum {
    latency_us: BucketSum,
    ttfb_us: BucketSum,
    service_us: BucketSum,
}

/// Sums `parts` into `sum`; `None` when all are empty.
fn sum_into<'s, 'a>(
    sum: &'s mut BucketSum,
    parts: impl Iterator<Item = Option<&'a CheckedBuckets<'a>>>,
) -> Option<&'s BucketSum> {
    sum.clear();
    for part in parts.flatten() {
        sum.add(part);
    }
    (!sum.is_empty()).then_some(&*sum)
}

/// The pairs of a checked encoding, decoded into memory.
fn pairs_of(buckets: &CheckedBuckets) -> BucketCounts {
    BucketCounts {
        lowest: buckets.lowest,
        highest: buckets.highest,
        sigfig: buckets.sigfig,
        pairs: buckets.pairs().collect(),
    }
}

/// A snapshot checked and decoded whole, ready to merge.
struct DecodedSnapshot<'a> {
    snapshot: &'a Snapshot,
    endpoints: Vec<DecodedEndpoint<'a>>,
    lag: Option<CheckedBuckets<'a>>,
    dial: DecodedDial<'a>,
}

/// Checks and decodes a whole snapshot, or says what is wrong with it.
fn decode_whole(snapshot: &Snapshot) -> Result<DecodedSnapshot<'_>, ProtoError> {
    Ok(DecodedSnapshot {
        snapshot,
        endpoints: decode(snapshot)?,
        lag: decode_lag(snapshot)?,
        dial: decode_dial(snapshot)?,
    })
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
