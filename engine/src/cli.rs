//! Command-line flags (clap). Flags are collected as text into
//! [`Settings`]; parsing and validation happen in `config`, so a bad value
//! gets the same message whether it came from a flag, a variable or a file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use stampede_engine::config::s3::S3Flags;
use stampede_engine::config::Settings;

/// stampede: HTTP load generation at the per-core speed of wrk.
#[derive(Parser, Debug)]
#[command(name = "stampede", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; without one, the flags describe a run.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of `stampede run`, accepted without the word `run` too.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a load test against --host.
    Run(RunArgs),
    /// Run a 10 s, 50-user test against an embedded stampede-target.
    Demo(DemoArgs),
    /// Render the reports of a run saved with --save-run, as the live run would have.
    Report(ReportArgs),
    /// Compare two saved runs per endpoint; exits 98 when RUN regressed beyond --tolerance.
    Compare(CompareArgs),
    /// Drive workers: wait for --expect-workers, split the run, merge their stats, write the reports.
    Coordinator(CoordinatorArgs),
    /// Join a coordinator and run the share it sends (no scenario file needed).
    Worker(WorkerArgs),
    /// Find the most users or req/s the target sustains within an SLO (steps, then bisection).
    Capacity(CapacityArgs),
    /// Object workloads against an S3 endpoint: put, get, mixed, list or delete (docs/s3.md).
    S3(Box<S3Args>),
}

/// Flags of `stampede s3`: the workload, then every run flag (and the
/// coordinator's, to run it on workers with --expect-workers).
#[derive(Args, Debug)]
pub struct S3Args {
    /// put, get, mixed, list or delete.
    #[arg(value_name = "put|get|mixed|list|delete")]
    pub op: String,
    /// The S3 endpoint, e.g. http://127.0.0.1:9000.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The bucket (it must exist).
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,
    /// Signing region (scope aws:amz:REGION:s3); default us-east-1.
    #[arg(long, value_name = "R")]
    pub region: Option<String>,
    /// Send unsigned requests (public buckets).
    #[arg(long)]
    pub anonymous: bool,
    /// path (http://host/bucket/key, the default) or virtual (http://bucket.host/key).
    #[arg(long, value_name = "path|virtual")]
    pub addressing: Option<String>,
    /// Distinct keys; default 1000.
    #[arg(long, value_name = "N")]
    pub objects: Option<String>,
    /// Object size: 4KiB (default), LO..HI (uniform) or LO..HI:log (log-uniform).
    #[arg(long, value_name = "S")]
    pub size: Option<String>,
    /// Key prefix; default "stampede/" (keys are PREFIX obj-000042).
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// Ranged GETs of LEN bytes at a fixed offset per key (expects 206).
    #[arg(long, value_name = "LEN")]
    pub range: Option<String>,
    /// Task weights of `mixed`, e.g. get=60,put=30,delete=5,list=5 (the default).
    #[arg(long, value_name = "OP=W,...")]
    pub mix: Option<String>,
    /// Objects of one --size of at least this are uploaded in parts of this size; default 64MiB.
    #[arg(long, value_name = "S")]
    pub part_size: Option<String>,
    /// Seed of the sizes and range offsets; default 1.
    #[arg(long, value_name = "N")]
    pub seed: Option<String>,
    /// Skip uploading the objects before get, delete, list and mixed.
    #[arg(long)]
    pub no_prepare: bool,
    /// Delete the run's keys after the reports are written.
    #[arg(long)]
    pub cleanup: bool,
    /// Print the generated scenario (TOML) and exit.
    #[arg(long)]
    pub print_scenario: bool,
    /// Every run flag, and --expect-workers/--bind/--token to run on workers.
    #[command(flatten)]
    pub coordinator: CoordinatorArgs,
}

impl S3Args {
    /// The workload's own flags, as text for `config::s3`.
    pub fn flags(&self) -> S3Flags {
        S3Flags {
            op: self.op.clone(),
            endpoint: self.endpoint.clone(),
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            anonymous: self.anonymous,
            addressing: self.addressing.clone(),
            objects: self.objects.clone(),
            size: self.size.clone(),
            prefix: self.prefix.clone(),
            range: self.range.clone(),
            mix: self.mix.clone(),
            part_size: self.part_size.clone(),
            seed: self.seed.clone(),
            no_prepare: self.no_prepare,
            cleanup: self.cleanup,
            print_scenario: self.print_scenario,
        }
    }
}

/// Flags of `stampede capacity`: the run flags (target, threads, scenario...) plus the search.
#[derive(Args, Debug)]
pub struct CapacityArgs {
    /// Latency objective(s) every step must meet, e.g. 'p95<2s' or 'p95<200ms,p99<1s'.
    #[arg(long)]
    pub slo: String,
    /// Highest share of failed requests a step may have, e.g. 1%; default 1%.
    #[arg(long)]
    pub max_error_rate: Option<String>,
    /// What to raise: users (closed loop) or rate (open loop).
    #[arg(long, default_value = "users")]
    pub mode: String,
    /// First level; default 10 users or 100 req/s.
    #[arg(long)]
    pub start: Option<f64>,
    /// Added per step; default the start level.
    #[arg(long)]
    pub step: Option<f64>,
    /// Highest level tried; default 10000 users or 1000000 req/s.
    #[arg(long)]
    pub max: Option<f64>,
    /// How long each step holds (the first second is warm-up and not judged).
    #[arg(long, default_value = "30s")]
    pub hold: String,
    /// Most bisection steps between the last passing and first failing level.
    #[arg(long, default_value_t = 6)]
    pub bisect: u32,
    /// Bisection stops when the gap is below this share of the passing level.
    #[arg(long, default_value = "2%")]
    pub precision: String,
    /// Every run flag: --host, --threads, --scenario, --max-in-flight, --json, --html ...
    #[command(flatten)]
    pub run: RunArgs,
}

/// Flags of `stampede coordinator`: every run flag, plus who to wait for.
#[derive(Args, Debug)]
pub struct CoordinatorArgs {
    /// Workers to wait for before starting.
    #[arg(long)]
    pub expect_workers: Option<usize>,
    /// Address to listen on for workers; default 0.0.0.0:5557 (Locust's master port).
    #[arg(long)]
    pub bind: Option<String>,
    /// Shared secret workers must present (or STAMPEDE_TOKEN).
    #[arg(long, env = "STAMPEDE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// How long to wait for the workers; default 60s.
    #[arg(long)]
    pub wait_timeout: Option<String>,
    /// When a worker is lost mid-run: continue (default), rebalance its load over the others, or abort.
    #[arg(long, value_name = "continue|rebalance|abort")]
    pub on_worker_loss: Option<String>,
    /// The run, as for `stampede run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Flags of `stampede worker`.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The coordinator, HOST:PORT.
    #[arg(long)]
    pub coordinator: Option<String>,
    /// Shared secret (or STAMPEDE_TOKEN).
    #[arg(long, env = "STAMPEDE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Shards for this worker; default one per core.
    #[arg(long)]
    pub threads: Option<usize>,
    /// I/O driver: auto, uring or epoll.
    #[arg(long)]
    pub io_driver: Option<String>,
    /// How long to keep trying to reach the coordinator; default 60s.
    #[arg(long)]
    pub connect_timeout: Option<String>,
    /// Locust-style config file (worker = true, master-host, master-port).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Skip TLS certificate verification (this worker's own choice: the
    /// coordinator's TLS settings apply only with --accept-coordinator-tls).
    #[arg(long)]
    pub insecure: bool,
    /// CA certificate (PEM) this worker trusts for HTTPS targets.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<String>,
    /// Client certificate (PEM) this worker presents.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<String>,
    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "FILE")]
    pub key: Option<String>,
    /// Take the coordinator's TLS settings (--insecure, --cacert, --cert,
    /// --key) instead of this worker's own.
    #[arg(long)]
    pub accept_coordinator_tls: bool,
}

/// Flags describing a run. Each also reads from `STAMPEDE_<KEY>` and config files.
#[derive(Args, Debug, Default)]
pub struct RunArgs {
    /// Scenario file (TOML, see docs/scenario.md); without one, every user requests --host.
    #[arg(short = 'f', long = "scenario", value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Target URL, e.g. http://127.0.0.1:8080 (path allowed).
    #[arg(short = 'H', long)]
    pub host: Option<String>,
    /// Request path (overrides the URL's), e.g. /api/items?id=1.
    #[arg(long)]
    pub path: Option<String>,
    /// Request method.
    #[arg(short = 'X', long)]
    pub method: Option<String>,
    /// Extra request header 'Name: value' (repeatable).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// Request body (sent with Content-Length).
    #[arg(long)]
    pub body: Option<String>,
    /// Concurrent users (closed loop); default 1.
    #[arg(short = 'u', long)]
    pub users: Option<String>,
    /// Users started per second; default: all at once.
    #[arg(short = 'r', long)]
    pub spawn_rate: Option<String>,
    /// Stop after this long, e.g. 30s, 2m, 1h30m; default: until Ctrl-C or --iterations.
    #[arg(short = 't', long)]
    pub run_time: Option<String>,
    /// Stop after exactly this many requests in total.
    #[arg(short = 'n', long)]
    pub iterations: Option<String>,
    /// Open loop: requests per second over all threads (instead of --users).
    #[arg(long)]
    pub rate: Option<String>,
    /// Open loop: most requests in flight; arrivals beyond it are dropped. Default 1000.
    #[arg(long)]
    pub max_in_flight: Option<String>,
    /// Load shape for users: piecewise-linear 'DURATION:USERS,...', e.g. '30s:100,1m:100,30s:0'.
    #[arg(long)]
    pub stages: Option<String>,
    /// Load shape for the open-loop rate: 'DURATION:RATE,...', e.g. '10s:500,30s:500,10s:0'.
    #[arg(long)]
    pub rate_stages: Option<String>,
    /// Step load: add this many users every --step-time, up to --users.
    #[arg(long)]
    pub step_users: Option<String>,
    /// Step load: how long each step holds.
    #[arg(long)]
    pub step_time: Option<String>,
    /// Measure the target's service time first (default 5s) and warn when the rate needs more connections than configured.
    #[arg(long, value_name = "DURATION", num_args = 0..=1, default_missing_value = "5s")]
    pub calibrate: Option<String>,
    /// Shards (pinned threads); default: one per core (per process with --processes).
    #[arg(long)]
    pub threads: Option<String>,
    /// I/O driver: auto, uring or epoll.
    #[arg(long)]
    pub io_driver: Option<String>,
    /// Run as N worker processes on this machine under one coordinator (each
    /// has its own open-file limit); one merged report, as a single run.
    #[arg(long, value_name = "N")]
    pub processes: Option<String>,
    /// HTTPS: skip certificate verification (testing only: anyone can impersonate the target).
    #[arg(long)]
    pub insecure: bool,
    /// HTTPS: trust the CA certificates in this PEM file instead of the built-in Mozilla roots.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// HTTPS: client certificate chain (PEM), with --key.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// HTTPS: client private key (PEM), with --cert.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Local addresses to connect from, in turn: a range 127.0.0.2-127.0.0.50 and/or a list a,b,c.
    #[arg(long, value_name = "IPS")]
    pub source_ips: Option<String>,
    /// HTTP/1.1 pipelining: requests each user keeps in flight on its connection (single-URL runs).
    #[arg(long, value_name = "N")]
    pub pipeline: Option<String>,
    /// Use these addresses for a host name instead of DNS, like curl's: NAME:ADDR[,ADDR...]; repeatable.
    #[arg(long, value_name = "NAME:ADDRS")]
    pub resolve: Vec<String>,
    /// Re-resolve host names this often (e.g. 30s); default: resolve once at start.
    #[arg(long, value_name = "DURATION")]
    pub dns_ttl: Option<String>,
    /// Connects in flight per shard at most, so fast ramps are no connect storm; default 256.
    #[arg(long, value_name = "N")]
    pub max_connecting: Option<String>,
    /// Most bytes of a response body kept for checks and extractors, e.g. 64KiB, 4MiB; default 1MiB.
    #[arg(long, value_name = "SIZE")]
    pub max_body_capture: Option<String>,
    /// Start even when the open-file limit cannot be raised to what the run needs.
    #[arg(long)]
    pub allow_low_fd_limit: bool,
    /// Connect and request timeout; default 60s.
    #[arg(long)]
    pub timeout: Option<String>,
    /// Fail a request when the server sends nothing for this long while it is awaited (per read, as Locust's clients); default off.
    #[arg(long, value_name = "DURATION")]
    pub read_timeout: Option<String>,
    /// Ask for compressed responses (Accept-Encoding: gzip, deflate, br, zstd), as curl's --compressed.
    #[arg(long)]
    pub compressed: bool,
    /// Locust's log level: stampede has none (errors and warnings always print; -q silences the rest).
    #[arg(short = 'L', long, value_name = "LEVEL")]
    pub loglevel: Option<String>,
    /// Locust's log file: refused (stampede's messages go to stderr: redirect it).
    #[arg(long, value_name = "FILE")]
    pub logfile: Option<String>,
    /// Locust's stats reset after ramp-up: refused (see docs/locust.md for the equivalent).
    #[arg(long)]
    pub reset_stats: bool,
    /// Locust's class picker: the web UI always offers the scenario's classes and weights.
    #[arg(long)]
    pub class_picker: bool,
    /// Sign every request with AWS Signature V4 for this scope, aws:amz:REGION:SERVICE (curl's and oha's form); keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN or AWS_PROFILE's ~/.aws/credentials.
    #[arg(long, value_name = "aws:amz:REGION:SERVICE")]
    pub aws_sigv4: Option<String>,
    /// With --aws-sigv4 for S3: hash request bodies into the signature instead of UNSIGNED-PAYLOAD.
    #[arg(long)]
    pub aws_sign_payload: bool,
    /// With --aws-sigv4: put the signature in the Authorization header (header, the default) or in the query string as a presigned URL does (query).
    #[arg(long, value_name = "header|query")]
    pub aws_sigv4_mode: Option<String>,
    /// With --aws-sigv4-mode query: X-Amz-Expires, how long the presigned URL is valid, in seconds (1 to 604800; default 3600).
    #[arg(long, value_name = "SECONDS")]
    pub aws_sigv4_expires: Option<String>,
    /// Run only the scenario tasks with one of these tags (Locust's -T/--tags).
    #[arg(short = 'T', long, value_name = "TAG", num_args = 1.., value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Do not run the scenario tasks with one of these tags (Locust's -E/--exclude-tags).
    #[arg(short = 'E', long, value_name = "TAG", num_args = 1.., value_delimiter = ',')]
    pub exclude_tags: Vec<String>,
    /// Print the first N requests and responses (heads, bodies up to 1 KiB, credentials masked) to stderr; N defaults to 10.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "10")]
    pub http_debug: Option<String>,
    /// Redirects followed per request at most; 0 does not follow; default 10.
    #[arg(long, value_name = "N")]
    pub max_redirects: Option<String>,
    /// Time in-flight requests get to finish at stop; default 5s.
    #[arg(long)]
    pub stop_timeout: Option<String>,
    /// Write the JSON summary (schema stampede.summary/1) here; `-` or no FILE: to stdout, instead of the console's tables (Locust's --json).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    pub json: Option<PathBuf>,
    /// Save the run (every per-second histogram and the run's facts) here, for `stampede report` and `compare`.
    #[arg(long, value_name = "FILE")]
    pub save_run: Option<PathBuf>,
    /// Write Locust-style CSV files PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv, PREFIX_exceptions.csv.
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// With --csv: a stats-history row per endpoint and second, not only the Aggregated one.
    #[arg(long)]
    pub csv_full_history: bool,
    /// Pass/fail criterion, e.g. 'p95 < 500ms', 'error_rate < 1%', '"GET /api": p99 < 1s' (repeatable); any failing exits 99.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Write the HTML report (one self-contained file with charts) here.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// How often the live table prints; default 2s.
    #[arg(long)]
    pub print_interval: Option<String>,
    /// Print only the final summary.
    #[arg(long)]
    pub only_summary: bool,
    /// Print nothing but errors, warnings and failed thresholds (reports still written).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Stop the run early once a threshold fails (checked every second after --abort-delay).
    #[arg(long)]
    pub abort_on_fail: bool,
    /// When --abort-on-fail starts checking; default 5s.
    #[arg(long)]
    pub abort_delay: Option<String>,
    /// No web UI even when a conf file sets web-host/web-port (Locust's flag); runs are headless unless --web.
    #[arg(long)]
    pub headless: bool,
    /// Serve the web UI and control API on ADDR (HOST:PORT, :PORT or PORT); without ADDR 127.0.0.1:8089.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "")]
    pub web: Option<String>,
    /// HTTP basic auth USER:PASSWORD for the web UI; required to bind a non-loopback address.
    #[arg(long, value_name = "USER:PASSWORD")]
    pub web_auth: Option<String>,
    /// With --web: start the test at once with these flags' load (Locust's --autostart).
    #[arg(long)]
    pub autostart: bool,
    /// Longest pause of a user after failed connects in a row (doubling from 10ms; 0 for none); default 1s.
    #[arg(long, value_name = "DURATION")]
    pub connect_backoff: Option<String>,
    /// Exit with this status when any request failed (Locust's flag; by default failures alone exit 0, as in k6).
    #[arg(long, value_name = "STATUS")]
    pub exit_code_on_error: Option<String>,
    /// With --web --autostart: exit this long after the test ends (Locust's --autoquit); with --metrics alone: keep /metrics up this long after the run.
    #[arg(long, value_name = "SECONDS")]
    pub autoquit: Option<String>,
    /// Scenario class weights for this run, NAME=WEIGHT,... (as the web form's class weights).
    #[arg(long, value_name = "NAME=W,...")]
    pub class_weights: Option<String>,
    /// Serve Prometheus /metrics on ADDR without the web UI (with --web, /metrics is on the UI's address too); without ADDR 127.0.0.1:9646.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "")]
    pub metrics: Option<String>,
    /// Latency histogram bounds for /metrics and remote write, e.g. 5ms,25ms,100ms,1s.
    #[arg(long, value_name = "BOUNDS")]
    pub metrics_buckets: Option<String>,
    /// Endpoints with series of their own in /metrics; the rest are summed as __other__ (default 500).
    #[arg(long, value_name = "N")]
    pub metrics_max_endpoints: Option<String>,
    /// On a coordinator: per-worker series (requests, users) in /metrics.
    #[arg(long)]
    pub metrics_worker_labels: bool,
    /// Write one JSON line per second of the run to FILE (- for stdout).
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<String>,
    /// Push metrics with Prometheus remote write to URL (http://host:port/api/v1/write) every --remote-write-interval and at the end.
    #[arg(long, value_name = "URL")]
    pub prometheus_remote_write: Option<String>,
    /// How often remote write pushes (default 5s).
    #[arg(long, value_name = "DURATION")]
    pub remote_write_interval: Option<String>,
    /// Config file of Locust-style 'key = value' lines; default ./stampede.conf if present.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl RunArgs {
    /// The flags given, as settings of highest precedence.
    pub fn settings(&self) -> Settings {
        let mut s = Settings::default();
        let text = [
            ("host", &self.host),
            ("path", &self.path),
            ("method", &self.method),
            ("body", &self.body),
            ("users", &self.users),
            ("spawn-rate", &self.spawn_rate),
            ("run-time", &self.run_time),
            ("iterations", &self.iterations),
            ("rate", &self.rate),
            ("max-in-flight", &self.max_in_flight),
            ("stages", &self.stages),
            ("rate-stages", &self.rate_stages),
            ("step-users", &self.step_users),
            ("step-time", &self.step_time),
            ("calibrate", &self.calibrate),
            ("threads", &self.threads),
            ("io-driver", &self.io_driver),
            ("processes", &self.processes),
            ("source-ips", &self.source_ips),
            ("pipeline", &self.pipeline),
            ("dns-ttl", &self.dns_ttl),
            ("max-connecting", &self.max_connecting),
            ("max-body-capture", &self.max_body_capture),
            ("read-timeout", &self.read_timeout),
            ("max-redirects", &self.max_redirects),
            ("http-debug", &self.http_debug),
            ("timeout", &self.timeout),
            ("stop-timeout", &self.stop_timeout),
            ("print-interval", &self.print_interval),
        ];
        for (key, value) in text {
            if let Some(value) = value {
                s.flag(key, value.clone());
            }
        }
        if !self.headers.is_empty() {
            s.flag("header", self.headers.join("\n"));
        }
        if !self.resolve.is_empty() {
            s.flag("resolve", self.resolve.join("\n"));
        }
        if let Some(scenario) = &self.scenario {
            s.flag("scenario", scenario.display().to_string());
        }
        if self.allow_low_fd_limit {
            s.flag("allow-low-fd-limit", "true");
        }
        if self.insecure {
            s.flag("insecure", "true");
        }
        for (key, path) in [
            ("cacert", &self.cacert),
            ("cert", &self.cert),
            ("key", &self.key),
        ] {
            if let Some(path) = path {
                s.flag(key, path.display().to_string());
            }
        }
        if let Some(json) = &self.json {
            s.flag("json", json.display().to_string());
        }
        if let Some(save_run) = &self.save_run {
            s.flag("save-run", save_run.display().to_string());
        }
        if let Some(csv) = &self.csv {
            s.flag("csv", csv.display().to_string());
        }
        if self.csv_full_history {
            s.flag("csv-full-history", "true");
        }
        if !self.thresholds.is_empty() {
            s.flag("threshold", self.thresholds.join("\n"));
        }
        if let Some(html) = &self.html {
            s.flag("html", html.display().to_string());
        }
        if self.only_summary {
            s.flag("only-summary", "true");
        }
        if self.quiet {
            s.flag("quiet", "true");
        }
        if self.abort_on_fail {
            s.flag("abort-on-fail", "true");
        }
        if let Some(delay) = &self.abort_delay {
            s.flag("abort-delay", delay.clone());
        }
        if self.headless {
            s.flag("headless", "true");
        }
        if self.autostart {
            s.flag("autostart", "true");
        }
        if self.compressed {
            s.flag("compressed", "true");
        }
        if !self.tags.is_empty() {
            s.flag("tags", self.tags.join(","));
        }
        if let Some(scope) = &self.aws_sigv4 {
            s.flag("aws-sigv4", scope.clone());
        }
        if self.aws_sign_payload {
            s.flag("aws-sign-payload", "true");
        }
        if let Some(mode) = &self.aws_sigv4_mode {
            s.flag("aws-sigv4-mode", mode.clone());
        }
        if let Some(expires) = &self.aws_sigv4_expires {
            s.flag("aws-sigv4-expires", expires.clone());
        }
        if self.reset_stats {
            s.flag("reset-stats", "true");
        }
        if self.class_picker {
            s.flag("class-picker", "true");
        }
        if let Some(level) = &self.loglevel {
            s.flag("loglevel", level.clone());
        }
        if let Some(file) = &self.logfile {
            s.flag("logfile", file.clone());
        }
        if !self.exclude_tags.is_empty() {
            s.flag("exclude-tags", self.exclude_tags.join(","));
        }
        if self.metrics_worker_labels {
            s.flag("metrics-worker-labels", "true");
        }
        for (key, value) in [
            ("web", &self.web),
            ("web-auth", &self.web_auth),
            ("autoquit", &self.autoquit),
            ("exit-code-on-error", &self.exit_code_on_error),
            ("connect-backoff", &self.connect_backoff),
            ("class-weights", &self.class_weights),
            ("metrics", &self.metrics),
            ("metrics-buckets", &self.metrics_buckets),
            ("metrics-max-endpoints", &self.metrics_max_endpoints),
            ("jsonl", &self.jsonl),
            ("prometheus-remote-write", &self.prometheus_remote_write),
            ("remote-write-interval", &self.remote_write_interval),
        ] {
            if let Some(value) = value {
                s.flag(key, value.clone());
            }
        }
        s
    }
}

impl CoordinatorArgs {
    /// The run's flags plus the coordinator's, as settings of highest precedence.
    pub fn settings(&self) -> Settings {
        let mut s = self.run.settings();
        if let Some(expect) = self.expect_workers {
            s.flag("expect-workers", expect.to_string());
        }
        for (key, value) in [
            ("bind", &self.bind),
            ("token", &self.token),
            ("wait-timeout", &self.wait_timeout),
            ("on-worker-loss", &self.on_worker_loss),
        ] {
            if let Some(value) = value {
                s.flag(key, value.clone());
            }
        }
        s
    }
}

impl WorkerArgs {
    /// The worker's flags as settings of highest precedence.
    pub fn settings(&self) -> Settings {
        let mut s = Settings::default();
        if let Some(threads) = self.threads {
            s.flag("threads", threads.to_string());
        }
        for (key, set) in [
            ("insecure", self.insecure),
            ("accept-coordinator-tls", self.accept_coordinator_tls),
        ] {
            if set {
                s.flag(key, "true");
            }
        }
        for (key, value) in [
            ("coordinator", &self.coordinator),
            ("token", &self.token),
            ("io-driver", &self.io_driver),
            ("connect-timeout", &self.connect_timeout),
            ("cacert", &self.cacert),
            ("cert", &self.cert),
            ("key", &self.key),
        ] {
            if let Some(value) = value {
                s.flag(key, value.clone());
            }
        }
        s
    }
}

/// Flags of `stampede report`: a saved run and the reports to render from it.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run file written by --save-run.
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// Write the HTML report here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write Locust-style CSV files PREFIX_stats.csv, ... (see `run --csv`).
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// With --csv: a stats-history row per endpoint and second.
    #[arg(long)]
    pub csv_full_history: bool,
    /// Write the JSON summary here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Judge the run by this criterion instead of its own thresholds (repeatable); any failing exits 99.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Print nothing but errors, warnings and failed thresholds.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Flags of `stampede compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The reference run: a run file (--save-run) or a JSON summary (--json).
    #[arg(value_name = "BASE")]
    pub base: PathBuf,
    /// The run judged against BASE, in the same forms.
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// Largest change that is no regression: percent of BASE for req/s and latency, percentage points for the error rate.
    #[arg(long, value_name = "PERCENT", default_value = "10%")]
    pub tolerance: String,
}

/// Flags of `stampede demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Users.
    #[arg(short = 'u', long, default_value = "50")]
    pub users: String,
    /// Run time.
    #[arg(short = 't', long, default_value = "10s")]
    pub run_time: String,
    /// Where to write the JSON summary.
    #[arg(long, default_value = "stampede-demo.json")]
    pub json: PathBuf,
    /// Shards for stampede; default: one per core.
    #[arg(long)]
    pub threads: Option<String>,
    /// I/O driver: auto, uring or epoll.
    #[arg(long)]
    pub io_driver: Option<String>,
}
