//! The `stampede-target` binary prints `listening on ADDR` first, serves the
//! basic routes with keep-alive on both I/O drivers, counts exactly, and
//! rejects bad flags with exit status 2.

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

/// Starts the binary on a free loopback port; `None` (with the reason printed)
/// if the requested driver is unavailable here, e.g. io_uring under seccomp.
fn start(driver: &str) -> Option<Server> {
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--threads",
            "2",
            "--io-driver",
            driver,
        ])
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
        eprintln!("skipping io_uring: {stderr}");
        return None;
    };
    let addr = addr
        .parse()
        .expect("first line must be `listening on IP:PORT`");
    Some(Server { child, addr })
}

fn serves_basic_routes(driver: &str) {
    let Some(server) = start(driver) else { return };
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

#[test]
fn help_prints_usage() {
    let started = Instant::now();
    let output = Command::new(BIN).arg("--help").output().expect("run");
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("--io-driver"));
    assert!(started.elapsed() < Duration::from_secs(20));
}
