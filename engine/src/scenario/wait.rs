//! Wait times between a user's iterations, as Locust names them. Pure: the
//! user asks how long to wait given when its iteration started and ended.

use std::time::Duration;

/// How long a user waits after each iteration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Wait {
    /// No wait.
    None,
    /// Always this long.
    Constant(Duration),
    /// Uniformly random between the two.
    Between(Duration, Duration),
    /// Start an iteration every this often, whatever it took (Locust's constant_pacing).
    Pacing(Duration),
}

impl Wait {
    /// Parses `constant(S)`, `between(A, B)`, `constant_pacing(S)`,
    /// `constant_throughput(N)` (N iterations per second) or `none`.
    pub fn parse(text: &str) -> Result<Wait, String> {
        let text = text.trim();
        if text == "none" || text.is_empty() {
            return Ok(Wait::None);
        }
        let bad = || {
            format!("invalid wait '{text}' (use constant(S), between(A, B), constant_pacing(S), constant_throughput(N) or none)")
        };
        let (name, args) = text.split_once('(').ok_or_else(bad)?;
        let args = args.strip_suffix(')').ok_or_else(bad)?;
        let nums: Vec<f64> = args
            .split(',')
            .map(|a| {
                a.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e7)
            })
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        let secs = Duration::from_secs_f64;
        match (name.trim(), nums.as_slice()) {
            ("constant", [s]) => Ok(Wait::Constant(secs(*s))),
            ("between", [a, b]) if a <= b => Ok(Wait::Between(secs(*a), secs(*b))),
            ("constant_pacing", [s]) if *s > 0.0 => Ok(Wait::Pacing(secs(*s))),
            ("constant_throughput", [n]) if *n > 0.0 => Ok(Wait::Pacing(secs(1.0 / n))),
            _ => Err(bad()),
        }
    }

    /// The wait after an iteration that took `took`; `unit` is a random
    /// number in [0, 1) used by `between`.
    pub fn after(self, took: Duration, unit: f64) -> Duration {
        match self {
            Wait::None => Duration::ZERO,
            Wait::Constant(d) => d,
            Wait::Between(a, b) => a + (b - a).mul_f64(unit),
            Wait::Pacing(every) => every.saturating_sub(took),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each form parses, and nonsense is refused.
    #[test]
    fn parse_table() {
        let ms = Duration::from_millis;
        assert_eq!(Wait::parse("constant(1.5)"), Ok(Wait::Constant(ms(1500))));
        assert_eq!(
            Wait::parse("between(1, 3)"),
            Ok(Wait::Between(ms(1000), ms(3000)))
        );
        assert_eq!(
            Wait::parse("constant_pacing(0.1)"),
            Ok(Wait::Pacing(ms(100)))
        );
        assert_eq!(
            Wait::parse("constant_throughput(5)"),
            Ok(Wait::Pacing(ms(200)))
        );
        assert_eq!(Wait::parse("none"), Ok(Wait::None));
        for bad in [
            "between(3, 1)",
            "constant(-1)",
            "constant_pacing(0)",
            "sometimes(1)",
            "between(1)",
            "constant(x)",
            "constant(1",
        ] {
            assert!(Wait::parse(bad).is_err(), "{bad}");
        }
    }

    /// Waits follow their definitions, pacing subtracting the iteration's time.
    #[test]
    fn after_table() {
        let ms = Duration::from_millis;
        assert_eq!(Wait::Between(ms(100), ms(300)).after(ms(5), 0.5), ms(200));
        assert_eq!(Wait::Pacing(ms(100)).after(ms(30), 0.9), ms(70));
        assert_eq!(Wait::Pacing(ms(100)).after(ms(130), 0.9), ms(0));
        assert_eq!(Wait::Constant(ms(10)).after(ms(999), 0.0), ms(10));
    }
}
