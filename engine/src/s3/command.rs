//! `stampede s3 OP`: the phases of an object workload. Prepare uploads the
//! objects a get, delete, list or mixed run needs; the main run is an
//! ordinary run (local, or as a coordinator with `--expect-workers`) of the
//! generated scenario, with every run flag, report and threshold; cleanup
//! deletes the keys after the reports are written. Prepare and cleanup run
//! where the main run does (this process's shards, or the workers of a
//! coordinator, each key on exactly one worker), through the same run loop,
//! quietly, and each prints one summary line; their requests are not in
//! the reports.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::scenario::{self, Rows, Workload, FEEDER};
use crate::config::s3::{Op, S3Flags, S3Options};
use crate::config::{Loaded, Settings};
use crate::run::control::RunOutcome;
use crate::run::phase::{Phase, Phases};
use crate::run::session::{self, exit, usage};
use crate::scenario::compile::FeederData;
use crate::scenario::ScenarioDoc;

/// Users of prepare and cleanup unless `--users` gives more: enough to
/// keep a server busy without a connection storm.
const PHASE_USERS: u64 = 16;

/// Users of the main run unless `--users` is given.
const DEFAULT_USERS: u64 = 16;

/// Run settings prepare and cleanup take from the command line: how to
/// reach and sign for the endpoint, never load, stops or reports.
const CARRIED: &[&str] = &[
    "insecure",
    "cacert",
    "cert",
    "key",
    "resolve",
    "dns-ttl",
    "source-ips",
    "timeout",
    "read-timeout",
    "io-driver",
    "max-connecting",
    "connect-backoff",
    "aws-sigv4",
    "aws-sign-payload",
    "allow-low-fd-limit",
    "stop-timeout",
];

/// Name the generated scenario goes by in messages and on workers.
const SCENARIO_NAME: &str = "s3.toml";

/// Runs `stampede s3`: `flags` are its own, `run_flags` every run flag
/// (with `--expect-workers`, `--bind`, `--token` when `coordinator`).
pub fn command(
    flags: &S3Flags,
    run_flags: Settings,
    config: Option<&Path>,
    coordinator: bool,
) -> u8 {
    let options = match S3Options::from_flags(flags) {
        Ok(options) => options,
        Err(message) => return usage(&message),
    };
    let loaded = match crate::config::load::load_settings(run_flags, config) {
        Ok(loaded) => loaded,
        Err(message) => return usage(&message),
    };
    let rows = scenario::object_rows(&options);
    let classes = scenario::classes(&rows);
    let plan = match main_settings(&options, loaded.settings, coordinator) {
        Ok(plan) => plan,
        Err(message) => return usage(&message),
    };
    let text = scenario::scenario_text(&options, Workload::Main(options.op), plan.rows, &classes);
    if options.print_scenario {
        print!("{text}");
        return exit::SUCCESS;
    }
    let main = match with_scenario(plan.settings.clone(), &text, &rows) {
        Ok(loaded) => loaded,
        Err(message) => return usage(&message),
    };
    // Every flag of the main run is checked before anything is uploaded.
    if let Err(message) = main.run_config(session::available_cores()) {
        return usage(&message);
    }
    let mut phases = Phases::default();
    if options.prepare {
        let text = scenario::scenario_text(&options, Workload::Prepare, Rows::EachOnce, &classes);
        phases.before = Some(phase("prepare", &plan.settings, text, &rows));
    }
    if options.cleanup {
        let text = scenario::scenario_text(&options, Workload::Cleanup, Rows::EachOnce, &classes);
        phases.after = Some(phase("cleanup", &plan.settings, text, &rows));
    }
    session::run_command_with(main, coordinator, phases)
}

/// The main run's settings and how its rows are handed out.
struct MainPlan {
    settings: Settings,
    rows: Rows,
}

/// Adds what the workload implies to the command line's settings: signing
/// for `--region`, the object report, users, and the stop of a run that
/// visits each object once.
fn main_settings(
    options: &S3Options,
    mut settings: Settings,
    coordinator: bool,
) -> Result<MainPlan, String> {
    for key in ["scenario", "host", "path", "method", "body", "pipeline"] {
        if let Some(setting) = settings.get(key) {
            return Err(format!(
                "{}: stampede s3 generates its requests (to --endpoint and --bucket); drop it, \
                 or run the scenario --print-scenario prints with `stampede run -f`",
                setting.origin
            ));
        }
    }
    if let Some(setting) = settings.get("aws-sigv4") {
        return Err(format!(
            "{}: stampede s3 signs for aws:amz:REGION:s3 itself; give --region (or --anonymous)",
            setting.origin
        ));
    }
    if !options.anonymous {
        settings.flag("aws-sigv4", format!("aws:amz:{}:s3", options.region));
    }
    settings.flag("object-report", "true");
    let stop_given = settings.get("run-time").is_some() || settings.get("iterations").is_some();
    let open_loop = settings.get("rate").is_some() || settings.get("rate-stages").is_some();
    let rows = match options.op {
        Op::Put | Op::Delete => Rows::EachOnce,
        Op::Get if !stop_given => Rows::EachOnce,
        Op::Get | Op::Mixed | Op::List => Rows::Cycle,
    };
    if let (Some(rate), Rows::EachOnce) = (settings.get("rate"), rows) {
        return Err(format!(
            "{}: {} visits each object once with users (closed loop); drop the rate, or give \
             --run-time or -n to a get",
            rate.origin,
            options.op.name()
        ));
    }
    if options.op == Op::Mixed && !stop_given {
        return Err("mixed runs until --run-time or -n (-n counts tasks); give one".into());
    }
    if settings.get("users").is_none() && !open_loop && settings.get("stages").is_none() {
        settings.flag("users", DEFAULT_USERS.to_string());
    }
    let users = settings
        .get("users")
        .and_then(|u| u.value.trim().parse::<u64>().ok());
    if options.op == Op::List && !stop_given && !open_loop {
        // One listing per user.
        settings.flag("iterations", users.unwrap_or(1).to_string());
    }
    if rows == Rows::EachOnce && !coordinator && settings.get("processes").is_none() {
        fit_threads_to_users(&mut settings, users)?;
    }
    Ok(MainPlan { settings, rows })
}

/// Each shard takes only its own share of rows used once, so every shard
/// needs a user: fewer users than shards get as many shards as users, or
/// an error naming `--threads` when it was given.
fn fit_threads_to_users(settings: &mut Settings, users: Option<u64>) -> Result<(), String> {
    let Some(users) = users else {
        return Ok(());
    };
    match settings.get("threads") {
        Some(threads) => match threads.value.trim().parse::<u64>() {
            Ok(n) if n > users => Err(format!(
                "{}: {n} shards for {users} users; each object is visited once by the users \
                 of the shard that owns it, so give at least as many users as shards",
                threads.origin
            )),
            _ => Ok(()),
        },
        None => {
            let cores = session::available_cores() as u64;
            if users < cores {
                settings.flag("threads", users.max(1).to_string());
            }
            Ok(())
        }
    }
}

/// The settings with the generated scenario and its rows, as `load` would
/// have read a scenario file.
fn with_scenario(mut settings: Settings, text: &str, rows: &FeederData) -> Result<Loaded, String> {
    let path = Path::new(SCENARIO_NAME);
    let mut feeders = std::collections::BTreeMap::new();
    feeders.insert(FEEDER.to_string(), rows.clone());
    let doc = ScenarioDoc::parse_str(path, text.to_string())
        .map_err(|e| e.to_string())?
        .with_feeder_rows(feeders);
    settings.scenario(path, doc.settings());
    Ok(Loaded {
        settings,
        scenario: Some(Arc::new(doc)),
    })
}

/// Prepare or cleanup: `text` over every row once, with the main run's
/// endpoint and signing settings. On this process's shards it takes at
/// most [`PHASE_USERS`] users, and as many shards as users; on a cluster at
/// least a user per worker shard (each shard owns some of the rows).
fn phase(name: &'static str, main: &Settings, text: String, rows: &FeederData) -> Phase {
    let mut settings = Settings::default();
    for &key in CARRIED {
        if let Some(setting) = main.get(key) {
            settings.flag(key, setting.value.clone());
        }
    }
    let objects = rows.1.len() as u64;
    settings.flag("quiet", "true");
    let rows = rows.clone();
    let build = move |cluster_cores: Option<u32>| {
        let mut settings = settings.clone();
        let users = PHASE_USERS.min(objects).max(1);
        match cluster_cores {
            Some(cores) => settings.flag("users", users.max(u64::from(cores)).to_string()),
            None => {
                settings.flag("users", users.to_string());
                fit_threads_to_users(&mut settings, Some(users))?;
            }
        }
        with_scenario(settings, &text, &rows)
    };
    Phase {
        name,
        build: Box::new(build),
        finish: Box::new(move |outcome, took| summarize(name, objects, outcome, took)),
    }
}

/// Prints a phase's summary line; an error when any request failed or
/// some object was not visited.
fn summarize(name: &str, objects: u64, outcome: &RunOutcome, took: Duration) -> Result<(), String> {
    let seconds = took.as_secs_f64();
    let total = outcome.aggregator.total();
    println!(
        "{name}: {} objects in {seconds:.1} s, {} failures",
        total.requests - total.failures,
        total.failures
    );
    if total.failures > 0 {
        let first = outcome
            .aggregator
            .failures()
            .into_iter()
            .next()
            .map(|f| {
                let endpoint = format!("{} {}", f.method, f.name);
                let message = f
                    .message
                    .strip_prefix(&format!("{endpoint}: "))
                    .unwrap_or(&f.message);
                let status = match &f.sample {
                    Some(sample) if sample.status > 0 => format!(", e.g. HTTP {}", sample.status),
                    _ => String::new(),
                };
                format!(" (most frequent: {endpoint}: {message}{status})")
            })
            .unwrap_or_default();
        return Err(format!(
            "{name}: {} of {} requests failed{first}",
            total.failures, total.requests
        ));
    }
    if total.requests != objects {
        return Err(format!(
            "{name}: {} requests for {objects} objects (stopped early)",
            total.requests
        ));
    }
    Ok(())
}
