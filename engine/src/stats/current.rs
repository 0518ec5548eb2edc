//! Current rates: requests and failures per second over the last few
//! completed intervals, overall and per endpoint (Locust's "current RPS").
//!
//! It keeps each endpoint's counts of the last few intervals and computes
//! rates over a window of points. Which intervals are complete is `sources`'
//! call; merging the counts is `aggregate`'s.

use std::collections::BTreeMap;

use super::summary::IntervalPoint;

/// Completed intervals the current rates average over.
const CURRENT_WINDOW_INTERVALS: u32 = 3;
/// Intervals of per-endpoint counts kept: the window, the straggler wait, and slack.
const RECENT_INTERVALS_KEPT: u32 = 8;

/// Requests and failures per second over a window of intervals.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rates {
    /// Requests completed per second.
    pub requests_per_s: f64,
    /// Requests failed per second.
    pub failures_per_s: f64,
}

/// One endpoint's (requests, failures) in each of the last few intervals.
#[derive(Debug, Clone, Default)]
pub(super) struct RecentCounts {
    by_interval: BTreeMap<u32, (u64, u64)>,
}

impl RecentCounts {
    /// Adds an interval's requests and failures.
    pub fn add(&mut self, t: u32, requests: u64, failures: u64) {
        let counts = self.by_interval.entry(t).or_default();
        counts.0 = counts.0.saturating_add(requests);
        counts.1 = counts.1.saturating_add(failures);
    }

    /// The (requests, failures) of interval `t`; zeros if none or forgotten.
    pub fn get(&self, t: u32) -> (u64, u64) {
        self.by_interval.get(&t).copied().unwrap_or((0, 0))
    }

    /// Forgets intervals too old for any window, given the newest interval seen.
    pub fn prune(&mut self, newest: u32) {
        let cutoff = newest.saturating_sub(RECENT_INTERVALS_KEPT - 1);
        self.by_interval = self.by_interval.split_off(&cutoff);
    }
}

/// Rates over the up-to-3 points ending at interval `completed` (0: none),
/// with each point's (requests, failures) taken by `counts`.
pub(super) fn rates_over(
    points: &[IntervalPoint],
    completed: u32,
    counts: impl Fn(&IntervalPoint) -> (u64, u64),
) -> Rates {
    let newest = (completed as usize).min(points.len());
    let oldest = newest.saturating_sub(CURRENT_WINDOW_INTERVALS as usize);
    let window = &points[oldest..newest];
    let duration_s: f64 = window.iter().map(IntervalPoint::duration_s).sum();
    if window.is_empty() || duration_s <= 0.0 {
        return Rates::default();
    }
    let (requests, failures) = window.iter().map(counts).fold((0u64, 0u64), |sum, c| {
        (sum.0.saturating_add(c.0), sum.1.saturating_add(c.1))
    });
    Rates {
        requests_per_s: requests as f64 / duration_s,
        failures_per_s: failures as f64 / duration_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points 1..=n with 10·t requests and t failures, each lasting a full second.
    fn points(n: u32) -> Vec<IntervalPoint> {
        (1..=n)
            .map(|t| IntervalPoint {
                requests: u64::from(t) * 10,
                failures: u64::from(t),
                elapsed_ms: u64::from(t) * 1_000,
                ..IntervalPoint::empty(t)
            })
            .collect()
    }

    fn totals(point: &IntervalPoint) -> (u64, u64) {
        (point.requests, point.failures)
    }

    /// The window is the last three completed points, fewer at the start, none before any.
    #[test]
    fn window_is_the_last_three_completed_points() {
        let points = points(5);
        assert_eq!(rates_over(&points, 0, totals), Rates::default());
        let first = rates_over(&points, 1, totals);
        assert_eq!((first.requests_per_s, first.failures_per_s), (10.0, 1.0));
        assert_eq!(rates_over(&points, 2, totals).requests_per_s, 15.0);
        // Intervals 2..=4, not the incomplete 5th: (20 + 30 + 40) / 3 s.
        assert_eq!(rates_over(&points, 4, totals).requests_per_s, 30.0);
        assert_eq!(rates_over(&points, 9, totals).requests_per_s, 40.0);
    }

    /// A final, partial interval counts only the time it lasted.
    #[test]
    fn partial_final_interval_counts_its_length() {
        let mut points = points(3);
        points[2].elapsed_ms = 2_500;
        // (10 + 20 + 30) requests over 2.5 s.
        assert_eq!(rates_over(&points, 3, totals).requests_per_s, 24.0);
    }

    /// Recent counts add up per interval and forget what no window can reach.
    #[test]
    fn recent_counts_add_and_prune() {
        let mut recent = RecentCounts::default();
        recent.add(1, 5, 1);
        recent.add(1, 2, 0);
        recent.add(9, 4, 4);
        assert_eq!(
            (recent.get(1), recent.get(9), recent.get(2)),
            ((7, 1), (4, 4), (0, 0))
        );
        recent.prune(9);
        assert_eq!((recent.get(1), recent.get(9)), ((0, 0), (4, 4)));
    }
}
