//! Load shapes as pure functions: piecewise-linear stages (`--stages`,
//! `--rate-stages`, `[[stages]]`), step load (`--step-users`, `--step-time`),
//! and the open-loop schedule's anchor, which moves when the rate changes.
//!
//! Like `pace`, nothing here reads a clock or does I/O: the control actor
//! asks for the target at the time it read and sends the result to the
//! shards (`live`); the arrival scheduler asks an [`Anchor`] when arrival `j`
//! is due. Tested by tables.

use std::time::Duration;

use crate::config::parse_duration;

/// Most stages a shape may have.
pub const STAGES_MAX: usize = 1_000;
/// Highest target a stage may name (users, or arrivals per second).
pub const TARGET_MAX: f64 = 1e9;

/// One stage: move linearly from the previous stage's target to `target`
/// over `duration` (a zero duration jumps).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Stage {
    /// How long the stage lasts.
    pub duration: Duration,
    /// Users (closed loop) or arrivals per second (open loop) at its end.
    pub target: f64,
}

/// Parses `30s:100,1m:100,30s:0`: comma-separated `DURATION:TARGET` pairs.
pub fn parse_stages(text: &str) -> Result<Vec<Stage>, String> {
    let mut stages = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (duration, target) = part
            .split_once(':')
            .ok_or_else(|| format!("stage '{part}' is not DURATION:TARGET (e.g. 30s:100)"))?;
        let duration = parse_duration(duration).map_err(|e| format!("stage '{part}': {e}"))?;
        let target: f64 = target
            .trim()
            .parse()
            .map_err(|_| format!("stage '{part}': invalid target '{target}'"))?;
        if !(target.is_finite() && (0.0..=TARGET_MAX).contains(&target)) {
            return Err(format!(
                "stage '{part}': target must be between 0 and {TARGET_MAX}"
            ));
        }
        stages.push(Stage { duration, target });
    }
    if stages.is_empty() {
        return Err(format!(
            "no stages in '{text}' (use e.g. 30s:100,1m:100,30s:0)"
        ));
    }
    if stages.len() > STAGES_MAX {
        return Err(format!("{} stages; at most {STAGES_MAX}", stages.len()));
    }
    if total_duration(&stages).is_zero() {
        return Err(format!("stages '{text}' last no time"));
    }
    Ok(stages)
}

/// Step load: `step` more users every `step_time` until `max`, each level held
/// for `step_time` (Locust's step load), as stages that jump and hold.
pub fn step_stages(step: u32, step_time: Duration, max: u32) -> Vec<Stage> {
    let step = step.max(1);
    let levels = max.div_ceil(step).clamp(1, (STAGES_MAX / 2) as u32);
    let mut stages = Vec::with_capacity(2 * levels as usize);
    for level in 1..=levels {
        let target = f64::from((level * step).min(max));
        stages.push(Stage {
            duration: Duration::ZERO,
            target,
        });
        stages.push(Stage {
            duration: step_time,
            target,
        });
    }
    stages
}

/// The stages' total length.
pub fn total_duration(stages: &[Stage]) -> Duration {
    stages.iter().map(|s| s.duration).sum()
}

/// The target `elapsed` after the start: linear within a stage, starting from
/// 0; after the last stage its target holds.
pub fn target_at(stages: &[Stage], elapsed: Duration) -> f64 {
    let mut from = 0.0;
    let mut start = Duration::ZERO;
    for stage in stages {
        let end = start + stage.duration;
        if elapsed < end {
            let progress = (elapsed - start).as_secs_f64() / stage.duration.as_secs_f64();
            return from + (stage.target - from) * progress;
        }
        from = stage.target;
        start = end;
    }
    from
}

/// The highest target of any stage (what to size connections and fds for).
pub fn peak(stages: &[Stage]) -> f64 {
    stages.iter().map(|s| s.target).fold(0.0, f64::max)
}

/// Users for a target: rounded to the nearest whole user.
pub fn users_for(target: f64) -> u32 {
    target.round().clamp(0.0, f64::from(u32::MAX)) as u32
}

/// The open-loop schedule from some point on: global arrival `index` is due
/// `at` after the start, and later ones every `1 / rate_per_s` after it.
///
/// A run at a fixed rate has one anchor, `Anchor::start(rate)`, and arrival
/// `j` is due at `j / rate`. When the rate changes at time `t`, the schedule
/// re-anchors at `t` from the first arrival not yet due, so no arrival is
/// skipped or repeated and every shard (each takes every n-th arrival)
/// agrees on the split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    /// Offset from the start of arrival `index`.
    pub at: Duration,
    /// The first global arrival this anchor times.
    pub index: u64,
    /// Arrivals per second from `at` on; 0 pauses the schedule.
    pub rate_per_s: f64,
}

impl Anchor {
    /// The schedule of a run that starts at `rate_per_s`.
    pub fn start(rate_per_s: f64) -> Self {
        Anchor {
            at: Duration::ZERO,
            index: 0,
            rate_per_s,
        }
    }

    /// When global arrival `j` is due; arrivals before `index` (left over
    /// from the previous rate) are due at once; `None` while paused.
    pub fn offset(&self, j: u64) -> Option<Duration> {
        if j < self.index {
            return Some(self.at);
        }
        if self.rate_per_s <= 0.0 {
            return None;
        }
        Some(self.at + Duration::from_secs_f64((j - self.index) as f64 / self.rate_per_s))
    }

    /// How many arrivals are due strictly before `t`: the first index a new
    /// anchor at `t` takes over.
    pub fn due_before(&self, t: Duration) -> u64 {
        if t <= self.at || self.rate_per_s <= 0.0 {
            return self.index;
        }
        let span = (t - self.at).as_secs_f64() * self.rate_per_s;
        // Arrival k (k >= 0) is before t when k / rate < t - at: ceil(span) of them.
        // The small slack keeps 2.9999999 from counting as 3 arrivals.
        self.index + (span - 1e-9).ceil().max(0.0) as u64
    }

    /// The schedule after the rate changes to `rate_per_s` at `t`.
    pub fn reanchor(&self, t: Duration, rate_per_s: f64) -> Anchor {
        Anchor {
            at: t.max(self.at),
            index: self.due_before(t),
            rate_per_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// Stage lists parse k6-style, and bad ones are refused with the stage named.
    #[test]
    fn parse_stages_table() {
        let stages = parse_stages("30s:100, 1m:100,30s:0").unwrap();
        assert_eq!(
            stages,
            vec![
                Stage {
                    duration: s(30),
                    target: 100.0
                },
                Stage {
                    duration: s(60),
                    target: 100.0
                },
                Stage {
                    duration: s(30),
                    target: 0.0
                }
            ]
        );
        assert_eq!(parse_stages("0s:5,2s:5.5").unwrap()[1].target, 5.5);
        for (bad, says) in [
            ("", "no stages"),
            ("30s", "not DURATION:TARGET"),
            ("30x:5", "invalid duration"),
            ("5s:-1", "target must be"),
            ("5s:abc", "invalid target"),
            ("0s:10", "last no time"),
        ] {
            let err = parse_stages(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    /// Targets move linearly within a stage from the previous target, jump on
    /// zero-length stages, and hold the last target afterwards.
    #[test]
    fn target_at_table() {
        let stages = parse_stages("10s:100,10s:100,10s:0,0s:40,5s:40").unwrap();
        let cases: &[(Duration, f64)] = &[
            (s(0), 0.0),
            (s(5), 50.0),
            (ms(9_900), 99.0),
            (s(10), 100.0),
            (s(15), 100.0),
            (s(25), 50.0),
            (s(30), 40.0),
            (s(34), 40.0),
            (s(99), 40.0),
        ];
        for &(elapsed, want) in cases {
            let got = target_at(&stages, elapsed);
            assert!((got - want).abs() < 1e-9, "{elapsed:?}: {got} != {want}");
        }
        assert_eq!(total_duration(&stages), s(35));
        assert_eq!(peak(&stages), 100.0);
        assert_eq!(
            (users_for(49.5), users_for(0.4), users_for(-3.0)),
            (50, 0, 0)
        );
    }

    /// Step load adds `step` users every `step_time` up to the maximum.
    #[test]
    fn step_load_table() {
        let stages = step_stages(10, s(5), 25);
        assert_eq!(total_duration(&stages), s(15));
        let cases: &[(u64, f64)] = &[
            (0, 10.0),
            (4_999, 10.0),
            (5_000, 20.0),
            (10_000, 25.0),
            (60_000, 25.0),
        ];
        for &(at_ms, want) in cases {
            assert_eq!(target_at(&stages, ms(at_ms)), want, "{at_ms} ms");
        }
        assert_eq!(
            total_duration(&step_stages(0, s(1), 3)),
            s(3),
            "a zero step counts as 1"
        );
    }

    /// A fixed-rate anchor is `j / rate`; paused anchors time nothing.
    #[test]
    fn anchor_offsets() {
        let a = Anchor::start(100.0);
        assert_eq!(a.offset(0), Some(Duration::ZERO));
        assert_eq!(a.offset(150), Some(ms(1_500)));
        assert_eq!(Anchor::start(0.0).offset(3), None);
        let paused = Anchor {
            at: s(2),
            index: 10,
            rate_per_s: 0.0,
        };
        assert_eq!(paused.offset(9), Some(s(2)), "left-overs are due at once");
        assert_eq!(paused.offset(10), None);
    }

    /// Re-anchoring keeps every arrival before the change on the old
    /// schedule and times the rest at the new rate from the change.
    #[test]
    fn reanchor_table() {
        // (old anchor, change at, new rate) -> new anchor index
        let cases: &[(Anchor, Duration, f64, u64)] = &[
            (Anchor::start(100.0), s(1), 200.0, 100),
            (Anchor::start(100.0), ms(1_005), 200.0, 101),
            (Anchor::start(3.0), s(1), 1.0, 3),
            (Anchor::start(0.0), s(5), 10.0, 0),
            (
                Anchor {
                    at: s(2),
                    index: 40,
                    rate_per_s: 10.0,
                },
                s(3),
                0.0,
                50,
            ),
            (
                Anchor {
                    at: s(2),
                    index: 40,
                    rate_per_s: 10.0,
                },
                s(1),
                5.0,
                40,
            ),
        ];
        for &(old, at, rate, index) in cases {
            let new = old.reanchor(at, rate);
            assert_eq!(new.index, index, "{old:?} at {at:?}");
            assert_eq!(new.at, at.max(old.at));
            if rate > 0.0 {
                assert_eq!(new.offset(index), Some(new.at));
            }
        }
        // The union of both schedules has no gap and no repeat: offsets never go back.
        let old = Anchor::start(100.0);
        let new = old.reanchor(ms(1_005), 50.0);
        let times: Vec<Duration> = (0..120)
            .map(|j| if j < new.index { old } else { new }.offset(j).unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(times[101], ms(1_005));
        assert_eq!(times[102], ms(1_025));
    }
}
