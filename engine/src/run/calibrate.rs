//! `--calibrate`: before recording, learn the target's service time with a
//! short light run, and warn when the requested rate needs more connections
//! than the run allows (the wrk2 and oha problem of silently under-delivering).
//!
//! By Little's law a rate R at service time S keeps R * S requests in flight;
//! an open-loop run capped below that drops arrivals, and a closed-loop run
//! of N users cannot exceed N / S. The arithmetic is pure ([`advice`]); the
//! light run is the control actor's. Nothing of the calibration run is
//! recorded in the run's stats.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::config::{Load, RunConfig};
use crate::run::control::{self, RunError};
use crate::scenario::Plan;

/// Users of the calibration run per shard: light, so service time is the target's own.
const USERS_PER_SHARD: u32 = 2;
/// Headroom asked for above the Little's-law estimate (bursts, slower moments).
pub const HEADROOM: f64 = 1.5;

/// What calibration learned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Requests measured.
    pub requests: u64,
    /// Mean service time, ms.
    pub service_ms_mean: f64,
    /// 99th percentile service time, ms.
    pub service_ms_p99: f64,
}

/// Runs a light closed-loop load for `duration` and measures service time.
pub fn run(
    config: &RunConfig,
    plan: &Plan,
    duration: Duration,
    stop: &AtomicBool,
) -> Result<Calibration, RunError> {
    let mut light = config.clone();
    light.load = Load::Closed {
        users: USERS_PER_SHARD * config.threads as u32,
        spawn_rate_per_s: None,
    };
    light.run_time = Some(duration);
    light.iterations = None;
    light.stages = Vec::new();
    light.thresholds = Vec::new();
    light.abort_on_fail = false;
    let outcome = control::run(&light, plan.clone(), stop, &mut |_, _| {})?;
    let total = outcome.aggregator.total();
    Ok(Calibration {
        requests: total.requests,
        service_ms_mean: total.avg_ms(),
        service_ms_p99: total.percentile_ms(99.0),
    })
}

/// Connections (requests in flight) a rate needs at a service time, by Little's law.
pub fn connections_needed(rate_per_s: f64, service_ms: f64) -> f64 {
    rate_per_s * service_ms / 1_000.0
}

/// A summary line, and a warning when the configured load cannot deliver.
pub fn advice(config: &RunConfig, calibration: &Calibration) -> (String, Option<String>) {
    let c = calibration;
    let line = format!(
        "calibrate: {} requests, service time mean {:.2} ms, p99 {:.2} ms",
        c.requests, c.service_ms_mean, c.service_ms_p99
    );
    if c.requests == 0 {
        return (
            line,
            Some("calibrate: no request completed; the service time is unknown".to_string()),
        );
    }
    let warning = match config.load {
        Load::Open {
            rate_per_s,
            max_in_flight,
        } => {
            let peak = if config.stages.is_empty() {
                rate_per_s
            } else {
                crate::run::shape::peak(&config.stages)
            };
            let needed = connections_needed(peak, c.service_ms_mean) * HEADROOM;
            (needed > f64::from(max_in_flight)).then(|| {
                format!(
                    "calibrate: {peak:.0} req/s at {:.2} ms each needs about {:.0} requests in flight \
                     ({HEADROOM}x Little's law), above --max-in-flight {max_in_flight}: arrivals will be \
                     dropped; raise --max-in-flight to {}",
                    c.service_ms_mean,
                    needed.ceil(),
                    needed.ceil()
                )
            })
        }
        // Closed loop cannot over-ask: N users simply send at most N / S per second.
        Load::Closed { .. } => None,
    };
    (line, warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Little's law: rate times service time.
    #[test]
    fn connections_needed_table() {
        let cases: &[(f64, f64, f64)] = &[
            (1_000.0, 10.0, 10.0),
            (200.0, 50.0, 10.0),
            (0.0, 5.0, 0.0),
            (50_000.0, 0.2, 10.0),
        ];
        for &(rate, ms, want) in cases {
            assert!(
                (connections_needed(rate, ms) - want).abs() < 1e-9,
                "{rate} {ms}"
            );
        }
    }
}
