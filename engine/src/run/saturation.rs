//! Is the generator the bottleneck? The verdict on a run's own measurement.
//!
//! A load generator that runs out of CPU, or falls behind its open-loop
//! schedule, reports the limit of the generator as if it were the target's.
//! Each shard measures its busy time (thread CPU time plus the time it was
//! ready to run but waited for a CPU, over wall time: a shard starved by other
//! work on its core is as much the limit as one using all of it) and, in
//! open loop, how late each arrival was dispatched; the aggregator keeps the
//! worst shard of every interval. This module judges those numbers: a run is
//! generator-bound when a shard stays above [`BUSY_LIMIT`], when the schedule
//! lag's 99th percentile exceeds [`LAG_P99_LIMIT_MS`], or when arrivals were
//! dropped. It only reads the aggregator; reports show the verdict.

use serde_json::{json, Value};

use crate::stats::{Aggregator, IntervalPoint};

/// A shard busier than this share of an interval's wall time is saturated.
pub const BUSY_LIMIT: f64 = 0.9;
/// Schedule lag p99 above this (milliseconds) means arrivals went out late.
pub const LAG_P99_LIMIT_MS: f64 = 10.0;
/// Busy intervals in a row that make a saturated run (fewer for a shorter run).
pub const BUSY_INTERVALS_MIN: usize = 2;
/// Intervals shorter than this (seconds) are too short to judge busy time.
const INTERVAL_S_MIN: f64 = 0.5;

/// The verdict, with the evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Saturation {
    /// True when the run's numbers may show the generator's limit, not the target's.
    pub saturated: bool,
    /// Why, one sentence each; empty when not saturated.
    pub reasons: Vec<String>,
    /// Intervals (t_s) in which a shard was busier than [`BUSY_LIMIT`].
    pub busy_intervals: Vec<u32>,
    /// Intervals (t_s) in which a shard's schedule lag p99 exceeded the limit.
    pub lag_intervals: Vec<u32>,
    /// The highest busy share of any shard in any full interval.
    pub busy_max: f64,
    /// Schedule lag p99 over the run, ms; `None` in closed loop.
    pub lag_p99_ms: Option<f64>,
    /// Open-loop arrivals dropped (in-flight cap reached).
    pub dropped: u64,
}

/// Judges the run's time series, schedule lag and dropped arrivals.
pub fn judge(agg: &Aggregator) -> Saturation {
    let lag_p99_ms = agg
        .sched_lag_us()
        .filter(|h| !h.is_empty())
        .map(|h| h.value_at_quantile(0.99) as f64 / 1_000.0);
    judge_points(agg.timeseries(), lag_p99_ms, agg.dropped())
}

/// [`judge`] on plain values (what the tests drive).
pub fn judge_points(points: &[IntervalPoint], lag_p99_ms: Option<f64>, dropped: u64) -> Saturation {
    let full: Vec<&IntervalPoint> = points
        .iter()
        .filter(|p| p.sources > 0 && p.duration_s() >= INTERVAL_S_MIN)
        .collect();
    let busy_intervals: Vec<u32> = full
        .iter()
        .filter(|p| p.busy_max > BUSY_LIMIT)
        .map(|p| p.t_s)
        .collect();
    let lag_limit_us = (LAG_P99_LIMIT_MS * 1_000.0) as u64;
    let lag_intervals: Vec<u32> = points
        .iter()
        .filter(|p| p.lag_us_p99 > lag_limit_us)
        .map(|p| p.t_s)
        .collect();
    let busy_max = full.iter().map(|p| p.busy_max).fold(0.0, f64::max);
    let mut reasons = Vec::new();
    let needed = BUSY_INTERVALS_MIN.min(full.len()).max(1);
    if longest_run(&busy_intervals) >= needed {
        reasons.push(format!(
            "a shard was over {:.0}% busy for {} of {} intervals (up to {:.0}%): the generator's CPU may be the limit",
            BUSY_LIMIT * 100.0,
            busy_intervals.len(),
            full.len(),
            busy_max * 100.0
        ));
    }
    if let Some(lag) = lag_p99_ms.filter(|&lag| lag > LAG_P99_LIMIT_MS) {
        reasons.push(format!(
            "open-loop arrivals went out late: schedule lag p99 {lag:.1} ms (limit {LAG_P99_LIMIT_MS} ms)"
        ));
    }
    if dropped > 0 {
        reasons.push(format!(
            "{dropped} open-loop arrivals were dropped at the in-flight cap: the offered rate was not delivered"
        ));
    }
    Saturation {
        saturated: !reasons.is_empty(),
        reasons,
        busy_intervals,
        lag_intervals,
        busy_max,
        lag_p99_ms,
        dropped,
    }
}

impl Saturation {
    /// The JSON object reports carry as `generator.saturation`.
    pub fn to_json(&self) -> Value {
        let mut value = json!({
            "saturated": self.saturated,
            "reasons": self.reasons,
            "busy_limit": BUSY_LIMIT,
            "busy_max": (self.busy_max * 1_000.0).round() / 1_000.0,
            "busy_intervals": self.busy_intervals,
            "lag_p99_limit_ms": LAG_P99_LIMIT_MS,
            "lag_intervals": self.lag_intervals,
            "dropped": self.dropped,
        });
        // Closed loop has no schedule: the key is left out rather than null.
        if let (Some(lag), Some(object)) = (self.lag_p99_ms, value.as_object_mut()) {
            object.insert(
                "lag_p99_ms".into(),
                json!((lag * 1_000.0).round() / 1_000.0),
            );
        }
        value
    }

    /// One warning line for the console and the HTML banner, when saturated.
    pub fn warning(&self) -> Option<String> {
        self.saturated
            .then(|| format!("generator-bound: {}", self.reasons.join("; ")))
    }
}

/// Length of the longest run of consecutive numbers in a sorted list.
fn longest_run(sorted: &[u32]) -> usize {
    let mut best = 0;
    let mut run = 0;
    for (i, &t) in sorted.iter().enumerate() {
        run = if i > 0 && sorted[i - 1] + 1 == t {
            run + 1
        } else {
            1
        };
        best = best.max(run);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: u32, busy: f64, lag_ms: u64) -> IntervalPoint {
        IntervalPoint {
            elapsed_ms: u64::from(t) * 1_000,
            sources: 1,
            busy_max: busy,
            lag_us_p99: lag_ms * 1_000,
            ..IntervalPoint::empty(t)
        }
    }

    /// Busy runs, late schedules and drops each make a verdict; a light run makes none.
    #[test]
    fn judge_table() {
        let light: Vec<_> = (1..=5).map(|t| point(t, 0.3, 1)).collect();
        let verdict = judge_points(&light, Some(1.2), 0);
        assert!(!verdict.saturated, "{verdict:?}");
        assert_eq!(verdict.warning(), None);

        let busy: Vec<_> = (1..=5)
            .map(|t| point(t, if t >= 3 { 0.97 } else { 0.5 }, 0))
            .collect();
        let verdict = judge_points(&busy, None, 0);
        assert!(
            verdict.saturated && verdict.reasons[0].contains("busy"),
            "{verdict:?}"
        );
        assert_eq!(verdict.busy_intervals, vec![3, 4, 5]);

        let one_spike: Vec<_> = (1..=5)
            .map(|t| point(t, if t == 2 || t == 4 { 0.95 } else { 0.2 }, 0))
            .collect();
        assert!(
            !judge_points(&one_spike, None, 0).saturated,
            "isolated busy seconds are not saturation"
        );

        let short = vec![point(1, 0.99, 0)];
        assert!(
            judge_points(&short, None, 0).saturated,
            "a one-interval run judges that interval"
        );

        let late: Vec<_> = (1..=3).map(|t| point(t, 0.5, 40)).collect();
        let verdict = judge_points(&late, Some(35.0), 0);
        assert!(verdict.saturated && verdict.reasons[0].contains("schedule lag"));
        assert_eq!(verdict.lag_intervals, vec![1, 2, 3]);

        let verdict = judge_points(&light, Some(0.5), 7);
        assert!(
            verdict.saturated && verdict.reasons[0].contains("7 open-loop arrivals were dropped")
        );
        assert_eq!(verdict.to_json()["dropped"], 7);
    }

    /// Runs of consecutive intervals are measured exactly.
    #[test]
    fn longest_runs() {
        assert_eq!(longest_run(&[]), 0);
        assert_eq!(longest_run(&[4]), 1);
        assert_eq!(longest_run(&[1, 2, 4, 5, 6, 9]), 3);
    }
}
