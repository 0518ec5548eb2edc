//! One invocation of `stampede run` or `stampede coordinator`: the load
//! source is chosen (this process's shards, or a cluster of workers, local
//! with `--processes` or remote), then one test runs on the run loop and its
//! reports are written; with `--web`, tests are started, steered and reset
//! from the web UI until Ctrl-C. Returns the process's exit status.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::control::{self, RunHooks, RunObserver, RunOutcome, StopReason};
use super::live::KeyReader;
use super::local::LocalSource;
use super::phase::{self, PhaseSource, Phases};
use super::source::LoadSource;
use crate::config::{Exporters, Load, Loaded, RunConfig};
use crate::coord::coordinator::{
    Cluster, CoordinatorHooks, CoordinatorOptions, RemoteSource, Test,
};
use crate::coord::local::{self as local_workers, LocalSpec, LocalWorkers};
use crate::coord::worker;
use crate::report::write::{write_reports, ReportConfig};
use crate::report::{banner, runfile, workers};
use crate::scenario::Plan;
use crate::stats::Aggregator;
use crate::web::export::Export;
use crate::web::metrics::MetricsContext;
use crate::web::{ApiCommand, FinishedTest, StartRequest, WebOptions, WebServer};

/// Exit statuses of the `stampede` binary.
pub mod exit {
    /// The run happened and nothing failed.
    pub const SUCCESS: u8 = 0;
    /// The run could not happen or its reports not be written.
    pub const RUN_ERROR: u8 = 1;
    /// Bad input: flags, config files, values.
    pub const USAGE: u8 = 2;
    /// `stampede compare`: the run regressed beyond the tolerance.
    pub const REGRESSED: u8 = 98;
    /// The run happened but a threshold failed (k6's convention).
    pub const THRESHOLD_FAILED: u8 = 99;
}

/// How often the web session looks for commands and joining workers.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// Prints `message` as an error and returns the usage status.
pub fn usage(message: &str) -> u8 {
    eprintln!("error: {message}");
    exit::USAGE
}

/// Shards to run by default: one per core.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `stampede run` (and `coordinator` when `coordinator` is true).
pub fn run_command(loaded: Loaded, coordinator: bool) -> u8 {
    run_command_with(loaded, coordinator, Phases::default())
}

/// [`run_command`] with quiet phases before and after its one test, on the
/// same load source (`stampede s3`'s prepare and cleanup).
pub fn run_command_with(loaded: Loaded, coordinator: bool, phases: Phases) -> u8 {
    // A Locust-style `worker = true` config file makes this process a worker.
    if !coordinator && loaded.is_true("worker") {
        return worker_command(&loaded);
    }
    let cores = available_cores();
    let coordinating = coordinator || loaded.is_true("master");
    let checked = (|| {
        loaded.check_locustfile()?;
        let local = loaded.local_spec(coordinating, cores)?;
        let cluster_options = match &local {
            Some(spec) => Some(loaded.local_coordinator(local_workers::coordinator_options(spec))?),
            None if coordinating => Some(loaded.coordinator()?),
            None => None,
        };
        if cluster_options.is_some() {
            loaded.check_distributed(local.is_some())?;
        }
        let web = loaded.web()?;
        if web.is_some() && !phases.is_empty() {
            return Err(
                "--web: this command runs its test from the command line, with runs before or \
                 after it (stampede s3's prepare and cleanup); drop --web"
                    .into(),
            );
        }
        let exporters = loaded.exporters()?;
        loaded.check_web_flags(web.as_ref(), &exporters)?;
        loaded.check_locust_flags()?;
        Ok::<_, String>((local, cluster_options, web, exporters))
    })();
    let (local, cluster_options, web, exporters) = match checked {
        Ok(checked) => checked,
        Err(message) => return usage(&message),
    };
    // The command line's test is checked now; with the web UI the host may come from the form.
    let host_from_form = web.as_ref().is_some_and(|w| !w.autostart);
    let first = match loaded.run_config(cores) {
        Ok(built) => Some(built),
        Err(_) if host_from_form && loaded.settings.get("host").is_none() => None,
        Err(message) => return usage(&message),
    };
    for warning in &loaded.settings.warnings {
        eprintln!("warning: {warning}");
    }
    if cluster_options.is_none() {
        for warning in loaded.ignored_coordinator_keys() {
            eprintln!("warning: {warning}");
        }
    }
    if let Some(options) = cluster_options.as_ref().filter(|o| o.token.is_none()) {
        eprintln!(
            "warning: no --token (or STAMPEDE_TOKEN): any process on this machine that reaches {} can join, and the channel is not encrypted",
            options.bind
        );
    }
    if loaded.is_true("insecure") {
        eprintln!("warning: --insecure: TLS certificates are NOT verified; anyone on the path can impersonate the target");
    }
    if let Some((config, _)) = &first {
        if let Err(message) = check_outputs(config) {
            return usage(&message);
        }
    }
    let stop = match control::install_stop_signals() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("error: cannot install signal handlers: {e}");
            return exit::RUN_ERROR;
        }
    };
    let mut session = Session {
        loaded,
        cores,
        stop,
        cluster: None,
        cluster_options,
        hooks: CoordinatorHooks::default(),
        local_workers: Arc::new(Mutex::new(None)),
        exporters,
        keys: None,
        last_code: exit::SUCCESS,
        phases,
    };
    let code = match session.listen(local) {
        Err(message) => {
            eprintln!("error: {message}");
            exit::RUN_ERROR
        }
        Ok(()) => session.serve(web.as_ref(), first),
    };
    session.close(code != exit::SUCCESS && code != exit::THRESHOLD_FAILED);
    code
}

/// `stampede worker` (or a `worker = true` conf): joins a coordinator and
/// runs the shares it sends until the coordinator lets it go.
pub fn worker_command(loaded: &Loaded) -> u8 {
    let options = match loaded.worker() {
        Ok(options) => options,
        Err(message) => return usage(&message),
    };
    let stop = match control::install_stop_signals() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("error: cannot install signal handlers: {e}");
            return exit::RUN_ERROR;
        }
    };
    match worker::run(&options, Default::default(), stop) {
        Ok(report) => {
            println!(
                "worker {}: done, {} requests",
                report.worker_id, report.requests
            );
            exit::SUCCESS
        }
        Err(worker::WorkerError::Insecure(message)) => usage(&message),
        Err(e) => {
            eprintln!("error: {e}");
            exit::RUN_ERROR
        }
    }
}

/// Checks before any work that every report can be written.
fn check_outputs(config: &RunConfig) -> Result<(), String> {
    ReportConfig::of(config).check_writable()?;
    if let Some(path) = &config.save_run {
        runfile::check_writable(path)
            .map_err(|e| format!("--save-run: cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// One command's state across its tests.
struct Session {
    loaded: Loaded,
    cores: usize,
    /// Ctrl-C and SIGTERM.
    stop: Arc<AtomicBool>,
    /// The workers, when this process coordinates.
    cluster: Option<Cluster>,
    cluster_options: Option<CoordinatorOptions>,
    hooks: CoordinatorHooks,
    /// `--processes`: the worker processes this process started.
    local_workers: Arc<Mutex<Option<LocalWorkers>>>,
    /// `/metrics`, `--jsonl`, remote write.
    exporters: Exporters,
    /// Console keys, read by one thread for the whole command.
    keys: Option<KeyReader>,
    /// The exit status the last web test earned.
    last_code: u8,
    /// Quiet runs before and after the command line's test.
    phases: Phases,
}

impl Session {
    /// Starts listening for workers when this process coordinates, and
    /// starts `--processes`' local workers.
    fn listen(&mut self, local: Option<LocalSpec>) -> Result<(), String> {
        let Some(options) = &self.cluster_options else {
            return Ok(());
        };
        if let Some(spec) = local {
            self.hooks.on_listening =
                Some(local_workers::starter(spec, self.local_workers.clone()));
        }
        let cluster = Cluster::listen(options, &mut self.hooks).map_err(|e| e.to_string())?;
        self.cluster = Some(cluster);
        Ok(())
    }

    /// Lets the workers go and reaps local worker processes.
    fn close(&mut self, failed: bool) {
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.close();
        }
        local_workers::reap(&self.local_workers, failed);
    }

    /// Waits for the expected workers (coordinator).
    fn wait_for_workers(&mut self) -> Result<(), String> {
        match (self.cluster.as_mut(), &self.cluster_options) {
            (Some(cluster), Some(options)) => cluster
                .wait_for_workers(options, &self.stop)
                .map_err(|e| e.to_string()),
            _ => Ok(()),
        }
    }

    /// Starts the web UI and `/metrics` servers when asked, then runs the
    /// command line's test (headless) or the web UI's tests.
    fn serve(&mut self, web: Option<&WebOptions>, first: Option<(RunConfig, Plan)>) -> u8 {
        let server = if web.is_some() || self.exporters.metrics_bind.is_some() {
            let auth = web
                .and_then(|w| w.auth.clone())
                .or_else(|| self.exporters.auth.clone());
            let settings = state_settings(&self.loaded, first.as_ref());
            let coordinator = self.cluster.is_some();
            match WebServer::start(
                web,
                self.exporters.metrics_bind,
                auth,
                coordinator,
                settings,
            ) {
                Ok(server) => Some(server),
                Err(e) => {
                    eprintln!("error: cannot serve the web UI or /metrics: {e}");
                    return exit::RUN_ERROR;
                }
            }
        } else {
            None
        };
        if let Some(server) = &server {
            let addrs = server.local_addrs();
            if web.is_some() {
                println!("web UI on http://{}/", addrs[0]);
            }
            if self.exporters.metrics_bind.is_some() {
                println!("metrics on http://{}/metrics", addrs[addrs.len() - 1]);
            }
        }
        match (web, first, &server) {
            (Some(web), _, Some(server)) => self.web(server, web),
            (None, Some(first), server) => self.headless(first, server.as_ref()),
            _ => exit::USAGE,
        }
    }

    /// `--autoquit`, parsed (checked at start).
    fn autoquit(&self) -> Option<Duration> {
        let text = &self.loaded.settings.get("autoquit")?.value;
        crate::config::parse_duration(text).ok()
    }

    /// The command line's one test, then its reports.
    fn headless(&mut self, (config, plan): (RunConfig, Plan), server: Option<&WebServer>) -> u8 {
        if let Err(message) = self.wait_for_workers() {
            eprintln!("error: {message}");
            return exit::RUN_ERROR;
        }
        if let Some(mut before) = self.phases.before.take() {
            if let Err(message) = self.phase(&mut before, true) {
                eprintln!("error: {message}");
                return exit::RUN_ERROR;
            }
        }
        let loaded = self.loaded.clone();
        let mut code = match self.test(&loaded, &config, plan, server, None) {
            Ok((outcome, metrics)) => {
                let code = report(&config, &outcome);
                if let Some(server) = server {
                    let finished = FinishedTest {
                        outcome,
                        thresholds: config.thresholds.clone(),
                    };
                    server.finish(finished, &metrics);
                }
                code
            }
            Err(message) => {
                eprintln!("error: {message}");
                exit::RUN_ERROR
            }
        };
        if let Some(mut after) = self.phases.after.take() {
            if let Err(message) = self.phase(&mut after, false) {
                eprintln!("error: {message}");
                if code == exit::SUCCESS {
                    code = exit::RUN_ERROR;
                }
            }
        }
        // `--metrics` with `--autoquit S`: serve the final numbers S longer.
        if let (Some(server), Some(after)) = (server, self.autoquit()) {
            self.linger(server, after);
        }
        code
    }

    /// Runs a phase on this command's load source: the cluster when it
    /// coordinates, else this process's shards. An `interruptible` phase
    /// stops at Ctrl-C (prepare); the other (cleanup) runs to its end even
    /// when a Ctrl-C stopped the test, and a second Ctrl-C exits at once.
    fn phase(&mut self, phase: &mut phase::Phase, interruptible: bool) -> Result<(), String> {
        let unstoppable = AtomicBool::new(false);
        let stop = if interruptible {
            &*self.stop
        } else {
            &unstoppable
        };
        let cluster = match (self.cluster.as_mut(), self.cluster_options.as_ref()) {
            (Some(cluster), Some(options)) => Some((cluster, options, &mut self.hooks)),
            _ => None,
        };
        let source = PhaseSource {
            cluster,
            cores: self.cores,
            stop,
        };
        phase::run(phase, source)
    }

    /// Runs one test: starts the load source, answers `reply` (a web start)
    /// once it runs, drives it to the end with the web and export
    /// observers, and returns its outcome and metrics labels.
    fn test(
        &mut self,
        loaded: &Loaded,
        config: &RunConfig,
        plan: Plan,
        server: Option<&WebServer>,
        reply: Option<&flume::Sender<Result<(), String>>>,
    ) -> Result<(RunOutcome, MetricsContext), String> {
        let answer = |result: Result<(), String>| {
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        };
        let metrics =
            MetricsContext::new(config.scenario.as_deref(), self.exporters.metrics.clone());
        let mut export = match Export::start(&self.exporters, &metrics) {
            Ok(export) => export,
            Err(message) => {
                answer(Err(message.clone()));
                return Err(message);
            }
        };
        if !config.quiet {
            println!("{}", banner::run_header(config));
        }
        calibrate(config, &plan, &self.stop);
        // A terminal gets the live table; a log (CI) gets one line per interval.
        let live = !config.only_summary && !config.quiet;
        if live && self.keys.is_none() {
            // Console keys change the load (w/W/s/S users, +/- rate) when both ends are terminals.
            self.keys = KeyReader::start();
        }
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
        let mut progress = |agg: &Aggregator, elapsed: Duration, rows: &[workers::WorkerRow]| {
            if !live {
                return;
            }
            if terminal {
                println!("{}", banner::progress_block(agg, elapsed, config));
            } else {
                println!("{}", banner::progress_line(agg, elapsed, config));
            }
            print!("{}", workers::console_table(rows, workers::Figures::Now));
        };
        let Session {
            cluster,
            cluster_options,
            hooks,
            keys,
            stop,
            ..
        } = self;
        let started: Result<Box<dyn LoadSource + '_>, String> =
            match (cluster.as_mut(), cluster_options.as_ref()) {
                (Some(cluster), Some(options)) => {
                    let test = Test {
                        config,
                        settings: &loaded.settings,
                        scenario: loaded.scenario.as_deref(),
                        plan: &plan,
                    };
                    match RemoteSource::start(cluster, &test, options.on_loss, hooks) {
                        Ok(source) => Ok(Box::new(source)),
                        Err(e) => Err(e.to_string()),
                    }
                }
                _ => match LocalSource::start(config, plan.clone()) {
                    Ok(source) => Ok(Box::new(source)),
                    Err(e) => Err(e.to_string()),
                },
            };
        let mut source = match started {
            Ok(source) => source,
            Err(message) => {
                answer(Err(message.clone()));
                return Err(message);
            }
        };
        if let Some(server) = server {
            server.running(state_settings(loaded, Some(&(config.clone(), plan))));
        }
        answer(Ok(()));
        let info = provisional_info(config, &*source);
        let mut web_observer = server.map(|s| s.observer(&config.thresholds, info, &metrics));
        let mut observers: Vec<&mut dyn RunObserver> = Vec::new();
        if let Some(observer) = web_observer.as_mut() {
            observers.push(observer);
        }
        if let Some(export) = export.as_mut() {
            observers.push(export);
        }
        let mut observers = control::Observers(observers);
        let mut run_hooks = RunHooks {
            stop: &**stop,
            changes: keys.as_ref().map(|k| &k.keys),
            progress: &mut progress,
            on_snapshot: &mut |_| {},
            observer: Some(&mut observers),
        };
        let mut outcome = control::drive(config, &mut *source, &mut run_hooks);
        drop(run_hooks);
        drop(observers);
        drop(source);
        if let Some(export) = export {
            outcome.warnings.extend(export.finish(&outcome));
        }
        Ok((outcome, metrics))
    }

    /// The web UI: tests start, are steered and reset from the page or the
    /// API until Ctrl-C (or `--autoquit` after an `--autostart` test).
    fn web(&mut self, server: &WebServer, options: &WebOptions) -> u8 {
        let mut code = exit::SUCCESS;
        if options.autostart {
            if let Err(message) = self.wait_for_workers() {
                eprintln!("error: {message}");
                return exit::RUN_ERROR;
            }
            let (reply, answer) = flume::bounded(1);
            let ran = self.web_test(server, &StartRequest::default(), &reply);
            if let Ok(Err(message)) = answer.try_recv() {
                eprintln!("error: {message}");
                return exit::RUN_ERROR;
            }
            if ran {
                code = self.last_code;
            }
            if let Some(after) = options.autoquit {
                self.linger(server, after);
                return code;
            }
        }
        while !self.stop.load(Ordering::Relaxed) {
            if let Some(cluster) = self.cluster.as_mut() {
                cluster.accept_for(Duration::ZERO);
                server.workers_joined(cluster.worker_rows().len());
            }
            let Ok(command) = server.commands.recv_timeout(IDLE_POLL) else {
                continue;
            };
            match command {
                ApiCommand::Start(request, reply) => {
                    if self.web_test(server, &request, &reply) {
                        code = self.last_code;
                    }
                }
                ApiCommand::Reset => server.idle(None),
                ApiCommand::Render(download, reply) => {
                    let finished = server.shared.published().finished.clone();
                    let _ = reply.send(finished.map(|f| f.render(download)));
                }
                ApiCommand::Stop | ApiCommand::Load(_) => {}
            }
        }
        code
    }

    /// Runs one test started from the web; false when it could not start
    /// (the reply says why).
    fn web_test(
        &mut self,
        server: &WebServer,
        request: &StartRequest,
        reply: &flume::Sender<Result<(), String>>,
    ) -> bool {
        let loaded = with_start_request(&self.loaded, request);
        let built = loaded.run_config(self.cores).and_then(|(config, plan)| {
            check_outputs(&config)?;
            Ok((config, plan))
        });
        let (config, plan) = match built {
            Ok(built) => built,
            Err(message) => {
                let _ = reply.send(Err(message));
                return false;
            }
        };
        match self.test(&loaded, &config, plan, Some(server), Some(reply)) {
            Ok((outcome, metrics)) => {
                self.last_code = report(&config, &outcome);
                let finished = FinishedTest {
                    outcome,
                    thresholds: config.thresholds.clone(),
                };
                server.finish(finished, &metrics);
                true
            }
            Err(message) => {
                eprintln!("error: {message}");
                false
            }
        }
    }

    /// Serves the finished test for `after` (`--autoquit`), or until Ctrl-C;
    /// a start asked for meanwhile is refused.
    fn linger(&self, server: &WebServer, after: Duration) {
        let until = Instant::now() + after;
        while Instant::now() < until && !self.stop.load(Ordering::Relaxed) {
            match server.commands.recv_timeout(IDLE_POLL) {
                Ok(ApiCommand::Start(_, reply)) => {
                    let _ = reply.send(Err("stampede is exiting (--autoquit)".into()));
                }
                Ok(ApiCommand::Render(download, reply)) => {
                    let finished = server.shared.published().finished.clone();
                    let _ = reply.send(finished.map(|f| f.render(download)));
                }
                _ => {}
            }
        }
    }
}

/// The run's facts for downloads while it runs (duration and CPU are filled
/// in per download).
fn provisional_info(config: &RunConfig, source: &dyn LoadSource) -> crate::report::RunInfo {
    crate::report::RunInfo {
        duration_s: 0.0,
        started_unix_ms: source.started().1,
        threads: config.threads,
        io_driver: String::new(),
        cpu_seconds: 0.0,
        max_rss_kb: 0,
        fd_limit: 0,
        config: serde_json::to_value(config).unwrap_or_default(),
    }
}

/// `--calibrate`: measures service time first and warns when the rate needs
/// more connections than allowed.
fn calibrate(config: &RunConfig, plan: &Plan, stop: &AtomicBool) {
    let Some(duration) = config.calibrate else {
        return;
    };
    match super::calibrate::run(config, plan, duration, stop) {
        Ok(calibration) => {
            let (line, warning) = super::calibrate::advice(config, &calibration);
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

/// Writes a finished test's reports; returns the exit status it earns.
fn report(config: &RunConfig, outcome: &RunOutcome) -> u8 {
    let written = write_reports(&ReportConfig::of(config), outcome);
    let mut code = if written.errors.is_empty() {
        exit::SUCCESS
    } else {
        exit::RUN_ERROR
    };
    if let Some(path) = &config.save_run {
        match runfile::write_run(path, outcome) {
            Ok(()) if !config.quiet => println!(
                "Run saved to {} (stampede report / stampede compare read it)",
                path.display()
            ),
            Ok(()) => {}
            Err(e) => {
                eprintln!("error: --save-run: cannot write {}: {e}", path.display());
                code = exit::RUN_ERROR;
            }
        }
    }
    // A run aborted because a worker was lost is a failed run, reports or not.
    if outcome.stop_reason == StopReason::WorkerLost {
        eprintln!("error: a worker was lost and --on-worker-loss abort stopped the run");
        return exit::RUN_ERROR;
    }
    if code == exit::SUCCESS && written.threshold_failed {
        return exit::THRESHOLD_FAILED;
    }
    // Failures never pass unseen: one line, even under --quiet.
    let total = outcome.aggregator.total();
    if total.failures > 0 {
        eprintln!(
            "{} of {} requests failed ({:.2}%)",
            total.failures,
            total.requests,
            100.0 * total.failures as f64 / total.requests.max(1) as f64
        );
        if let (exit::SUCCESS, Some(status)) = (code, config.exit_code_on_error) {
            return status;
        }
    }
    code
}

/// The command's settings with a web start request's fields on top.
fn with_start_request(loaded: &Loaded, request: &StartRequest) -> Loaded {
    let mut loaded = loaded.clone();
    let settings = &mut loaded.settings;
    if let Some(host) = &request.host {
        settings.api("host", "host", host.clone());
    }
    if let Some(users) = request.users {
        settings.remove("rate");
        settings.api("users", "users", users.to_string());
    }
    if let Some(spawn_rate) = request.spawn_rate {
        settings.api("spawn-rate", "spawn_rate", spawn_rate.to_string());
    }
    if let Some(rate) = request.rate {
        settings.remove("users");
        settings.remove("spawn-rate");
        settings.api("rate", "rate", rate.to_string());
    }
    if let Some(run_time) = &request.run_time {
        settings.api("run-time", "run_time", run_time.clone());
    }
    if let Some(iterations) = request.iterations {
        settings.api("iterations", "iterations", iterations.to_string());
    }
    if !request.classes.is_empty() {
        let pairs: Vec<String> = request
            .classes
            .iter()
            .map(|(n, w)| format!("{n}={w}"))
            .collect();
        settings.api("class-weights", "classes", pairs.join(","));
    }
    loaded
}

/// `/api/state`'s settings fields for a test (or the command line's, when
/// it has no host yet).
fn state_settings(loaded: &Loaded, built: Option<&(RunConfig, Plan)>) -> Value {
    let host = loaded
        .settings
        .get("host")
        .map_or(String::new(), |h| h.value.clone());
    let Some((config, plan)) = built else {
        return json!({"host": host, "model": "closed", "users": 1, "spawn_rate": null,
                      "rate": null, "run_time_s": null, "iterations": null, "classes": []});
    };
    let (model, users, spawn_rate, rate) = match config.load {
        Load::Closed {
            users,
            spawn_rate_per_s,
        } => ("closed", Some(users), spawn_rate_per_s, None),
        Load::Open { rate_per_s, .. } => ("open", None, None, Some(rate_per_s)),
    };
    let classes: Vec<Value> = plan
        .classes
        .iter()
        .enumerate()
        .map(|(index, class)| {
            let weight = plan.class_cycle.iter().filter(|&&c| c == index).count();
            json!({"name": class.name, "weight": weight})
        })
        .collect();
    json!({
        "host": host, "model": model, "users": users, "spawn_rate": spawn_rate, "rate": rate,
        "run_time_s": config.run_time.map(|t| t.as_secs_f64()),
        "iterations": config.iterations, "classes": classes,
    })
}
