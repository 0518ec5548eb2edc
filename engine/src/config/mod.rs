//! `RunConfig`: the validated, unit-typed, immutable description of a run.
//!
//! Settings arrive as text from three sources, each tagged with where it came
//! from so an error can name it: command-line flags, `STAMPEDE_<KEY>`
//! environment variables, and a config file of Locust-style `key = value`
//! lines. Precedence is flag > env > file. This module parses and validates
//! them all in one place; clap lives in `cli.rs`, which only collects text.

pub mod load;
pub mod s3;
mod settings;
mod values;

pub use load::{is_true, load, Exporters, Loaded};
pub use settings::{known_key, ConfigError, Origin, Setting, Settings};
use values::*;
pub use values::{parse_duration, parse_size, parse_url, parse_url_with, split_authority};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::http::stream::ConnSettings;
use crate::http::tls::{self, TlsOptions};
use crate::http::Limits;
use crate::report::thresholds::{parse_thresholds, Threshold};
use crate::shard::runtime::IoDriver;

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
    /// Most bytes of a response body kept for checks and extractors
    /// (`--max-body-capture`); a longer body fails the check that needed it.
    pub max_body_capture: usize,
    /// Run even when the open-file limit is below what the run needs (`--allow-low-fd-limit`).
    pub allow_low_fd_limit: bool,
    /// Every request asks for compressed responses (`--compressed`).
    pub compressed: bool,
    /// Redirects followed per request at most (`--max-redirects`); 0 follows none.
    pub max_redirects: u32,
    /// Exchanges printed to stderr at the start of the run (`--http-debug`).
    pub http_debug: u32,
    /// `--aws-sigv4`: every request is signed (scope and keys; the keys are
    /// never serialized into reports).
    #[serde(skip)]
    pub signing: Option<std::sync::Arc<crate::http::sigv4::SigningConfig>>,
    /// `--aws-sigv4`'s scope as given, for reports.
    pub aws_sigv4: Option<String>,
    /// `--aws-sign-payload`: bodies are hashed into signatures, the run's
    /// and a scenario's `aws_sigv4` alike.
    pub aws_sign_payload: bool,
    /// The run is an object workload (the hidden run setting
    /// `object-report`, set by `stampede s3`): reports add a table in
    /// object terms, and error responses are read for S3 error codes.
    pub object_report: bool,
    /// Only scenario tasks with one of these tags run (`--tags`, Locust's `-T`).
    pub tags: Vec<String>,
    /// Scenario tasks with one of these tags do not run (`--exclude-tags`, `-E`).
    pub exclude_tags: Vec<String>,
    /// Exit with this status when any request failed (Locust's `--exit-code-on-error`).
    pub exit_code_on_error: Option<u8>,
    /// Longest pause of a closed-loop user after failed connects in a row
    /// (`--connect-backoff`, doubling from 10 ms); zero for none.
    pub connect_backoff: Duration,
    /// Load shape (`--stages`, `--rate-stages`, step load): targets for users
    /// (closed loop) or the rate (open loop) over time; empty for a fixed load.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<crate::run::shape::Stage>,
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

/// `--aws-sigv4`'s signing: the scope parsed, the keys read from the
/// environment or the shared credentials file (never from a flag).
fn signing_config(
    settings: &Settings,
) -> Result<Option<std::sync::Arc<crate::http::sigv4::SigningConfig>>, ConfigError> {
    use crate::http::sigv4::{Credentials, SignatureLocation, SigningConfig};
    let query = settings
        .parsed("aws-sigv4-mode", |mode| match mode.trim() {
            "header" => Ok(false),
            "query" => Ok(true),
            _ => Err(format!(
                "'{mode}': give header (the Authorization header) or query (a presigned URL)"
            )),
        })?
        .unwrap_or(false);
    let expires_s = settings.parsed("aws-sigv4-expires", |text| {
        text.trim()
            .parse::<u32>()
            .ok()
            .filter(|s| (1..=SignatureLocation::EXPIRES_S_MAX).contains(s))
            .ok_or_else(|| {
                format!(
                    "'{text}': give whole seconds from 1 to {} (seven days)",
                    SignatureLocation::EXPIRES_S_MAX
                )
            })
    })?;
    let Some((region, service)) = settings.parsed("aws-sigv4", SigningConfig::parse_scope)? else {
        for key in ["aws-sigv4-mode", "aws-sigv4-expires"] {
            if let Some(setting) = settings.get(key) {
                return Err(ConfigError::new(
                    &setting.origin,
                    "it needs --aws-sigv4 aws:amz:REGION:SERVICE, which is not given",
                ));
            }
        }
        return Ok(None);
    };
    let sign_payload = settings
        .parsed("aws-sign-payload", parse_bool)?
        .unwrap_or(false);
    let location = match (query, expires_s) {
        (true, expires_s) => SignatureLocation::Query {
            expires_s: expires_s.unwrap_or(SignatureLocation::EXPIRES_S_DEFAULT),
        },
        (false, None) => SignatureLocation::Headers,
        (false, Some(_)) => {
            return Err(ConfigError::new(
                &settings.get("aws-sigv4-expires").expect("given").origin,
                "X-Amz-Expires belongs to a presigned URL: add --aws-sigv4-mode query",
            ))
        }
    };
    if query && sign_payload && service == "s3" {
        return Err(ConfigError::new(
            &settings.get("aws-sign-payload").expect("given").origin,
            "a presigned S3 URL carries UNSIGNED-PAYLOAD (--aws-sigv4-mode query): drop one of them",
        ));
    }
    let credentials = settings.parsed("aws-sigv4", |_| Credentials::from_environment())?;
    Ok(credentials.map(|credentials| {
        std::sync::Arc::new(SigningConfig {
            region,
            service,
            credentials,
            sign_payload,
            location,
        })
    }))
}

/// Tags from a flag or a Locust conf: `a,b`, `a b` or `[a, b]`.
fn parse_tags(text: &str) -> Vec<String> {
    text.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split([',', ' '])
        .map(|t| t.trim().trim_matches(['"', '\'']).to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Redirects followed per request by default, as Locust's clients (and browsers) do.
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;
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
        if pipeline > 1 && settings.get("aws-sigv4").is_some() {
            return Err(ConfigError::new(
                settings.origin("pipeline"),
                "copies one request, and --aws-sigv4 signs each: drop one of them",
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
        let max_body_capture = settings
            .parsed("max-body-capture", |v| parse_size(v, 1 << 30))?
            .map_or(crate::scenario::compile::BODY_CAPTURE_LIMIT, |n| n as usize);
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
            run_time: settings.parsed("run-time", parse_duration)?.or_else(|| {
                (!stages.is_empty()).then(|| crate::run::shape::total_duration(&stages))
            }),
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
            // The JSON summary on stdout (`--json -`) leaves stdout to it alone.
            quiet: settings.parsed("quiet", parse_bool)?.unwrap_or(false)
                || settings.get("json").is_some_and(|s| s.value == "-"),
            abort_on_fail: settings
                .parsed("abort-on-fail", parse_bool)?
                .unwrap_or(false),
            abort_delay: settings
                .parsed("abort-delay", parse_duration)?
                .unwrap_or(Duration::from_secs(5)),
            limits: Limits {
                read_timeout: settings
                    .parsed("read-timeout", parse_duration)?
                    .filter(|d| !d.is_zero()),
                ..Limits::default()
            },
            conn,
            source_ips,
            pipeline,
            dns_ttl: settings.parsed("dns-ttl", parse_duration)?,
            max_connecting,
            max_body_capture,
            allow_low_fd_limit: settings
                .parsed("allow-low-fd-limit", parse_bool)?
                .unwrap_or(false),
            connect_backoff: settings
                .parsed("connect-backoff", parse_duration)?
                .unwrap_or(Duration::from_secs(1)),
            compressed: settings.parsed("compressed", parse_bool)?.unwrap_or(false),
            http_debug: settings
                .parsed("http-debug", |v| parse_count(v, 0, 10_000))?
                .map_or(0, |n| n as u32),
            signing: signing_config(settings)?,
            aws_sigv4: settings.get("aws-sigv4").map(|s| s.value.clone()),
            aws_sign_payload: settings
                .parsed("aws-sign-payload", parse_bool)?
                .unwrap_or(false),
            object_report: settings
                .parsed("object-report", parse_bool)?
                .unwrap_or(false),
            tags: settings
                .get("tags")
                .map(|s| parse_tags(&s.value))
                .unwrap_or_default(),
            exclude_tags: settings
                .get("exclude-tags")
                .map(|s| parse_tags(&s.value))
                .unwrap_or_default(),
            max_redirects: settings
                .parsed("max-redirects", |v| parse_count(v, 0, 100))?
                .map_or(DEFAULT_MAX_REDIRECTS, |n| n as u32),
            exit_code_on_error: settings.parsed("exit-code-on-error", |v| {
                v.trim()
                    .parse::<u8>()
                    .map_err(|_| format!("'{v}' is not an exit status from 0 to 255"))
            })?,
        })
    }

    /// The options that change how a scenario's requests are compiled.
    pub fn request_options(&self) -> crate::scenario::compile::RequestOptions {
        crate::scenario::compile::RequestOptions {
            compressed: self.compressed,
            tags: self.tags.clone(),
            exclude_tags: self.exclude_tags.clone(),
            sign_payload: self.aws_sign_payload,
        }
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
) -> Result<(Load, Vec<crate::run::shape::Stage>), ConfigError> {
    use crate::run::shape;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn settings(pairs: &[(&'static str, &str)]) -> Settings {
        let mut s = Settings::default();
        for (k, v) in pairs {
            s.flag(k, *v);
        }
        s
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
