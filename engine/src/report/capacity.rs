//! How a capacity search looks: the console table of every step, the JSON
//! document (schema `stampede.capacity/1`), and a self-contained HTML page
//! with an SVG chart of throughput and p95 against the offered load, the
//! knee marked. The search itself is `capacity`'s.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde_json::{json, Value};

use crate::run::capacity::{Ending, Mode, Outcome, SearchConfig, Verdict};

/// Name and version of the capacity document's shape.
pub const CAPACITY_SCHEMA: &str = "stampede.capacity/1";

/// The unit of a level: `users` or `req/s`.
fn unit(mode: Mode) -> &'static str {
    match mode {
        Mode::Users => "users",
        Mode::Rate => "req/s",
    }
}

/// One sentence with the answer (or why there is none).
pub fn headline(config: &SearchConfig, outcome: &Outcome) -> String {
    let slo: Vec<String> = config.slo.iter().map(|s| s.to_string()).collect();
    let slo = format!(
        "{}, errors <= {:.2}%",
        slo.join(", "),
        config.max_error_rate * 100.0
    );
    let unit = unit(config.mode);
    match (outcome.ending, &outcome.best) {
        (Ending::Found, Some(best)) => format!(
            "Capacity: {:.0} {unit} at {:.0} req/s (p95 {:.1} ms) within {slo}; {} {unit} broke it.",
            best.level,
            best.achieved_rps,
            best.p95_ms,
            outcome.first_failing.map_or("-".to_string(), |f| format!("{f:.0}"))
        ),
        (Ending::FirstStepFailed, _) => {
            format!("No capacity found: the first step ({:.0} {unit}) already broke {slo}; lower --start.", config.start)
        }
        (Ending::MaxReached, best) => format!(
            "No knee found: every step up to --max {:.0} {unit} met {slo} (best {:.0} req/s); raise --max.",
            config.max,
            best.as_ref().map_or(0.0, |b| b.achieved_rps)
        ),
        (Ending::GeneratorBound, best) => format!(
            "No capacity found: the generator saturated before the target did{}. Run with more threads or machines.",
            best.as_ref().map_or(String::new(), |b| format!(
                " (the target handled at least {:.0} {unit}, {:.0} req/s)",
                b.level, b.achieved_rps
            ))
        ),
        (Ending::Found, None) => "No capacity found.".to_string(),
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
    out.push_str(&headline(config, outcome));
    out
}

/// The JSON document.
pub fn to_json(config: &SearchConfig, outcome: &Outcome) -> Value {
    let capacity = match (outcome.ending, &outcome.best) {
        (Ending::Found, Some(best)) => json!({
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
    std::fs::write(path, text + "\n")
}

/// The HTML page: headline, chart and the step table.
pub fn html(config: &SearchConfig, outcome: &Outcome) -> String {
    let mut page = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>stampede capacity</title>\n<style>\
         body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
         td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:right}th{background:#f4f4f4}\
         .fail{color:#b00}.warning{background:#fff3cd;border:1px solid #e0b000;padding:.5em 1em}</style></head><body>\n",
    );
    let _ = writeln!(
        page,
        "<h1>Capacity search</h1>\n<p id=\"headline\">{}</p>",
        escape(&headline(config, outcome))
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
    std::fs::write(path, html(config, outcome))
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

    /// The table, JSON and HTML all carry the capacity and every step.
    #[test]
    fn reports_carry_the_answer() {
        let config = SearchConfig {
            mode: Mode::Rate,
            start: 100.0,
            step: 100.0,
            max: 1_000.0,
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
            let p95 = if level <= 300.0 { 5.0 } else { 500.0 };
            Ok::<_, ()>(StepResult {
                level,
                achieved_rps: level.min(300.0),
                p50_ms: 1.0,
                p95_ms: p95,
                p99_ms: p95,
                slo_ms: vec![p95],
                requests: 100,
                error_rate: 0.0,
                generator_cpu: 0.1,
                busy_max: 0.1,
                lag_p99_ms: None,
                generator_bound: vec![],
            })
        })
        .unwrap();
        let text = table(&config, &outcome);
        assert!(text.contains("Capacity: 300 req/s"), "{text}");
        let value = to_json(&config, &outcome);
        assert_eq!(
            (
                value["found"].as_bool(),
                value["capacity"]["level"].as_f64()
            ),
            (Some(true), Some(300.0))
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
    }
}
