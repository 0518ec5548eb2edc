//! What the server is asked to run: `TargetConfig`, the `IoDriver` choice and
//! the hand-written command-line parser that builds them (reading the
//! `--accounts` file on the way). Validation happens here, once; the server
//! itself trusts a `TargetConfig` it is given except for the thread limit and
//! the account list, which `Target::start` re-checks for library callers.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::str::FromStr;

use crate::accounts::{self, AccountsError};
use crate::delay::Delay;

/// The most shard threads one server may run; more is a configuration mistake.
pub const THREADS_MAX: usize = 1024;

/// The environment variable that picks the I/O driver when `--io-driver` is absent.
pub const IO_DRIVER_ENV: &str = "STAMPEDE_IO_DRIVER";

/// Which monoio driver the shards run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IoDriver {
    /// io_uring when the kernel allows it, epoll otherwise.
    #[default]
    Auto,
    /// io_uring only; starting fails if the ring cannot be built.
    Uring,
    /// The epoll-based legacy driver.
    Epoll,
}

impl IoDriver {
    /// The lower-case name used on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            IoDriver::Auto => "auto",
            IoDriver::Uring => "uring",
            IoDriver::Epoll => "epoll",
        }
    }
}

impl fmt::Display for IoDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for IoDriver {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "auto" => Ok(IoDriver::Auto),
            "uring" | "io_uring" | "io-uring" => Ok(IoDriver::Uring),
            "epoll" | "legacy" => Ok(IoDriver::Epoll),
            _ => Err(()),
        }
    }
}

/// How to run a server: where to listen, how many shards, which driver, who may log in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetConfig {
    /// The address to bind; port 0 picks a free port (read it back with `Target::local_addr`).
    pub listen: SocketAddr,
    /// Shard threads, one runtime each, pinned to cores round-robin.
    pub threads: usize,
    /// The I/O driver every shard tries to run.
    pub io_driver: IoDriver,
    /// (username, password) pairs the music API's `POST /auth/login` accepts;
    /// empty (the default) means every login fails.
    pub accounts: Vec<(String, String)>,
    /// `--max-rps K`: serve at most K requests per second, queueing the rest
    /// (see `limiter`); `None` serves as fast as it can.
    pub max_rps: Option<u64>,
    /// Serve HTTPS with this certificate (`--tls-self-signed`, `--tls-cert/--tls-key`).
    pub tls: Option<crate::tls::TlsSource>,
    /// `--count-paths`: count requests by path for `/__stats`'s `"paths"`
    /// (off by default: the count takes a lock all shards share).
    pub count_paths: bool,
    /// `--chaos-seed S`: the seed that decides which `/stall` requests stall.
    pub chaos_seed: u64,
    /// `--delay SPEC`: a wait drawn for every counted request before it is
    /// answered, and the service times recorded for `/__stats`'s
    /// `"service_ms"`; `None` answers at once and records nothing.
    pub delay: Option<Delay>,
    /// `--delay-seed N`: the seed the shards' delay draws start from.
    pub delay_seed: u64,
}

impl Default for TargetConfig {
    /// The command line's defaults: 127.0.0.1:8080, one shard per core, `Auto`.
    fn default() -> Self {
        TargetConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            threads: default_threads(),
            io_driver: IoDriver::Auto,
            accounts: Vec::new(),
            max_rps: None,
            tls: None,
            count_paths: false,
            chaos_seed: 0,
            delay: None,
            delay_seed: crate::delay::SEED_DEFAULT,
        }
    }
}

impl TargetConfig {
    /// 127.0.0.1 on a free port with `threads` shards and the `Auto` driver: what tests want.
    pub fn loopback(threads: usize) -> Self {
        TargetConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            threads,
            io_driver: IoDriver::Auto,
            accounts: Vec::new(),
            max_rps: None,
            tls: None,
            count_paths: false,
            chaos_seed: 0,
            delay: None,
            delay_seed: crate::delay::SEED_DEFAULT,
        }
    }
}

/// The number of cores this process may run on (at least 1).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Serve with this configuration.
    Run(TargetConfig),
    /// Print the usage text and exit successfully.
    Help,
}

/// A command-line mistake; its `Display` is the one-line message for stderr.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A flag this program does not know.
    UnknownFlag(String),
    /// A flag given without its value.
    MissingValue(&'static str),
    /// A flag (or the environment variable) with a value that does not parse or is out of range.
    BadValue {
        /// The flag or variable name.
        name: &'static str,
        /// The offending value.
        value: String,
        /// What was expected instead.
        expected: &'static str,
    },
    /// The `--accounts` file cannot be read or is not a valid accounts CSV.
    Accounts {
        /// The file as given.
        path: String,
        /// What is wrong with it.
        error: AccountsError,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownFlag(flag) => {
                write!(f, "unknown argument '{flag}' (try --help)")
            }
            ConfigError::MissingValue(flag) => write!(f, "{flag} needs a value"),
            ConfigError::BadValue {
                name,
                value,
                expected,
            } => write!(f, "{name}: invalid value '{value}', expected {expected}"),
            ConfigError::Accounts { path, error } => write!(f, "--accounts {path}: {error}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The text `--help` prints.
pub const USAGE: &str = "\
stampede-target: a fast thread-per-core HTTP/1.1 test server

usage: stampede-target [--listen ADDR] [--threads N] [--io-driver auto|uring|epoll]
                       [--accounts FILE] [--max-rps K] [--count-paths]
                       [--chaos-seed S]
                       [--delay SPEC [--delay-seed N]]

  --listen ADDR       IP:PORT to bind (default 127.0.0.1:8080; port 0 picks a free port)
  --threads N         shard threads, one per core by default (1..=1024)
  --io-driver NAME    auto (io_uring, else epoll), uring or epoll; default auto,
                      or $STAMPEDE_IO_DRIVER when set
  --accounts FILE     CSV with the header row `username,password` and one account
                      a row: who may log in to the music API (default: nobody)
  --max-rps K         serve at most K requests per second over all threads and
                      queue the rest (latency climbs like a saturated server's)
  --count-paths       count requests by path (query left off) in /__stats's
                      \"paths\" (at most 10000 paths, the rest as \"__other__\");
                      off by default, as it costs a lock per request
  --chaos-seed S      the seed (0 by default) that decides which /stall
                      requests stall: request n (from 0) stalls the same way
                      in every run with the same seed
  --delay SPEC        wait before answering every counted request, for a time
                      drawn from SPEC: fixed:MS (e.g. fixed:20ms) or
                      lognormal:MEDIAN_MS:SIGMA (e.g. lognormal:20:0.5); times
                      take us, ms (the default) or s, up to 60s. /__stats then
                      adds \"service_ms\": percentiles of the time from each
                      request's head parsed to its response written, and of
                      the delays drawn
  --delay-seed N      the seed of the delay draws (default 1): the same seed
                      and thread count draw the same delays
  --tls-self-signed   serve HTTPS with a certificate made at start for localhost
                      and 127.0.0.1; --tls-cert-out FILE writes it (PEM) for clients
  --tls-cert FILE, --tls-key FILE
                      serve HTTPS with this certificate chain and key (PEM)
  -h, --help          print this text

The first line on stdout is `listening on IP:PORT`. Routes: / /bytes/N /delay/MS
(also /slow/MS) /status/CODE /chunked/N /close /eof/N /garbage /truncated
/bighead /reset /echo/headers /echo/body /echo/request /cookies/new /redirect/N
/redirect-to?url=URL&status=CODE /compressed/N?enc=CODING /compressed-json
/bomb?enc=CODING /basic-auth/USER/PASS /bearer /s3-error?code=CODE&status=N&pad=N
/__stats (GET) /__reset (POST).
Chaos: /drip/N?ms=M /badchunk /cut/N /silence /stall?p=P&ms=M.

Music API (JSON): POST /auth/login {\"username\", \"password\"} -> {\"token\", \"id\",
\"name\"} and cookie nd_session=TOKEN, or 401. With `x-nd-authorization: Bearer
TOKEN` or that cookie (else 401): GET /api/song?_start=N&_end=M (default 10,
at most 500), GET /api/album, POST /api/playlist -> {\"id\"}, DELETE
/api/playlist/ID -> {} or 404 for an unknown id. /__stats adds \"statuses\"
(non-2xx responses by code) and \"logins\" (by username).
";

/// Parses the arguments after the program name; `env_driver` is the value of
/// `STAMPEDE_IO_DRIVER`, which `--io-driver` overrides.
pub fn parse_args<S: AsRef<str>>(
    args: &[S],
    env_driver: Option<&str>,
) -> Result<Command, ConfigError> {
    let mut config = TargetConfig::default();
    if let Some(value) = env_driver.filter(|v| !v.is_empty()) {
        config.io_driver = parse_driver(IO_DRIVER_ENV, value)?;
    }
    let mut rest = args.iter().map(AsRef::as_ref);
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
            _ => (arg, None),
        };
        match flag {
            "-h" | "--help" => return Ok(Command::Help),
            "--listen" => {
                let value = value_of("--listen", inline, &mut rest)?;
                config.listen = value.parse().map_err(|_| ConfigError::BadValue {
                    name: "--listen",
                    value: value.to_string(),
                    expected: "IP:PORT such as 127.0.0.1:8080",
                })?;
            }
            "--threads" => {
                let value = value_of("--threads", inline, &mut rest)?;
                config.threads = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=THREADS_MAX).contains(n))
                    .ok_or_else(|| ConfigError::BadValue {
                        name: "--threads",
                        value: value.to_string(),
                        expected: "a whole number from 1 to 1024",
                    })?;
            }
            "--io-driver" => {
                let value = value_of("--io-driver", inline, &mut rest)?;
                config.io_driver = parse_driver("--io-driver", value)?;
            }
            "--accounts" => {
                let value = value_of("--accounts", inline, &mut rest)?;
                config.accounts =
                    accounts::load(Path::new(value)).map_err(|error| ConfigError::Accounts {
                        path: value.to_string(),
                        error,
                    })?;
            }
            "--max-rps" => {
                let value = value_of("--max-rps", inline, &mut rest)?;
                let limit = crate::limiter::MAX_RPS_LIMIT;
                config.max_rps = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|k| (1..=limit).contains(k))
                        .ok_or_else(|| ConfigError::BadValue {
                            name: "--max-rps",
                            value: value.to_string(),
                            expected: "a whole number of requests per second from 1 to 100000000",
                        })?,
                );
            }
            "--count-paths" => config.count_paths = true,
            "--chaos-seed" => {
                let value = value_of("--chaos-seed", inline, &mut rest)?;
                config.chaos_seed = value.parse().map_err(|_| ConfigError::BadValue {
                    name: "--chaos-seed",
                    value: value.to_string(),
                    expected: "a whole number from 0 to 18446744073709551615",
                })?;
            }
            "--delay" => {
                let value = value_of("--delay", inline, &mut rest)?;
                config.delay = Some(value.parse().map_err(|err: crate::delay::DelayError| {
                    ConfigError::BadValue {
                        name: "--delay",
                        value: value.to_string(),
                        expected: err.0,
                    }
                })?);
            }
            "--delay-seed" => {
                let value = value_of("--delay-seed", inline, &mut rest)?;
                config.delay_seed = value.parse().map_err(|_| ConfigError::BadValue {
                    name: "--delay-seed",
                    value: value.to_string(),
                    expected: "a whole number from 0 to 18446744073709551615",
                })?;
            }
            "--tls-self-signed" => {
                let cert_out = match &config.tls {
                    Some(crate::tls::TlsSource::SelfSigned { cert_out }) => cert_out.clone(),
                    _ => None,
                };
                config.tls = Some(crate::tls::TlsSource::SelfSigned { cert_out });
            }
            "--tls-cert-out" => {
                let value = value_of("--tls-cert-out", inline, &mut rest)?;
                config.tls = Some(crate::tls::TlsSource::SelfSigned {
                    cert_out: Some(value.into()),
                });
            }
            "--tls-cert" | "--tls-key" => {
                let name = if flag == "--tls-cert" {
                    "--tls-cert"
                } else {
                    "--tls-key"
                };
                let value = std::path::PathBuf::from(value_of(name, inline, &mut rest)?);
                let (mut cert, mut key) = match config.tls.take() {
                    Some(crate::tls::TlsSource::Files { cert, key }) => (cert, key),
                    _ => (Default::default(), Default::default()),
                };
                if name == "--tls-cert" {
                    cert = value
                } else {
                    key = value
                }
                config.tls = Some(crate::tls::TlsSource::Files { cert, key });
            }
            _ => return Err(ConfigError::UnknownFlag(arg.to_string())),
        }
    }
    if let Some(crate::tls::TlsSource::Files { cert, key }) = &config.tls {
        if cert.as_os_str().is_empty() || key.as_os_str().is_empty() {
            return Err(ConfigError::MissingValue("--tls-cert and --tls-key (both)"));
        }
    }
    Ok(Command::Run(config))
}

/// The value of a flag: after `=` in the same argument, or the next argument.
fn value_of<'a>(
    flag: &'static str,
    inline: Option<&'a str>,
    rest: &mut impl Iterator<Item = &'a str>,
) -> Result<&'a str, ConfigError> {
    inline
        .or_else(|| rest.next())
        .ok_or(ConfigError::MissingValue(flag))
}

fn parse_driver(name: &'static str, value: &str) -> Result<IoDriver, ConfigError> {
    value.parse().map_err(|()| ConfigError::BadValue {
        name,
        value: value.to_string(),
        expected: "auto, uring or epoll",
    })
}

#[cfg(test)]
mod tests {
    //! Table tests of the command-line parser, including the bad inputs.
    use super::*;

    fn run(args: &[&str], env: Option<&str>) -> Result<TargetConfig, ConfigError> {
        match parse_args(args, env)? {
            Command::Run(config) => Ok(config),
            Command::Help => panic!("unexpected help"),
        }
    }

    #[test]
    fn defaults_match_the_usage_text() {
        let config = run(&[], None).unwrap();
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.threads, default_threads());
        assert_eq!(config.io_driver, IoDriver::Auto);
        assert!(config.accounts.is_empty());
        assert_eq!(config, TargetConfig::default());
        assert!(TargetConfig::loopback(2).accounts.is_empty());
    }

    #[test]
    fn accounts_are_loaded_from_the_file() {
        let dir = std::env::temp_dir().join(format!("stampede-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("accounts.csv");
        std::fs::write(&good, "username,password\nalice,alice-pw\nbob,bob-pw\n").unwrap();
        let path = good.to_str().unwrap();
        let config = run(&["--accounts", path], None).unwrap();
        let want =
            [("alice", "alice-pw"), ("bob", "bob-pw")].map(|(u, p)| (u.to_string(), p.to_string()));
        assert_eq!(config.accounts, want);
        let inline = format!("--accounts={path}");
        assert_eq!(run(&[inline.as_str()], None).unwrap().accounts, want);

        let bad = dir.join("bad.csv");
        std::fs::write(&bad, "username,password\nalice\n").unwrap();
        let err = run(&["--accounts", bad.to_str().unwrap()], None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("--accounts ")
                && text.ends_with("line 2: expected two fields, `username,password`"),
            "{text}"
        );
        let missing = dir.join("missing.csv");
        let err = run(&["--accounts", missing.to_str().unwrap()], None).unwrap_err();
        assert!(err.to_string().contains(": cannot read it: "), "{err}");
        assert_eq!(
            run(&["--accounts"], None),
            Err(ConfigError::MissingValue("--accounts"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn flags_take_separate_or_inline_values() {
        let config = run(
            &[
                "--listen",
                "127.0.0.1:0",
                "--threads=3",
                "--io-driver",
                "epoll",
            ],
            None,
        )
        .unwrap();
        assert_eq!(config.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.threads, 3);
        assert_eq!(config.io_driver, IoDriver::Epoll);
        assert!(!config.count_paths);
        assert!(run(&["--count-paths"], None).unwrap().count_paths);
        assert_eq!(run(&["--chaos-seed", "42"], None).unwrap().chaos_seed, 42);
        assert_eq!(run(&[], None).unwrap().chaos_seed, 0);
        assert!(run(&["--chaos-seed", "-1"], None).is_err());
        assert_eq!((config.delay, config.delay_seed), (None, 1));
        let config = run(&["--delay", "lognormal:20:0.5", "--delay-seed=42"], None).unwrap();
        let want = Delay::LogNormal {
            median_us: 20_000,
            sigma: 0.5,
        };
        assert_eq!((config.delay, config.delay_seed), (Some(want), 42));
        let config = run(&["--delay=fixed:20ms"], None).unwrap();
        assert_eq!(config.delay, Some(Delay::Fixed { us: 20_000 }));
        let config = run(&["--listen=[::1]:9000"], None).unwrap();
        assert_eq!(config.listen, "[::1]:9000".parse().unwrap());
    }

    #[test]
    fn the_flag_overrides_the_environment() {
        assert_eq!(run(&[], Some("uring")).unwrap().io_driver, IoDriver::Uring);
        assert_eq!(run(&[], Some("")).unwrap().io_driver, IoDriver::Auto);
        let config = run(&["--io-driver", "auto"], Some("epoll")).unwrap();
        assert_eq!(config.io_driver, IoDriver::Auto);
    }

    #[test]
    fn help_wins_wherever_it_appears() {
        assert_eq!(
            parse_args(&["--threads", "2", "-h"], None),
            Ok(Command::Help)
        );
        assert_eq!(parse_args(&["--help"], None), Ok(Command::Help));
    }

    #[test]
    fn bad_input_names_the_flag() {
        let cases: &[(&[&str], Option<&str>, &str)] = &[
            (&["--bogus"], None, "unknown argument '--bogus'"),
            (&["extra"], None, "unknown argument 'extra'"),
            (&["--listen"], None, "--listen needs a value"),
            (&["--listen", "localhost"], None, "--listen: invalid value"),
            (&["--threads", "0"], None, "--threads: invalid value '0'"),
            (&["--threads", "1025"], None, "--threads: invalid value"),
            (&["--threads", "-1"], None, "--threads: invalid value"),
            (
                &["--io-driver", "kqueue"],
                None,
                "--io-driver: invalid value",
            ),
            (
                &[],
                Some("nope"),
                "STAMPEDE_IO_DRIVER: invalid value 'nope'",
            ),
            (&["--delay"], None, "--delay needs a value"),
            (
                &["--delay", "normal:20"],
                None,
                "--delay: invalid value 'normal:20', expected fixed:MS or lognormal",
            ),
            (
                &["--delay", "lognormal:20:9"],
                None,
                "--delay: invalid value 'lognormal:20:9', expected a sigma above 0",
            ),
            (&["--delay-seed", "-1"], None, "--delay-seed: invalid value"),
        ];
        for (args, env, want) in cases {
            let err = run(args, *env).unwrap_err().to_string();
            assert!(
                err.starts_with(want),
                "{args:?}: got {err:?}, want {want:?}"
            );
            assert!(!err.contains('\n'), "{args:?}: message must be one line");
        }
    }
}
