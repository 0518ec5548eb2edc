//! `--delay`: a service time the server adds to every counted request, drawn
//! from a known distribution, so that the latency a load generator reports can
//! be checked against the truth (`service` records what each request really
//! took). This module parses the spec and draws the delays from a seeded
//! generator, one per shard; `conn` sleeps for them.

use std::fmt;
use std::str::FromStr;

use crate::routes::DELAY_MS_MAX;

/// The longest delay drawn, in microseconds (the `/delay/MS` route's limit);
/// longer draws are cut to it.
pub const DELAY_US_MAX: u64 = DELAY_MS_MAX * 1000;

/// The largest lognormal sigma accepted: at 3 the p99 is already 1000 times the median.
pub const SIGMA_MAX: f64 = 3.0;

/// The seed `--delay-seed` defaults to, so two runs draw the same delays.
pub const SEED_DEFAULT: u64 = 1;

/// The distribution of the delay added to each request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Delay {
    /// Every request waits exactly this long.
    Fixed {
        /// The wait, in microseconds.
        us: u64,
    },
    /// Waits whose logarithm is normal: `median_us * exp(sigma * z)` with z
    /// standard normal, so the p95 is `median * exp(1.645 sigma)` and the p99
    /// `median * exp(2.326 sigma)`.
    LogNormal {
        /// The median wait, in microseconds.
        median_us: u64,
        /// The standard deviation of the wait's natural logarithm.
        sigma: f64,
    },
}

// `parse` never lets a NaN sigma in, so equality is an equivalence.
impl Eq for Delay {}

/// Why a `--delay` spec was refused: what was expected instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DelayError(pub &'static str);

impl fmt::Display for DelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for DelayError {}

/// The text every refusal carries, after the reason.
const FORMS: &str = "fixed:MS or lognormal:MEDIAN_MS:SIGMA";

impl FromStr for Delay {
    type Err = DelayError;

    /// Parses `fixed:20ms` or `lognormal:20ms:0.5`. A time is a number with
    /// an optional unit `us`, `ms` (the default) or `s`, above 0 and at most
    /// 60 s; sigma is above 0 and at most `SIGMA_MAX`.
    fn from_str(spec: &str) -> Result<Delay, DelayError> {
        let mut parts = spec.split(':');
        let kind = parts.next().unwrap_or_default();
        let delay = match kind {
            "fixed" => Delay::Fixed {
                us: parse_us(parts.next())?,
            },
            "lognormal" => {
                let median_us = parse_us(parts.next())?;
                let sigma: f64 = parts
                    .next()
                    .and_then(|s| s.trim().parse().ok())
                    .ok_or(DelayError("lognormal:MEDIAN_MS:SIGMA with SIGMA a number"))?;
                if !(sigma > 0.0 && sigma <= SIGMA_MAX) {
                    return Err(DelayError("a sigma above 0 and at most 3"));
                }
                Delay::LogNormal { median_us, sigma }
            }
            _ => return Err(DelayError(FORMS)),
        };
        if parts.next().is_some() {
            return Err(DelayError(FORMS));
        }
        Ok(delay)
    }
}

/// A time such as `20`, `20ms`, `0.5ms`, `500us` or `1s`, in microseconds.
fn parse_us(text: Option<&str>) -> Result<u64, DelayError> {
    let text = text.map(str::trim).unwrap_or_default();
    let (number, us_per_unit) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e6)
    } else {
        (text, 1e3)
    };
    let value: f64 = number
        .parse()
        .map_err(|_| DelayError("a time such as 20ms, 500us or 1s (a bare number is ms)"))?;
    let us = (value * us_per_unit).round();
    if !(us >= 1.0 && us <= DELAY_US_MAX as f64) {
        return Err(DelayError("a time from 1us to 60s"));
    }
    // In range, so the conversion is exact.
    Ok(us as u64)
}

/// A time in the shortest exact form `parse_us` reads back.
fn fmt_us(us: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if us.is_multiple_of(1000) {
        write!(f, "{}ms", us / 1000)
    } else {
        write!(f, "{us}us")
    }
}

impl fmt::Display for Delay {
    /// The canonical spec, which parses back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Delay::Fixed { us } => {
                f.write_str("fixed:")?;
                fmt_us(us, f)
            }
            Delay::LogNormal { median_us, sigma } => {
                f.write_str("lognormal:")?;
                fmt_us(median_us, f)?;
                write!(f, ":{sigma}")
            }
        }
    }
}

/// Draws one shard's delays: a deterministic sequence for a given delay and seed.
#[derive(Clone, Debug)]
pub struct DelaySampler {
    /// The distribution drawn from.
    delay: Delay,
    /// The random source (SplitMix64 state).
    state: u64,
}

impl DelaySampler {
    /// A sampler for shard `shard` of a server seeded with `seed`; shards
    /// draw different sequences from the same seed.
    pub fn new(delay: Delay, seed: u64, shard: usize) -> Self {
        let mut sampler = DelaySampler {
            delay,
            state: seed ^ (shard as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
        };
        // Mix once so that nearby seeds do not start nearby.
        sampler.state = sampler.next_u64();
        sampler
    }

    /// The next delay, in microseconds (at most `DELAY_US_MAX`).
    pub fn next_us(&mut self) -> u64 {
        match self.delay {
            Delay::Fixed { us } => us,
            Delay::LogNormal { median_us, sigma } => {
                let us = median_us as f64 * (sigma * self.standard_normal()).exp();
                // `as` saturates, and the result is finite and positive.
                (us.round() as u64).clamp(1, DELAY_US_MAX)
            }
        }
    }

    /// SplitMix64: small, fast and good enough to draw delays from.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in [0, 1) with 53 random bits.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal number (Box-Muller; the second value is dropped).
    fn standard_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1], so the logarithm is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    //! The spec parser by table (bad inputs included), and that the sampler
    //! is deterministic and draws the distribution it names.
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        let cases = [
            ("fixed:20ms", Delay::Fixed { us: 20_000 }, "fixed:20ms"),
            ("fixed:20", Delay::Fixed { us: 20_000 }, "fixed:20ms"),
            ("fixed:0.5ms", Delay::Fixed { us: 500 }, "fixed:500us"),
            ("fixed:750us", Delay::Fixed { us: 750 }, "fixed:750us"),
            ("fixed:1s", Delay::Fixed { us: 1_000_000 }, "fixed:1000ms"),
            (
                "fixed:60s",
                Delay::Fixed { us: 60_000_000 },
                "fixed:60000ms",
            ),
            (
                "lognormal:20:0.5",
                Delay::LogNormal {
                    median_us: 20_000,
                    sigma: 0.5,
                },
                "lognormal:20ms:0.5",
            ),
            (
                "lognormal:2.5ms:3",
                Delay::LogNormal {
                    median_us: 2_500,
                    sigma: 3.0,
                },
                "lognormal:2500us:3",
            ),
        ];
        for (spec, want, canonical) in cases {
            let delay: Delay = spec.parse().unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(delay, want, "{spec}");
            assert_eq!(delay.to_string(), canonical, "{spec}");
            assert_eq!(canonical.parse::<Delay>(), Ok(want), "{canonical}");
        }
    }

    #[test]
    fn bad_specs_say_what_was_expected() {
        let cases = [
            ("", "fixed:MS"),
            ("uniform:1:2", "fixed:MS"),
            ("fixed", "a time such as"),
            ("fixed:", "a time such as"),
            ("fixed:abc", "a time such as"),
            ("fixed:20ms:1", "fixed:MS"),
            ("fixed:0", "a time from 1us"),
            ("fixed:-5ms", "a time from 1us"),
            ("fixed:0.4us", "a time from 1us"),
            ("fixed:61s", "a time from 1us"),
            ("fixed:NaN", "a time from 1us"),
            ("fixed:inf", "a time from 1us"),
            ("lognormal:20", "lognormal:MEDIAN_MS:SIGMA with"),
            ("lognormal:20:x", "lognormal:MEDIAN_MS:SIGMA with"),
            ("lognormal:20:0", "a sigma above 0"),
            ("lognormal:20:-1", "a sigma above 0"),
            ("lognormal:20:3.5", "a sigma above 0"),
            ("lognormal:20:NaN", "a sigma above 0"),
            ("lognormal:20:0.5:1", "fixed:MS"),
            ("lognormal:0:0.5", "a time from 1us"),
        ];
        for (spec, want) in cases {
            let err = spec.parse::<Delay>().expect_err(spec).to_string();
            assert!(err.starts_with(want), "{spec}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn fixed_draws_are_exact() {
        let mut sampler = DelaySampler::new(Delay::Fixed { us: 20_000 }, 7, 0);
        assert!((0..1000).all(|_| sampler.next_us() == 20_000));
    }

    #[test]
    fn the_seed_and_shard_decide_the_sequence() {
        let delay: Delay = "lognormal:20:0.5".parse().unwrap();
        let draw = |seed, shard| {
            let mut sampler = DelaySampler::new(delay, seed, shard);
            (0..64).map(|_| sampler.next_us()).collect::<Vec<_>>()
        };
        assert_eq!(draw(1, 0), draw(1, 0));
        assert_ne!(draw(1, 0), draw(2, 0));
        assert_ne!(draw(1, 0), draw(1, 1));
    }

    /// The sample's value at quantile `q` (nearest rank).
    fn quantile(sorted: &[u64], q: f64) -> f64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1] as f64
    }

    #[test]
    fn lognormal_draws_have_the_named_percentiles() {
        let (median_us, sigma) = (20_000.0, 0.5);
        let mut sampler = DelaySampler::new(
            Delay::LogNormal {
                median_us: 20_000,
                sigma,
            },
            SEED_DEFAULT,
            0,
        );
        let mut draws: Vec<u64> = (0..200_000).map(|_| sampler.next_us()).collect();
        draws.sort_unstable();
        // z of the standard normal at 50%, 95% and 99%.
        for (q, z) in [(0.50, 0.0), (0.95, 1.644_854), (0.99, 2.326_348)] {
            let want = median_us * f64::exp(sigma * z);
            let got = quantile(&draws, q);
            let error = (got - want).abs() / want;
            assert!(error < 0.02, "p{}: got {got}, want {want}", q * 100.0);
        }
    }

    #[test]
    fn draws_are_cut_to_the_limit() {
        let delay = Delay::LogNormal {
            median_us: DELAY_US_MAX,
            sigma: SIGMA_MAX,
        };
        let mut sampler = DelaySampler::new(delay, 3, 0);
        let draws: Vec<u64> = (0..10_000).map(|_| sampler.next_us()).collect();
        assert!(draws.iter().all(|us| (1..=DELAY_US_MAX).contains(us)));
        assert!(draws.contains(&DELAY_US_MAX));
    }
}
