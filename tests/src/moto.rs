//! An S3 server for the S3 tests: moto's server (the AWS mock, pinned in
//! the venv `tests/python-env.sh` makes) on a free 127.0.0.1 port, with
//! request authentication on, one IAM user with an access key, and one
//! bucket. Every request after the three that make the user must be
//! signed with that key, so a wrong signature is refused as AWS refuses it
//! (403 `SignatureDoesNotMatch`). The server side of each count comes from
//! boto3 (`tests/oracle/moto_s3.py`), not from stampede.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The region moto's user and bucket live in (and stampede signs for).
pub const REGION: &str = "us-east-1";

/// moto's free actions: create the user, give it a policy, create its key.
const FREE_ACTIONS: &str = "3";

/// What [`MotoS3::start`] wants, for `require!`'s message.
pub const MOTO_NEED: &str = "moto's server is not installed: tests/python-env.sh installs it \
                             (moto[server] from PyPI) into the test venv";

/// A running moto server with a user and a bucket; killed on drop.
pub struct MotoS3 {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The bucket made for the test.
    pub bucket: String,
    /// The user's access key id.
    pub access_key: String,
    /// The user's secret key.
    pub secret_key: String,
    /// The venv's python (runs the boto3 side).
    python: PathBuf,
    /// moto's log (its stderr), shown when something fails.
    log: PathBuf,
}

/// What a bucket holds under a prefix, as boto3 lists it.
#[derive(Debug, PartialEq, Eq)]
pub struct Listing {
    /// Key -> size in bytes.
    pub keys: BTreeMap<String, u64>,
}

impl Listing {
    /// The sum of the objects' sizes.
    pub fn bytes(&self) -> u64 {
        self.keys.values().sum()
    }
}

/// The venv's bin directory when it has moto's server, else `None` after
/// `required`'s rule (a failure under CI).
pub fn moto_bin() -> Option<PathBuf> {
    let script = crate::repo_file("tests/python-env.sh");
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .ok()
        .filter(|o| o.status.success());
    let bin = output
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|bin| bin.join("moto_server").exists());
    crate::required(bin.is_some(), MOTO_NEED).then(|| bin.expect("checked"))
}

impl MotoS3 {
    /// Starts moto with authentication on, makes the user and `bucket`;
    /// `None` when moto is missing outside CI.
    pub fn start(bucket: &str) -> Option<MotoS3> {
        let bin = moto_bin()?;
        let log =
            std::env::temp_dir().join(format!("stampede-moto-{}-{bucket}.log", std::process::id()));
        let log_file = std::fs::File::create(&log).expect("create moto's log");
        let child = Command::new(bin.join("moto_server"))
            .args(["-H", "127.0.0.1", "-p", "0"])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", FREE_ACTIONS)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .expect("start moto_server");
        let mut moto = MotoS3 {
            child,
            endpoint: String::new(),
            bucket: bucket.to_string(),
            access_key: String::new(),
            secret_key: String::new(),
            python: bin.join("python"),
            log,
        };
        moto.endpoint = moto.wait_listening(Duration::from_secs(30));
        let setup = moto.oracle(&["setup", &moto.endpoint, bucket], None);
        moto.access_key = setup["access_key"].as_str().expect("access_key").into();
        moto.secret_key = setup["secret_key"].as_str().expect("secret_key").into();
        Some(moto)
    }

    /// The `http://127.0.0.1:PORT` werkzeug prints once it listens.
    fn wait_listening(&mut self, limit: Duration) -> String {
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(url) = text
                .split_whitespace()
                .find(|w| w.starts_with("http://127.0.0.1:"))
            {
                return url.trim_end_matches('/').to_string();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("moto_server exited ({status}):\n{text}");
            }
            assert!(
                started.elapsed() < limit,
                "moto_server did not listen within {limit:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Runs `tests/oracle/moto_s3.py ARGS` (with the user's keys when
    /// `keys` says so); its JSON answer.
    fn oracle(&self, args: &[&str], keys: Option<(&str, &str)>) -> Value {
        let mut command = Command::new(&self.python);
        command
            .arg(crate::repo_file("tests/oracle/moto_s3.py"))
            .args(args)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .stdin(Stdio::null());
        if let Some((access_key, secret_key)) = keys {
            command
                .env("AWS_ACCESS_KEY_ID", access_key)
                .env("AWS_SECRET_ACCESS_KEY", secret_key);
        }
        let output = command.output().expect("run tests/oracle/moto_s3.py");
        assert!(
            output.status.success(),
            "moto_s3.py {args:?} failed: {}\nmoto's log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.log_text()
        );
        serde_json::from_slice(&output.stdout).expect("moto_s3.py's JSON")
    }

    /// Every object under `prefix`, as boto3 lists it (all pages, signed).
    pub fn list(&self, prefix: &str) -> Listing {
        let json = self.oracle(
            &["list", &self.endpoint, &self.bucket, prefix],
            Some((&self.access_key, &self.secret_key)),
        );
        let keys = json["keys"]
            .as_object()
            .expect("keys")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().expect("size")))
            .collect();
        Listing { keys }
    }

    /// Puts `size` bytes at `key` through boto3 (signed).
    pub fn put(&self, key: &str, size: u64) {
        self.oracle(
            &["put", &self.endpoint, &self.bucket, key, &size.to_string()],
            Some((&self.access_key, &self.secret_key)),
        );
    }

    /// The environment stampede signs with: this user's keys.
    pub fn env(&self) -> [(&'static str, &str); 2] {
        [
            ("AWS_ACCESS_KEY_ID", &self.access_key),
            ("AWS_SECRET_ACCESS_KEY", &self.secret_key),
        ]
    }

    /// The same access key with `secret`: every signature is wrong.
    pub fn env_with_secret<'a>(&'a self, secret: &'a str) -> [(&'static str, &'a str); 2] {
        [
            ("AWS_ACCESS_KEY_ID", &self.access_key),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ]
    }

    /// How many requests for a path under `/BUCKET/prefix` moto logged
    /// with this method and status (werkzeug's access log: `"GET /path
    /// HTTP/1.1" 403 -`, its colours taken out): the server's own count.
    pub fn logged_requests(&self, method: &str, prefix: &str, status: u16) -> u64 {
        let request = format!("\"{method} /{}/{prefix}", self.bucket);
        let answer = format!("\" {status} ");
        self.log_text()
            .lines()
            .map(without_colours)
            .filter(|l| l.contains(&request) && l.contains(&answer))
            .count() as u64
    }

    /// moto's log so far.
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// Where moto's log is.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

/// `line` without ANSI colour sequences (`ESC [ ... m`).
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Drop for MotoS3 {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group we started (process_group(0)).
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A server that checks presigned (query) signatures with botocore
/// (`tests/oracle/presigned_s3.py`), where moto cannot: moto 5.2.5 with
/// authentication on answers a presigned URL with 500 (it reads the
/// Authorization header the request does not have). Killed on drop.
pub struct PresignedS3 {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl PresignedS3 {
    /// Starts the checker for these keys, serving `size` bytes to each
    /// accepted GET; `None` when the venv is missing outside CI.
    pub fn start(access_key: &str, secret_key: &str, size: u64) -> Option<PresignedS3> {
        let bin = moto_bin()?;
        let mut child = Command::new(bin.join("python"))
            .arg(crate::repo_file("tests/oracle/presigned_s3.py"))
            .args([access_key, secret_key, REGION, &size.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start presigned_s3.py");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("read presigned_s3.py's first line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from presigned_s3.py: {line:?}"));
        Some(PresignedS3 {
            endpoint: format!("http://{addr}"),
            child,
        })
    }

    /// (accepted, refused) requests so far, from its `/__stats`.
    pub fn counts(&self) -> (u64, u64) {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).expect("connect for /__stats");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        std::io::Write::write_all(
            &mut stream,
            b"GET /__stats HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n",
        )
        .expect("ask /__stats");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        let body = response.split("\r\n\r\n").nth(1).expect("stats body");
        let json: Value = serde_json::from_str(body).expect("stats json");
        (
            json["accepted"].as_u64().expect("accepted"),
            json["refused"].as_u64().expect("refused"),
        )
    }
}

impl Drop for PresignedS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
