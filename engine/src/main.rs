//! The `stampede` binary: parse flags, build a `RunConfig`, run, print.

mod cli;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use stampede_engine::config::{RunConfig, Settings};
use stampede_engine::control::{self, RunOutcome};
use stampede_engine::report::{banner as console, csv, html, json, thresholds};
use stampede_engine::scenario::{Plan, ScenarioDoc};
use stampede_engine::{demo, stats};

use crate::cli::{Cli, Command, DemoArgs, RunArgs};

/// Exit status for bad input (flags, config files, values).
const EXIT_USAGE: u8 = 2;
/// Exit status when the run could not happen or its reports not be written.
const EXIT_RUN_ERROR: u8 = 1;
/// Exit status when the run happened but a threshold failed (k6's convention).
const EXIT_THRESHOLD_FAILED: u8 = 99;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Demo(args)) => demo_main(args),
        Some(Command::Run(args)) => run_main(&args),
        None => run_main(&cli.run),
    }
}

fn run_main(args: &RunArgs) -> ExitCode {
    let mut settings = args.settings();
    settings.env(std::env::vars());
    let file = args.config.clone().or_else(|| {
        let default = PathBuf::from("stampede.conf");
        default.exists().then_some(default)
    });
    if let Some(path) = file {
        match std::fs::read_to_string(&path) {
            Ok(text) => settings.file(&path, &text),
            Err(e) => return usage_error(&format!("--config: cannot read {}: {e}", path.display())),
        }
    }
    // The scenario's own run settings rank below flags, env and config file.
    let scenario = match settings.get("scenario").map(|s| PathBuf::from(&s.value)) {
        Some(path) => match ScenarioDoc::parse(&path) {
            Ok(doc) => {
                settings.scenario(&path, doc.settings());
                Some(doc)
            }
            Err(e) => return usage_error(&e.to_string()),
        },
        None => None,
    };
    run_settings(&settings, scenario.as_ref())
}

fn demo_main(args: DemoArgs) -> ExitCode {
    let cores = available_cores();
    let target = match demo::start_target(cores.div_ceil(2)) {
        Ok(target) => target,
        Err(e) => {
            eprintln!("error: cannot start the embedded target: {e}");
            return ExitCode::from(EXIT_RUN_ERROR);
        }
    };
    println!("demo: stampede-target listening on {}", target.local_addr());
    let mut settings = Settings::default();
    settings.flag("host", format!("http://{}", target.local_addr()));
    settings.flag("users", args.users);
    settings.flag("run-time", args.run_time);
    settings.flag("json", args.json.display().to_string());
    if let Some(threads) = args.threads {
        settings.flag("threads", threads);
    }
    if let Some(driver) = args.io_driver {
        settings.flag("io-driver", driver);
    }
    let code = run_settings(&settings, None);
    println!(
        "demo: the target counted {} requests on {} connections (it shares this process's CPU)",
        target.requests(),
        target.connections()
    );
    code
}

fn run_settings(settings: &Settings, scenario: Option<&ScenarioDoc>) -> ExitCode {
    let config = match RunConfig::from_settings(settings, available_cores()) {
        Ok(config) => config,
        Err(e) => return usage_error(&e.to_string()),
    };
    let plan = match scenario.map(|doc| doc.compile(&config.target)) {
        Some(Ok(plan)) => plan,
        Some(Err(e)) => return usage_error(&e.to_string()),
        None => Plan::single_request(&config),
    };
    // Thresholds from the scenario's [thresholds] table join the flags' ones.
    let mut config = config;
    for text in &plan.thresholds {
        match thresholds::parse_threshold(text) {
            Ok(threshold) => config.thresholds.push(threshold),
            Err(e) => {
                let file = config.scenario.as_ref().map_or(String::new(), |p| p.display().to_string());
                return usage_error(&format!("{file}: [thresholds]: {e}"));
            }
        }
    }
    for warning in &settings.warnings {
        eprintln!("warning: {warning}");
    }
    // A report that cannot be written must fail now, not after the run.
    if let Some(path) = &config.html {
        if let Err(e) = html::check_writable(path) {
            return usage_error(&format!("--html: cannot write {}: {e}", path.display()));
        }
    }
    if let Some(prefix) = &config.csv {
        if let Err(e) = csv::check_writable(prefix) {
            return usage_error(&format!("--csv: cannot write {}_*.csv: {e}", prefix.display()));
        }
    }
    let stop = match control::install_stop_signals() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("error: cannot install signal handlers: {e}");
            return ExitCode::from(EXIT_RUN_ERROR);
        }
    };
    if !config.quiet {
        println!("{}", console::run_header(&config));
    }
    // A terminal gets the live table; a log (CI) gets one line per interval.
    let live = !config.only_summary && !config.quiet;
    let terminal = std::io::stdout().is_terminal();
    let mut progress = |agg: &stats::Aggregator, elapsed: std::time::Duration| match (live, terminal) {
        (true, true) => println!("{}", console::progress_block(agg, elapsed, &config)),
        (true, false) => println!("{}", console::progress_line(agg, elapsed, &config)),
        _ => {}
    };
    let outcome = match control::run(&config, plan, &stop, &mut progress) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_RUN_ERROR);
        }
    };
    report(&config, &outcome)
}

fn report(config: &RunConfig, outcome: &RunOutcome) -> ExitCode {
    if !config.quiet {
        println!("{}", console::final_report(&outcome.aggregator, &outcome.info, outcome.stop_reason.as_str()));
    }
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    let verdicts = thresholds::evaluate(&config.thresholds, &outcome.aggregator, outcome.info.duration_s);
    if !verdicts.is_empty() && (!config.quiet || verdicts.iter().any(|v| !v.passed)) {
        println!("\n{}", thresholds::verdict_table(&verdicts));
    }
    if let Some(path) = &config.json {
        if let Err(e) = json::write_summary(Path::new(path), &outcome.aggregator, &outcome.info, &verdicts) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(EXIT_RUN_ERROR);
        }
        if !config.quiet {
            println!("JSON summary written to {}", path.display());
        }
    }
    if let Some(path) = &config.html {
        let notes = html::Notes { stop_reason: Some(outcome.stop_reason.as_str()), warnings: &outcome.warnings };
        if let Err(e) = html::write_report(path, &outcome.aggregator, &outcome.info, &notes) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(EXIT_RUN_ERROR);
        }
        if !config.quiet {
            println!("HTML report written to {}", path.display());
        }
    }
    if let Some(prefix) = &config.csv {
        if let Err(e) = csv::write_csv(prefix, &outcome.aggregator, &outcome.info, config.csv_full_history) {
            eprintln!("error: cannot write {}_*.csv: {e}", prefix.display());
            return ExitCode::from(EXIT_RUN_ERROR);
        }
        if !config.quiet {
            println!("CSV reports written to {}_*.csv", prefix.display());
        }
    }
    if verdicts.iter().any(|v| !v.passed) {
        return ExitCode::from(EXIT_THRESHOLD_FAILED);
    }
    ExitCode::SUCCESS
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
