//! The text around the tables: the line that opens a run, the live progress
//! block, and the assembled final report. The tables themselves are
//! `console`'s; this module only decides what goes together.

use std::time::Duration;

use super::console::{failures_table, percentile_table, stats_table, timing_tables, RpsMode};
use super::json::{process_memory, ProcessMemory, RunInfo};
use crate::config::{Load, RunConfig};
use crate::stats::Aggregator;

/// One line saying what is about to run.
pub fn run_header(config: &RunConfig) -> String {
    let load = match config.load {
        Load::Closed {
            users,
            spawn_rate_per_s: Some(rate),
        } => {
            format!("{users} users (spawning {rate}/s)")
        }
        Load::Closed {
            users,
            spawn_rate_per_s: None,
        } => format!("{users} users"),
        Load::Open {
            rate_per_s,
            max_in_flight,
        } => {
            format!("open loop at {rate_per_s} req/s (max {max_in_flight} in flight)")
        }
    };
    let limit = match (config.run_time, config.iterations) {
        (Some(t), Some(n)) => format!("for {} or {n} iterations", human_duration(t)),
        (Some(t), None) => format!("for {}", human_duration(t)),
        (None, Some(n)) => format!("for {n} iterations"),
        (None, None) => "until Ctrl-C".to_string(),
    };
    let scheme = if config.target.url.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    let what = match &config.scenario {
        Some(path) => format!(
            "scenario {} on {scheme}://{}",
            path.display(),
            config.target.authority
        ),
        None => format!(
            "{} {scheme}://{}{}",
            config.method, config.target.authority, config.target.path
        ),
    };
    format!(
        "stampede {}: {load}, {what}, {limit}, {} threads",
        env!("CARGO_PKG_VERSION"),
        config.threads
    )
}

/// One line of live progress: elapsed / total, users or rate, RPS, errors.
pub fn progress_line(agg: &Aggregator, elapsed: Duration, config: &RunConfig) -> String {
    let total = agg.total();
    let of = config
        .run_time
        .map_or(String::new(), |t| format!(" / {}", human_duration(t)));
    let errors = if total.requests == 0 {
        0.0
    } else {
        100.0 * total.failures as f64 / total.requests as f64
    };
    let load = match config.load {
        Load::Closed { .. } => format!("users {}", agg.users()),
        Load::Open { rate_per_s, .. } => {
            format!(
                "rate {rate_per_s}/s, in flight {}, dropped {}",
                agg.users(),
                agg.dropped()
            )
        }
    };
    format!(
        "[{}{of}] {load}, {:.0} req/s, {} requests, {:.2}% errors",
        human_duration(elapsed),
        agg.current_rps(),
        total.requests,
        errors
    )
}

/// The live block for a terminal: the progress line and the stats table.
pub fn progress_block(agg: &Aggregator, elapsed: Duration, config: &RunConfig) -> String {
    format!(
        "{}\n{}",
        progress_line(agg, elapsed, config),
        stats_table(agg, RpsMode::Current)
    )
}

/// The final report: totals, percentiles, failures and generator facts.
pub fn final_report(agg: &Aggregator, info: &RunInfo, stop_reason: &str) -> String {
    let total = agg.total();
    let per_cpu = if info.cpu_seconds > 0.0 {
        total.requests as f64 / info.cpu_seconds
    } else {
        0.0
    };
    let dropped = agg.dropped();
    let dropped = if dropped > 0 {
        format!(", {dropped} arrivals dropped (in-flight cap)")
    } else {
        String::new()
    };
    let timing = timing_tables(agg);
    // After a blank line, like the tables before it.
    let objects = match super::objects::wanted(info) {
        true if timing.ends_with('\n') || timing.is_empty() => {
            format!("\n{}", super::objects::console_table(agg, info.duration_s))
        }
        true => format!(
            "\n\n{}",
            super::objects::console_table(agg, info.duration_s)
        ),
        false => String::new(),
    };
    format!(
        "\n=== Summary ({:.1} s, stopped by {stop_reason}{dropped}) ===\n{}\n{}{}{objects}\n{}\n\
         Generator: {} threads on {}, {:.2} CPU s ({:.0} requests per CPU-second), {}{}",
        info.duration_s,
        stats_table(
            agg,
            RpsMode::Overall {
                duration_s: info.duration_s
            }
        ),
        percentile_table(agg),
        timing,
        failures_table(agg),
        info.threads,
        info.io_driver,
        info.cpu_seconds,
        per_cpu,
        memory_text(&process_memory(agg, info)),
        // A coordinator's own limit says nothing about its workers': not shown.
        if info.fd_limit > 0 {
            format!(", fd limit {}", info.fd_limit)
        } else {
            String::new()
        }
    )
}

/// Peak memory as the generator line says it: `max RSS 17.2 MiB`, or in a
/// distributed run the sum and each process's.
pub fn memory_text(processes: &[ProcessMemory]) -> String {
    let mib = |kb: u64| format!("{:.1} MiB", kb as f64 / 1024.0);
    match processes {
        [one] => format!("max RSS {}", mib(one.max_rss_kb)),
        all => {
            let total = all.iter().map(|p| p.max_rss_kb).sum();
            let each: Vec<String> = all
                .iter()
                .map(|p| format!("{} {}", p.label(), mib(p.max_rss_kb)))
                .collect();
            format!("max RSS {} in all ({})", mib(total), each.join(", "))
        }
    }
}

/// `1m05s`-style duration for headers.
fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One process: its peak; several: the sum, then each by name.
    #[test]
    fn memory_line_names_every_process() {
        let process = |role, worker, max_rss_kb| ProcessMemory {
            role,
            worker,
            max_rss_kb,
        };
        assert_eq!(
            memory_text(&[process("local", None, 17_612)]),
            "max RSS 17.2 MiB"
        );
        let all = [
            process("coordinator", None, 9_216),
            process("worker", Some(1), 18_432),
            process("worker", Some(2), 18_534),
        ];
        assert_eq!(
            memory_text(&all),
            "max RSS 45.1 MiB in all (coordinator 9.0 MiB, worker 1 18.0 MiB, worker 2 18.1 MiB)"
        );
    }

    /// Durations read like the run-time flag's own format.
    #[test]
    fn human_durations() {
        assert_eq!(human_duration(Duration::from_secs(9)), "9s");
        assert_eq!(human_duration(Duration::from_secs(65)), "1m05s");
        assert_eq!(human_duration(Duration::from_secs(5400)), "1h30m00s");
    }
}
