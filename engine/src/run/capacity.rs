//! `stampede capacity`: find the most load the target sustains within an SLO.
//!
//! The search raises the load in steps (users in closed loop, the rate in
//! open loop), holds each step for `--hold`, and judges it: the SLO
//! (`p95<2s`), the error rate, whether achieved throughput still follows the
//! offered load (the knee), and whether the generator itself saturated. At the
//! first failing step it bisects between the last passing and the first
//! failing level. The search ([`search`]) and the verdicts ([`judge`]) are
//! pure over step results, so tests drive them with tables; [`run_step`]
//! measures one step with the control actor. Presenting the result is
//! `report::capacity`'s job.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::config::{parse_duration, Load, RunConfig};
use crate::run::control::{self, RunError};
use crate::run::saturation;
use crate::scenario::Plan;
use crate::stats::{percentile_ms, Aggregator};

/// Most steps (stepping and bisection together) one search may run.
pub const STEPS_MAX: usize = 200;
/// Open loop: achieved throughput below this share of the offered rate is the knee.
pub const RATE_FOLLOW_MIN: f64 = 0.9;
/// Closed loop: more users must bring at least this share of their
/// proportional throughput gain, or the step is past the knee.
pub const USERS_GAIN_MIN: f64 = 0.5;

/// What the search varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Concurrent users (closed loop).
    Users,
    /// Arrivals per second (open loop).
    Rate,
}

/// One latency objective: percentile `percentile` below `limit_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    /// The percentile, 0 to 100 (e.g. 95).
    pub percentile: f64,
    /// The limit in milliseconds.
    pub limit_ms: f64,
}

impl std::fmt::Display for Slo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "p{}<{}ms", self.percentile, self.limit_ms)
    }
}

/// Parses `p95<2s`, `p99 < 250ms`; several separated by commas.
pub fn parse_slo(text: &str) -> Result<Vec<Slo>, String> {
    let mut slos = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("invalid SLO '{part}' (use e.g. p95<2s or p99<250ms)");
        let (metric, limit) = part.split_once('<').ok_or_else(bad)?;
        let percentile: f64 = metric
            .trim()
            .strip_prefix('p')
            .ok_or_else(bad)?
            .parse()
            .map_err(|_| bad())?;
        if !(percentile > 0.0 && percentile <= 100.0) {
            return Err(bad());
        }
        let limit = parse_duration(limit.trim()).map_err(|_| bad())?;
        if limit.is_zero() {
            return Err(bad());
        }
        slos.push(Slo {
            percentile,
            limit_ms: limit.as_secs_f64() * 1_000.0,
        });
    }
    if slos.is_empty() {
        return Err(format!("invalid SLO '{text}' (use e.g. p95<2s)"));
    }
    Ok(slos)
}

/// Parses `1%`, `0.5%` or a fraction `0.01` into a fraction.
pub fn parse_error_rate(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let value = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.parse::<f64>(),
    }
    .map_err(|_| format!("invalid error rate '{text}' (use e.g. 1%)"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("error rate '{text}' must be between 0% and 100%"));
    }
    Ok(value)
}

/// How the search runs.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// Users or rate.
    pub mode: Mode,
    /// The first level.
    pub start: f64,
    /// Added per step.
    pub step: f64,
    /// The highest level tried.
    pub max: f64,
    /// How long each step holds.
    pub hold: Duration,
    /// Latency objectives; all must hold.
    pub slo: Vec<Slo>,
    /// Highest failed share of requests (0 to 1).
    pub max_error_rate: f64,
    /// Most bisection steps after the first failure.
    pub bisect_max: u32,
    /// Bisection stops once the gap is below this share of the passing level.
    pub precision: f64,
}

/// What one step measured over its steady window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StepResult {
    /// Users or arrivals per second offered.
    pub level: f64,
    /// Completed requests per second.
    pub achieved_rps: f64,
    /// Latency percentiles (from the intended send time in open loop), ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Latency at each SLO's percentile, ms, in SLO order.
    pub slo_ms: Vec<f64>,
    /// Requests in the window.
    pub requests: u64,
    /// Failed share of them, 0 to 1.
    pub error_rate: f64,
    /// Generator CPU over all shards as a share of their wall time, 0 to 1.
    pub generator_cpu: f64,
    /// The busiest shard's busy share in the window.
    pub busy_max: f64,
    /// Open loop: the worst shard's schedule lag p99 in the window, ms.
    pub lag_p99_ms: Option<f64>,
    /// Why the generator may have been the limit; empty if it was not.
    pub generator_bound: Vec<String>,
}

/// A step's verdict.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "verdict", content = "why", rename_all = "snake_case")]
pub enum Verdict {
    /// Within the SLO and still scaling.
    Pass,
    /// A latency objective broke.
    Slo(String),
    /// Too many requests failed.
    Errors(String),
    /// Throughput stopped following the offered load.
    Knee(String),
    /// The generator saturated: the step says nothing about the target.
    GeneratorBound(String),
}

impl Verdict {
    /// True for [`Verdict::Pass`].
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Pass)
    }
}

/// Judges a step against the SLO, the error limit, the knee (relative to
/// the last passing step) and the generator's own saturation.
pub fn judge(config: &SearchConfig, step: &StepResult, last_pass: Option<&StepResult>) -> Verdict {
    if !step.generator_bound.is_empty() {
        return Verdict::GeneratorBound(step.generator_bound.join("; "));
    }
    for (slo, &actual) in config.slo.iter().zip(&step.slo_ms) {
        if actual >= slo.limit_ms {
            return Verdict::Slo(format!(
                "p{} {actual:.1} ms >= {} ms",
                slo.percentile, slo.limit_ms
            ));
        }
    }
    if step.error_rate > config.max_error_rate {
        return Verdict::Errors(format!(
            "{:.2}% errors > {:.2}%",
            step.error_rate * 100.0,
            config.max_error_rate * 100.0
        ));
    }
    match config.mode {
        Mode::Rate if step.achieved_rps < step.level * RATE_FOLLOW_MIN => Verdict::Knee(format!(
            "achieved {:.0} req/s of {:.0} offered",
            step.achieved_rps, step.level
        )),
        Mode::Users => match last_pass.filter(|p| step.level > p.level && p.level > 0.0) {
            Some(prev) => {
                let expected =
                    prev.achieved_rps * (1.0 + USERS_GAIN_MIN * (step.level / prev.level - 1.0));
                if step.achieved_rps < expected {
                    Verdict::Knee(format!(
                        "{:.0} users gave {:.0} req/s, {:.0} gave {:.0}: throughput stopped following users",
                        step.level, step.achieved_rps, prev.level, prev.achieved_rps
                    ))
                } else {
                    Verdict::Pass
                }
            }
            None => Verdict::Pass,
        },
        Mode::Rate => Verdict::Pass,
    }
}

/// One step as the search ran it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Step {
    /// `step` while raising the load, `bisect` while refining.
    pub phase: &'static str,
    /// What it measured.
    pub result: StepResult,
    /// What the search made of it.
    pub verdict: Verdict,
}

/// How a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// A passing level below a failing one: the capacity.
    Found,
    /// The first step already failed: lower `--start`.
    FirstStepFailed,
    /// Every level up to `--max` passed: the capacity is above it.
    MaxReached,
    /// The generator saturated before the target did.
    GeneratorBound,
}

impl Ending {
    /// True when a capacity was found.
    pub fn found(self) -> bool {
        self == Ending::Found
    }
}

/// A finished search.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Outcome {
    /// Every step in the order run.
    pub steps: Vec<Step>,
    /// The highest passing step (the capacity when `ending` is `Found`).
    pub best: Option<StepResult>,
    /// The lowest failing level, if any.
    pub first_failing: Option<f64>,
    /// How it ended.
    pub ending: Ending,
}

/// Runs the search, measuring each level with `measure`.
pub fn search<E>(
    config: &SearchConfig,
    mut measure: impl FnMut(f64) -> Result<StepResult, E>,
) -> Result<Outcome, E> {
    let mut steps: Vec<Step> = Vec::new();
    let mut best: Option<StepResult> = None;
    let mut failing: Option<f64> = None;
    let mut level = config.start;
    let ending = loop {
        let result = measure(level)?;
        let verdict = judge(config, &result, best.as_ref());
        let bound = matches!(verdict, Verdict::GeneratorBound(_));
        let passed = verdict.passed();
        steps.push(Step {
            phase: "step",
            result: result.clone(),
            verdict,
        });
        if bound {
            break Ending::GeneratorBound;
        }
        if !passed {
            failing = Some(level);
            break if best.is_some() {
                Ending::Found
            } else {
                Ending::FirstStepFailed
            };
        }
        best = Some(result);
        if level >= config.max || steps.len() >= STEPS_MAX {
            break Ending::MaxReached;
        }
        level = next_level(config, level + config.step.max(f64::MIN_POSITIVE)).min(config.max);
    };
    let mut ending = ending;
    if ending == Ending::Found {
        for _ in 0..config.bisect_max {
            let (Some(lo), Some(hi)) = (best.as_ref().map(|b| b.level), failing) else {
                break;
            };
            let mid = next_level(config, (lo + hi) / 2.0);
            if hi - lo <= config.precision * lo
                || mid <= lo
                || mid >= hi
                || steps.len() >= STEPS_MAX
            {
                break;
            }
            let result = measure(mid)?;
            let verdict = judge(config, &result, best.as_ref());
            let bound = matches!(verdict, Verdict::GeneratorBound(_));
            let passed = verdict.passed();
            steps.push(Step {
                phase: "bisect",
                result: result.clone(),
                verdict,
            });
            if bound {
                ending = Ending::GeneratorBound;
                break;
            }
            if passed {
                best = Some(result);
            } else {
                failing = Some(mid);
            }
        }
    }
    Ok(Outcome {
        steps,
        best,
        first_failing: failing,
        ending,
    })
}

/// A level the mode can run: whole users, rates to 0.1/s.
fn next_level(config: &SearchConfig, level: f64) -> f64 {
    match config.mode {
        Mode::Users => level.round().max(1.0),
        Mode::Rate => (level * 10.0).round() / 10.0,
    }
}

/// Runs one step of `hold` at `level` and measures its steady window.
pub fn run_step(
    base: &RunConfig,
    plan: &Plan,
    search: &SearchConfig,
    level: f64,
    stop: &AtomicBool,
) -> Result<StepResult, RunError> {
    let mut config = base.clone();
    config.load = match (search.mode, &base.load) {
        (Mode::Users, _) => Load::Closed {
            users: level.round().max(1.0) as u32,
            spawn_rate_per_s: None,
        },
        (Mode::Rate, Load::Open { max_in_flight, .. }) => Load::Open {
            rate_per_s: level,
            max_in_flight: *max_in_flight,
        },
        (Mode::Rate, Load::Closed { .. }) => Load::Open {
            rate_per_s: level,
            max_in_flight: crate::config::DEFAULT_MAX_IN_FLIGHT,
        },
    };
    config.run_time = Some(search.hold);
    config.iterations = None;
    config.stages = Vec::new();
    config.thresholds = Vec::new();
    config.abort_on_fail = false;
    config.keep_exact_timeseries = true;
    let outcome = control::run(&config, plan.clone(), stop, &mut |_, _| {})?;
    Ok(measure(
        &outcome.aggregator,
        &search.slo,
        level,
        search.hold,
        config.threads,
    ))
}

/// A step's numbers from its aggregator: the intervals after the first
/// (connections warming up) and within the hold (not the drain after it).
pub fn measure(
    agg: &Aggregator,
    slo: &[Slo],
    level: f64,
    hold: Duration,
    threads: usize,
) -> StepResult {
    let hold_s = hold.as_secs_f64().floor().max(1.0) as u32;
    let points = agg.timeseries();
    let skip_first = usize::from(hold_s >= 2);
    let window: Vec<_> = points
        .iter()
        .filter(|p| p.t_s <= hold_s)
        .skip(skip_first)
        .cloned()
        .collect();
    let mut latency = Histogram::<u64>::new(2).expect("constant significant figures are valid");
    let (mut requests, mut failures, mut seconds, mut cpu_us) = (0u64, 0u64, 0.0f64, 0u64);
    for point in &window {
        // Capacity steps keep every point whole (`RunConfig::keep_exact_timeseries`).
        if let Some(histogram) = point.latency_us.histogram() {
            let _ = latency.add(histogram);
        }
        requests += point.requests;
        failures += point.failures;
        seconds += point.duration_s();
        cpu_us += point.cpu_us;
    }
    // The worst shard's lag p99 within the window (warm-up connects excluded).
    let lag_p99_ms = agg
        .sched_lag_us()
        .map(|_| window.iter().map(|p| p.lag_us_p99).max().unwrap_or(0) as f64 / 1e3);
    // Only busy shards blame the generator here. Dropped arrivals are the
    // target's doing (its queue filled the in-flight cap), and so is most
    // schedule lag past the knee (the shard opens connection after connection
    // for the growing queue); lag is reported, and it is already inside the
    // latency the SLO judges, which counts from the intended send time.
    let verdict = saturation::judge_points(&window, None, 0);
    let busy_max = window.iter().map(|p| p.busy_max).fold(0.0, f64::max);
    StepResult {
        level,
        achieved_rps: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        p50_ms: percentile_ms(&latency, 50.0),
        p95_ms: percentile_ms(&latency, 95.0),
        p99_ms: percentile_ms(&latency, 99.0),
        slo_ms: slo
            .iter()
            .map(|s| percentile_ms(&latency, s.percentile))
            .collect(),
        requests,
        error_rate: if requests > 0 {
            failures as f64 / requests as f64
        } else {
            0.0
        },
        generator_cpu: if seconds > 0.0 {
            cpu_us as f64 / 1e6 / seconds / threads.max(1) as f64
        } else {
            0.0
        },
        busy_max,
        lag_p99_ms,
        generator_bound: verdict.reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: Mode) -> SearchConfig {
        SearchConfig {
            mode,
            start: 500.0,
            step: 500.0,
            max: 5_000.0,
            hold: Duration::from_secs(2),
            slo: vec![Slo {
                percentile: 95.0,
                limit_ms: 50.0,
            }],
            max_error_rate: 0.01,
            bisect_max: 6,
            precision: 0.02,
        }
    }

    /// A modelled server of capacity `k` req/s that queues beyond it.
    fn queueing_server(k: f64, level: f64) -> StepResult {
        let achieved = level.min(k);
        let p95 = if level <= k {
            2.0
        } else {
            1_000.0 * (level / k - 1.0) * 1.5
        };
        StepResult {
            level,
            achieved_rps: achieved,
            p50_ms: p95 / 2.0,
            p95_ms: p95,
            p99_ms: p95,
            slo_ms: vec![p95],
            requests: achieved as u64,
            error_rate: 0.0,
            generator_cpu: 0.1,
            busy_max: 0.1,
            lag_p99_ms: None,
            generator_bound: vec![],
        }
    }

    /// SLOs and error rates parse in the forms the docs show; bad ones are refused.
    #[test]
    fn parse_table() {
        assert_eq!(
            parse_slo("p95<2s").unwrap(),
            vec![Slo {
                percentile: 95.0,
                limit_ms: 2_000.0
            }]
        );
        assert_eq!(parse_slo("p99 < 250ms, p50<10ms").unwrap().len(), 2);
        for bad in [
            "", "p95", "95<2s", "p95<", "p0<1s", "p101<1s", "p95<0s", "p95>2s",
        ] {
            assert!(parse_slo(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_error_rate("1%"), Ok(0.01));
        assert_eq!(parse_error_rate("0.05"), Ok(0.05));
        assert!(parse_error_rate("150%").is_err() && parse_error_rate("x").is_err());
    }

    /// Each kind of failure gets its verdict; the generator's saturation comes first.
    #[test]
    fn judge_table() {
        let rate = config(Mode::Rate);
        assert_eq!(
            judge(&rate, &queueing_server(2_000.0, 1_500.0), None),
            Verdict::Pass
        );
        assert!(matches!(
            judge(&rate, &queueing_server(2_000.0, 2_500.0), None),
            Verdict::Slo(_)
        ));
        let mut short = queueing_server(2_000.0, 1_500.0);
        short.achieved_rps = 1_200.0;
        assert!(matches!(judge(&rate, &short, None), Verdict::Knee(_)));
        let mut errors = queueing_server(2_000.0, 1_500.0);
        errors.error_rate = 0.02;
        assert!(matches!(judge(&rate, &errors, None), Verdict::Errors(_)));
        let mut bound = queueing_server(2_000.0, 2_500.0);
        bound.generator_bound = vec!["busy".into()];
        assert!(matches!(
            judge(&rate, &bound, None),
            Verdict::GeneratorBound(_)
        ));

        let users = config(Mode::Users);
        let at = |level: f64, rps: f64| StepResult {
            level,
            achieved_rps: rps,
            ..queueing_server(1e9, level)
        };
        assert_eq!(
            judge(&users, &at(20.0, 1_900.0), Some(&at(10.0, 1_000.0))),
            Verdict::Pass
        );
        assert!(matches!(
            judge(&users, &at(20.0, 1_100.0), Some(&at(10.0, 1_000.0))),
            Verdict::Knee(_)
        ));
    }

    /// Against a queueing server of known capacity the search brackets it and
    /// bisects to within the precision.
    #[test]
    fn search_finds_a_known_capacity() {
        let config = config(Mode::Rate);
        let outcome = search(&config, |level| {
            Ok::<_, ()>(queueing_server(2_000.0, level))
        })
        .unwrap();
        assert_eq!(outcome.ending, Ending::Found);
        let best = outcome.best.unwrap().level;
        // The model's p95 crosses 50 ms at 2066 req/s.
        assert!((1_960.0..=2_070.0).contains(&best), "{best}");
        let phases: Vec<&str> = outcome.steps.iter().map(|s| s.phase).collect();
        assert_eq!(&phases[..5], ["step"; 5]);
        assert!(phases[5..].iter().all(|p| *p == "bisect") && phases.len() > 5);
    }

    /// The other endings: first step failing, --max reached, generator-bound.
    #[test]
    fn search_endings() {
        let mut config = config(Mode::Rate);
        let first = search(&config, |level| Ok::<_, ()>(queueing_server(100.0, level))).unwrap();
        assert_eq!(
            (first.ending, first.steps.len(), first.best),
            (Ending::FirstStepFailed, 1, None)
        );
        config.max = 1_200.0;
        let max = search(&config, |level| Ok::<_, ()>(queueing_server(1e9, level))).unwrap();
        let levels: Vec<f64> = max.steps.iter().map(|s| s.result.level).collect();
        assert_eq!(
            (max.ending, levels),
            (Ending::MaxReached, vec![500.0, 1_000.0, 1_200.0])
        );
        let bound = search(&config, |level| {
            let mut r = queueing_server(1e9, level);
            if level > 600.0 {
                r.generator_bound = vec!["a shard was over 90% busy".into()];
            }
            Ok::<_, ()>(r)
        })
        .unwrap();
        assert_eq!(
            (bound.ending, bound.steps.len()),
            (Ending::GeneratorBound, 2)
        );
        assert!(!bound.ending.found());
    }
}
