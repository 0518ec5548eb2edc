//! From the aggregator's stats to the report's charts: the per-second time
//! series in buckets (one per second, or on long runs spans of 2, 10, 20, 60
//! ... seconds so a chart stays within [`COARSE_MAX`](crate::stats::COARSE_MAX) points; see
//! [`chart_width_s`]) drawn as five charts over time; the
//! run's latency histograms drawn as a percentile curve; and the check
//! whether the generator's shards ran out of CPU.
//!
//! Drawing is `chart`'s, the page `html`'s. Percentiles of a bucket come from
//! its points' merged histograms, never from averaging per-second percentiles:
//! the aggregator keeps exact histograms of those spans after it compacts
//! old seconds ([`Aggregator::timeseries_latency`]).

use hdrhistogram::Histogram;

use super::chart::{Chart, Series, Unit, XScale};
use crate::stats::{
    chart_width_s, percentile_ms, Aggregator, EndpointTotals, IntervalPoint, PointLatency,
};

/// Share of wall time a shard may be on CPU before the generator counts as saturated.
pub const CPU_SATURATED_SHARE: f64 = 0.9;
/// Intervals shorter than this (a final, partial one) are too short to judge
/// CPU by, and are drawn merged into the interval before them.
const SHORT_INTERVAL_S: f64 = 0.5;
/// Highest percentile the percentile curve reaches, in nines (99.999 %).
const NINES_MAX: f64 = 5.0;
/// Points of the percentile curve per nine.
const POINTS_PER_NINE: usize = 20;
/// Colours of the endpoint lines on the percentile chart, busiest first; the
/// chart draws at most this many endpoints and names the ones it leaves out.
const CURVE_ENDPOINT_COLORS: [usize; 8] = [2, 3, 4, 1, 6, 7, 8, 9];

/// The load model, as far as the charts care.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadShape {
    /// A number of users; the chart shows them.
    Closed,
    /// A fixed arrival rate; the chart compares it with what was achieved.
    Open {
        /// Arrivals per second the schedule offered.
        rate_per_s: f64,
    },
}

/// Consecutive points merged into one drawn point.
struct Bucket {
    /// Seconds since the start where the first point begins.
    start_s: f64,
    /// Seconds since the start where the last point ends.
    end_s: f64,
    /// Sum of the points' lengths in seconds.
    duration_s: f64,
    /// Whether any source reported any of the points (else it is a gap).
    reported: bool,
    requests: u64,
    failures: u64,
    bytes_received: u64,
    dropped: u64,
    /// Most users at the end of any of the points.
    users: u32,
    cpu_us: u64,
    /// Wall time of all reporting sources, in seconds: what `cpu_us` is a share of.
    source_s: f64,
    /// Latency of all the points' requests, microseconds; `None` when the
    /// aggregator cannot merge the span exactly (never for its chart spans).
    latency_us: Option<PointLatency>,
}

impl Bucket {
    /// `count` per second, or `None` for a gap.
    fn per_second(&self, count: u64) -> Option<f64> {
        (self.reported && self.duration_s > 0.0).then(|| count as f64 / self.duration_s)
    }

    /// Latency percentile in ms, or `None` without requests.
    fn percentile(&self, q: f64) -> Option<f64> {
        let latency = self.latency_us.as_ref().filter(|l| !l.is_empty())?;
        Some(latency.percentile_ms(q))
    }

    /// Shard CPU as a percentage of the sources' wall time.
    fn cpu_percent(&self) -> Option<f64> {
        (self.source_s > 0.0).then(|| self.cpu_us as f64 / (self.source_s * 1e6) * 100.0)
    }
}

/// Where a point lies in seconds since the start: `(start, end)`.
fn span_s(point: &IntervalPoint) -> (f64, f64) {
    let start = f64::from(point.t_s.saturating_sub(1));
    (start, start + point.duration_s())
}

/// Groups points so at most [`COARSE_MAX`](crate::stats::COARSE_MAX) remain; returns them and the
/// seconds per group. A short final interval (the stop) joins the group
/// before it, so a few milliseconds of draining do not look like a collapse.
fn buckets(agg: &Aggregator) -> (Vec<Bucket>, usize) {
    let points = agg.timeseries();
    let per_bucket = chart_width_s(points.len()) as usize;
    let mut ranges: Vec<std::ops::Range<usize>> = (0..points.len())
        .step_by(per_bucket)
        .map(|start| start..(start + per_bucket).min(points.len()))
        .collect();
    let short_end = points
        .last()
        .is_some_and(|p| p.duration_s() < SHORT_INTERVAL_S);
    if short_end && ranges.last().is_some_and(|r| r.len() == 1) && ranges.len() > 1 {
        ranges.pop();
        if let Some(previous) = ranges.last_mut() {
            previous.end = points.len();
        }
    }
    let buckets = ranges
        .into_iter()
        .map(|r| bucket(agg, &points[r]))
        .collect();
    (buckets, per_bucket)
}

/// Merges a group of consecutive points of `agg`'s time series.
fn bucket(agg: &Aggregator, points: &[IntervalPoint]) -> Bucket {
    let mut merged = Bucket {
        start_s: span_s(&points[0]).0,
        end_s: 0.0,
        duration_s: 0.0,
        reported: false,
        requests: 0,
        failures: 0,
        bytes_received: 0,
        dropped: 0,
        users: 0,
        cpu_us: 0,
        source_s: 0.0,
        latency_us: None,
    };
    for point in points {
        merged.end_s = span_s(point).1;
        merged.duration_s += point.duration_s();
        merged.reported |= point.sources > 0;
        merged.requests += point.requests;
        merged.failures += point.failures;
        merged.bytes_received += point.bytes_received;
        merged.dropped += point.dropped;
        merged.users = merged.users.max(point.users);
        merged.cpu_us += point.cpu_us;
        merged.source_s += f64::from(point.sources) * point.duration_s();
    }
    merged.latency_us = match points {
        [one] => Some(one.latency_us.clone()),
        [first, .., last] => agg
            .timeseries_latency(first.t_s, last.t_s)
            .map(PointLatency::Exact),
        [] => None,
    };
    merged
}

/// The charts over time: throughput, response times, users or rates, bytes, CPU.
pub fn charts(agg: &Aggregator, load: LoadShape) -> Vec<Chart> {
    let (buckets, per_bucket) = buckets(agg);
    let spans: Vec<(f64, f64)> = buckets.iter().map(|b| (b.start_s, b.end_s)).collect();
    let note = (per_bucket > 1).then(|| format!("each point covers {per_bucket} s"));
    let values = |f: &dyn Fn(&Bucket) -> Option<f64>| buckets.iter().map(f).collect::<Vec<_>>();
    let series = |label: &str, color, values| Series {
        label: label.into(),
        color,
        dashed: false,
        values,
    };
    let chart = |id: &str, title: &str, unit, series| Chart {
        id: id.into(),
        title: title.into(),
        unit,
        x_scale: XScale::Seconds,
        spans: spans.clone(),
        series,
        reference: None,
        note: note.clone(),
        footnote: None,
    };

    let throughput = vec![
        series("Requests/s", 0, values(&|b| b.per_second(b.requests))),
        series("Failures/s", 1, values(&|b| b.per_second(b.failures))),
    ];
    let latency = vec![
        series("p50", 0, values(&|b| b.percentile(50.0))),
        series("p95", 2, values(&|b| b.percentile(95.0))),
        series("p99", 4, values(&|b| b.percentile(99.0))),
    ];
    let load_chart = match load {
        LoadShape::Closed => chart(
            "chart-users",
            "Users",
            Unit::Count,
            vec![series(
                "Users",
                3,
                values(&|b| b.reported.then_some(f64::from(b.users))),
            )],
        ),
        LoadShape::Open { rate_per_s } => {
            let offered = Series {
                dashed: true,
                ..series("Offered", 5, values(&|b| b.reported.then_some(rate_per_s)))
            };
            let lines = vec![
                offered,
                series("Achieved", 3, values(&|b| b.per_second(b.requests))),
                series("Dropped", 1, values(&|b| b.per_second(b.dropped))),
            ];
            chart(
                "chart-rate",
                "Offered vs achieved rate (per second)",
                Unit::PerSecond,
                lines,
            )
        }
    };
    let bytes = vec![series(
        "Received",
        0,
        values(&|b| b.per_second(b.bytes_received)),
    )];
    let cpu = vec![series("Shard CPU", 0, values(&Bucket::cpu_percent))];
    let reference = (
        CPU_SATURATED_SHARE * 100.0,
        format!("{:.0}%", CPU_SATURATED_SHARE * 100.0),
    );
    vec![
        chart(
            "chart-rps",
            "Requests per second",
            Unit::PerSecond,
            throughput,
        ),
        chart("chart-latency", "Response times (ms)", Unit::Ms, latency),
        load_chart,
        chart(
            "chart-bytes",
            "Bytes received per second",
            Unit::BytesPerSecond,
            bytes,
        ),
        Chart {
            reference: Some(reference),
            ..chart(
                "chart-cpu",
                "Generator shard CPU (% of wall time)",
                Unit::Percent,
                cpu,
            )
        },
    ]
}

/// Response time by percentile over the whole run: all requests, every
/// endpoint up to [`CURVE_ENDPOINT_COLORS`]' count (the busiest; the chart's
/// footnote names the rest and why), and in open loop the service time of
/// all requests.
pub fn percentile_chart(endpoints: &[EndpointTotals], total: &EndpointTotals) -> Chart {
    let requests = total.latency_us.len().max(1) as f64;
    let nines_max = requests.log10().ceil().clamp(1.0, NINES_MAX);
    let steps = (nines_max as usize) * POINTS_PER_NINE;
    let nines: Vec<f64> = (0..=steps)
        .map(|i| i as f64 / POINTS_PER_NINE as f64)
        .collect();
    let curve = |histogram: &Histogram<u64>| -> Vec<Option<f64>> {
        let percentiles = nines.iter().map(|&x| 100.0 * (1.0 - 10f64.powf(-x)));
        percentiles
            .map(|q| (!histogram.is_empty()).then(|| percentile_ms(histogram, q)))
            .collect()
    };
    let endpoint_name = |e: &EndpointTotals| format!("{} {}", e.method, e.name);
    // One endpoint is the same curve as all requests: it is named in that line.
    let all_label = match endpoints {
        [only] => format!("All requests: {}", endpoint_name(only)),
        _ => "All requests".to_string(),
    };
    let mut series = vec![Series {
        label: all_label,
        color: 0,
        dashed: false,
        values: curve(&total.latency_us),
    }];
    if let Some(service_us) = &total.service_us {
        series.push(Series {
            label: "All, service time".into(),
            color: 5,
            dashed: true,
            values: curve(service_us),
        });
    }
    let mut footnote = None;
    if endpoints.len() > 1 {
        let mut busiest: Vec<&EndpointTotals> = endpoints.iter().collect();
        // Busiest first; ties by name, so the same run always draws the same lines.
        busiest.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then_with(|| (&a.name, &a.method).cmp(&(&b.name, &b.method)))
        });
        let drawn = busiest.len().min(CURVE_ENDPOINT_COLORS.len());
        for (e, &color) in busiest.iter().zip(&CURVE_ENDPOINT_COLORS) {
            series.push(Series {
                label: endpoint_name(e),
                color,
                dashed: false,
                values: curve(&e.latency_us),
            });
        }
        let left_out: Vec<String> = busiest[drawn..].iter().map(|e| endpoint_name(e)).collect();
        if !left_out.is_empty() {
            footnote = Some(format!(
                "Not drawn: {} of {} endpoints (the chart draws the {drawn} busiest, to stay \
                 readable; the Percentiles table has them all): {}.",
                left_out.len(),
                busiest.len(),
                left_out.join(", ")
            ));
        }
    }
    let spans = nines
        .iter()
        .enumerate()
        .map(|(i, &x)| (if i == 0 { 0.0 } else { nines[i - 1] }, x))
        .collect();
    Chart {
        id: "chart-percentiles".into(),
        title: "Response time by percentile (ms)".into(),
        unit: Unit::Ms,
        x_scale: XScale::Nines,
        spans,
        series,
        reference: None,
        note: Some("whole run".into()),
        footnote,
    }
}

/// How busy the generator's shards were, interval by interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuSaturation {
    /// Intervals long enough, and reported by some source, to judge.
    pub measured_intervals: usize,
    /// Of those, the intervals where shards were on CPU for at least
    /// [`CPU_SATURATED_SHARE`] of their wall time.
    pub saturated_intervals: usize,
    /// The highest share seen, in percent.
    pub peak_percent: f64,
}

/// Shard CPU per interval against [`CPU_SATURATED_SHARE`].
pub fn cpu_saturation(points: &[IntervalPoint]) -> CpuSaturation {
    let mut saturation = CpuSaturation {
        measured_intervals: 0,
        saturated_intervals: 0,
        peak_percent: 0.0,
    };
    for point in points {
        let duration_s = point.duration_s();
        if point.sources == 0 || duration_s < SHORT_INTERVAL_S {
            continue;
        }
        let share = point.cpu_us as f64 / (f64::from(point.sources) * duration_s * 1e6);
        saturation.measured_intervals += 1;
        if share >= CPU_SATURATED_SHARE {
            saturation.saturated_intervals += 1;
        }
        saturation.peak_percent = saturation.peak_percent.max(share * 100.0);
    }
    saturation
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::{endpoint, snapshot};
    use crate::stats::Aggregator;

    /// Two shards over 3 s: CPU 0.95 s each in second 2, then a gap, then second 4.
    fn run() -> Aggregator {
        let mut agg = Aggregator::new();
        for (t, cpu_us) in [(1u32, 300_000u64), (2, 950_000), (4, 100_000)] {
            for source in 0..2u32 {
                let latencies: Vec<u64> = (1..=100).map(|i| i * 100 * u64::from(t)).collect();
                let mut s = snapshot(
                    source,
                    t,
                    10 * t,
                    vec![endpoint("GET", "/", &latencies, &[])],
                );
                s.cpu_us = cpu_us;
                s.dropped = u64::from(t);
                agg.merge(&s).unwrap();
            }
        }
        agg
    }

    /// Every chart has one value per second; gaps are `None`, not zero.
    #[test]
    fn charts_follow_the_time_series() {
        let agg = run();
        let charts = charts(&agg, LoadShape::Closed);
        let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "chart-rps",
                "chart-latency",
                "chart-users",
                "chart-bytes",
                "chart-cpu"
            ]
        );
        let rps = &charts[0].series[0].values;
        assert_eq!(rps, &[Some(200.0), Some(200.0), None, Some(200.0)]);
        assert_eq!(charts[0].spans[3], (3.0, 4.0));
        let p99 = charts[1].series[2].values[1].unwrap();
        assert!((p99 - 19.8).abs() < 0.2, "{p99}");
        assert_eq!(
            charts[2].series[0].values,
            [Some(20.0), Some(40.0), None, Some(80.0)]
        );
        assert_eq!(charts[3].series[0].values[0], Some(20_000.0));
        assert_eq!(charts[4].series[0].values[1], Some(95.0));
        assert!(charts.iter().all(|c| c.note.is_none()));
    }

    /// Open loop draws the offered rate next to the achieved one and the drops.
    #[test]
    fn open_loop_compares_offered_and_achieved() {
        let charts = charts(&run(), LoadShape::Open { rate_per_s: 250.0 });
        let rate = &charts[2];
        assert_eq!(rate.id, "chart-rate");
        let labels: Vec<&str> = rate.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["Offered", "Achieved", "Dropped"]);
        assert_eq!(rate.series[0].values[0], Some(250.0));
        assert_eq!(rate.series[2].values[1], Some(4.0));
    }

    /// Long runs are drawn with at most 600 points of whole spans, percentiles from merged histograms
    /// (the aggregator compacted the seconds; the spans' coarse histograms are exact).
    #[test]
    fn long_runs_are_bucketed() {
        let mut agg = Aggregator::new();
        for t in 1..=1_500u32 {
            let latency = if t == 2 { 50_000 } else { 1_000 };
            agg.merge(&snapshot(
                0,
                t,
                1,
                vec![endpoint("GET", "/", &[latency; 10], &[])],
            ))
            .unwrap();
        }
        let charts = charts(&agg, LoadShape::Closed);
        let rps = &charts[0];
        assert_eq!(rps.spans.len(), 150);
        assert_eq!(rps.spans[0], (0.0, 10.0));
        assert_eq!(rps.series[0].values[0], Some(10.0));
        let max_p99 = charts[1].series[2].values[0].unwrap();
        assert!((max_p99 - 50.0).abs() < 0.5, "{max_p99}");
        assert_eq!(rps.note.as_deref(), Some("each point covers 10 s"));
    }

    /// A short final interval (the stop) is drawn merged into the second before it.
    #[test]
    fn short_final_interval_joins_the_previous_point() {
        let mut agg = Aggregator::new();
        for t in 1..=3u32 {
            let mut s = snapshot(0, t, 5, vec![endpoint("GET", "/", &[1_000; 100], &[])]);
            if t == 3 {
                (s.elapsed_ms, s.users) = (2_050, 0);
                s.endpoints = vec![endpoint("GET", "/", &[1_000; 5], &[])];
            }
            agg.merge(&s).unwrap();
        }
        let charts = charts(&agg, LoadShape::Closed);
        assert_eq!(charts[0].spans, [(0.0, 1.0), (1.0, 2.05)]);
        let rps = charts[0].series[0].values[1].unwrap();
        assert!((rps - 105.0 / 1.05).abs() < 1e-9, "{rps}");
        assert_eq!(charts[2].series[0].values, [Some(5.0), Some(5.0)]);
    }

    /// The percentile curve spans the nines the sample supports, per endpoint too.
    #[test]
    fn percentile_curve_covers_the_nines() {
        let agg = run();
        let chart = percentile_chart(agg.endpoints(), &agg.total());
        assert_eq!(chart.x_scale, XScale::Nines);
        // 600 requests: up to 3 nines, 20 points each, plus 0.
        assert_eq!(chart.spans.len(), 61);
        assert_eq!(chart.spans[60], (2.95, 3.0));
        assert_eq!(chart.series.len(), 1, "one endpoint: the total only");
        let values = &chart.series[0].values;
        assert!(
            values.windows(2).all(|w| w[0] <= w[1]),
            "a percentile curve never falls"
        );
        let (p0, p999) = (values[0].unwrap(), values[60].unwrap());
        assert!(
            (p0 - 0.1).abs() < 0.01 && (p999 - 40.0).abs() < 0.5,
            "{p0} {p999}"
        );
    }

    /// Up to eight endpoints are drawn, busiest first; the chart's footnote
    /// names every endpoint it left out, so none goes missing unsaid.
    #[test]
    fn percentile_curve_draws_or_names_every_endpoint() {
        let run_with = |count: usize| {
            let mut agg = Aggregator::new();
            let endpoints = (0..count)
                .map(|i| {
                    // Endpoint i gets 20 - i requests: /e00 is the busiest.
                    let latencies = vec![1_000 + i as u64 * 100; 20 - i];
                    endpoint("GET", &format!("/e{i:02}"), &latencies, &[])
                })
                .collect();
            agg.merge(&snapshot(0, 1, 1, endpoints)).unwrap();
            agg
        };
        let labels = |chart: &Chart| -> Vec<String> {
            chart.series.iter().map(|s| s.label.clone()).collect()
        };

        let agg = run_with(11);
        let chart = percentile_chart(agg.endpoints(), &agg.total());
        let drawn: Vec<String> = (0..8).map(|i| format!("GET /e{i:02}")).collect();
        assert_eq!(labels(&chart)[0], "All requests");
        assert_eq!(labels(&chart)[1..], drawn[..]);
        let colors: Vec<usize> = chart.series.iter().map(|s| s.color).collect();
        assert_eq!(colors, [0, 2, 3, 4, 1, 6, 7, 8, 9], "no colour twice");
        assert_eq!(
            chart.footnote.as_deref(),
            Some(
                "Not drawn: 3 of 11 endpoints (the chart draws the 8 busiest, to stay readable; \
                 the Percentiles table has them all): GET /e08, GET /e09, GET /e10."
            )
        );

        let agg = run_with(3);
        let chart = percentile_chart(agg.endpoints(), &agg.total());
        assert_eq!(
            labels(&chart),
            ["All requests", "GET /e00", "GET /e01", "GET /e02"]
        );
        assert_eq!(chart.footnote, None, "all drawn, nothing to say");

        let agg = run_with(1);
        let chart = percentile_chart(agg.endpoints(), &agg.total());
        assert_eq!(labels(&chart), ["All requests: GET /e00"]);
        assert_eq!(chart.footnote, None);
    }

    /// Saturation counts full intervals at or above 90 % and reports the peak.
    #[test]
    fn cpu_saturation_counts_busy_intervals() {
        let saturation = cpu_saturation(run().timeseries());
        assert_eq!(saturation.measured_intervals, 3);
        assert_eq!(saturation.saturated_intervals, 1);
        assert!((saturation.peak_percent - 95.0).abs() < 1e-9);
        assert_eq!(
            cpu_saturation(Aggregator::new().timeseries()).measured_intervals,
            0
        );
    }
}
