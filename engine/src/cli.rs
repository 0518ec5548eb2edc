//! Command-line flags (clap). Flags are collected as text into
//! [`Settings`]; parsing and validation happen in `config`, so a bad value
//! gets the same message whether it came from a flag, a variable or a file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
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
    /// Shards (pinned threads); default: one per core.
    #[arg(long)]
    pub threads: Option<String>,
    /// I/O driver: auto, uring or epoll.
    #[arg(long)]
    pub io_driver: Option<String>,
    /// Connect and request timeout; default 60s.
    #[arg(long)]
    pub timeout: Option<String>,
    /// Time in-flight requests get to finish at stop; default 5s.
    #[arg(long)]
    pub stop_timeout: Option<String>,
    /// Write the JSON summary (schema stampede.summary/1) here.
    #[arg(long)]
    pub json: Option<PathBuf>,
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
    /// Accepted for Locust compatibility; stampede is always headless.
    #[arg(long)]
    pub headless: bool,
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
            ("threads", &self.threads),
            ("io-driver", &self.io_driver),
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
        if let Some(scenario) = &self.scenario {
            s.flag("scenario", scenario.display().to_string());
        }
        if let Some(json) = &self.json {
            s.flag("json", json.display().to_string());
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
        s
    }
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
