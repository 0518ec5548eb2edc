//! Compaction of a time series, so a long run's stats stay small: a second's
//! latency histogram is kept whole while snapshots may still arrive for it,
//! then reduced to the numbers reports read of one second, and for the HTML
//! chart folded into coarse histograms of fixed spans.
//!
//! It owns [`PointLatency`] (whole or compact), the [`Compactor`] that
//! decides when a point compacts and keeps what compaction must carry on (the
//! running histogram of the CSV history, the chart's coarse histograms).
//! Merging snapshots into points is `aggregate`'s; formatting is `report`'s.
//!
//! Every number kept is exact: a compact second's percentiles are read from
//! its whole histogram before it is dropped, and a coarse histogram is the
//! exact merge of its seconds' histograms, never an average of percentiles.

use hdrhistogram::Histogram;
use stampede_proto::HistogramBuckets;

use super::summary::{new_point_histogram, IntervalPoint};
use super::{max_ms, mean_ms, min_ms, percentile_ms, us_to_ms, AddInto};

/// Percentiles a compact second keeps: every one a report reads of a single
/// second (CSV history: all; JSON: 50 and 95; HTML: 50, 95 and 99).
pub const POINT_PERCENTILES: [f64; 11] = [
    50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0,
];

/// Intervals behind the newest one a point stays whole: five times the
/// straggler wait of `sources`, so a late snapshot still merges exactly.
pub const EXACT_INTERVALS: u32 = 10;

/// Most coarse histograms kept, which is also the most points a chart draws.
pub const COARSE_MAX: usize = 600;

/// Seconds a coarse histogram may span; each divides the next, so widening
/// merges whole histograms, and the last covers the longest run accepted
/// (seven days) in [`COARSE_MAX`] histograms.
const COARSE_WIDTHS_S: [u32; 9] = [2, 10, 20, 60, 120, 600, 1200, 3600, 7200];

/// The latency of one point: its whole histogram, or what compaction kept.
#[derive(Debug, Clone)]
pub enum PointLatency {
    /// The whole histogram in microseconds (2 significant figures), while
    /// snapshots may still arrive for the interval.
    Exact(Histogram<u64>),
    /// The point's own numbers and the running ones, its histogram dropped.
    Compact(CompactLatency),
}

/// What a compact point keeps of its latency, all from whole histograms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactLatency {
    /// The point's own latency.
    pub own: LatencyStats,
    /// Latency of this and every earlier point of the series, merged: the
    /// CSV history's running columns, kept because the histograms are gone.
    pub running: LatencyStats,
}

/// Count, extremes, mean and [`POINT_PERCENTILES`] of one histogram, in
/// microseconds; values as `u32`, which holds the one-hour latency bound
/// with its rounding, to keep a compact point small.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LatencyStats {
    /// Values recorded.
    pub count: u64,
    /// Lowest value; 0 when empty.
    pub min_us: u32,
    /// Highest value; 0 when empty.
    pub max_us: u32,
    /// Mean value; 0 when empty.
    pub mean_us: f64,
    /// The value at each of [`POINT_PERCENTILES`]; zeros when empty.
    pub percentiles_us: [u32; POINT_PERCENTILES.len()],
}

impl LatencyStats {
    /// The stats of a histogram, computed the way the `*_ms` helpers do.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return LatencyStats::default();
        }
        LatencyStats {
            count: histogram.len(),
            min_us: to_u32(histogram.min()),
            max_us: to_u32(histogram.max()),
            mean_us: histogram.mean(),
            percentiles_us: POINT_PERCENTILES
                .map(|q| to_u32(histogram.value_at_quantile(q / 100.0))),
        }
    }

    /// The value at percentile `q` in ms: the kept percentile `q` or, for one
    /// not kept, the next higher one kept (never an understatement).
    pub fn percentile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let index = POINT_PERCENTILES
            .iter()
            .position(|&kept| kept >= q)
            .unwrap_or(POINT_PERCENTILES.len() - 1);
        us_to_ms(u64::from(self.percentiles_us[index]))
    }

    /// Mean in ms.
    pub fn mean_ms(&self) -> f64 {
        self.mean_us / 1_000.0
    }

    /// Lowest value in ms.
    pub fn min_ms(&self) -> f64 {
        us_to_ms(u64::from(self.min_us))
    }

    /// Highest value in ms.
    pub fn max_ms(&self) -> f64 {
        us_to_ms(u64::from(self.max_us))
    }
}

impl PointLatency {
    /// An empty, whole histogram.
    pub fn new() -> Self {
        PointLatency::Exact(new_point_histogram())
    }

    /// The whole histogram, unless compacted.
    pub fn histogram(&self) -> Option<&Histogram<u64>> {
        match self {
            PointLatency::Exact(histogram) => Some(histogram),
            PointLatency::Compact(_) => None,
        }
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        match self {
            PointLatency::Exact(histogram) => histogram.len(),
            PointLatency::Compact(compact) => compact.own.count,
        }
    }

    /// True when no value was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Latency at percentile `q` (0 to 100) in ms; 0 when empty. A compact
    /// point answers [`POINT_PERCENTILES`] exactly, others with the next kept one.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        match self {
            PointLatency::Exact(histogram) => percentile_ms(histogram, q),
            PointLatency::Compact(compact) => compact.own.percentile_ms(q),
        }
    }

    /// Mean latency in ms; 0 when empty.
    pub fn mean_ms(&self) -> f64 {
        match self {
            PointLatency::Exact(histogram) => mean_ms(histogram),
            PointLatency::Compact(compact) => compact.own.mean_ms(),
        }
    }

    /// Lowest latency in ms; 0 when empty.
    pub fn min_ms(&self) -> f64 {
        match self {
            PointLatency::Exact(histogram) => min_ms(histogram),
            PointLatency::Compact(compact) => compact.own.min_ms(),
        }
    }

    /// Highest latency in ms; 0 when empty.
    pub fn max_ms(&self) -> f64 {
        match self {
            PointLatency::Exact(histogram) => max_ms(histogram),
            PointLatency::Compact(compact) => compact.own.max_ms(),
        }
    }
}

impl Default for PointLatency {
    fn default() -> Self {
        Self::new()
    }
}

/// Compacts one series' points in order once they are [`EXACT_INTERVALS`]
/// behind its newest, and keeps what the dropped histograms leave behind.
#[derive(Debug)]
pub(super) struct Compactor {
    /// Points `1..=compacted_t` are compact (or were gaps compacted as empty).
    compacted_t: u32,
    /// The compacted points' latencies merged, plus late values for them: the
    /// start of the running histogram of the points still whole.
    running_us: Histogram<u64>,
    /// The chart's coarse histograms; only the run-wide series keeps them.
    coarse: Option<Coarse>,
    /// Never compact: a capacity step merges any seconds of its hold.
    keep_exact: bool,
}

impl Compactor {
    /// A compactor that also keeps coarse histograms for the chart when `chart` is set.
    pub fn new(chart: bool) -> Self {
        Compactor {
            compacted_t: 0,
            running_us: new_point_histogram(),
            coarse: chart.then(Coarse::default),
            keep_exact: false,
        }
    }

    /// Keeps every point whole from now on.
    pub fn keep_exact(&mut self) {
        self.keep_exact = true;
    }

    /// Adds latencies of interval `t` to its point: into its histogram while
    /// whole; after compaction, a late snapshot's values go into the running
    /// and coarse histograms only (the point's own percentiles stay as compacted).
    pub fn add(&mut self, t: u32, latency: &mut PointLatency, counts: &impl AddInto) {
        match latency {
            PointLatency::Exact(histogram) => counts.add_into(histogram),
            PointLatency::Compact(_) => {
                counts.add_into(&mut self.running_us);
                if let Some(coarse) = &mut self.coarse {
                    coarse.update(t, |histogram| counts.add_into(histogram));
                }
            }
        }
    }

    /// Compacts, in order, every point at least [`EXACT_INTERVALS`] behind the newest.
    pub fn compact(&mut self, points: &mut [IntervalPoint]) {
        if self.keep_exact {
            return;
        }
        let newest = points.len() as u32;
        if let Some(coarse) = &mut self.coarse {
            coarse.widen_for(newest);
        }
        while self.compacted_t + EXACT_INTERVALS < newest {
            let t = self.compacted_t + 1;
            let latency = &mut points[t as usize - 1].latency_us;
            if let PointLatency::Exact(histogram) = latency {
                // Both are growable histograms of the same precision: adding cannot fail.
                let _ = self.running_us.add(&*histogram);
                if let Some(coarse) = &mut self.coarse {
                    coarse.update(t, |merged| {
                        let _ = merged.add(&*histogram);
                    });
                }
                let own = LatencyStats::of(histogram);
                let running = LatencyStats::of(&self.running_us);
                *latency = PointLatency::Compact(CompactLatency { own, running });
            }
            self.compacted_t = t;
        }
    }

    /// The running latency at each point: every point up to it merged.
    pub fn running(&self, points: &[IntervalPoint]) -> Vec<LatencyStats> {
        let mut running_us: Option<Histogram<u64>> = None;
        let mut out = Vec::with_capacity(points.len());
        for point in points {
            match &point.latency_us {
                PointLatency::Compact(compact) => out.push(compact.running),
                PointLatency::Exact(histogram) => {
                    let merged = running_us.get_or_insert_with(|| self.running_us.clone());
                    let _ = merged.add(histogram);
                    out.push(LatencyStats::of(merged));
                }
            }
        }
        out
    }

    /// The exact merge of the latencies of points `first_t..=last_t`; `None`
    /// when a compacted point's coarse histogram reaches outside the range
    /// (past its end only counts while there are points past it).
    pub fn merged(
        &self,
        points: &[IntervalPoint],
        first_t: u32,
        last_t: u32,
    ) -> Option<Histogram<u64>> {
        let mut merged = new_point_histogram();
        let len = points.len() as u32;
        let (wanted_last_t, last_t) = (last_t, last_t.min(len));
        let mut t = first_t.max(1);
        while t <= last_t {
            match &points[t as usize - 1].latency_us {
                PointLatency::Exact(histogram) => {
                    let _ = merged.add(histogram);
                    t += 1;
                }
                PointLatency::Compact(_) => {
                    // Compaction runs in order, so the coarse histogram holds
                    // exactly the compacted points of its span, from its start.
                    let coarse = self.coarse.as_ref()?;
                    let (start_t, end_t) = coarse.span(t);
                    if start_t < first_t || (end_t > wanted_last_t && wanted_last_t < len) {
                        return None;
                    }
                    coarse.add_into(t, &mut merged);
                    for point in &points[t as usize..end_t.min(last_t) as usize] {
                        if let PointLatency::Exact(histogram) = &point.latency_us {
                            let _ = merged.add(histogram);
                        }
                    }
                    t = end_t + 1;
                }
            }
        }
        Some(merged)
    }
}

impl Default for Compactor {
    /// The run-wide series' compactor, with the chart's coarse histograms.
    fn default() -> Self {
        Self::new(true)
    }
}

/// Seconds per chart point for a series of `len` seconds: 1 up to
/// [`COARSE_MAX`] seconds, else the narrowest coarse span that fits.
pub fn chart_width_s(len: usize) -> u32 {
    if len <= COARSE_MAX {
        return 1;
    }
    coarse_width_s(len as u32)
}

/// The narrowest coarse span keeping a series of `len` seconds within [`COARSE_MAX`] histograms.
fn coarse_width_s(len: u32) -> u32 {
    let fits = |width: &&u32| (len.div_ceil(**width) as usize) <= COARSE_MAX;
    let widest = COARSE_WIDTHS_S[COARSE_WIDTHS_S.len() - 1];
    *COARSE_WIDTHS_S.iter().find(fits).unwrap_or(&widest)
}

/// Histograms of compacted points over fixed spans of `width_s` seconds,
/// stored as sparse buckets (a few hundred bytes each, not a whole histogram).
#[derive(Debug)]
struct Coarse {
    /// Seconds each histogram spans; histogram `i` covers intervals `i·w + 1 ..= (i + 1)·w`.
    width_s: u32,
    /// The histograms; empty buckets for spans with nothing compacted yet.
    buckets: Vec<HistogramBuckets>,
}

impl Default for Coarse {
    fn default() -> Self {
        Coarse {
            width_s: COARSE_WIDTHS_S[0],
            buckets: Vec::new(),
        }
    }
}

impl Coarse {
    /// The first and last interval of the span holding interval `t`.
    fn span(&self, t: u32) -> (u32, u32) {
        let start = (t - 1) / self.width_s * self.width_s + 1;
        (start, start + self.width_s - 1)
    }

    /// Changes the span holding `t` through `change`.
    fn update(&mut self, t: u32, change: impl FnOnce(&mut Histogram<u64>)) {
        let index = ((t - 1) / self.width_s) as usize;
        if self.buckets.len() <= index {
            self.buckets.resize(index + 1, HistogramBuckets::default());
        }
        let mut histogram = decode(&self.buckets[index]);
        change(&mut histogram);
        self.buckets[index] = encode(&histogram);
    }

    /// Adds the span holding `t` into `into`.
    fn add_into(&self, t: u32, into: &mut Histogram<u64>) {
        let index = ((t - 1) / self.width_s) as usize;
        if let Some(Ok(Some(counts))) = self.buckets.get(index).map(HistogramBuckets::counts) {
            counts.add_to(into);
        }
    }

    /// Widens the spans (exact merges of whole neighbours) so a series of
    /// `newest` seconds needs at most [`COARSE_MAX`] histograms.
    fn widen_for(&mut self, newest: u32) {
        let width_s = coarse_width_s(newest);
        if width_s <= self.width_s {
            return;
        }
        let factor = (width_s / self.width_s) as usize;
        self.buckets = self
            .buckets
            .chunks(factor)
            .map(|chunk| {
                let mut merged = new_point_histogram();
                for buckets in chunk {
                    if let Ok(Some(counts)) = buckets.counts() {
                        counts.add_to(&mut merged);
                    }
                }
                encode(&merged)
            })
            .collect();
        self.width_s = width_s;
    }
}

/// Microseconds as `u32`; latencies are checked to be at most an hour when decoded.
fn to_u32(us: u64) -> u32 {
    u32::try_from(us).unwrap_or(u32::MAX)
}

/// A growable point histogram holding stored buckets.
fn decode(buckets: &HistogramBuckets) -> Histogram<u64> {
    let mut histogram = new_point_histogram();
    if let Ok(Some(counts)) = buckets.counts() {
        counts.add_to(&mut histogram);
    }
    histogram
}

/// A histogram's sparse buckets (encoding cannot fail).
fn encode(histogram: &Histogram<u64>) -> HistogramBuckets {
    HistogramBuckets::encode(histogram).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A point of interval `t` holding these latencies (µs), whole.
    fn point(t: u32, latencies_us: &[u64]) -> IntervalPoint {
        let mut histogram = new_point_histogram();
        for &v in latencies_us {
            histogram.record(v).unwrap();
        }
        IntervalPoint {
            requests: latencies_us.len() as u64,
            latency_us: PointLatency::Exact(histogram),
            ..IntervalPoint::empty(t)
        }
    }

    /// `n` seconds of varied latencies, second `t` shifted by `t`.
    fn series(n: u32) -> Vec<IntervalPoint> {
        (1..=n)
            .map(|t| {
                let values: Vec<u64> = (0..200u64)
                    .map(|i| 100 + (i * i * 7_919 + u64::from(t) * 131) % 400_000)
                    .collect();
                point(t, &values)
            })
            .collect()
    }

    /// Percentiles, extremes and mean of a compacted second equal those of its whole histogram.
    #[test]
    fn compaction_keeps_every_reported_number() {
        let whole = series(40);
        let mut points = whole.clone();
        let mut compactor = Compactor::new(true);
        compactor.compact(&mut points);
        assert!(points[29].latency_us.histogram().is_none());
        assert!(points[30].latency_us.histogram().is_some());
        for (before, after) in whole.iter().zip(&points) {
            let (b, a) = (&before.latency_us, &after.latency_us);
            for q in POINT_PERCENTILES {
                assert_eq!(
                    a.percentile_ms(q),
                    b.percentile_ms(q),
                    "t {} q {q}",
                    before.t_s
                );
            }
            assert_eq!(
                (a.len(), a.min_ms(), a.max_ms()),
                (b.len(), b.min_ms(), b.max_ms())
            );
            assert_eq!(a.mean_ms(), b.mean_ms());
        }
        // Running numbers equal those of all earlier whole histograms merged.
        let running = compactor.running(&points);
        let mut merged = new_point_histogram();
        for (t, before) in whole.iter().enumerate() {
            merged.add(before.latency_us.histogram().unwrap()).unwrap();
            assert_eq!(running[t], LatencyStats::of(&merged), "t {}", t + 1);
        }
    }

    /// A multi-second chart point from coarse histograms equals the direct merge of its seconds.
    #[test]
    fn merged_seconds_equal_a_direct_merge() {
        // 1300 s: spans widen from 2 s to 10 s on the way.
        let whole = series(1_300);
        let mut points = Vec::new();
        let mut compactor = Compactor::new(true);
        for p in &whole {
            points.push(p.clone());
            compactor.compact(&mut points);
        }
        assert_eq!(chart_width_s(points.len()), 10);
        for first_t in (1..=1_300).step_by(10) {
            let last_t = first_t + 9;
            let got = compactor.merged(&points, first_t, last_t).unwrap();
            let mut direct = new_point_histogram();
            for p in &whole[first_t as usize - 1..last_t as usize] {
                direct.add(p.latency_us.histogram().unwrap()).unwrap();
            }
            assert_eq!(got.len(), direct.len());
            for q in [0.5, 0.95, 0.99, 0.999] {
                assert_eq!(got.value_at_quantile(q), direct.value_at_quantile(q));
            }
        }
        // A range cutting through a compacted span is refused, not approximated.
        assert!(compactor.merged(&points, 3, 12).is_none());
        // The whole seconds at the end merge directly.
        assert!(compactor.merged(&points, 1_295, 1_300).is_some());
        // A last chart point may end with the series inside a span (20 s spans here).
        let mut points: Vec<IntervalPoint> = Vec::new();
        let mut compactor = Compactor::new(true);
        for p in series(6_015) {
            points.push(p);
            compactor.compact(&mut points);
        }
        assert_eq!(chart_width_s(points.len()), 20);
        let got = compactor.merged(&points, 6_001, 6_015).unwrap();
        assert_eq!(got.len(), 15 * 200);
    }

    /// Late values for a compacted second reach the running and chart histograms.
    #[test]
    fn late_values_reach_running_and_coarse() {
        let mut points = series(20);
        let mut compactor = Compactor::new(true);
        compactor.compact(&mut points);
        let late = stampede_proto::HistogramBuckets::encode(&{
            let mut h = new_point_histogram();
            h.record(5_000_000).unwrap();
            h
        })
        .unwrap();
        let late = late.check().unwrap().unwrap();
        compactor.add(1, &mut points[0].latency_us, &late);
        assert_eq!(points[0].latency_us.len(), 200);
        let merged = compactor.merged(&points, 1, 2).unwrap();
        assert_eq!(merged.len(), 401);
        assert_eq!(compactor.running(&points)[19].count, 20 * 200 + 1);
    }

    /// Reports read the same numbers from an aggregator that compacted old
    /// seconds as from one that kept every second whole.
    #[test]
    fn reports_are_unchanged_by_compaction() {
        use crate::report::csv::stats_history_csv;
        use crate::stats::test_support::{endpoint, snapshot};
        use crate::stats::Aggregator;
        let mut compacted = Aggregator::with_endpoint_series();
        let mut whole = Aggregator::with_endpoint_series();
        whole.keep_exact_timeseries();
        for t in 1..=45u32 {
            for source in 0..2u32 {
                let base = u64::from(t * 7 + source);
                let a: Vec<u64> = (0..50)
                    .map(|i| 300 + (base * 977 + i * i * 31) % 90_000)
                    .collect();
                let b: Vec<u64> = (0..5).map(|i| 1_000 + base * 13 * (i + 1)).collect();
                let endpoints = if t % 9 == 0 {
                    vec![endpoint("GET", "/a", &a, &[])]
                } else {
                    vec![
                        endpoint("GET", "/a", &a, &[]),
                        endpoint("GET", "/b", &b, &[]),
                    ]
                };
                let s = snapshot(source, t, 3, endpoints);
                compacted.merge(&s).unwrap();
                whole.merge(&s).unwrap();
            }
        }
        assert!(compacted.timeseries()[30].latency_us.histogram().is_none());
        assert!(compacted.endpoint_timeseries(1)[30]
            .latency_us
            .histogram()
            .is_none());
        assert!(whole.timeseries()[0].latency_us.histogram().is_some());
        let csv = stats_history_csv(&compacted, 0, true);
        assert_eq!(csv, stats_history_csv(&whole, 0, true));
        assert!(csv.lines().count() > 3 * 45);
    }

    /// Chart spans: per second up to 600 s, then the narrowest span fitting 600 points.
    #[test]
    fn chart_width_fits_the_chart() {
        let cases = [
            (1, 1),
            (600, 1),
            (601, 2),
            (1_200, 2),
            (1_201, 10),
            (6_001, 20),
            (86_400, 600),
        ];
        for (len, width) in cases {
            assert_eq!(chart_width_s(len), width, "len {len}");
        }
    }
}
