//! The `stampede` binary: parse flags, dispatch to the engine, exit with its status.
//! Settings loading and validation live in `config`, the runs in `run`,
//! report writing in `report`; clap lives in `cli.rs` only.

mod capacity_cmd;
mod cli;

use std::process::ExitCode;

use clap::Parser;
use stampede_engine::config::{self, Loaded, Settings};
use stampede_engine::demo;
use stampede_engine::report::{compare, write};
use stampede_engine::run::session::{self, exit, usage};

use crate::cli::{Cli, Command, DemoArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Demo(args)) => demo_main(args),
        Some(Command::Report(args)) => {
            let reports = write::ReportConfig {
                json: args.json.clone(),
                html: args.html.clone(),
                csv: args.csv.clone(),
                csv_full_history: args.csv_full_history,
                thresholds: Vec::new(),
                quiet: args.quiet,
            };
            write::replay(&args.run, reports, &args.thresholds)
        }
        Some(Command::Compare(args)) => compare::command(&args.base, &args.run, &args.tolerance),
        Some(Command::Run(args)) => run(args.settings(), args.config.as_deref(), false),
        Some(Command::Coordinator(args)) => run(args.settings(), args.run.config.as_deref(), true),
        Some(Command::Worker(args)) => {
            match config::load::load_settings(args.settings(), args.config.as_deref()) {
                Ok(loaded) => session::worker_command(&loaded),
                Err(message) => usage(&message),
            }
        }
        Some(Command::Capacity(args)) => capacity_cmd::main(&args),
        Some(Command::S3(args)) => stampede_engine::s3::command::command(
            &args.flags(),
            args.coordinator.settings(),
            args.coordinator.run.config.as_deref(),
            args.coordinator.expect_workers.is_some(),
        ),
        None => run(cli.run.settings(), cli.run.config.as_deref(), false),
    };
    ExitCode::from(code)
}

/// `stampede run` / `stampede coordinator`: settings loaded the one way, then the session.
fn run(flags: Settings, config_file: Option<&std::path::Path>, coordinator: bool) -> u8 {
    match config::load(flags, config_file) {
        Ok(loaded) => session::run_command(loaded, coordinator),
        Err(message) => usage(&message),
    }
}

/// `stampede demo`: a short run against an embedded stampede-target.
fn demo_main(args: DemoArgs) -> u8 {
    let target = match demo::start_target(session::available_cores().div_ceil(2)) {
        Ok(target) => target,
        Err(e) => {
            eprintln!("error: cannot start the embedded target: {e}");
            return exit::RUN_ERROR;
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
    let code = session::run_command(
        Loaded {
            settings,
            scenario: None,
        },
        false,
    );
    println!(
        "demo: the target counted {} requests on {} connections (it shares this process's CPU)",
        target.requests(),
        target.connections()
    );
    code
}
