//! Loading settings the same way for every command (`run`, `coordinator`,
//! `worker`, `capacity`): flags > `STAMPEDE_*` > `--config FILE` or
//! `./stampede.conf` > the scenario's own settings. Then the typed options
//! of each mode (web, coordinator, local workers, worker) are read from the
//! one [`Loaded`], so a bad value is named the same way wherever it came from.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{parse_duration, RunConfig, Settings};
use crate::coord::coordinator::{CoordinatorOptions, OnWorkerLoss};
use crate::coord::local::{self, LocalSpec};
use crate::coord::worker::WorkerOptions;
use crate::report::thresholds;
use crate::scenario::{Plan, ScenarioDoc};
use crate::web::metrics::{parse_buckets, MetricsConfig};
use crate::web::remote_write::RemoteWriteOptions;
use crate::web::WebOptions;

/// Locust's web UI port, the default of `--web`.
pub const WEB_PORT: u16 = 8089;
/// The default port of `--metrics` (no UI).
pub const METRICS_PORT: u16 = 9646;
/// How often remote write pushes by default (k6's flush period).
const REMOTE_WRITE_INTERVAL: Duration = Duration::from_secs(5);

/// What a run exports besides its reports: `/metrics`, JSON lines, remote write.
#[derive(Debug, Clone, Default)]
pub struct Exporters {
    /// `--metrics`: serve /metrics alone here (basic auth from `--web-auth`).
    pub metrics_bind: Option<SocketAddr>,
    /// Buckets, endpoint cap and worker labels of the metrics.
    pub metrics: MetricsConfig,
    /// `--jsonl FILE` (`-` for standard output).
    pub jsonl: Option<PathBuf>,
    /// `--prometheus-remote-write URL` and how often to push, checked.
    pub remote_write: Option<RemoteWriteOptions>,
    /// `--web-auth`, checked: what `--metrics` on its own demands too.
    pub auth: Option<(String, String)>,
}

impl Exporters {
    /// True when the run loop needs an observer for them.
    pub fn any(&self) -> bool {
        self.metrics_bind.is_some() || self.jsonl.is_some() || self.remote_write.is_some()
    }
}
/// Locust's coordinator port.
const COORDINATOR_PORT: &str = "5557";

/// Every setting of a command, layered, and the scenario it names.
#[derive(Clone)]
pub struct Loaded {
    /// The layered settings.
    pub settings: Settings,
    /// The scenario file, parsed, when one is named.
    pub scenario: Option<Arc<ScenarioDoc>>,
}

/// Layers `flags` over `STAMPEDE_*` variables, the config file (`config`,
/// else `./stampede.conf` if present) and the scenario's settings.
pub fn load(flags: Settings, config: Option<&Path>) -> Result<Loaded, String> {
    let mut loaded = load_settings(flags, config)?;
    // The scenario's own run settings rank below flags, env and config file.
    if let Some(path) = loaded
        .settings
        .get("scenario")
        .map(|s| PathBuf::from(&s.value))
    {
        if path.extension().is_some_and(|e| e == "py") {
            return Err(format!(
                "-f {}: stampede runs TOML scenarios, not locustfiles; see docs/locust.md for \
                 the scenario that does what a locustfile does",
                path.display()
            ));
        }
        let doc = ScenarioDoc::parse(&path).map_err(|e| e.to_string())?;
        loaded.settings.scenario(&path, doc.settings());
        loaded.scenario = Some(Arc::new(doc));
    }
    Ok(loaded)
}

/// Like [`load`] without reading the scenario (a worker gets it from its
/// coordinator, so a worker's conf naming one needs no copy of the file).
pub fn load_settings(mut settings: Settings, config: Option<&Path>) -> Result<Loaded, String> {
    settings.env(std::env::vars());
    let default = PathBuf::from("stampede.conf");
    let file = config
        .map(Path::to_path_buf)
        .or_else(|| default.exists().then_some(default));
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("--config: cannot read {}: {e}", path.display()))?;
        settings.file(&path, &text);
    }
    Ok(Loaded {
        settings,
        scenario: None,
    })
}

impl Loaded {
    /// True when `key` is set to a true value (or given bare, as a flag).
    pub fn is_true(&self, key: &str) -> bool {
        is_true(&self.settings, key)
    }

    /// Refuses a Locust conf (or flags) naming a locustfile and no scenario:
    /// it must not silently become a plain GET flood of the host.
    pub fn check_locustfile(&self) -> Result<(), String> {
        match (self.settings.get("locustfile"), self.settings.get("scenario")) {
            (Some(locustfile), None) => Err(format!(
                "{}: stampede runs TOML scenarios, not locustfiles ('{}'); give one with -f FILE.toml \
                 (the format: docs/scenario.md; from a locustfile: docs/locust.md)",
                locustfile.origin,
                locustfile.value.trim()
            )),
            _ => Ok(()),
        }
    }

    /// The validated run and its compiled plan; the scenario's
    /// `[thresholds]` join the flags' ones.
    pub fn run_config(&self, cores: usize) -> Result<(RunConfig, Plan), String> {
        let mut config =
            RunConfig::from_settings(&self.settings, cores).map_err(|e| e.to_string())?;
        let mut plan = match &self.scenario {
            Some(doc) => doc
                .compile_with(&config.target, config.request_options())
                .map_err(|e| e.to_string())?,
            None => Plan::single_request(&config),
        };
        if config.signing.is_some() && plan.sends_header("authorization") {
            return Err(format!(
                "{}: it writes the Authorization header, and so does an `auth` or a header \
                 the scenario or --header gives; drop one of them",
                self.settings.origin("aws-sigv4")
            ));
        }
        if let Some(weights) = self.settings.get("class-weights") {
            plan.reweight(&weights.value)
                .map_err(|e| format!("{}: {e}", weights.origin))?;
        }
        for text in &plan.thresholds {
            let threshold = thresholds::parse_threshold(text).map_err(|e| {
                let file = config
                    .scenario
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string());
                format!("{file}: [thresholds]: {e}")
            })?;
            config.thresholds.push(threshold);
        }
        Ok((config, plan))
    }

    /// The web UI's options, when it is asked for: `--web [ADDR]`, or the
    /// Locust keys `web-host` / `web-port` without `headless`.
    pub fn web(&self) -> Result<Option<WebOptions>, String> {
        let s = &self.settings;
        let locust_keys = s.get("web-host").is_some() || s.get("web-port").is_some();
        let wanted = s.get("web").is_some() || (locust_keys && !self.is_true("headless"));
        if !wanted {
            if self.is_true("autostart") {
                return Err("--autostart: it starts the web UI's test; add --web".into());
            }
            return Ok(None);
        }
        let mut bind = SocketAddr::from((Ipv4Addr::LOCALHOST, WEB_PORT));
        if let Some(web) = s.get("web").filter(|w| !w.value.trim().is_empty()) {
            bind = parse_bind(&web.value, WEB_PORT).map_err(|e| format!("{}: {e}", web.origin))?;
        }
        if let Some(host) = s.get("web-host") {
            let ip = match host.value.trim() {
                "" | "*" => IpAddr::from(Ipv4Addr::UNSPECIFIED),
                text => text
                    .trim_matches(['[', ']'])
                    .parse()
                    .map_err(|_| format!("{}: '{text}' is not an IP address", host.origin))?,
            };
            bind.set_ip(ip);
        }
        if let Some(port) = s.get("web-port") {
            let number = port.value.trim().parse::<u16>();
            bind.set_port(
                number.map_err(|_| format!("{}: '{}' is not a port", port.origin, port.value))?,
            );
        }
        let auth = match s.get("web-auth") {
            Some(a) => Some(parse_credentials(&a.value).map_err(|e| format!("{}: {e}", a.origin))?),
            None => None,
        };
        if !bind.ip().is_loopback() && auth.is_none() {
            return Err(format!(
                "--web: {bind} is reachable from other machines; add --web-auth USER:PASSWORD, or bind 127.0.0.1"
            ));
        }
        let autoquit = match s.get("autoquit") {
            Some(a) => parse_autoquit(&a.value).map_err(|e| format!("{}: {e}", a.origin))?,
            None => None,
        };
        Ok(Some(WebOptions {
            bind,
            auth,
            autostart: self.is_true("autostart"),
            autoquit,
        }))
    }

    /// The exports asked for: `--metrics`, `--jsonl`, `--prometheus-remote-write`.
    pub fn exporters(&self) -> Result<Exporters, String> {
        let s = &self.settings;
        let mut out = Exporters::default();
        if let Some(auth) = s.get("web-auth") {
            let credentials =
                parse_credentials(&auth.value).map_err(|e| format!("{}: {e}", auth.origin))?;
            out.auth = Some(credentials);
        }
        if let Some(metrics) = s.get("metrics") {
            let bind = match metrics.value.trim() {
                "" => SocketAddr::from((Ipv4Addr::LOCALHOST, METRICS_PORT)),
                text => parse_bind(text, METRICS_PORT)
                    .map_err(|e| format!("{}: {e}", metrics.origin))?,
            };
            if !bind.ip().is_loopback() && out.auth.is_none() {
                return Err(format!(
                    "--metrics: {bind} is reachable from other machines; add --web-auth USER:PASSWORD, or bind 127.0.0.1"
                ));
            }
            out.metrics_bind = Some(bind);
        }
        if let Some(buckets) = s.get("metrics-buckets") {
            out.metrics.buckets_s =
                parse_buckets(&buckets.value).map_err(|e| format!("{}: {e}", buckets.origin))?;
        }
        if let Some(max) = s.get("metrics-max-endpoints") {
            out.metrics.max_endpoints = max
                .value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| (1..=100_000).contains(&n))
                .ok_or_else(|| {
                    format!(
                        "{}: '{}' is not a count from 1 to 100000",
                        max.origin, max.value
                    )
                })?;
        }
        out.metrics.worker_labels = self.is_true("metrics-worker-labels");
        if let Some(jsonl) = s.get("jsonl") {
            let path = PathBuf::from(jsonl.value.trim());
            if path.as_os_str() == "-" && !self.is_true("quiet") {
                return Err(format!(
                    "{}: lines on standard output would mix with the tables; add --quiet",
                    jsonl.origin
                ));
            }
            out.jsonl = Some(path);
        }
        if let Some(url) = s.get("prometheus-remote-write") {
            let interval = self.duration("remote-write-interval", REMOTE_WRITE_INTERVAL)?;
            if interval < Duration::from_millis(100) {
                return Err("--remote-write-interval: at least 100ms".into());
            }
            let options = RemoteWriteOptions::parse(url.value.trim(), interval).map_err(|e| {
                let message = e.trim_start_matches("--prometheus-remote-write: ");
                format!("{}: {message}", url.origin)
            })?;
            out.remote_write = Some(options);
        } else if let Some(interval) = s.get("remote-write-interval") {
            return Err(format!(
                "{}: it paces --prometheus-remote-write; add that",
                interval.origin
            ));
        }
        let exporting =
            out.metrics_bind.is_some() || out.remote_write.is_some() || s.get("web").is_some();
        for key in [
            "metrics-buckets",
            "metrics-max-endpoints",
            "metrics-worker-labels",
        ] {
            if let (Some(setting), false) = (s.get(key), exporting) {
                return Err(format!(
                    "{}: it shapes --metrics, --web's /metrics or --prometheus-remote-write; add one",
                    setting.origin
                ));
            }
        }
        Ok(out)
    }

    /// `--processes N`: how to start the local worker processes, or `None`
    /// for a run in this process.
    pub fn local_spec(
        &self,
        coordinating: bool,
        cores: usize,
    ) -> Result<Option<LocalSpec>, String> {
        let Some(setting) = self.settings.get("processes") else {
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
        let threads =
            match self.settings.get("threads") {
                Some(s) => s.value.trim().parse::<usize>().map_err(|_| {
                    format!("{}: '{}' is not a number of shards", s.origin, s.value)
                })?,
                None => LocalSpec::default_threads(cores, processes),
            };
        Ok(Some(LocalSpec {
            processes,
            threads,
            io_driver: self.text("io-driver"),
            token: local::random_token(),
        }))
    }

    /// Refuses what a distributed run (coordinator or `--processes`) cannot
    /// do, naming the flag, before anything starts. `local` for `--processes`.
    pub fn check_distributed(&self, local: bool) -> Result<(), String> {
        if let Some(step) = self.settings.get("step-users") {
            return Err(format!(
                "{}: step load is not supported in distributed runs; write it as --stages",
                step.origin
            ));
        }
        if !local {
            for key in ["threads", "io-driver"] {
                if let Some(setting) = self.settings.get(key) {
                    return Err(format!(
                        "{}: each worker runs its own shards; give --{key} to `stampede worker`",
                        setting.origin
                    ));
                }
            }
        }
        Ok(())
    }

    /// `--processes`' coordinator: loopback with a fresh token; the
    /// coordinator's own choices (`--on-worker-loss`, `--wait-timeout`)
    /// apply; where it listens and who joins are not the user's to set.
    pub fn local_coordinator(
        &self,
        mut options: CoordinatorOptions,
    ) -> Result<CoordinatorOptions, String> {
        for key in [
            "bind",
            "token",
            "expect-workers",
            "master-bind-host",
            "master-bind-port",
        ] {
            if let Some(setting) = self.settings.get(key) {
                if key == "token" && matches!(setting.origin, super::Origin::Env(_)) {
                    continue;
                }
                return Err(format!(
                    "{}: --processes starts its own workers on loopback with a fresh token; \
                     use `stampede coordinator` to choose where workers join",
                    setting.origin
                ));
            }
        }
        if let Some(loss) = self.settings.get("on-worker-loss") {
            options.on_loss =
                OnWorkerLoss::parse(&loss.value).map_err(|e| format!("{}: {e}", loss.origin))?;
        }
        options.wait_timeout = self.duration("wait-timeout", options.wait_timeout)?;
        Ok(options)
    }

    /// Warnings for keys only a coordinator reads (Locust's `expect-workers`
    /// and `master-bind-*` among them) given to a run that is not one: the
    /// run ignores them, and must not leave the user waiting for workers it
    /// never asks for. Call for a run without `--processes` that is not a
    /// coordinator (`--processes` refuses the keys it cannot use).
    pub fn ignored_coordinator_keys(&self) -> Vec<String> {
        const COORDINATOR_KEYS: &[&str] = &[
            "expect-workers",
            "master-bind-host",
            "master-bind-port",
            "bind",
            "wait-timeout",
            "on-worker-loss",
        ];
        COORDINATOR_KEYS
            .iter()
            .filter_map(|key| self.settings.get(key))
            .map(|setting| {
                format!(
                    "{}: only a coordinator reads it (`stampede coordinator`, or `master = true` in \
                     a config file); this run is not one and sends its load itself, so it is ignored",
                    setting.origin
                )
            })
            .collect()
    }

    /// Locust's flags that stampede has no use for: refused with the
    /// equivalent when they would change what a user expects, otherwise
    /// noted on stderr. Keys from a conf file are listed in its warning.
    pub fn check_locust_flags(&self) -> Result<(), String> {
        let from_flag = |key: &str| {
            self.settings
                .get(key)
                .filter(|s| matches!(s.origin, super::settings::Origin::Flag(_)))
        };
        if from_flag("logfile").is_some() {
            return Err(
                "--logfile: stampede writes its warnings and errors to stderr; redirect it (2> FILE)"
                    .into(),
            );
        }
        if from_flag("reset-stats").is_some() {
            return Err(
                "--reset-stats: stampede's reports cover the whole run; to leave the \
                        ramp-up out, run the steady load alone (--stages, or -u with a fast \
                        --spawn-rate) and judge it with thresholds after --abort-delay \
                        (docs/locust.md)"
                    .into(),
            );
        }
        if let Some(level) = from_flag("loglevel") {
            let hint = if level.value.eq_ignore_ascii_case("debug") {
                "; --http-debug prints requests and responses"
            } else {
                ""
            };
            eprintln!(
                "note: --loglevel: stampede has no log levels: errors and warnings always print, \
                 -q silences the rest{hint}"
            );
        }
        if from_flag("class-picker").is_some() {
            eprintln!(
                "note: --class-picker: the web UI always offers the scenario's classes and weights"
            );
        }
        Ok(())
    }

    /// Refuses web and export flags that would do nothing here, naming them.
    pub fn check_web_flags(
        &self,
        web: Option<&WebOptions>,
        exporters: &Exporters,
    ) -> Result<(), String> {
        let s = &self.settings;
        let serving = web.is_some() || exporters.metrics_bind.is_some();
        if let (Some(auth), false) = (s.get("web-auth"), serving) {
            return Err(format!(
                "{}: it protects --web or --metrics; add one",
                auth.origin
            ));
        }
        if let (Some(web), true) = (s.get("web"), self.is_true("headless")) {
            return Err(format!(
                "{}: --headless runs without the web UI; drop one of them",
                web.origin
            ));
        }
        if let Some(autoquit) = s.get("autoquit") {
            let autostarted = web.is_some_and(|w| w.autostart);
            let headless_metrics = web.is_none() && exporters.metrics_bind.is_some();
            if !autostarted && !headless_metrics {
                return Err(format!(
                    "{}: it ends the process after an --autostart test (with --web) or keeps --metrics up after the run",
                    autoquit.origin
                ));
            }
        }
        Ok(())
    }

    /// Refuses the web UI and export flags in `stampede capacity` (a search
    /// of many short runs, reported at the end).
    pub fn check_capacity(&self) -> Result<(), String> {
        const KEYS: &[&str] = &[
            "web",
            "web-host",
            "web-port",
            "web-auth",
            "autostart",
            "autoquit",
            "metrics",
            "jsonl",
            "prometheus-remote-write",
        ];
        for key in KEYS {
            if let Some(setting) = self.settings.get(key) {
                return Err(format!(
                    "{}: not available in a capacity search",
                    setting.origin
                ));
            }
        }
        Ok(())
    }

    /// The coordinator's options: `--expect-workers`, `--bind` (or Locust's
    /// `master-bind-host` / `master-bind-port`), `--wait-timeout`, `--token`
    /// (or `STAMPEDE_TOKEN`), `--on-worker-loss`.
    pub fn coordinator(&self) -> Result<CoordinatorOptions, String> {
        let s = &self.settings;
        let expect = match s.get("expect-workers") {
            Some(e) => e
                .value
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("{}: invalid worker count '{}'", e.origin, e.value))?,
            None => 1,
        };
        if expect == 0 {
            return Err("--expect-workers: must be at least 1".into());
        }
        let bind = match self.text("bind") {
            Some(bind) => bind,
            None => {
                let host = self
                    .text("master-bind-host")
                    .map_or("0.0.0.0".into(), |h| h.replace('*', "0.0.0.0"));
                let port = self
                    .text("master-bind-port")
                    .unwrap_or(COORDINATOR_PORT.into());
                format!("{host}:{port}")
            }
        };
        let bind: std::net::SocketAddr = bind
            .parse()
            .map_err(|_| format!("--bind: '{bind}' is not an IP:PORT address"))?;
        let token = self.text("token").filter(|t| !t.is_empty());
        if token.is_none() && !bind.ip().is_loopback() {
            return Err(format!(
                "--bind: {bind} is reachable from other machines and there is no token; \
                 set one with --token or STAMPEDE_TOKEN (the same on every worker), or bind 127.0.0.1"
            ));
        }
        let on_loss = match s.get("on-worker-loss") {
            Some(o) => OnWorkerLoss::parse(&o.value).map_err(|e| format!("{}: {e}", o.origin))?,
            None => OnWorkerLoss::Continue,
        };
        Ok(CoordinatorOptions {
            bind,
            expect_workers: expect,
            token,
            wait_timeout: self.duration("wait-timeout", Duration::from_secs(60))?,
            on_loss,
        })
    }

    /// A worker's options: `--coordinator HOST:PORT` (or Locust's
    /// `master-host` / `master-port`), `--token`, `--threads`, `--io-driver`,
    /// `--connect-timeout`.
    pub fn worker(&self) -> Result<WorkerOptions, String> {
        let coordinator = self.text("coordinator").or_else(|| {
            // Locust's worker defaults to a master on this machine.
            let locust_conf = self.is_true("worker") || self.settings.get("master-port").is_some();
            let host = self
                .text("master-host")
                .or_else(|| locust_conf.then(|| "127.0.0.1".to_string()))?;
            let port = self.text("master-port").unwrap_or(COORDINATOR_PORT.into());
            Some(format!("{host}:{port}"))
        });
        let coordinator = coordinator.ok_or("--coordinator: give the coordinator's HOST:PORT")?;
        let threads = match self.settings.get("threads") {
            Some(t) => Some(
                t.value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| {
                        format!("{}: '{}' is not a number of shards", t.origin, t.value)
                    })?,
            ),
            None => None,
        };
        let token = self.text("token").filter(|t| !t.is_empty());
        if token.is_none() {
            check_loopback(&coordinator)?;
        }
        let tls = ["insecure", "cacert", "cert", "key"]
            .into_iter()
            .filter_map(|key| Some((key, self.settings.get(key)?.value.clone())))
            .collect();
        Ok(WorkerOptions {
            tls,
            accept_coordinator_tls: self.is_true("accept-coordinator-tls"),
            coordinator,
            token,
            threads,
            io_driver: self.text("io-driver"),
            connect_timeout: self.duration("connect-timeout", Duration::from_secs(60))?,
        })
    }

    /// The trimmed text of `key`, if set.
    fn text(&self, key: &str) -> Option<String> {
        self.settings.get(key).map(|s| s.value.trim().to_string())
    }

    /// `key` as a duration, or `default` when unset.
    fn duration(&self, key: &str, default: Duration) -> Result<Duration, String> {
        match self.settings.get(key) {
            Some(s) => parse_duration(&s.value).map_err(|e| format!("{}: {e}", s.origin)),
            None => Ok(default),
        }
    }
}

/// Without a token a worker joins only a coordinator on this machine:
/// refuses `coordinator` when it names (or resolves to) any other address.
/// A name that does not resolve yet passes; the worker checks again at
/// each connect.
pub fn check_loopback(coordinator: &str) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let Ok(addrs) = coordinator.to_socket_addrs() else {
        return Ok(());
    };
    match addrs.into_iter().find(|a| !a.ip().is_loopback()) {
        Some(addr) => Err(format!(
            "--coordinator: {coordinator} ({}) is not this machine's loopback and there is no token; \
             set the coordinator's token with --token or STAMPEDE_TOKEN",
            addr.ip()
        )),
        None => Ok(()),
    }
}

/// True when `key` is set to a true value (or given bare, as a flag).
pub fn is_true(settings: &Settings, key: &str) -> bool {
    settings
        .get(key)
        .is_some_and(|s| matches!(s.value.trim(), "true" | "1" | "yes" | "on" | ""))
}

/// `HOST:PORT`, `:PORT`, `PORT` or `HOST` (then `default_port`); IPv6 in brackets.
pub fn parse_bind(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let port = text.strip_prefix(':').unwrap_or(text);
    if port.bytes().all(|b| b.is_ascii_digit()) {
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("'{text}' is not a port"))?;
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    let host = text.trim_matches(['[', ']']);
    match host {
        "localhost" => Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, default_port))),
        _ => host
            .parse::<IpAddr>()
            .map(|ip| SocketAddr::new(ip, default_port))
            .map_err(|_| format!("'{text}' is not an address (use HOST:PORT, :PORT or PORT)")),
    }
}

/// `USER:PASSWORD`, both non-empty.
fn parse_credentials(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => {
            Ok((user.to_string(), password.to_string()))
        }
        _ => Err("give USER:PASSWORD, both non-empty".into()),
    }
}

/// Locust's `--autoquit SECONDS` (a duration here too); negative means never.
fn parse_autoquit(text: &str) -> Result<Option<Duration>, String> {
    if text.trim().starts_with('-') {
        return Ok(None);
    }
    parse_duration(text).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn loaded(pairs: &[(&'static str, &str)]) -> Loaded {
        let mut settings = Settings::default();
        for (key, value) in pairs {
            settings.flag(key, *value);
        }
        Loaded {
            settings,
            scenario: None,
        }
    }

    /// `--web` binds loopback 8089 by default; Locust's keys move it; a
    /// non-loopback address needs credentials.
    #[test]
    fn web_options_bind_loopback_unless_authenticated() {
        assert!(loaded(&[]).web().unwrap().is_none());
        let web = loaded(&[("web", "")]).web().unwrap().unwrap();
        assert_eq!(web.bind, addr("127.0.0.1:8089"));
        let web = loaded(&[("web", ":9000")]).web().unwrap().unwrap();
        assert_eq!(web.bind, addr("127.0.0.1:9000"));
        let web = loaded(&[("web-port", "9001")]).web().unwrap().unwrap();
        assert_eq!(web.bind.port(), 9001);
        assert!(loaded(&[("web-port", "9001"), ("headless", "true")])
            .web()
            .unwrap()
            .is_none());
        let err = loaded(&[("web", "0.0.0.0:8089")]).web().unwrap_err();
        assert!(err.contains("--web-auth"), "{err}");
        let web = loaded(&[("web", "0.0.0.0:8089"), ("web-auth", "a:b")])
            .web()
            .unwrap()
            .unwrap();
        assert_eq!(web.auth, Some(("a".into(), "b".into())));
        assert!(loaded(&[("web", ""), ("web-auth", "nocolon")])
            .web()
            .is_err());
        assert!(loaded(&[("autostart", "")]).web().is_err());
    }

    /// A Locust master's keys in a run that is not a coordinator are named
    /// in a warning each, with where they came from; a plain run has none.
    #[test]
    fn coordinator_keys_outside_a_coordinator_are_warned_about() {
        assert!(loaded(&[("users", "3")])
            .ignored_coordinator_keys()
            .is_empty());
        let mut settings = Settings::default();
        settings.file(
            Path::new("master.conf"),
            "users = 3\nexpect-workers = 3\nmaster-bind-port = 5557\n",
        );
        let warnings = Loaded {
            settings,
            scenario: None,
        }
        .ignored_coordinator_keys();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with(
                "master.conf, line 2, key 'expect-workers': only a coordinator reads it"
            ),
            "{warnings:?}"
        );
        assert!(warnings[1].starts_with("master.conf, line 3, key 'master-bind-port'"));
        assert!(warnings[0].ends_with("so it is ignored"));
    }

    /// Bind addresses in every accepted spelling.
    #[test]
    fn bind_addresses_parse() {
        assert_eq!(parse_bind("8090", 1).unwrap(), addr("127.0.0.1:8090"));
        assert_eq!(parse_bind("[::1]:80", 1).unwrap(), addr("[::1]:80"));
        assert_eq!(parse_bind("::1", 7).unwrap(), addr("[::1]:7"));
        assert_eq!(parse_bind("localhost", 7).unwrap(), addr("127.0.0.1:7"));
        assert!(parse_bind("nowhere:x", 7).is_err());
    }
}
