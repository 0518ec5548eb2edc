//! The `stampede-target` binary prints `listening on ADDR` first, serves the
//! basic routes with keep-alive on both I/O drivers, counts exactly, logs in
//! the accounts of its `--accounts` file, and rejects bad flags and bad
//! accounts files with exit status 2 and one line.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{stats, Client};

const BIN: &str = env!("CARGO_BIN_EXE_stampede-target");

/// A child server that is killed when dropped, even if the test panics.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test shows what the server said.
        if std::thread::panicking() {
            let mut stderr = String::new();
            if let Some(mut pipe) = self.child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            eprintln!("stampede-target stderr:\n{stderr}");
        }
    }
}

/// Starts the binary on a free loopback port with `extra` flags; `None` (with
/// the reason printed) if the requested driver is unavailable here, e.g.
/// io_uring under seccomp.
fn start(driver: &str, extra: &[&str]) -> Option<Server> {
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--threads",
            "2",
            "--io-driver",
            driver,
        ])
        .args(extra)
        .env_remove("STAMPEDE_IO_DRIVER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stampede-target");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    let Some(addr) = line.trim_end().strip_prefix("listening on ") else {
        let _ = child.kill();
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(1), "unexpected exit; stderr: {stderr}");
        assert!(driver == "uring", "{driver} failed to start: {stderr}");
        // The suite's rule for a missing prerequisite (docs/testing.md):
        // skipped with a message here, a failure under CI.
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
        assert!(!ci, "REQUIRED under CI: io_uring, which failed: {stderr}");
        eprintln!("SKIPPED: io_uring is not available here (under CI this fails): {stderr}");
        return None;
    };
    let addr = addr
        .parse()
        .expect("first line must be `listening on IP:PORT`");
    Some(Server { child, addr })
}

fn serves_basic_routes(driver: &str) {
    let Some(server) = start(driver, &[]) else {
        return;
    };
    let mut client = Client::connect(server.addr);

    let root = client.get("/");
    assert_eq!((root.status, root.body.as_slice()), (200, b"ok".as_slice()));
    let bytes = client.get("/bytes/10");
    assert_eq!((bytes.status, bytes.body.len()), (200, 10));
    assert_eq!(bytes.header("content-length"), Some("10"));
    let chunked = client.get("/chunked/10000");
    assert_eq!(chunked.status, 200);
    assert_eq!(chunked.body, vec![b'x'; 10_000]);
    assert!(chunked.chunks > 1, "came in {} chunks", chunked.chunks);
    let unavailable = client.get("/status/503");
    assert_eq!(unavailable.status, 503);
    assert_eq!(client.get("/nope").status, 404);

    // Five requests on one keep-alive connection; the stats connection is not counted.
    assert_eq!(stats(server.addr), (5, 1));
    assert_eq!(client.get("/").status, 200);
    assert_eq!(stats(server.addr), (6, 1));
}

#[test]
fn serves_basic_routes_on_epoll() {
    serves_basic_routes("epoll");
}

#[test]
fn serves_basic_routes_on_io_uring() {
    serves_basic_routes("uring");
}

#[test]
fn bad_flags_exit_with_status_2_and_one_line() {
    for args in [
        &["--bogus"][..],
        &["--threads", "0"],
        &["--listen"],
        &["--io-driver", "x"],
    ] {
        let output = Command::new(BIN).args(args).output().expect("run");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
    let output = Command::new(BIN)
        .env("STAMPEDE_IO_DRIVER", "kqueue")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
}

/// A file in a fresh temporary directory, removed with it on drop.
struct TempFile {
    dir: std::path::PathBuf,
    path: std::path::PathBuf,
}

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let dir =
            std::env::temp_dir().join(format!("stampede-target-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write temp file");
        TempFile { dir, path }
    }

    fn arg(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn accounts_file_logs_users_in() {
    let file = TempFile::new("ok.csv", "username,password\nalice,alice-pw\nbob,bob-pw\n");
    let server = start("epoll", &["--accounts", file.arg()]).expect("epoll always starts");
    let mut client = Client::connect(server.addr);
    let body = br#"{"username": "bob", "password": "bob-pw"}"#;
    let response = client.call("POST", "/auth/login", &[], body);
    assert_eq!(response.status, 200);
    assert!(response
        .header("set-cookie")
        .is_some_and(|c| c.starts_with("nd_session=")));
    let body = br#"{"username": "bob", "password": "alice-pw"}"#;
    assert_eq!(client.call("POST", "/auth/login", &[], body).status, 401);
    let response = client.get("/__stats");
    let text = String::from_utf8_lossy(&response.body);
    assert!(text.contains(r#""logins": {"bob": 1}"#), "{text}");
    assert!(text.contains(r#""statuses": {"401": 1}"#), "{text}");
}

#[test]
fn bad_accounts_files_exit_with_status_2_and_one_line() {
    let no_header = TempFile::new("no-header.csv", "alice,alice-pw\n");
    let short_row = TempFile::new("short.csv", "username,password\nalice\n");
    let empty = TempFile::new("empty.csv", "username,password\n");
    let missing = format!("{}.missing", short_row.arg());
    for (path, want) in [
        (
            no_header.arg(),
            "the first line must be `username,password`",
        ),
        (short_row.arg(), "line 2: expected two fields"),
        (empty.arg(), "no accounts after the header"),
        (missing.as_str(), "cannot read it"),
    ] {
        let output = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--accounts", path])
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2), "{path}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{path}: {stderr}");
        assert!(stderr.contains(want) && stderr.contains(path), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn help_prints_usage() {
    let started = Instant::now();
    let output = Command::new(BIN).arg("--help").output().expect("run");
    assert!(output.status.success());
    let usage = String::from_utf8_lossy(&output.stdout);
    assert!(usage.contains("--io-driver") && usage.contains("--accounts FILE"));
    assert!(usage.contains("/auth/login"));
    assert!(started.elapsed() < Duration::from_secs(20));
}
