//! `RunConfig`: the validated, unit-typed, immutable description of a run.
//!
//! Settings arrive as text from three sources, each tagged with where it came
//! from so an error can name it: command-line flags, `STAMPEDE_<KEY>`
//! environment variables, and a config file of Locust-style `key = value`
//! lines. Precedence is flag > env > file. This module parses and validates
//! them all in one place; clap lives in `cli.rs`, which only collects text.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::http::stream::ConnSettings;
use crate::http::tls::{self, TlsOptions};
use crate::http::Limits;
use crate::report::thresholds::{parse_thresholds, Threshold};
use crate::runtime::IoDriver;

/// A setting's value and where it came from.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The raw text.
    pub value: String,
    /// Where it was given, for error messages.
    pub origin: Origin,
}

/// Where a setting was given.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A command-line flag, e.g. `--users`.
    Flag(&'static str),
    /// An environment variable.
    Env(String),
    /// A line of a config file.
    File {
        path: PathBuf,
        line: usize,
        key: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "{flag}"),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::File { path, line, key } => {
                write!(f, "{}, line {line}, key '{key}'", path.display())
            }
        }
    }
}

/// A setting that could not be used, naming its flag, variable or file line.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    /// Where the bad value was given (or the flag that is missing).
    pub origin: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    fn new(origin: impl fmt::Display, message: impl Into<String>) -> Self {
        ConfigError {
            origin: origin.to_string(),
            message: message.into(),
        }
    }
}

/// How a key is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyUse {
    /// stampede uses it.
    Used,
    /// A known Locust key stampede accepts but does not act on yet.
    Ignored,
}

/// Every key accepted in config files and `STAMPEDE_` variables, with its flag.
const KEYS: &[(&str, &str, KeyUse)] = &[
    ("scenario", "--scenario", KeyUse::Used),
    ("host", "--host", KeyUse::Used),
    ("path", "--path", KeyUse::Used),
    ("method", "--method", KeyUse::Used),
    ("header", "--header", KeyUse::Used),
    ("body", "--body", KeyUse::Used),
    ("users", "--users", KeyUse::Used),
    ("spawn-rate", "--spawn-rate", KeyUse::Used),
    ("run-time", "--run-time", KeyUse::Used),
    ("iterations", "--iterations", KeyUse::Used),
    ("rate", "--rate", KeyUse::Used),
    ("max-in-flight", "--max-in-flight", KeyUse::Used),
    ("stages", "--stages", KeyUse::Used),
    ("rate-stages", "--rate-stages", KeyUse::Used),
    ("step-users", "--step-users", KeyUse::Used),
    ("step-time", "--step-time", KeyUse::Used),
    ("calibrate", "--calibrate", KeyUse::Used),
    ("threads", "--threads", KeyUse::Used),
    ("io-driver", "--io-driver", KeyUse::Used),
    ("insecure", "--insecure", KeyUse::Used),
    ("cacert", "--cacert", KeyUse::Used),
    ("cert", "--cert", KeyUse::Used),
    ("key", "--key", KeyUse::Used),
    ("source-ips", "--source-ips", KeyUse::Used),
    ("pipeline", "--pipeline", KeyUse::Used),
    ("resolve", "--resolve", KeyUse::Used),
    ("dns-ttl", "--dns-ttl", KeyUse::Used),
    ("max-connecting", "--max-connecting", KeyUse::Used),
    ("allow-low-fd-limit", "--allow-low-fd-limit", KeyUse::Used),
    ("timeout", "--timeout", KeyUse::Used),
    ("stop-timeout", "--stop-timeout", KeyUse::Used),
    ("json", "--json", KeyUse::Used),
    ("save-run", "--save-run", KeyUse::Used),
    ("print-interval", "--print-interval", KeyUse::Used),
    ("only-summary", "--only-summary", KeyUse::Used),
    ("quiet", "--quiet", KeyUse::Used),
    ("abort-on-fail", "--abort-on-fail", KeyUse::Used),
    ("abort-delay", "--abort-delay", KeyUse::Used),
    ("headless", "--headless", KeyUse::Used),
    ("html", "--html", KeyUse::Used),
    ("csv", "--csv", KeyUse::Used),
    ("csv-full-history", "--csv-full-history", KeyUse::Used),
    ("threshold", "--threshold", KeyUse::Used),
    ("locustfile", "--locustfile", KeyUse::Ignored),
    ("master", "--master", KeyUse::Used),
    ("worker", "--worker", KeyUse::Used),
    ("expect-workers", "--expect-workers", KeyUse::Used),
    ("master-host", "--master-host", KeyUse::Used),
    ("master-port", "--master-port", KeyUse::Used),
    ("master-bind-host", "--master-bind-host", KeyUse::Used),
    ("master-bind-port", "--master-bind-port", KeyUse::Used),
    ("web-host", "--web-host", KeyUse::Ignored),
    ("web-port", "--web-port", KeyUse::Ignored),
    ("autostart", "--autostart", KeyUse::Ignored),
    ("autoquit", "--autoquit", KeyUse::Ignored),
    ("loglevel", "--loglevel", KeyUse::Ignored),
    ("logfile", "--logfile", KeyUse::Ignored),
    (
        "exit-code-on-error",
        "--exit-code-on-error",
        KeyUse::Ignored,
    ),
    ("tags", "--tags", KeyUse::Ignored),
];

/// The canonical key for `key`, if it is one stampede knows.
pub fn known_key(key: &str) -> Option<&'static str> {
    KEYS.iter().find(|(k, _, _)| *k == key).map(|(k, _, _)| *k)
}

/// The flag that sets `key`, for messages.
fn flag_of(key: &str) -> &'static str {
    KEYS.iter()
        .find(|(k, _, _)| *k == key)
        .map_or("--?", |(_, flag, _)| flag)
}

/// All settings of a run, layered by precedence; the first source to set a key wins.
#[derive(Debug, Default)]
pub struct Settings {
    /// Canonical key (`spawn-rate`) to its setting.
    values: BTreeMap<&'static str, Setting>,
    /// Warnings about ignored or unknown keys, shown before the run.
    pub warnings: Vec<String>,
}

impl Settings {
    /// Adds a command-line flag value (highest precedence; call first).
    pub fn flag(&mut self, key: &'static str, value: impl Into<String>) {
        let setting = Setting {
            value: value.into(),
            origin: Origin::Flag(flag_of(key)),
        };
        self.values.entry(key).or_insert(setting);
    }

    /// Adds every `STAMPEDE_<KEY>` variable from `vars` not already set by a flag.
    pub fn env(&mut self, vars: impl IntoIterator<Item = (String, String)>) {
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix("STAMPEDE_") else {
                continue;
            };
            let key = rest.to_ascii_lowercase().replace('_', "-");
            match KEYS.iter().find(|(k, _, _)| *k == key) {
                Some((key, _, use_)) => {
                    self.note_ignored(key, *use_, &name);
                    let setting = Setting {
                        value,
                        origin: Origin::Env(name),
                    };
                    self.values.entry(key).or_insert(setting);
                }
                None => self
                    .warnings
                    .push(format!("ignoring unknown environment variable {name}")),
            }
        }
    }

    /// Adds run settings a scenario file sets, (key, value, line), not already set.
    pub fn scenario(&mut self, path: &Path, entries: Vec<(&'static str, String, usize)>) {
        for (key, value, line) in entries {
            let origin = Origin::File {
                path: path.to_path_buf(),
                line,
                key: key.replace('-', "_"),
            };
            self.values.entry(key).or_insert(Setting { value, origin });
        }
    }

    /// Adds the keys of a Locust-style config file not already set.
    pub fn file(&mut self, path: &Path, text: &str) {
        for (index, raw) in text.lines().enumerate() {
            let line = strip_comment(raw).trim();
            if line.is_empty() || line.starts_with('[') {
                continue;
            }
            let origin_line = index + 1;
            let Some((key, value)) = line.split_once('=') else {
                self.warnings.push(format!(
                    "{}, line {origin_line}: ignoring a line without '='",
                    path.display()
                ));
                continue;
            };
            let key = key.trim().to_ascii_lowercase().replace('_', "-");
            let value = value.trim().trim_matches('"').to_string();
            match KEYS.iter().find(|(k, _, _)| *k == key) {
                Some((known, _, use_)) => {
                    self.note_ignored(
                        known,
                        *use_,
                        &format!("{}, line {origin_line}", path.display()),
                    );
                    let origin = Origin::File {
                        path: path.to_path_buf(),
                        line: origin_line,
                        key,
                    };
                    self.values
                        .entry(known)
                        .or_insert(Setting { value, origin });
                }
                None => self.warnings.push(format!(
                    "{}, line {origin_line}: ignoring unknown key '{key}'",
                    path.display()
                )),
            }
        }
    }

    fn note_ignored(&mut self, key: &str, use_: KeyUse, place: &str) {
        if use_ == KeyUse::Ignored {
            self.warnings.push(format!(
                "{place}: '{key}' is not supported by this version, ignored"
            ));
        }
    }

    /// Every setting as (key, text), after precedence.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        self.values
            .iter()
            .map(|(k, s)| (*k, s.value.clone()))
            .collect()
    }

    /// The setting for `key`, if any source gave it.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.values.get(key)
    }

    /// Parses `key` with `parse`, naming the origin on error.
    fn parsed<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(s) => parse(&s.value)
                .map(Some)
                .map_err(|m| ConfigError::new(&s.origin, m)),
        }
    }

    /// The origin of `key` for messages, or its flag when unset.
    fn origin(&self, key: &str) -> String {
        self.get(key)
            .map_or_else(|| flag_of(key).to_string(), |s| s.origin.to_string())
    }
}

/// Removes a `#` comment (also one after a value).
fn strip_comment(line: &str) -> &str {
    line.split_once('#').map_or(line, |(before, _)| before)
}

/// The load model of a run.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Load {
    /// N users, each sending its next request when the last one finished.
    Closed {
        /// Users at full ramp.
        users: u32,
        /// Users started per second; `None` starts them all at once.
        spawn_rate_per_s: Option<f64>,
    },
    /// Requests issued on a fixed schedule whatever the responses do.
    Open {
        /// Arrivals per second over all shards.
        rate_per_s: f64,
        /// Most requests in flight over all shards; arrivals beyond it are dropped.
        max_in_flight: u32,
    },
}

/// Where the requests go.
#[derive(Debug, Clone, Serialize)]
pub struct TargetUrl {
    /// The URL as given.
    pub url: String,
    /// `host[:port]` for the Host header.
    pub authority: String,
    /// Path and query of the request.
    pub path: String,
    /// Resolved socket address (resolved once at start).
    pub addr: SocketAddr,
    /// The address with the TLS server name for `https://` URLs.
    #[serde(skip)]
    pub origin: crate::http::Origin,
    /// `--resolve` overrides it was resolved with; scenario hosts use them too.
    #[serde(skip)]
    pub resolve: Vec<(String, Vec<std::net::IpAddr>)>,
}

/// A validated run.
#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    /// The scenario file, when the run has one.
    pub scenario: Option<PathBuf>,
    /// The target URL.
    pub target: TargetUrl,
    /// Request method.
    pub method: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Request body text.
    pub body: String,
    /// Closed or open loop.
    pub load: Load,
    /// Stop after this long; `None` runs until stopped (or `iterations`).
    #[serde(serialize_with = "serialize_opt_secs")]
    pub run_time: Option<Duration>,
    /// Stop after exactly this many requests in total.
    pub iterations: Option<u64>,
    /// Shards (pinned threads).
    pub threads: usize,
    /// Which I/O driver the shards should use.
    pub io_driver: IoDriver,
    /// Connect and request timeout.
    #[serde(serialize_with = "serialize_secs")]
    pub timeout: Duration,
    /// How long in-flight requests may take to finish at stop.
    #[serde(serialize_with = "serialize_secs")]
    pub stop_timeout: Duration,
    /// Where to write the JSON summary.
    pub json: Option<PathBuf>,
    /// Where to save the run (every merged snapshot and the run's facts) for `stampede report`/`compare`.
    pub save_run: Option<PathBuf>,
    /// Prefix of the Locust-style CSV files (`PREFIX_stats.csv`, ...).
    pub csv: Option<PathBuf>,
    /// Also write a stats-history row per endpoint and second, not only the Aggregated one.
    pub csv_full_history: bool,
    /// Keep every second's whole latency histogram instead of compacting old
    /// ones; a capacity step sets it to merge the seconds of its hold.
    #[serde(skip)]
    pub keep_exact_timeseries: bool,
    /// Pass/fail criteria judged at the end; any failing one makes the exit code 99.
    pub thresholds: Vec<Threshold>,
    /// Where to write the self-contained HTML report.
    pub html: Option<PathBuf>,
    /// How often the live table is printed.
    #[serde(serialize_with = "serialize_secs")]
    pub print_interval: Duration,
    /// Print only the final summary.
    pub only_summary: bool,
    /// Print nothing but errors, warnings and failed thresholds.
    pub quiet: bool,
    /// Stop the run as soon as a threshold fails (checked every second).
    pub abort_on_fail: bool,
    /// How long into the run `abort_on_fail` starts checking.
    #[serde(serialize_with = "serialize_secs")]
    pub abort_delay: Duration,
    /// Response size limits.
    #[serde(skip)]
    pub limits: Limits,
    /// TLS, source addresses and pipelining: how connections are made and used.
    #[serde(skip)]
    pub conn: ConnSettings,
    /// Local addresses connections are spread over (`--source-ips`).
    pub source_ips: Vec<std::net::IpAddr>,
    /// Requests in flight per connection (`--pipeline`); 1 is no pipelining.
    pub pipeline: u32,
    /// Re-resolve host names this often (`--dns-ttl`); `None` resolves once at start.
    #[serde(serialize_with = "serialize_opt_secs")]
    pub dns_ttl: Option<Duration>,
    /// Connects in flight per shard at most (`--max-connecting`).
    pub max_connecting: u32,
    /// Run even when the open-file limit is below what the run needs (`--allow-low-fd-limit`).
    pub allow_low_fd_limit: bool,
    /// Load shape (`--stages`, `--rate-stages`, step load): targets for users
    /// (closed loop) or the rate (open loop) over time; empty for a fixed load.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<crate::shape::Stage>,
    /// `--calibrate`: measure service time this long before the run and warn
    /// when the rate needs more connections than configured.
    #[serde(serialize_with = "serialize_opt_secs")]
    pub calibrate: Option<Duration>,
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn serialize_opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// Default in-flight cap for open-loop runs.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 1000;
/// Most shards a run may ask for.
pub const MAX_THREADS: usize = 1024;

impl RunConfig {
    /// Validates settings into a config; `cores` is the default shard count.
    pub fn from_settings(settings: &Settings, cores: usize) -> Result<RunConfig, ConfigError> {
        let host = settings.get("host").ok_or_else(|| {
            ConfigError::new(
                "--host",
                "a target URL is required, e.g. --host http://127.0.0.1:8080",
            )
        })?;
        let path = settings.parsed("path", parse_path)?;
        let resolve = settings
            .parsed("resolve", crate::http::dns::parse_overrides)?
            .unwrap_or_default();
        let target = parse_url_with(&host.value, path.as_deref(), &resolve)
            .map_err(|m| ConfigError::new(&host.origin, m))?;
        let users = settings
            .parsed("users", |v| parse_count(v, 1, 10_000_000))?
            .map(|n| n as u32);
        let rate = settings.parsed("rate", parse_rate)?;
        let spawn_rate = settings.parsed("spawn-rate", parse_rate)?;
        let max_in_flight = settings
            .parsed("max-in-flight", |v| parse_count(v, 1, 10_000_000))?
            .map(|n| n as u32);
        let load = match (users, rate) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    settings.origin("rate"),
                    format!(
                        "cannot be combined with {} (open loop has no fixed users)",
                        settings.origin("users")
                    ),
                ))
            }
            (_, Some(rate_per_s)) => {
                if spawn_rate.is_some() {
                    return Err(ConfigError::new(
                        settings.origin("spawn-rate"),
                        "applies to --users, not to --rate",
                    ));
                }
                Load::Open {
                    rate_per_s,
                    max_in_flight: max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
                }
            }
            (users, None) => {
                if max_in_flight.is_some() && settings.get("rate-stages").is_none() {
                    return Err(ConfigError::new(
                        settings.origin("max-in-flight"),
                        "applies to --rate (open loop) only",
                    ));
                }
                Load::Closed {
                    users: users.unwrap_or(1),
                    spawn_rate_per_s: spawn_rate,
                }
            }
        };
        let (load, stages) = load_shape(settings, load)?;
        let threads = settings.parsed("threads", |v| parse_count(v, 1, MAX_THREADS as u64))?;
        let threads = threads.map_or(cores.clamp(1, MAX_THREADS), |t| t as usize);
        let headers = match settings.get("header") {
            Some(s) => parse_headers(&s.value).map_err(|m| ConfigError::new(&s.origin, m))?,
            None => Vec::new(),
        };
        let method = settings
            .parsed("method", parse_method)?
            .unwrap_or_else(|| "GET".into());
        let tls_options = TlsOptions {
            insecure: settings.parsed("insecure", parse_bool)?.unwrap_or(false),
            cacert: settings.get("cacert").map(|s| PathBuf::from(&s.value)),
            cert: settings.get("cert").map(|s| PathBuf::from(&s.value)),
            key: settings.get("key").map(|s| PathBuf::from(&s.value)),
        };
        let tls_origin = ["cacert", "insecure", "cert", "key", "host"]
            .into_iter()
            .find(|k| settings.get(k).is_some());
        let tls_config = tls::client_config(&tls_options).map_err(|e| {
            ConfigError::new(settings.origin(tls_origin.unwrap_or("host")), e.to_string())
        })?;
        let source_ips = settings
            .parsed("source-ips", parse_source_ips)?
            .unwrap_or_default();
        let pipeline = settings
            .parsed("pipeline", |v| parse_count(v, 1, 1024))?
            .unwrap_or(1) as u32;
        if pipeline > 1 && settings.get("scenario").is_some() {
            return Err(ConfigError::new(
                settings.origin("pipeline"),
                "applies to single-URL runs, not to scenarios",
            ));
        }
        if pipeline > 1 && matches!(load, Load::Open { .. }) {
            return Err(ConfigError::new(
                settings.origin("pipeline"),
                "applies to --users (closed loop), not to --rate",
            ));
        }
        let max_connecting = settings
            .parsed("max-connecting", |v| parse_count(v, 1, 1_000_000))?
            .map_or(crate::http::dial::DEFAULT_MAX_CONNECTING, |n| n as u32);
        let conn = ConnSettings {
            tls: Some(tls_config),
            source_ips: source_ips.clone().into(),
            pipeline,
            max_connecting,
        };
        Ok(RunConfig {
            scenario: settings.get("scenario").map(|s| PathBuf::from(&s.value)),
            target,
            method,
            headers,
            body: settings
                .get("body")
                .map(|s| s.value.clone())
                .unwrap_or_default(),
            load,
            run_time: settings
                .parsed("run-time", parse_duration)?
                .or_else(|| (!stages.is_empty()).then(|| crate::shape::total_duration(&stages))),
            calibrate: settings.parsed("calibrate", parse_duration)?,
            stages,
            iterations: settings.parsed("iterations", |v| parse_count(v, 1, u64::MAX))?,
            threads,
            io_driver: settings
                .parsed("io-driver", IoDriver::parse)?
                .unwrap_or(IoDriver::Auto),
            timeout: settings
                .parsed("timeout", parse_duration)?
                .unwrap_or(Duration::from_secs(60)),
            stop_timeout: settings
                .parsed("stop-timeout", parse_duration)?
                .unwrap_or(Duration::from_secs(5)),
            json: settings.get("json").map(|s| PathBuf::from(&s.value)),
            save_run: settings.get("save-run").map(|s| PathBuf::from(&s.value)),
            csv: settings.get("csv").map(|s| PathBuf::from(&s.value)),
            csv_full_history: settings
                .parsed("csv-full-history", parse_bool)?
                .unwrap_or(false),
            keep_exact_timeseries: false,
            thresholds: settings
                .parsed("threshold", parse_thresholds)?
                .unwrap_or_default(),
            html: settings.get("html").map(|s| PathBuf::from(&s.value)),
            print_interval: settings
                .parsed("print-interval", parse_duration)?
                .unwrap_or(Duration::from_secs(2)),
            only_summary: settings
                .parsed("only-summary", parse_bool)?
                .unwrap_or(false),
            quiet: settings.parsed("quiet", parse_bool)?.unwrap_or(false),
            abort_on_fail: settings
                .parsed("abort-on-fail", parse_bool)?
                .unwrap_or(false),
            abort_delay: settings
                .parsed("abort-delay", parse_duration)?
                .unwrap_or(Duration::from_secs(5)),
            limits: Limits::default(),
            conn,
            source_ips,
            pipeline,
            dns_ttl: settings.parsed("dns-ttl", parse_duration)?,
            max_connecting,
            allow_low_fd_limit: settings
                .parsed("allow-low-fd-limit", parse_bool)?
                .unwrap_or(false),
        })
    }

    /// Connections the run may hold open at once.
    pub fn max_connections(&self) -> u64 {
        match self.load {
            Load::Closed { users, .. } => u64::from(users),
            Load::Open { max_in_flight, .. } => u64::from(max_in_flight),
        }
    }
}

/// Applies a load shape to the load the flags describe: `--stages` (users),
/// `--rate-stages` (rate) or `--step-users` with `--step-time` (users).
fn load_shape(
    settings: &Settings,
    load: Load,
) -> Result<(Load, Vec<crate::shape::Stage>), ConfigError> {
    use crate::shape;
    let stages = settings.parsed("stages", shape::parse_stages)?;
    let rate_stages = settings.parsed("rate-stages", shape::parse_stages)?;
    let step_users = settings.parsed("step-users", |v| parse_count(v, 1, 10_000_000))?;
    let step_time = settings.parsed("step-time", parse_duration)?;
    let conflict = |a: &str, b: &str| {
        Err(ConfigError::new(
            settings.origin(a),
            format!("cannot be combined with {}", settings.origin(b)),
        ))
    };
    let max_in_flight = match load {
        Load::Open { max_in_flight, .. } => max_in_flight,
        Load::Closed { .. } => settings
            .parsed("max-in-flight", |v| parse_count(v, 1, 10_000_000))?
            .map_or(DEFAULT_MAX_IN_FLIGHT, |n| n as u32),
    };
    if let Some(stages) = stages {
        for other in ["rate-stages", "step-users", "users", "rate", "spawn-rate"] {
            if settings.get(other).is_some() {
                return conflict("stages", other);
            }
        }
        let users = shape::users_for(shape::peak(&stages)).max(1);
        return Ok((
            Load::Closed {
                users,
                spawn_rate_per_s: None,
            },
            stages,
        ));
    }
    if let Some(stages) = rate_stages {
        for other in ["step-users", "users", "rate", "spawn-rate"] {
            if settings.get(other).is_some() {
                return conflict("rate-stages", other);
            }
        }
        let rate_per_s = shape::peak(&stages).max(f64::MIN_POSITIVE);
        return Ok((
            Load::Open {
                rate_per_s,
                max_in_flight,
            },
            stages,
        ));
    }
    match (step_users, step_time, &load) {
        (None, None, _) => Ok((load, Vec::new())),
        (
            Some(step),
            Some(step_time),
            Load::Closed {
                users,
                spawn_rate_per_s: None,
            },
        ) if settings.get("users").is_some() => Ok((
            load.clone(),
            shape::step_stages(step as u32, step_time, *users),
        )),
        (
            Some(_),
            Some(_),
            Load::Closed {
                spawn_rate_per_s: Some(_),
                ..
            },
        ) => conflict("step-users", "spawn-rate"),
        (Some(_), Some(_), _) => Err(ConfigError::new(
            settings.origin("step-users"),
            "needs --users (the most users to step up to) and applies to closed loop only",
        )),
        (Some(_), None, _) => Err(ConfigError::new(
            settings.origin("step-users"),
            "needs --step-time",
        )),
        (None, Some(_), _) => Err(ConfigError::new(
            settings.origin("step-time"),
            "needs --step-users",
        )),
    }
}

/// Parses a duration: `30s`, `2m`, `1h30m`, `250ms`, or bare seconds (`45`, `0.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || format!("invalid duration '{text}' (use e.g. 30s, 2m, 1h30m, 250ms)");
    if let Ok(seconds) = text.parse::<f64>() {
        return if seconds.is_finite() && seconds >= 0.0 && seconds < 1e9 {
            Ok(Duration::from_secs_f64(seconds))
        } else {
            Err(bad())
        };
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.checked_mul(60).ok_or_else(bad)?),
            "h" => Duration::from_secs(value.checked_mul(3600).ok_or_else(bad)?),
            "d" => Duration::from_secs(value.checked_mul(86_400).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        total = total.checked_add(unit).ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    if text.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

fn parse_count(text: &str, min: u64, max: u64) -> Result<u64, String> {
    let value: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid number '{text}'"))?;
    if value < min || value > max {
        return Err(format!("'{text}' must be between {min} and {max}"));
    }
    Ok(value)
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid rate '{text}'"))?;
    if !(value.is_finite() && value > 0.0 && value <= 1e9) {
        return Err(format!("rate '{text}' must be above 0 (per second)"));
    }
    Ok(value)
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" | "" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => Err(format!("invalid boolean '{text}' (use true or false)")),
    }
}

fn parse_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') || text.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "path '{text}' must start with '/' and contain no spaces"
        ));
    }
    Ok(text.to_string())
}

fn parse_method(text: &str) -> Result<String, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(format!("invalid method '{text}'"));
    }
    Ok(text.to_ascii_uppercase())
}

/// Parses headers given as `Name: value`, several separated by newlines.
fn parse_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("header '{line}' is not 'Name: value'"))?;
            let name = name.trim();
            let valid_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid_name || value.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err(format!("invalid header '{line}'"));
            }
            Ok((name.to_string(), value.trim().to_string()))
        })
        .collect()
}

/// Parses `--source-ips`: a range `127.0.0.2-127.0.0.50` (IPv4, last part
/// varying) and/or a comma-separated list of addresses.
fn parse_source_ips(text: &str) -> Result<Vec<std::net::IpAddr>, String> {
    use std::net::{IpAddr, Ipv4Addr};
    let mut ips = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || {
            format!(
                "invalid source address '{part}' (use e.g. 127.0.0.2-127.0.0.50 or a list a,b,c)"
            )
        };
        match part.split_once('-') {
            Some((from, to)) => {
                let from: Ipv4Addr = from.trim().parse().map_err(|_| bad())?;
                let to: Ipv4Addr = to.trim().parse().map_err(|_| bad())?;
                let (from, to) = (u32::from(from), u32::from(to));
                if to < from || to - from >= 65_536 {
                    return Err(bad());
                }
                ips.extend((from..=to).map(|n| IpAddr::V4(Ipv4Addr::from(n))));
            }
            None => ips.push(part.parse().map_err(|_| bad())?),
        }
    }
    if ips.is_empty() {
        return Err(format!("'{text}' names no source address"));
    }
    Ok(ips)
}

/// Parses `http[s]://host[:port][/path]`, resolving the host once.
pub fn parse_url(url: &str, path_override: Option<&str>) -> Result<TargetUrl, String> {
    parse_url_with(url, path_override, &[])
}

/// [`parse_url`] with `--resolve` overrides: a named host gets their addresses, not DNS's.
pub fn parse_url_with(
    url: &str,
    path_override: Option<&str>,
    resolve: &[(String, Vec<std::net::IpAddr>)],
) -> Result<TargetUrl, String> {
    let (rest, https) = if let Some(rest) = url.strip_prefix("http://") {
        (rest, false)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (rest, true)
    } else {
        return Err(format!("'{url}' is not an http:// or https:// URL"));
    };
    let (authority, url_path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') || authority.bytes().any(|b| b <= b' ') {
        return Err(format!("'{url}' has no valid host"));
    }
    let (host, port) =
        split_host_port(authority).ok_or_else(|| format!("'{url}' has an invalid port"))?;
    let port = if https && !authority.ends_with(&format!(":{port}")) {
        443
    } else {
        port
    };
    let addrs = crate::http::dns::HostAddrs::resolve(host, port, resolve)?;
    let addr = *addrs
        .current()
        .first()
        .ok_or_else(|| format!("'{host}' resolved to no address"))?;
    let path = match (path_override, url_path) {
        (Some(p), _) => p.to_string(),
        (None, "") => "/".to_string(),
        (None, p) if p.starts_with('?') => format!("/{p}"),
        (None, p) => p.to_string(),
    };
    let tls_name = if https {
        Some(tls::server_name(host)?)
    } else {
        None
    };
    let origin = crate::http::Origin {
        addr,
        addrs,
        tls_name,
    };
    let resolve = resolve.to_vec();
    Ok(TargetUrl {
        url: url.to_string(),
        authority: authority.to_string(),
        path,
        addr,
        origin,
        resolve,
    })
}

/// Splits `host:port`, `[v6]:port`, or a bare host (port 80).
fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, port.parse().ok()?)),
            None if after.is_empty() => Some((host, 80)),
            None => None,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Some((host, port.parse().ok()?)),
        Some(_) => None,
        None => Some((authority, 80)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&'static str, &str)]) -> Settings {
        let mut s = Settings::default();
        for (k, v) in pairs {
            s.flag(k, *v);
        }
        s
    }

    /// Durations parse in Locust's forms and reject nonsense.
    #[test]
    fn durations_table() {
        let ok: &[(&str, u64)] = &[
            ("30s", 30_000),
            ("2m", 120_000),
            ("1h30m", 5_400_000),
            ("250ms", 250),
            ("45", 45_000),
            ("0.5", 500),
        ];
        for (text, ms) in ok {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(*ms)),
                "{text}"
            );
        }
        for bad in ["", "s", "10x", "-1", "1h-3m", "m5", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    /// URLs resolve to an address, Host authority and path.
    #[test]
    fn urls_table() {
        let t = parse_url("http://127.0.0.1:8080/a/b?c=1", None).unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("127.0.0.1:8080", "/a/b?c=1")
        );
        assert_eq!(t.addr, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
        let t = parse_url("http://[::1]:9000", Some("/x")).unwrap();
        assert_eq!((t.addr.port(), t.path.as_str()), (9000, "/x"));
        assert_eq!(parse_url("http://localhost", None).unwrap().addr.port(), 80);
        for bad in [
            "127.0.0.1:80",
            "ftp://x",
            "http://",
            "http://h:99999",
            "http://:80",
            "http://a b",
        ] {
            assert!(parse_url(bad, None).is_err(), "{bad}");
        }
        let t = parse_url("https://127.0.0.1/a", None).unwrap();
        assert_eq!((t.addr.port(), t.origin.tls_name.is_some()), (443, true));
        assert_eq!(
            parse_url("https://127.0.0.1:8443", None)
                .unwrap()
                .addr
                .port(),
            8443
        );
    }

    /// Flags beat env, env beats the file; unknown keys warn; bad values name the line.
    #[test]
    fn precedence_and_file_errors() {
        let mut s = Settings::default();
        s.flag("users", "7");
        s.env(vec![
            ("STAMPEDE_USERS".to_string(), "8".to_string()),
            ("STAMPEDE_RUN_TIME".to_string(), "3s".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ]);
        let conf = "# Locust master.conf\nhost = http://127.0.0.1:1\nusers = 9\nrun-time = 9s  # comment\nweb-port = 8089\nfoo = bar\nspawn-rate = x\n";
        s.file(Path::new("master.conf"), conf);
        assert_eq!(s.get("users").unwrap().value, "7");
        assert_eq!(s.get("run-time").unwrap().value, "3s");
        assert!(s.warnings.iter().any(|w| w.contains("unknown key 'foo'")));
        assert!(s
            .warnings
            .iter()
            .any(|w| w.contains("'web-port' is not supported")));
        let err = RunConfig::from_settings(&s, 2).unwrap_err().to_string();
        assert_eq!(
            err,
            "master.conf, line 7, key 'spawn-rate': invalid rate 'x'"
        );
    }

    /// Thresholds and CSV settings parse from flags and files; a bad threshold names its origin and expression.
    #[test]
    fn thresholds_and_csv_settings() {
        let host = ("host", "http://127.0.0.1:1");
        let flags = [
            host,
            ("threshold", "p95 < 500ms\nerror_rate < 1%"),
            ("csv", "out/run"),
            ("csv-full-history", "true"),
        ];
        let c = RunConfig::from_settings(&settings(&flags), 2).unwrap();
        let texts: Vec<String> = c.thresholds.iter().map(|t| t.to_string()).collect();
        assert_eq!(texts, ["p95 < 500ms", "error_rate < 1%"]);
        assert_eq!(
            (c.csv, c.csv_full_history),
            (Some(PathBuf::from("out/run")), true)
        );
        let c = RunConfig::from_settings(&settings(&[host]), 2).unwrap();
        assert!(c.thresholds.is_empty() && c.csv.is_none() && !c.csv_full_history);
        let err = RunConfig::from_settings(&settings(&[host, ("threshold", "p95 <> 5ms")]), 2)
            .unwrap_err();
        assert_eq!(err.to_string().lines().count(), 1);
        assert!(
            err.to_string()
                .starts_with("--threshold: invalid threshold 'p95 <> 5ms'"),
            "{err}"
        );
        let mut s = Settings::default();
        s.file(
            Path::new("ci.conf"),
            "host = http://127.0.0.1:1\nthreshold = \"GET /a\": p95 < 40ms; rps >> 5\n",
        );
        let err = RunConfig::from_settings(&s, 2).unwrap_err().to_string();
        assert!(
            err.starts_with("ci.conf, line 2, key 'threshold': invalid threshold 'rps >> 5'"),
            "{err}"
        );
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    /// Contradictory or empty load settings are refused with the flag named.
    #[test]
    fn load_validation() {
        let host = ("host", "http://127.0.0.1:1");
        let err = RunConfig::from_settings(&settings(&[host, ("users", "5"), ("rate", "10")]), 2)
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--rate: cannot be combined with --users"),
            "{err}"
        );
        let err = RunConfig::from_settings(&settings(&[host, ("users", "0")]), 2).unwrap_err();
        assert!(err.to_string().starts_with("--users:"), "{err}");
        let err = RunConfig::from_settings(&settings(&[("users", "3")]), 2).unwrap_err();
        assert!(err.to_string().starts_with("--host:"), "{err}");
        let c = RunConfig::from_settings(&settings(&[host, ("rate", "100")]), 2).unwrap();
        assert_eq!(
            c.load,
            Load::Open {
                rate_per_s: 100.0,
                max_in_flight: DEFAULT_MAX_IN_FLIGHT
            }
        );
        assert_eq!(c.threads, 2);
        let c = RunConfig::from_settings(&settings(&[host, ("header", "X-A: 1\nAccept: */*")]), 2)
            .unwrap();
        assert_eq!(c.headers.len(), 2);
        assert!(RunConfig::from_settings(&settings(&[host, ("header", "bad header")]), 2).is_err());
    }

    /// `html` in a Locust config file sets the report path, with no warning.
    #[test]
    fn html_key_sets_the_report_path() {
        let mut s = settings(&[("host", "http://127.0.0.1:1")]);
        s.file(Path::new("locust.conf"), "html = out/report.html\n");
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let c = RunConfig::from_settings(&s, 1).unwrap();
        assert_eq!(c.html, Some(PathBuf::from("out/report.html")));
    }

    /// `save-run` from a file or `STAMPEDE_SAVE_RUN` sets the run file, with no warning.
    #[test]
    fn save_run_key_sets_the_run_file() {
        let mut s = settings(&[("host", "http://127.0.0.1:1")]);
        s.env(vec![(
            "STAMPEDE_SAVE_RUN".to_string(),
            "env.run".to_string(),
        )]);
        s.file(Path::new("ci.conf"), "save-run = out/base.run\n");
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let c = RunConfig::from_settings(&s, 1).unwrap();
        assert_eq!(c.save_run, Some(PathBuf::from("env.run")));
        let c = RunConfig::from_settings(&settings(&[("host", "http://127.0.0.1:1")]), 1).unwrap();
        assert_eq!(c.save_run, None);
    }
}
