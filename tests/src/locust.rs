//! The real Locust as an oracle for Locust's web API (docs/web.md, "Locust's
//! web API"): the tests take Locust's field names and CSV columns from the
//! installed Locust package instead of retyping them.
//!
//! Locust comes from the venv that `tests/python-env.sh` makes (a pinned 2.x
//! version from PyPI). [`reference`] runs it headless-with-web on loopback
//! against a target the test started (normally [`crate::TargetProcess`]),
//! reads `/stats/requests` once both endpoints have requests, reads the two
//! CSV routes, and kills Locust's process group on every path.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The locustfile Locust runs: two endpoints, so `/stats/requests` has two
/// rows plus "Aggregated". stampede-target answers `/items/x` with 404, so
/// Locust also records a failure (an `errors` row and a failures CSV row).
pub const LOCUSTFILE: &str = r#"from locust import HttpUser, constant, task


class Reference(HttpUser):
    wait_time = constant(0.1)

    @task
    def root(self):
        self.client.get("/")

    @task
    def item(self):
        self.client.get("/items/x", name="/items/[id]")
"#;

/// The row names the locustfile produces (Locust's aggregated row is "Aggregated").
pub const ENDPOINT_NAMES: [&str; 2] = ["/", "/items/[id]"];

/// How long Locust may take to start and show both endpoints with requests.
const READY_LIMIT: Duration = Duration::from_secs(20);

/// What the live Locust answered.
#[derive(Debug, Clone)]
pub struct LocustReference {
    /// `locust --version`'s first line, e.g. "locust 2.47.0 from ... (Python 3.11.2)".
    pub version: String,
    /// `GET /stats/requests`, taken once every endpoint row has requests.
    pub stats_requests: Value,
    /// The whole body of `GET /stats/requests/csv`.
    pub requests_csv: String,
    /// The whole body of `GET /stats/failures/csv`.
    pub failures_csv: String,
}

impl LocustReference {
    /// The header line of `/stats/requests/csv` (no line ending).
    pub fn requests_csv_header(&self) -> &str {
        first_line(&self.requests_csv)
    }

    /// The header line of `/stats/failures/csv` (no line ending).
    pub fn failures_csv_header(&self) -> &str {
        first_line(&self.failures_csv)
    }
}

/// The two CSV header lines Locust serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvHeaders {
    /// Header of `GET /stats/requests/csv`.
    pub requests: String,
    /// Header of `GET /stats/failures/csv`.
    pub failures: String,
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim_end_matches('\r')
}

/// Locust's `GET /stats/requests` JSON from a live Locust loading `target`.
pub fn reference_stats_requests(target: SocketAddr) -> Value {
    reference(target).stats_requests
}

/// The header lines of Locust's `GET /stats/requests/csv` and
/// `GET /stats/failures/csv` from a live Locust loading `target`.
pub fn reference_csv_headers(target: SocketAddr) -> CsvHeaders {
    let r = reference(target);
    CsvHeaders {
        requests: r.requests_csv_header().to_owned(),
        failures: r.failures_csv_header().to_owned(),
    }
}

/// Runs Locust against `target` (which must be on this machine) and takes
/// `/stats/requests` and both CSV files from one live Locust. Panics, with
/// Locust's log, when Locust cannot be installed, does not start, or shows
/// no requests within 20 s. Locust's process group is killed on every path.
pub fn reference(target: SocketAddr) -> LocustReference {
    assert!(
        target.ip().is_loopback(),
        "the Locust oracle only loads loopback targets, not {target}"
    );
    let bin = locust_bin();
    let locust = bin.join("locust");
    let version = locust_version(&locust);

    let dir = crate::temp_file("locustfile.py", LOCUSTFILE)
        .parent()
        .expect("temp dir")
        .to_path_buf();
    let locustfile = dir.join("locustfile.py");
    let log_path = dir.join("locust.log");
    let web_port = free_port();
    let web = SocketAddr::from(([127, 0, 0, 1], web_port));

    let log = std::fs::File::create(&log_path).expect("create locust.log");
    let mut command = Command::new(&locust);
    command
        .arg("-f")
        .arg(&locustfile)
        .args(["--host", &format!("http://{target}")])
        .args([
            "--web-host",
            "127.0.0.1",
            "--web-port",
            &web_port.to_string(),
        ])
        .args(["--autostart", "-u", "2", "-r", "2", "--run-time", "30s"])
        // Locust reads ~/.locust.conf, ./locust.conf and ./pyproject.toml:
        // point both at the empty temp dir.
        .env("HOME", &dir)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup log"))
        .stderr(log)
        .process_group(0);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LOCUST_") {
            command.env_remove(key);
        }
    }
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", locust.display()));
    let mut guard = LocustProcess {
        child,
        log: log_path,
    };

    let stats_requests = wait_for_rows(&mut guard, web);
    let requests_csv = http_get(web, "/stats/requests/csv")
        .unwrap_or_else(|e| guard.fail(&format!("GET /stats/requests/csv: {e}")));
    let failures_csv = http_get(web, "/stats/failures/csv")
        .unwrap_or_else(|e| guard.fail(&format!("GET /stats/failures/csv: {e}")));
    guard.stop();
    let _ = std::fs::remove_dir_all(&dir);
    LocustReference {
        version,
        stats_requests,
        requests_csv,
        failures_csv,
    }
}

/// Polls `/stats/requests` until every endpoint of [`LOCUSTFILE`] has a row
/// with requests (bounded by [`READY_LIMIT`]).
fn wait_for_rows(guard: &mut LocustProcess, web: SocketAddr) -> Value {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = guard.child.try_wait() {
            guard.fail(&format!("Locust exited early ({status})"));
        }
        let last = match http_get(web, "/stats/requests") {
            Ok(body) => match serde_json::from_str::<Value>(&body) {
                Ok(json) if all_rows_have_requests(&json) => return json,
                Ok(_) => body,
                Err(e) => format!("not JSON ({e}): {body}"),
            },
            Err(e) => e,
        };
        if started.elapsed() > READY_LIMIT {
            guard.fail(&format!(
                "/stats/requests showed no requests on every endpoint within {READY_LIMIT:?}; last: {last}"
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn all_rows_have_requests(json: &Value) -> bool {
    let Some(rows) = json["stats"].as_array() else {
        return false;
    };
    ENDPOINT_NAMES.iter().all(|name| {
        rows.iter()
            .any(|r| r["name"] == *name && r["num_requests"].as_u64().unwrap_or(0) > 0)
    })
}

/// Every key path in `v`: object keys joined with `.`, array elements under
/// `[]` (all elements merged), containers included, so an empty `errors`
/// array still shows as `errors`. E.g. `stats`, `stats[].num_requests`,
/// `current_response_time_percentiles.response_time_percentile_0.5`.
pub fn key_paths(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect_paths(v, "", &mut out);
    out
}

fn collect_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                collect_paths(child, &path, out);
            }
        }
        Value::Array(items) => {
            let path = format!("{prefix}[]");
            for item in items {
                if !matches!(item, Value::Object(_) | Value::Array(_)) {
                    out.insert(path.clone());
                }
                collect_paths(item, &path, out);
            }
        }
        _ => {}
    }
}

/// The venv's bin directory, from `tests/python-env.sh` (run once per test
/// process: it makes the venv and installs the pinned Locust when missing,
/// and only checks `locust --version` otherwise).
pub fn locust_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = crate::repo_file("tests/python-env.sh");
        let output = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{} failed ({}); stdout: {stdout}",
            script.display(),
            output.status
        );
        let bin = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
        assert!(
            bin.join("locust").exists(),
            "{} printed {stdout:?}, which has no locust",
            script.display()
        );
        bin
    })
    .clone()
}

fn locust_version(locust: &Path) -> String {
    let out = Command::new(locust)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{} --version: {e}", locust.display()));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    first_line(&text).to_owned()
}

/// A free TCP port on 127.0.0.1 (free when asked; Locust binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// The running Locust; its process group is killed on drop (panics included).
struct LocustProcess {
    child: Child,
    log: PathBuf,
}

impl LocustProcess {
    /// Stops Locust: SIGTERM to the group, SIGKILL after 3 s.
    fn stop(&mut self) {
        let pgid = self.child.id() as libc::pid_t;
        if self.child.try_wait().ok().flatten().is_none() {
            // SAFETY: kill(2) on the process group we created (process_group(0)).
            unsafe { libc::kill(-pgid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if self.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // The leader may be gone while a forked child lingers: kill the group anyway.
        // SAFETY: as above; ESRCH when the group is empty is harmless.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }

    /// Kills Locust and panics with `why` and the end of Locust's log.
    fn fail(&mut self, why: &str) -> ! {
        self.stop();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "Locust oracle: {why}\n--- {} (last 40 lines) ---\n{}",
            self.log.display(),
            tail.join("\n")
        );
    }
}

impl Drop for LocustProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET path` on `addr` over HTTP/1.1 with `Connection: close`; the body
/// (chunked or not) on 200, an error message otherwise.
fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {} bytes", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    String::from_utf8(body).map_err(|e| e.to_string())
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line without CRLF")?;
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_collapse_arrays_and_keep_containers() {
        let v = serde_json::json!({
            "stats": [{"name": "/", "num_requests": 1}, {"name": "Aggregated", "extra": null}],
            "errors": [],
            "current_response_time_percentiles": {"response_time_percentile_0.5": 1.0},
            "tags": ["a", "b"],
            "state": "running"
        });
        let paths: Vec<String> = key_paths(&v).into_iter().collect();
        assert_eq!(
            paths,
            [
                "current_response_time_percentiles",
                "current_response_time_percentiles.response_time_percentile_0.5",
                "errors",
                "state",
                "stats",
                "stats[].extra",
                "stats[].name",
                "stats[].num_requests",
                "tags",
                "tags[]",
            ]
        );
    }

    #[test]
    fn dechunk_joins_chunks() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
    }
}
