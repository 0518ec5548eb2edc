//! Harness for stampede's end-to-end tests: starts `stampede-target` on
//! 127.0.0.1 port 0, runs the `stampede` binary against it with a time limit,
//! and reads both sides' counts so tests can compare them exactly.
//!
//! The binaries are the ones `cargo test --workspace` builds next to this
//! test executable (target/<profile>/).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod locust;
pub mod moto;
pub mod s3_fake;
pub mod socket_owner;
pub mod webdriver;

/// Load tests share two cores; running them one at a time keeps timings honest.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the lock that runs end-to-end tests one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Path of a workspace binary built next to the test executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// True when the tests run under CI: `CI` is set, and not empty, `0` or `false`.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The suite's one rule for what a test needs and the machine may lack (a
/// package, a kernel feature, cores, file descriptors; docs/testing.md):
/// true when `available`; otherwise a failure under CI, whose machine and
/// `.ci/run` provide everything, and elsewhere false after printing
/// `SKIPPED: <need>` so the skip is seen. Tests call it through [`require!`].
pub fn required(available: bool, need: impl std::fmt::Display) -> bool {
    if available {
        return true;
    }
    assert!(!under_ci(), "REQUIRED under CI: {need}");
    eprintln!("SKIPPED: {need} (under CI this fails)");
    false
}

/// `require!(condition, "what is missing and how to get it")`: returns from
/// the test (with a visible `SKIPPED:` line) when `condition` is false,
/// or fails it under CI; see [`required`]. The only way a test ends early.
#[macro_export]
macro_rules! require {
    ($available:expr, $($need:tt)+) => {
        if !$crate::required($available, format_args!($($need)+)) {
            return;
        }
    };
}

/// The I/O drivers every I/O test runs on: epoll always, and io_uring,
/// which the kernel (or a seccomp profile) may forbid; then the io_uring
/// half of each test is skipped, under [`required`]'s rule.
pub fn drivers() -> Vec<&'static str> {
    let need = "io_uring is not available here (io_uring_setup failed), so the I/O tests run \
                on the epoll driver only";
    if required(uring_available(), need) {
        vec!["uring", "epoll"]
    } else {
        vec!["epoll"]
    }
}

fn uring_available() -> bool {
    let mut params = [0u8; 120];
    // SAFETY: io_uring_setup reads and writes the params buffer we own; the
    // returned descriptor, if any, is closed at once.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
    if fd >= 0 {
        // SAFETY: fd is a descriptor we own.
        unsafe { libc::close(fd as i32) };
        true
    } else {
        false
    }
}

/// A running stampede-target process; killed on drop.
pub struct TargetProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The certificate it serves HTTPS with (`--tls-cert-out`); `None` for HTTP.
    pub tls_cert: Option<PathBuf>,
}

impl TargetProcess {
    /// Starts the target with one thread on 127.0.0.1:0.
    pub fn start() -> TargetProcess {
        Self::start_with(&[])
    }

    /// Starts the target with one thread on 127.0.0.1:0 and extra flags.
    pub fn start_with(extra: &[&str]) -> TargetProcess {
        let mut child = Command::new(bin("stampede-target"))
            .args(["--listen", "127.0.0.1:0", "--threads", "1"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start stampede-target");
        let stdout = child.stdout.take().expect("target stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read target's first line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from target: {line:?}"));
        let tls_cert = extra
            .iter()
            .position(|a| *a == "--tls-cert-out")
            .map(|i| PathBuf::from(extra[i + 1]));
        TargetProcess {
            child,
            addr,
            tls_cert,
        }
    }

    /// The target's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// (requests, connections) the target has counted, from `/__stats`.
    pub fn stats(&self) -> (u64, u64) {
        let json = self.stats_json();
        (
            json["requests"].as_u64().unwrap(),
            json["connections"].as_u64().unwrap(),
        )
    }

    /// The whole `/__stats` document.
    pub fn stats_json(&self) -> Value {
        let mut stream = TcpStream::connect(self.addr).expect("connect for /__stats");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let request = b"GET /__stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        let mut response = String::new();
        match &self.tls_cert {
            None => {
                stream.write_all(request).unwrap();
                stream.read_to_string(&mut response).expect("read /__stats");
            }
            Some(cert) => {
                let mut tls = tls_client(cert, stream);
                tls.write_all(request).unwrap();
                // The target closes without close_notify; what arrived is the whole answer.
                let _ = tls.read_to_string(&mut response);
            }
        }
        let body = response.split("\r\n\r\n").nth(1).expect("stats body");
        serde_json::from_str(body).expect("stats json")
    }

    /// Stops the target at once (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TargetProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A blocking TLS client over `stream` trusting only the PEM certificate `cert`.
fn tls_client(
    cert: &std::path::Path,
    stream: TcpStream,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for der in rustls::pki_types::CertificateDer::pem_file_iter(cert).expect("target certificate") {
        roots.add(der.expect("PEM certificate")).expect("add root");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn =
        rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("TLS client");
    rustls::StreamOwned::new(conn, stream)
}

/// Path of a file in the repository (examples, fixtures).
pub fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// Writes a scenario (or any file) into a fresh temp directory; returns its path.
pub fn temp_file(name: &str, text: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "stampede-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

/// `stampede run --host URL --threads 2 --io-driver DRIVER` plus `extra`:
/// the usual arguments of an end-to-end run on one driver.
pub fn run_args<'a>(url: &'a str, driver: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![
        "run",
        "--host",
        url,
        "--threads",
        "2",
        "--io-driver",
        driver,
    ];
    all.extend_from_slice(extra);
    all
}

/// A finished stampede run.
pub struct Run {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything printed to stdout.
    pub stdout: String,
    /// Everything printed to stderr.
    pub stderr: String,
    /// The JSON summary, if one was written.
    pub json: Option<Value>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Run {
    /// The JSON summary; fails the test with the output when there is none.
    pub fn summary(&self) -> &Value {
        self.json.as_ref().unwrap_or_else(|| {
            panic!(
                "no JSON summary\nstdout:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// `totals.<field>` as an integer.
    pub fn total(&self, field: &str) -> u64 {
        self.summary()["totals"][field]
            .as_u64()
            .unwrap_or_else(|| panic!("totals.{field} missing"))
    }

    /// Requests of the endpoint with this name (any method).
    pub fn endpoint_requests(&self, name: &str) -> u64 {
        self.summary()["endpoints"]
            .as_array()
            .expect("endpoints array")
            .iter()
            .filter(|e| e["name"] == name)
            .map(|e| e["requests"].as_u64().unwrap())
            .sum()
    }

    /// Failures of one kind, summed over endpoints and messages.
    pub fn failures_of_kind(&self, kind: &str) -> u64 {
        self.summary()["failures"]
            .as_array()
            .expect("failures array")
            .iter()
            .filter(|f| f["kind"] == kind)
            .map(|f| f["count"].as_u64().unwrap())
            .sum()
    }
}

/// Starts stampede with `args` plus a JSON summary path; returns the child
/// and that path.
pub fn spawn_stampede(args: &[&str]) -> (Child, PathBuf) {
    spawn_stampede_env(args, &[])
}

/// [`spawn_stampede`] with extra environment variables for the child only
/// (credentials a run reads from its environment, say).
pub fn spawn_stampede_env(args: &[&str], env: &[(&str, &str)]) -> (Child, PathBuf) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let json = std::env::temp_dir().join(format!(
        "stampede-test-{}-{}.json",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&json);
    let child = Command::new(bin("stampede"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--only-summary")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stampede");
    (child, json)
}

/// Waits for a stampede child started by [`spawn_stampede`], killing it past
/// `limit` (the test then fails on the missing summary or the status).
pub fn wait_stampede(mut child: Child, json: PathBuf, started: Instant, limit: Duration) -> Run {
    loop {
        if child.try_wait().expect("wait stampede").is_some() || started.elapsed() > limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let output = child.wait_with_output().expect("collect stampede output");
    let json_value = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let _ = std::fs::remove_file(&json);
    Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        json: json_value,
        elapsed: started.elapsed(),
    }
}

/// Runs stampede to completion (at most `limit`).
pub fn stampede(args: &[&str], limit: Duration) -> Run {
    stampede_env(args, &[], limit)
}

/// [`stampede`] with extra environment variables for the child.
pub fn stampede_env(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Run {
    let started = Instant::now();
    let (child, json) = spawn_stampede_env(args, env);
    wait_stampede(child, json, started, limit)
}
