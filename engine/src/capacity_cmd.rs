//! `stampede capacity`: flags to a search, the search, its reports and the
//! exit code (0: a capacity was found; 3: none was, and the output says why).

use stampede_engine::config::{parse_duration, RunConfig};
use stampede_engine::report::capacity as report;
use stampede_engine::run::capacity::{self, Mode, SearchConfig};
use stampede_engine::run::control;
use stampede_engine::run::session::exit::{RUN_ERROR as EXIT_RUN_ERROR, USAGE as EXIT_USAGE};
use stampede_engine::scenario::Plan;

use crate::cli::CapacityArgs;

/// Exit status when the search found no capacity (first step failed, --max
/// reached, or the generator saturated).
pub const EXIT_NO_CAPACITY: u8 = 3;

/// Runs `stampede capacity`.
pub fn main(args: &CapacityArgs) -> u8 {
    let search = match search_config(args) {
        Ok(search) => search,
        Err(e) => return usage(&e),
    };
    // Settings load the one way every command does (flags > env > conf > scenario).
    let loaded =
        match stampede_engine::config::load(args.run.settings(), args.run.config.as_deref()) {
            Ok(loaded) => loaded,
            Err(e) => return usage(&e),
        };
    if let Err(e) = loaded.check_capacity() {
        return usage(&e);
    }
    let (mut settings, scenario) = (loaded.settings, loaded.scenario);
    if let Some(processes) = settings.get("processes") {
        return usage(&format!(
            "{}: capacity searches run in one process; --processes is for `stampede run`",
            processes.origin
        ));
    }
    // Each step sets its own load; an open-loop search starts from an open-loop config.
    if search.mode == Mode::Rate && settings.get("rate").is_none() {
        settings.flag("rate", search.start.to_string());
    }
    let config = match RunConfig::from_settings(&settings, available_cores()) {
        Ok(config) => config,
        Err(e) => return usage(&e.to_string()),
    };
    let mut plan = match scenario
        .as_deref()
        .map(|doc| doc.compile_with(&config.target, config.request_options()))
    {
        Some(Ok(plan)) => plan,
        Some(Err(e)) => return usage(&e.to_string()),
        None => Plan::single_request(&config),
    };
    if let Some(weights) = settings.get("class-weights") {
        if let Err(e) = plan.reweight(&weights.value) {
            return usage(&format!("{}: {e}", weights.origin));
        }
    }
    for warning in &settings.warnings {
        eprintln!("warning: {warning}");
    }
    let stop = match control::install_stop_signals() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("error: cannot install signal handlers: {e}");
            return EXIT_RUN_ERROR;
        }
    };
    let unit = if search.mode == Mode::Users {
        "users"
    } else {
        "req/s"
    };
    if !config.quiet {
        println!(
            "stampede capacity: {} from {} {unit} in steps of {} up to {}, {} s per step, each must hold {}, http://{}",
            if search.mode == Mode::Users { "users" } else { "rate" },
            search.start,
            search.step,
            search.max,
            search.hold.as_secs_f64(),
            report::criteria(&search),
            config.target.authority
        );
    }
    let quiet = config.quiet;
    let outcome = capacity::search(&search, |level| {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Err("stopped by signal".to_string());
        }
        let result =
            capacity::run_step(&config, &plan, &search, level, &stop).map_err(|e| e.to_string())?;
        if !quiet {
            println!(
                "  {level:>10.1} {unit}: {:.1} req/s, p95 {:.2} ms, errors {:.2}%, generator CPU {:.0}%",
                result.achieved_rps,
                result.p95_ms,
                result.error_rate * 100.0,
                result.generator_cpu * 100.0
            );
        }
        Ok(result)
    });
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_RUN_ERROR;
        }
    };
    println!("\n{}", report::table(&search, &outcome));
    if let Some(path) = &config.json {
        if let Err(e) = report::write_json(path, &search, &outcome) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_RUN_ERROR;
        }
    }
    if let Some(path) = &config.html {
        if let Err(e) = report::write_html(path, &search, &outcome) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_RUN_ERROR;
        }
    }
    if outcome.ending.found() {
        0
    } else {
        EXIT_NO_CAPACITY
    }
}

/// The search flags, validated.
fn search_config(args: &CapacityArgs) -> Result<SearchConfig, String> {
    let mode = match args.mode.as_str() {
        "users" => Mode::Users,
        "rate" => Mode::Rate,
        other => return Err(format!("--mode: '{other}' is not users or rate")),
    };
    let (start_default, max_default): (f64, f64) = match mode {
        Mode::Users => (10.0, 10_000.0),
        Mode::Rate => (100.0, 1_000_000.0),
    };
    let start = args.start.unwrap_or(start_default);
    let step = args.step.unwrap_or(start);
    let max = args.max.unwrap_or(max_default.max(start));
    let positive = |v: f64| v.is_finite() && v > 0.0 && v <= 1e9;
    if !(positive(start) && positive(step) && positive(max) && max >= start) {
        return Err("--start, --step and --max must be above 0, with --max >= --start".to_string());
    }
    let hold = parse_duration(&args.hold).map_err(|e| format!("--hold: {e}"))?;
    if hold < std::time::Duration::from_secs(1) {
        return Err("--hold: at least 1s".to_string());
    }
    let precision =
        capacity::parse_error_rate(&args.precision).map_err(|e| format!("--precision: {e}"))?;
    Ok(SearchConfig {
        mode,
        start,
        step,
        max,
        hold,
        slo: capacity::parse_slo(&args.slo).map_err(|e| format!("--slo: {e}"))?,
        max_error_rate: match &args.max_error_rate {
            Some(text) => {
                capacity::parse_error_rate(text).map_err(|e| format!("--max-error-rate: {e}"))?
            }
            None => 0.01,
        },
        bisect_max: args.bisect.min(50),
        precision,
    })
}

fn usage(message: &str) -> u8 {
    eprintln!("error: {message}");
    EXIT_USAGE
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
