//! How a capacity search looks: the console table of every step, the JSON
//! document (schema `stampede.capacity/1`), and a self-contained HTML page
//! with an SVG chart of throughput and p95 against the offered load, the
//! knee marked. The search itself is `capacity`'s.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde_json::{json, Value};

use super::console::format_ms;
use super::html::format::count;
use crate::run::capacity::{Ending, Mode, Outcome, SearchConfig, StepResult, Verdict};

/// Name and version of the capacity document's shape.
pub const CAPACITY_SCHEMA: &str = "stampede.capacity/1";

/// The unit of a level: `users` or `req/s`.
fn unit(mode: Mode) -> &'static str {
    match mode {
        Mode::Users => "users",
        Mode::Rate => "req/s",
    }
}

/// A whole number with thousands separators: `2,031`.
fn whole(value: f64) -> String {
    count(value.round().max(0.0) as u64)
}

/// A number with up to three decimals and no trailing zeros: `0.5`, `2`.
fn trimmed(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A latency as people write limits: `250 ms`, `2 s`, `1.5 s`.
fn latency(ms: f64) -> String {
    if ms >= 1_000.0 {
        format!("{} s", trimmed(ms / 1_000.0))
    } else {
        format!("{} ms", trimmed(ms))
    }
}

/// What a passing step has to meet, in words: `p95 < 200 ms and ≤ 1% failures`.
pub fn criteria(config: &SearchConfig) -> String {
    let latency_limits: Vec<String> = config
        .slo
        .iter()
        .map(|s| format!("p{} < {}", trimmed(s.percentile), latency(s.limit_ms)))
        .collect();
    let failures = if config.max_error_rate > 0.0 {
        format!("≤ {}% failures", trimmed(config.max_error_rate * 100.0))
    } else {
        "no failures".to_string()
    };
    format!("{} and {failures}", latency_limits.join(", "))
}

/// The SLO percentiles a step measured, as the tables round them:
/// `p95 33.8 ms, p99 40 ms`; `1.25 s` from a second up.
fn measured(config: &SearchConfig, step: &StepResult) -> String {
    let text = |ms: f64| {
        if ms >= 1_000.0 {
            format!("{} s", trimmed((ms / 10.0).round() / 100.0))
        } else {
            format!("{} ms", format_ms(ms))
        }
    };
    let values: Vec<String> = config
        .slo
        .iter()
        .zip(&step.slo_ms)
        .map(|(s, &ms)| format!("p{} {}", trimmed(s.percentile), text(ms)))
        .collect();
    values.join(", ")
}

/// A level as the table shows it, with separators: `2,000`, `2,031.3`.
fn level(value: f64) -> String {
    let tenths = (value * 10.0).round() as u64;
    match tenths % 10 {
        0 => count(tenths / 10),
        fraction => format!("{}.{fraction}", count(tenths / 10)),
    }
}

/// The answer in one sentence: one number first, then what it means.
///
/// Users mode: the most concurrent users a passing step held. Rate mode: the
/// throughput the target delivered at the highest passing offered rate (a
/// step passes only while it delivers at least 90% of what is offered). The
/// same number is the JSON's `capacity.value`.
pub fn headline(config: &SearchConfig, outcome: &Outcome) -> String {
    let criteria = criteria(config);
    let unit = unit(config.mode);
    let broke = outcome.first_failing.map(level);
    match (outcome.ending, &outcome.best) {
        (Ending::Found, Some(best)) => match config.mode {
            Mode::Users => format!(
                "Capacity: {} users — the most concurrent users the target held with {criteria} \
                 (they made {} req/s, {}{}).",
                level(best.level),
                whole(best.achieved_rps),
                measured(config, best),
                broke.map_or(String::new(), |b| format!("; {b} users broke it"))
            ),
            Mode::Rate => format!(
                "Capacity: {} req/s — the highest rate the target held with {criteria} \
                 (measured at {} req/s offered, {}{}).",
                whole(best.achieved_rps),
                level(best.level),
                measured(config, best),
                broke.map_or(String::new(), |b| format!("; {b} req/s offered broke it"))
            ),
        },
        (Ending::FirstStepFailed, _) => format!(
            "No capacity found: the first step ({} {unit}) already missed {criteria}; lower --start.",
            level(config.start)
        ),
        (Ending::MaxReached, best) => format!(
            "No capacity found: every step up to --max {} {unit} held {criteria}{}, so the capacity \
             is above it; raise --max.",
            level(config.max),
            best.as_ref().map_or(String::new(), |b| format!(
                " (the last made {} req/s)",
                whole(b.achieved_rps)
            ))
        ),
        (Ending::GeneratorBound, best) => format!(
            "No capacity found: the generator saturated before the target did{}. Run with more \
             threads or machines.",
            best.as_ref().map_or(String::new(), |b| format!(
                " (the target held at least {} {unit}, {} req/s, with {criteria})",
                level(b.level),
                whole(b.achieved_rps)
            ))
        ),
        (Ending::Found, None) => "No capacity found.".to_string(),
    }
}

/// The headline's number, in [`unit`]: users held (users mode) or req/s
/// delivered (rate mode); `None` when no capacity was found.
fn capacity_value(config: &SearchConfig, outcome: &Outcome) -> Option<f64> {
    match (outcome.ending, &outcome.best) {
        (Ending::Found, Some(best)) => Some(match config.mode {
            Mode::Users => best.level,
            Mode::Rate => best.achieved_rps,
        }),
        _ => None,
    }
}

/// The console table of every step, then the headline.
pub fn table(config: &SearchConfig, outcome: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<7} {:>10} {:>11} {:>9} {:>9} {:>9} {:>8} {:>8}  verdict",
        "phase",
        unit(config.mode),
        "achieved/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "gen CPU"
    );
    for step in &outcome.steps {
        let r = &step.result;
        let verdict = match &step.verdict {
            Verdict::Pass => "pass".to_string(),
            Verdict::Slo(why) => format!("SLO broken: {why}"),
            Verdict::Errors(why) => format!("errors: {why}"),
            Verdict::Knee(why) => format!("knee: {why}"),
            Verdict::GeneratorBound(why) => format!("GENERATOR-BOUND: {why}"),
        };
        let _ = writeln!(
            out,
            "{:<7} {:>10.1} {:>11.1} {:>9.2} {:>9.2} {:>9.2} {:>7.2}% {:>7.0}%  {verdict}",
            step.phase,
            r.level,
            r.achieved_rps,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.error_rate * 100.0,
            r.generator_cpu * 100.0
        );
    }
    out.push('\n');
    out.push_str(&headline(config, outcome));
    out
}

/// The JSON document.
pub fn to_json(config: &SearchConfig, outcome: &Outcome) -> Value {
    let capacity = match (capacity_value(config, outcome), &outcome.best) {
        (Some(value), Some(best)) => json!({
            "value": value,
            "level": best.level,
            "unit": unit(config.mode),
            "rps": best.achieved_rps,
            "p95_ms": best.p95_ms,
            "first_failing_level": outcome.first_failing,
        }),
        _ => Value::Null,
    };
    json!({
        "schema": CAPACITY_SCHEMA,
        "mode": config.mode,
        "slo": config.slo.iter().map(|s| json!({"percentile": s.percentile, "limit_ms": s.limit_ms})).collect::<Vec<_>>(),
        "max_error_rate": config.max_error_rate,
        "hold_s": config.hold.as_secs_f64(),
        "found": outcome.ending.found(),
        "ending": outcome.ending,
        "headline": headline(config, outcome),
        "capacity": capacity,
        "generator_bound": outcome.ending == Ending::GeneratorBound,
        "steps": outcome.steps,
    })
}

/// Writes the JSON document (pretty, with a final newline).
pub fn write_json(path: &Path, config: &SearchConfig, outcome: &Outcome) -> io::Result<()> {
    let text = serde_json::to_string_pretty(&to_json(config, outcome)).map_err(io::Error::other)?;
    super::output::write_atomic(path, (text + "\n").as_bytes())
}

/// The HTML page: headline, chart and the step table.
pub fn html(config: &SearchConfig, outcome: &Outcome) -> String {
    let mut page = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>stampede capacity</title>\n<style>\
         body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
         td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:right}th{background:#f4f4f4}\
         .fail{color:#b00}.warning{background:#fff3cd;border:1px solid #e0b000;padding:.5em 1em}</style></head><body>\n",
    );
    // The number in bold, then what it means: the same sentence as the console's.
    let headline = headline(config, outcome);
    let headline = match headline.split_once(" — ") {
        Some((number, meaning)) => {
            format!("<strong>{}</strong> — {}", escape(number), escape(meaning))
        }
        None => escape(&headline),
    };
    let _ = writeln!(
        page,
        "<h1>Capacity search</h1>\n<p id=\"headline\">{headline}</p>"
    );
    if outcome.ending == Ending::GeneratorBound {
        page.push_str(
            "<div class=\"warning\" id=\"warning-generator\" role=\"alert\"><p><strong>The generator was the \
             bottleneck</strong>: its numbers do not show the target's capacity.</p></div>\n",
        );
    }
    page.push_str(&chart(config, outcome));
    page.push_str("<table id=\"steps\"><tr><th>phase</th><th>offered</th><th>achieved req/s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>errors</th><th>generator CPU</th><th>verdict</th></tr>\n");
    for step in &outcome.steps {
        let r = &step.result;
        let class = if step.verdict.passed() {
            ""
        } else {
            " class=\"fail\""
        };
        let verdict = serde_json::to_value(&step.verdict)
            .ok()
            .and_then(|v| v["verdict"].as_str().map(String::from));
        let _ = writeln!(
            page,
            "<tr{class}><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}%</td><td>{:.0}%</td><td>{}</td></tr>",
            step.phase,
            r.level,
            r.achieved_rps,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.error_rate * 100.0,
            r.generator_cpu * 100.0,
            escape(verdict.as_deref().unwrap_or(""))
        );
    }
    page.push_str("</table>\n</body></html>\n");
    page
}

/// Writes the HTML page.
pub fn write_html(path: &Path, config: &SearchConfig, outcome: &Outcome) -> io::Result<()> {
    super::output::write_atomic(path, html(config, outcome).as_bytes())
}

/// SVG: achieved req/s (left axis) and p95 (right axis) against the offered
/// level, steps sorted by level, the capacity marked by a vertical line.
fn chart(config: &SearchConfig, outcome: &Outcome) -> String {
    let (w, h, left, right, top, bottom) = (720.0, 320.0, 60.0, 60.0, 20.0, 40.0);
    let mut steps: Vec<_> = outcome.steps.iter().map(|s| &s.result).collect();
    steps.sort_by(|a, b| a.level.total_cmp(&b.level));
    let max_level = steps.iter().map(|r| r.level).fold(1.0, f64::max);
    let max_rps = steps
        .iter()
        .map(|r| {
            r.achieved_rps.max(if config.mode == Mode::Rate {
                r.level
            } else {
                0.0
            })
        })
        .fold(1.0, f64::max);
    let max_p95 = steps.iter().map(|r| r.p95_ms).fold(1.0, f64::max);
    let x = |level: f64| left + (w - left - right) * level / max_level;
    let y = |value: f64, max: f64| top + (h - top - bottom) * (1.0 - value / max);
    let line = |points: Vec<(f64, f64)>| {
        points
            .iter()
            .map(|(a, b)| format!("{a:.1},{b:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut svg = format!(
        "<svg id=\"capacity-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" \
         aria-label=\"throughput and p95 versus offered load\">\n<rect x=\"{left}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\n",
        w - left - right,
        h - top - bottom
    );
    let rps = line(
        steps
            .iter()
            .map(|r| (x(r.level), y(r.achieved_rps, max_rps)))
            .collect(),
    );
    let p95 = line(
        steps
            .iter()
            .map(|r| (x(r.level), y(r.p95_ms, max_p95)))
            .collect(),
    );
    let _ = writeln!(svg, "<polyline id=\"rps-line\" points=\"{rps}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>");
    let _ = writeln!(svg, "<polyline id=\"p95-line\" points=\"{p95}\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>");
    for r in &steps {
        let _ = writeln!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1f77b4\"/>",
            x(r.level),
            y(r.achieved_rps, max_rps)
        );
        let _ = writeln!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#d62728\"/>",
            x(r.level),
            y(r.p95_ms, max_p95)
        );
    }
    for slo in config
        .slo
        .iter()
        .filter(|s| s.percentile == 95.0 && s.limit_ms <= max_p95)
    {
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" x2=\"{0}\" y1=\"{1:.1}\" y2=\"{1:.1}\" stroke=\"#d62728\" stroke-dasharray=\"4 4\"/>",
            w - right,
            y(slo.limit_ms, max_p95)
        );
    }
    if let (Ending::Found, Some(best)) = (outcome.ending, &outcome.best) {
        let _ = writeln!(
            svg,
            "<line id=\"knee\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{top}\" y2=\"{1}\" stroke=\"#2ca02c\" stroke-width=\"2\"/>\
             <text x=\"{0:.1}\" y=\"{2}\" fill=\"#2ca02c\" font-size=\"12\">knee {3:.0}</text>",
            x(best.level),
            h - bottom,
            top + 12.0,
            best.level
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{left}\" y=\"{}\" font-size=\"12\">offered ({}) 0 .. {max_level:.0}</text>\
         <text x=\"4\" y=\"{top}\" font-size=\"12\" fill=\"#1f77b4\">{max_rps:.0} req/s</text>\
         <text x=\"{}\" y=\"{top}\" font-size=\"12\" fill=\"#d62728\">p95 {max_p95:.0} ms</text>",
        h - 8.0,
        unit(config.mode),
        w - right + 4.0
    );
    svg.push_str("</svg>\n");
    svg
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::capacity::{search, Slo, StepResult};
    use std::time::Duration;

    /// A search in `mode` whose target holds `p95 5 ms` up to `knee` and
    /// `p95 500 ms` above it, delivering 2 req/s less than offered (rate) or
    /// 15 req/s per user (users), never more than at the knee; with `bound`,
    /// every step after the first is generator-bound.
    fn searched(mode: Mode, start: f64, knee: f64, bound: bool) -> (SearchConfig, Outcome) {
        let config = SearchConfig {
            mode,
            start,
            step: start,
            max: 10.0 * start,
            hold: Duration::from_secs(2),
            slo: vec![Slo {
                percentile: 95.0,
                limit_ms: 50.0,
            }],
            max_error_rate: 0.01,
            bisect_max: 2,
            precision: 0.05,
        };
        let outcome = search(&config, |level| {
            let p95 = if level <= knee { 5.0 } else { 500.0 };
            Ok::<_, ()>(StepResult {
                level,
                achieved_rps: match mode {
                    Mode::Rate => level.min(knee) - 2.0,
                    Mode::Users => 15.0 * level.min(knee),
                },
                p50_ms: 1.0,
                p95_ms: p95,
                p99_ms: p95,
                slo_ms: vec![p95],
                requests: 100,
                error_rate: 0.0,
                generator_cpu: 0.1,
                busy_max: 0.1,
                lag_p99_ms: None,
                generator_bound: if bound && level > start {
                    vec!["shard 0 busy".into()]
                } else {
                    vec![]
                },
            })
        })
        .unwrap();
        (config, outcome)
    }

    /// The table, JSON and HTML all carry the capacity and every step.
    #[test]
    fn reports_carry_the_answer() {
        let (config, outcome) = searched(Mode::Rate, 100.0, 300.0, false);
        let text = table(&config, &outcome);
        let value = to_json(&config, &outcome);
        assert_eq!(
            (
                value["found"].as_bool(),
                value["capacity"]["level"].as_f64(),
                value["capacity"]["value"].as_f64(),
                value["capacity"]["rps"].as_f64(),
            ),
            (Some(true), Some(300.0), Some(298.0), Some(298.0))
        );
        assert_eq!(
            value["steps"].as_array().unwrap().len(),
            outcome.steps.len()
        );
        assert_eq!(value["steps"][3]["verdict"]["verdict"], "slo");
        let page = html(&config, &outcome);
        assert!(
            page.contains("id=\"knee\"")
                && page.contains("id=\"rps-line\"")
                && page.contains("knee 300")
        );
        // One sentence, the same in the console, the JSON and the page.
        let headline = "Capacity: 298 req/s — the highest rate the target held with p95 < 50 ms \
                        and ≤ 1% failures (measured at 300 req/s offered, p95 5.0 ms; 325 req/s \
                        offered broke it).";
        assert_eq!(text.lines().last(), Some(headline), "{text}");
        assert_eq!(value["headline"], headline);
        assert!(
            page.contains(
                "<p id=\"headline\"><strong>Capacity: 298 req/s</strong> — the highest rate the \
             target held with p95 &lt; 50 ms and ≤ 1% failures"
            ),
            "{page}"
        );
    }

    /// Every ending reads as one number and its meaning, or says why there is none.
    #[test]
    fn headlines_state_one_number_and_its_meaning() {
        let (config, outcome) = searched(Mode::Users, 10.0, 40.0, false);
        assert_eq!(
            headline(&config, &outcome),
            "Capacity: 40 users — the most concurrent users the target held with p95 < 50 ms \
             and ≤ 1% failures (they made 600 req/s, p95 5.0 ms; 43 users broke it)."
        );
        assert_eq!(to_json(&config, &outcome)["capacity"]["value"], 40.0);

        let (config, outcome) = searched(Mode::Users, 10.0, 5.0, false);
        assert_eq!(outcome.ending, Ending::FirstStepFailed);
        assert_eq!(
            headline(&config, &outcome),
            "No capacity found: the first step (10 users) already missed p95 < 50 ms and ≤ 1% \
             failures; lower --start."
        );
        assert!(to_json(&config, &outcome)["capacity"].is_null());

        let (config, outcome) = searched(Mode::Rate, 100.0, 5_000.0, false);
        assert_eq!(outcome.ending, Ending::MaxReached);
        assert_eq!(
            headline(&config, &outcome),
            "No capacity found: every step up to --max 1,000 req/s held p95 < 50 ms and ≤ 1% \
             failures (the last made 998 req/s), so the capacity is above it; raise --max."
        );

        let (config, outcome) = searched(Mode::Rate, 100.0, 5_000.0, true);
        assert_eq!(outcome.ending, Ending::GeneratorBound);
        assert_eq!(
            headline(&config, &outcome),
            "No capacity found: the generator saturated before the target did (the target held \
             at least 100 req/s, 98 req/s, with p95 < 50 ms and ≤ 1% failures). Run with more \
             threads or machines."
        );

        // Limits read as written: seconds above a second, no failures allowed.
        let mut config = config;
        config.slo = vec![Slo {
            percentile: 99.9,
            limit_ms: 1_500.0,
        }];
        config.max_error_rate = 0.0;
        assert_eq!(criteria(&config), "p99.9 < 1.5 s and no failures");
        // Levels as the step table shows them (bisection halves them), with separators.
        assert_eq!(
            (level(2_031.25), level(2_000.0), level(12.5)),
            (
                "2,031.3".to_string(),
                "2,000".to_string(),
                "12.5".to_string()
            )
        );
    }
}
