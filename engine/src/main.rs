//! The `stampede` binary: parse flags, build a `RunConfig`, run, print.

mod capacity_cmd;
mod cli;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use stampede_engine::config::{parse_duration, RunConfig, Settings};
use stampede_engine::run::control::{self, RunOutcome, StopReason};
use stampede_engine::coord::coordinator::{
    self, CoordinatorHooks, CoordinatorOptions, OnWorkerLoss,
};
use stampede_engine::coord::local::{self, LocalSpec, LocalWorkers};
use stampede_engine::coord::worker::{self, WorkerOptions};
use stampede_engine::report::thresholds::Threshold;
use stampede_engine::report::{banner as console, compare, csv, html, json, runfile, thresholds};
use stampede_engine::scenario::{Plan, ScenarioDoc};
use stampede_engine::{demo, stats};

use crate::cli::{
    Cli, Command, CompareArgs, CoordinatorArgs, DemoArgs, ReportArgs, RunArgs, WorkerArgs,
};

/// Exit status for bad input (flags, config files, values).
const EXIT_USAGE: u8 = 2;
/// Exit status when the run could not happen or its reports not be written.
const EXIT_RUN_ERROR: u8 = 1;
/// Exit status when the run happened but a threshold failed (k6's convention).
const EXIT_THRESHOLD_FAILED: u8 = 99;
/// Exit status of `stampede compare` when RUN regressed beyond the tolerance.
const EXIT_REGRESSED: u8 = 98;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Demo(args)) => demo_main(args),
        Some(Command::Report(args)) => report_main(&args),
        Some(Command::Compare(args)) => compare_main(&args),
        Some(Command::Run(args)) => run_main(&args, None),
        Some(Command::Coordinator(args)) => run_main(&args.run, Some(&args)),
        Some(Command::Worker(args)) => worker_main(&args),
        Some(Command::Capacity(args)) => capacity_cmd::main(&args),
        None => run_main(&cli.run, None),
    }
}

fn run_main(args: &RunArgs, coordinator: Option<&CoordinatorArgs>) -> ExitCode {
    let mut settings = args.settings();
    settings.env(std::env::vars());
    let file = args.config.clone().or_else(|| {
        let default = PathBuf::from("stampede.conf");
        default.exists().then_some(default)
    });
    if let Some(path) = file {
        match std::fs::read_to_string(&path) {
            Ok(text) => settings.file(&path, &text),
            Err(e) => {
                return usage_error(&format!("--config: cannot read {}: {e}", path.display()))
            }
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
    // A Locust-style `worker = true` config file makes this process a worker.
    if coordinator.is_none() && setting_is_true(&settings, "worker") {
        let host = settings
            .get("master-host")
            .map_or("127.0.0.1".to_string(), |s| s.value.clone());
        let port = settings
            .get("master-port")
            .map_or("5557".to_string(), |s| s.value.clone());
        let args = WorkerArgs {
            coordinator: Some(format!("{host}:{port}")),
            token: std::env::var("STAMPEDE_TOKEN").ok(),
            threads: settings.get("threads").and_then(|s| s.value.parse().ok()),
            io_driver: settings.get("io-driver").map(|s| s.value.clone()),
            connect_timeout: None,
            config: None,
        };
        return worker_main(&args);
    }
    let coordinating = coordinator.is_some() || setting_is_true(&settings, "master");
    let local = match local_spec(&settings, coordinating) {
        Ok(local) => local,
        Err(message) => return usage_error(&message),
    };
    let mode = if let Some(spec) = &local {
        // Workers of this machine only: loopback, a fresh secret, stop if one dies.
        Some(CoordinatorOptions {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            expect_workers: spec.processes,
            token: Some(spec.token.clone()),
            wait_timeout: Duration::from_secs(60),
            on_loss: OnWorkerLoss::Continue,
        })
    } else if coordinating {
        match coordinator_options(coordinator, &settings) {
            Ok(options) => Some(options),
            Err(message) => return usage_error(&message),
        }
    } else {
        None
    };
    run_settings(&settings, scenario.as_ref(), mode.as_ref(), local.as_ref())
}

/// `--processes N`: how to start the local worker processes, or `None` for
/// an ordinary run.
fn local_spec(settings: &Settings, coordinating: bool) -> Result<Option<LocalSpec>, String> {
    let Some(setting) = settings.get("processes") else {
        return Ok(None);
    };
    let processes = match setting.value.trim().parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => n,
        _ => {
            return Err(format!(
                "{}: '{}' is not a process count from 1 to 1024",
                setting.origin, setting.value
            ))
        }
    };
    if coordinating {
        return Err(format!(
            "{}: a coordinator waits for workers started elsewhere; use --processes with `stampede run`",
            setting.origin
        ));
    }
    let threads = match settings.get("threads") {
        Some(s) => s
            .value
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("{}: '{}' is not a number of shards", s.origin, s.value))?,
        None => LocalSpec::default_threads(available_cores(), processes),
    };
    Ok(Some(LocalSpec {
        processes,
        threads,
        io_driver: settings
            .get("io-driver")
            .map(|s| s.value.trim().to_string()),
        token: local::random_token(),
    }))
}

fn setting_is_true(settings: &Settings, key: &str) -> bool {
    settings
        .get(key)
        .is_some_and(|s| matches!(s.value.trim(), "true" | "1" | "yes" | "on" | ""))
}

/// Coordinator options from its flags, or from Locust-style keys
/// (`expect-workers`, `master-bind-host`, `master-bind-port`).
fn coordinator_options(
    args: Option<&CoordinatorArgs>,
    settings: &Settings,
) -> Result<CoordinatorOptions, String> {
    let expect = args
        .and_then(|a| a.expect_workers)
        .map(Ok)
        .unwrap_or_else(|| match settings.get("expect-workers") {
            Some(s) => s
                .value
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("{}: invalid worker count '{}'", s.origin, s.value)),
            None => Ok(1),
        })?;
    if expect == 0 {
        return Err("--expect-workers: must be at least 1".into());
    }
    let bind = match args.and_then(|a| a.bind.clone()) {
        Some(bind) => bind,
        None => {
            let host = settings
                .get("master-bind-host")
                .map_or("0.0.0.0".into(), |s| s.value.replace('*', "0.0.0.0"));
            let port = settings
                .get("master-bind-port")
                .map_or("5557".into(), |s| s.value.clone());
            format!("{host}:{port}")
        }
    };
    let bind = bind
        .parse()
        .map_err(|_| format!("--bind: '{bind}' is not an IP:PORT address"))?;
    let wait_timeout = match args.and_then(|a| a.wait_timeout.as_deref()) {
        Some(text) => parse_duration(text).map_err(|e| format!("--wait-timeout: {e}"))?,
        None => Duration::from_secs(60),
    };
    let token = args
        .and_then(|a| a.token.clone())
        .or_else(|| std::env::var("STAMPEDE_TOKEN").ok());
    if token.is_none() {
        eprintln!(
            "warning: no --token (or STAMPEDE_TOKEN): any worker that reaches {bind} can join"
        );
    }
    let on_loss = match args.and_then(|a| a.on_worker_loss.as_deref()) {
        Some(text) => OnWorkerLoss::parse(text).map_err(|e| format!("--on-worker-loss: {e}"))?,
        None => OnWorkerLoss::Continue,
    };
    Ok(CoordinatorOptions {
        bind,
        expect_workers: expect,
        token,
        wait_timeout,
        on_loss,
    })
}

/// `stampede worker`: joins a coordinator and runs what it sends.
fn worker_main(args: &WorkerArgs) -> ExitCode {
    let mut settings = Settings::default();
    if let Some(path) = &args.config {
        match std::fs::read_to_string(path) {
            Ok(text) => settings.file(path, &text),
            Err(e) => {
                return usage_error(&format!("--config: cannot read {}: {e}", path.display()))
            }
        }
    }
    let coordinator = args.coordinator.clone().or_else(|| {
        let host = settings.get("master-host")?.value.clone();
        let port = settings
            .get("master-port")
            .map_or("5557".to_string(), |s| s.value.clone());
        Some(format!("{host}:{port}"))
    });
    let Some(coordinator) = coordinator else {
        return usage_error("--coordinator: give the coordinator's HOST:PORT");
    };
    let connect_timeout = match args.connect_timeout.as_deref().map(parse_duration) {
        Some(Ok(d)) => d,
        Some(Err(e)) => return usage_error(&format!("--connect-timeout: {e}")),
        None => Duration::from_secs(60),
    };
    let options = WorkerOptions {
        coordinator,
        token: args.token.clone(),
        threads: args.threads,
        io_driver: args.io_driver.clone(),
        connect_timeout,
    };
    let stop = match control::install_stop_signals() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("error: cannot install signal handlers: {e}");
            return ExitCode::from(EXIT_RUN_ERROR);
        }
    };
    match worker::run(&options, Default::default(), stop) {
        Ok(report) => {
            println!(
                "worker {}: done, {} requests",
                report.worker_id, report.requests
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_RUN_ERROR)
        }
    }
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
    let code = run_settings(&settings, None, None, None);
    println!(
        "demo: the target counted {} requests on {} connections (it shares this process's CPU)",
        target.requests(),
        target.connections()
    );
    code
}

fn run_settings(
    settings: &Settings,
    scenario: Option<&ScenarioDoc>,
    coordinator: Option<&CoordinatorOptions>,
    local: Option<&LocalSpec>,
) -> ExitCode {
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
                let file = config
                    .scenario
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string());
                return usage_error(&format!("{file}: [thresholds]: {e}"));
            }
        }
    }
    for warning in &settings.warnings {
        eprintln!("warning: {warning}");
    }
    if settings
        .get("insecure")
        .is_some_and(|s| !matches!(s.value.trim(), "false" | "no" | "0" | "off"))
    {
        eprintln!("warning: --insecure: TLS certificates are NOT verified; anyone on the path can impersonate the target");
    }
    // A report that cannot be written must fail now, not after the run.
    if let Err(code) = check_outputs(&ReportConfig::of(&config)) {
        return code;
    }
    if let Some(path) = &config.save_run {
        if let Err(e) = runfile::check_writable(path) {
            return usage_error(&format!("--save-run: cannot write {}: {e}", path.display()));
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
    let mut progress =
        |agg: &stats::Aggregator, elapsed: std::time::Duration| match (live, terminal) {
            (true, true) => println!("{}", console::progress_block(agg, elapsed, &config)),
            (true, false) => println!("{}", console::progress_line(agg, elapsed, &config)),
            _ => {}
        };
    if let Some(duration) = config.calibrate {
        match stampede_engine::run::calibrate::run(&config, &plan, duration, &stop) {
            Ok(calibration) => {
                let (line, warning) = stampede_engine::run::calibrate::advice(&config, &calibration);
                if !config.quiet {
                    println!("{line}");
                }
                if let Some(warning) = warning {
                    eprintln!("warning: {warning}");
                }
            }
            Err(e) => eprintln!("warning: calibrate: {e}"),
        }
    }
    // Console keys change the load (w/W/s/S users, +/- rate) when both ends are terminals.
    let keys = if live {
        stampede_engine::run::live::KeyReader::start()
    } else {
        None
    };
    let outcome = match coordinator {
        None => control::run_live(
            &config,
            plan,
            &stop,
            &mut progress,
            &mut |_| {},
            keys.as_ref().map(|k| &k.keys),
        )
        .map_err(|e| e.to_string()),
        Some(options) => {
            let mut hooks = CoordinatorHooks::default();
            let workers = Arc::new(Mutex::new(None::<LocalWorkers>));
            if let Some(spec) = local.cloned() {
                let slot = workers.clone();
                hooks.on_listening = Some(Box::new(move |addr| {
                    let started = LocalWorkers::start(&spec, addr)?;
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(started);
                    Ok(())
                }));
            }
            let outcome = coordinator::run(
                &config,
                settings,
                scenario,
                &plan,
                options,
                &mut hooks,
                &stop,
                &mut progress,
            )
            .map_err(|e| e.to_string());
            let started = workers.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(mut started) = started {
                // Stopped workers exit by themselves; after a failed start, at once.
                if outcome.is_err() {
                    started.kill();
                }
                let killed = started.finish();
                if killed > 0 {
                    eprintln!(
                        "warning: {killed} local worker process(es) did not exit and were killed"
                    );
                }
            }
            outcome
        }
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_RUN_ERROR);
        }
    };
    let code = report(&ReportConfig::of(&config), &outcome);
    if let Some(path) = &config.save_run {
        if let Err(e) = runfile::write_run(path, &outcome) {
            eprintln!("error: --save-run: cannot write {}: {e}", path.display());
            return ExitCode::from(EXIT_RUN_ERROR);
        }
        if !config.quiet {
            println!(
                "Run saved to {} (stampede report / stampede compare read it)",
                path.display()
            );
        }
    }
    // A run aborted because a worker was lost is a failed run, reports or not.
    if outcome.stop_reason == StopReason::WorkerLost {
        eprintln!("error: a worker was lost and --on-worker-loss abort stopped the run");
        return ExitCode::from(EXIT_RUN_ERROR);
    }
    code
}

/// `stampede report RUN`: the saved run replayed through the same merge and
/// rendered by the same writers as a live run; judged by `--threshold`, else
/// by the run's own thresholds.
fn report_main(args: &ReportArgs) -> ExitCode {
    let mut config = ReportConfig {
        json: args.json.clone(),
        html: args.html.clone(),
        csv: args.csv.clone(),
        csv_full_history: args.csv_full_history,
        thresholds: Vec::new(),
        quiet: args.quiet,
    };
    for text in &args.thresholds {
        match thresholds::parse_threshold(text) {
            Ok(threshold) => config.thresholds.push(threshold),
            Err(e) => return usage_error(&format!("--threshold: {e}")),
        }
    }
    if let Err(code) = check_outputs(&config) {
        return code;
    }
    let outcome = match runfile::load(&args.run, args.csv_full_history) {
        Ok(outcome) => outcome,
        Err(e) => return usage_error(&format!("{}: {e}", args.run.display())),
    };
    if args.thresholds.is_empty() {
        match runfile::saved_thresholds(&outcome.info) {
            Ok(saved) => config.thresholds = saved,
            Err(e) => return usage_error(&format!("{}: {e}", args.run.display())),
        }
    }
    report(&config, &outcome)
}

/// `stampede compare BASE RUN`: the per-endpoint delta table; exit 98 on a regression.
fn compare_main(args: &CompareArgs) -> ExitCode {
    let tolerance = match compare::parse_tolerance(&args.tolerance) {
        Ok(tolerance) => tolerance,
        Err(e) => return usage_error(&format!("--tolerance: {e}")),
    };
    let mut loaded = Vec::with_capacity(2);
    for path in [&args.base, &args.run] {
        match runfile::load_metrics(path) {
            Ok(metrics) => loaded.push(metrics),
            Err(e) => return usage_error(&format!("{}: {e}", path.display())),
        }
    }
    let comparison = compare::compare(&loaded[0], &loaded[1], tolerance);
    println!(
        "BASE {}\nRUN  {}\n",
        args.base.display(),
        args.run.display()
    );
    print!("{}", compare::comparison_table(&comparison));
    if comparison.regressed() {
        return ExitCode::from(EXIT_REGRESSED);
    }
    ExitCode::SUCCESS
}

/// What to report and where: from a run's config, or from `stampede report`'s flags.
struct ReportConfig {
    json: Option<PathBuf>,
    html: Option<PathBuf>,
    csv: Option<PathBuf>,
    csv_full_history: bool,
    thresholds: Vec<Threshold>,
    quiet: bool,
}

impl ReportConfig {
    fn of(config: &RunConfig) -> Self {
        ReportConfig {
            json: config.json.clone(),
            html: config.html.clone(),
            csv: config.csv.clone(),
            csv_full_history: config.csv_full_history,
            thresholds: config.thresholds.clone(),
            quiet: config.quiet,
        }
    }
}

/// Checks that every report can be written, before any work: exit 2 naming the flag if not.
fn check_outputs(config: &ReportConfig) -> Result<(), ExitCode> {
    if let Some(path) = &config.html {
        if let Err(e) = html::check_writable(path) {
            return Err(usage_error(&format!(
                "--html: cannot write {}: {e}",
                path.display()
            )));
        }
    }
    if let Some(prefix) = &config.csv {
        if let Err(e) = csv::check_writable(prefix) {
            return Err(usage_error(&format!(
                "--csv: cannot write {}_*.csv: {e}",
                prefix.display()
            )));
        }
    }
    if let Some(path) = &config.json {
        if let Err(e) = json::check_writable(path) {
            return Err(usage_error(&format!(
                "--json: cannot write {}: {e}",
                path.display()
            )));
        }
    }
    Ok(())
}

fn report(config: &ReportConfig, outcome: &RunOutcome) -> ExitCode {
    if !config.quiet {
        println!(
            "{}",
            console::final_report(
                &outcome.aggregator,
                &outcome.info,
                outcome.stop_reason.as_str()
            )
        );
        print!(
            "{}",
            stampede_engine::report::workers::console_table(&outcome.workers)
        );
    }
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    let verdicts = thresholds::evaluate(
        &config.thresholds,
        &outcome.aggregator,
        outcome.info.duration_s,
    );
    if !verdicts.is_empty() && (!config.quiet || verdicts.iter().any(|v| !v.passed)) {
        println!("\n{}", thresholds::verdict_table(&verdicts));
    }
    if let Some(path) = &config.json {
        if let Err(e) = json::write_summary(
            Path::new(path),
            &outcome.aggregator,
            &outcome.info,
            &verdicts,
        ) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(EXIT_RUN_ERROR);
        }
        if !config.quiet {
            println!("JSON summary written to {}", path.display());
        }
    }
    if let Some(path) = &config.html {
        let notes = html::Notes {
            stop_reason: Some(outcome.stop_reason.as_str()),
            warnings: &outcome.warnings,
            workers: &outcome.workers,
        };
        if let Err(e) = html::write_report(path, &outcome.aggregator, &outcome.info, &notes) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(EXIT_RUN_ERROR);
        }
        if !config.quiet {
            println!("HTML report written to {}", path.display());
        }
    }
    if let Some(prefix) = &config.csv {
        if let Err(e) = csv::write_csv(
            prefix,
            &outcome.aggregator,
            &outcome.info,
            config.csv_full_history,
        ) {
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
