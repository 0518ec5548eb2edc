//! End-to-end tests of the control API of `stampede run --web` (docs/web.md):
//! plain HTTP/1.1 over loopback against the real `stampede` binary and
//! `stampede-target`. Tests start, steer and stop tests through `/api/*` and
//! Locust's routes, check the status codes of the error cases, basic auth and
//! the refusal of a non-loopback bind without it, compare Locust's
//! `/stats/requests` shape and CSV headers with the real Locust's, read the
//! event stream, and compare what the target counted with what stampede
//! reports.
//!
//! Every stampede process has a run time and is killed on drop; where a test
//! must still be running when something happens, it is paced by a run time
//! or `--rate`, never by a request count.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stampede_tests::locust::{self, key_paths, ENDPOINT_NAMES};
use stampede_tests::webdriver::{free_port, wait_until};
use stampede_tests::{bin, serial, spawn_stampede, temp_file, wait_stampede, TargetProcess};

/// How long a web server gets to answer its first `/api/state`.
const WEB_READY: Duration = Duration::from_secs(20);
/// One HTTP exchange with the web server.
const HTTP_LIMIT: Duration = Duration::from_secs(15);
/// How long a state change (started, finished, users reached) may take.
const STATE_LIMIT: Duration = Duration::from_secs(20);

/// One HTTP answer: status, headers (names lower-cased) and body.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    /// The body as text (lossy UTF-8).
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    /// The first header with this (lower-case) name.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an API error: this status and a JSON `{"error": "..."}` body.
    fn assert_error(&self, status: u16, what: &str) {
        assert_eq!(self.status, status, "{what}: {}", self.text());
        let body = self.json();
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: no {{\"error\": ...}} in {body}"
        );
    }
}

/// Sends one request (`Connection: close`) with `headers` and `body` to
/// `addr` and reads the whole answer (Content-Length framed, or up to the
/// close), bounded by [`HTTP_LIMIT`].
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let what = format!("{method} http://{addr}{path}");
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{what}: connect: {e}"));
    stream.set_read_timeout(Some(HTTP_LIMIT)).unwrap();
    stream.set_write_timeout(Some(HTTP_LIMIT)).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || !matches!(method, "GET" | "HEAD") {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream
        .write_all(&bytes)
        .unwrap_or_else(|e| panic!("{what}: send: {e}"));
    let deadline = Instant::now() + HTTP_LIMIT;
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        if let Some(reply) = parse_reply(&raw, false) {
            return reply;
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("{what}: read: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no whole answer within {HTTP_LIMIT:?}"
        );
    }
    parse_reply(&raw, true).unwrap_or_else(|| {
        panic!(
            "{what}: malformed answer: {}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// The answer in `raw` once its Content-Length body is complete; a body
/// without a length ends at the close (`at_eof`).
fn parse_reply(raw: &[u8], at_eof: bool) -> Option<Reply> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[head_end + 4..];
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let body = match length {
        Some(len) if rest.len() >= len => rest[..len].to_vec(),
        Some(_) => return None,
        None if at_eof => rest.to_vec(),
        None => return None,
    };
    Some(Reply {
        status,
        headers,
        body,
    })
}

/// `GET path`.
fn get(addr: SocketAddr, path: &str) -> Reply {
    call(addr, "GET", path, &[], b"")
}

/// `POST path` with a JSON body.
fn post_json(addr: SocketAddr, path: &str, body: &Value) -> Reply {
    let body = body.to_string();
    call(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// `POST path` with an HTML form body.
fn post_form(addr: SocketAddr, path: &str, form: &[(&str, &str)]) -> Reply {
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect();
    let body = body.join("&");
    call(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
}

/// Percent-encodes a form value.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET path`, which must answer 200 with JSON.
fn get_json(addr: SocketAddr, path: &str) -> Value {
    let reply = get(addr, path);
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.text());
    reply.json()
}

/// Polls `GET path` until `done` holds for its JSON; returns that JSON, or
/// panics with the last answer after `limit`.
fn wait_json(
    addr: SocketAddr,
    path: &str,
    limit: Duration,
    mut done: impl FnMut(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    let reached = wait_until(limit, || {
        last = get_json(addr, path);
        done(&last)
    });
    assert!(
        reached,
        "GET {path} did not reach the expected value within {limit:?}; last: {last}"
    );
    last
}

/// Waits for `/api/state`'s `state` to read `word`.
fn wait_state(addr: SocketAddr, word: &str) -> Value {
    wait_json(addr, "/api/state", STATE_LIMIT, |s| s["state"] == word)
}

/// `totals.requests` of a JSON summary.
fn summary_requests(summary: &Value) -> u64 {
    summary["totals"]["requests"]
        .as_u64()
        .unwrap_or_else(|| panic!("no totals.requests in {summary}"))
}

/// The row of `stats` (ours or Locust's) with this name.
fn row<'a>(stats: &'a Value, name: &str) -> Option<&'a Value> {
    stats["stats"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
}

/// The first line of a text (no line ending).
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim_end_matches('\r')
}

/// A free loopback address for `--web`.
fn web_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// One stampede process with everything it prints; killed on drop (any
/// path, panics included), and a failing test prints its output.
struct Stampede {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Stampede {
    /// Starts `stampede` with `args`, output piped.
    fn spawn(args: &[&str]) -> Stampede {
        let mut child = Command::new(bin("stampede"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start stampede");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        for (tag, stream) in [
            (
                "out",
                Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            ),
            ("err", Box::new(child.stderr.take().unwrap())),
        ] {
            let lines = Arc::clone(&lines);
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("[{tag}] {line}"));
                }
            }));
        }
        Stampede {
            child,
            lines,
            readers,
        }
    }

    /// Everything printed so far, one `[out|err] line` per line.
    fn output(&self) -> String {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// Panics if the process has exited.
    fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("stampede exited early with {status}");
        }
    }

    /// Waits until the web server at `addr` accepts connections, then
    /// returns its answer to `GET /api/state` with `headers`.
    fn wait_web(&mut self, addr: SocketAddr, headers: &[(&str, &str)]) -> Reply {
        let deadline = Instant::now() + WEB_READY;
        loop {
            self.assert_alive();
            if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return call(addr, "GET", "/api/state", headers, b"");
            }
            assert!(
                Instant::now() < deadline,
                "no web server on {addr} within {WEB_READY:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The exit status once the process exits, or `None` after `limit`.
    fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(limit, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        if status.is_some() {
            // The process is gone: collect the last of its output.
            for reader in self.readers.drain(..) {
                let _ = reader.join();
            }
        }
        status
    }

    /// Sends SIGINT (Ctrl-C) to this process.
    fn interrupt(&self) {
        // SAFETY: kill(2) on the pid of the child this test started.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
    }
}

impl Drop for Stampede {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            std::thread::sleep(Duration::from_millis(100));
            eprintln!("output of stampede:\n{}", self.output());
        }
    }
}

/// An iterations test started through `POST /api/start` sends exactly that
/// many requests, and `/api/report.json` and `/stats/requests` count them.
#[test]
fn api_start_with_iterations_counts_exactly() {
    let _serial = serial();
    let target = TargetProcess::start();
    let addr = web_addr();
    let mut stampede = Stampede::spawn(&[
        "run",
        "--web",
        &addr.to_string(),
        "--host",
        &target.url(),
        "-u",
        "4",
        "--run-time",
        "60s",
    ]);
    let first = stampede.wait_web(addr, &[]);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["state"], "idle", "no test before a start");
    assert_eq!(target.stats().0, 0, "no load before a start");

    let started = post_json(addr, "/api/start", &json!({"iterations": 3000}));
    assert_eq!(started.status, 202, "POST /api/start: {}", started.text());
    let state = started.json();
    assert_eq!(state["iterations"], 3000, "{state}");
    assert_eq!(state["users"], 4, "the command line's users: {state}");

    let state = wait_json(addr, "/api/state", Duration::from_secs(70), |s| {
        s["state"] == "finished"
    });
    assert_eq!(target.stats().0, 3000, "the target's count; state {state}");
    let summary = get_json(addr, "/api/report.json");
    assert_eq!(
        summary_requests(&summary),
        3000,
        "report.json totals.requests"
    );
    let locust = get_json(addr, "/stats/requests");
    let aggregated = locust["stats"]
        .as_array()
        .and_then(|rows| rows.last())
        .unwrap_or_else(|| panic!("no stats rows: {locust}"));
    assert_eq!(
        aggregated["name"], "Aggregated",
        "the aggregated row is last: {locust}"
    );
    assert_eq!(aggregated["num_requests"], 3000, "{locust}");
    assert_eq!(
        locust["state"], "stopped",
        "Locust's word for finished: {locust}"
    );
    stampede.assert_alive();
}

/// The API answers conflicts and bad requests with the documented statuses
/// and a JSON error, changes the users of a running test, and stop and reset
/// move the state to finished and idle.
#[test]
fn api_conflicts_and_errors_have_their_statuses() {
    let _serial = serial();
    let target = TargetProcess::start();
    let addr = web_addr();
    let mut stampede = Stampede::spawn(&[
        "run",
        "--web",
        &addr.to_string(),
        "--host",
        &target.url(),
        "-u",
        "2",
        "--run-time",
        "60s",
    ]);
    assert_eq!(stampede.wait_web(addr, &[]).status, 200);

    // Idle: no running test to stop, steer or conflict with; a non-JSON start is refused.
    post_json(addr, "/api/stop", &json!({})).assert_error(409, "stop while idle");
    post_json(addr, "/api/load", &json!({"users": 3})).assert_error(409, "load while idle");
    let body = br#"{"run_time": "30s"}"#;
    call(
        addr,
        "POST",
        "/api/start",
        &[("Content-Type", "text/plain")],
        body,
    )
    .assert_error(415, "a text/plain start");
    post_json(addr, "/api/start", &json!({"user": 3})).assert_error(400, "an unknown start field");
    assert_eq!(
        get_json(addr, "/api/state")["state"],
        "idle",
        "refused starts start nothing"
    );
    assert_eq!(target.stats().0, 0, "refused starts send nothing");

    let started = post_json(addr, "/api/start", &json!({"run_time": "30s"}));
    assert_eq!(started.status, 202, "POST /api/start: {}", started.text());
    assert_eq!(started.json()["run_time_s"], 30.0, "{}", started.text());
    wait_state(addr, "running");

    post_json(addr, "/api/start", &json!({})).assert_error(409, "a second start");
    post_json(addr, "/api/reset", &json!({})).assert_error(409, "reset while running");

    let load = post_json(addr, "/api/load", &json!({"users": 3}));
    assert_eq!(load.status, 200, "POST /api/load users: {}", load.text());
    wait_json(addr, "/api/stats", STATE_LIMIT, |s| s["user_count"] == 3);
    assert_eq!(
        get_json(addr, "/api/state")["users"],
        3,
        "state's users after the edit"
    );
    post_json(addr, "/api/load", &json!({"rate": 5}))
        .assert_error(400, "a rate on a closed-loop test");

    let foreign = call(
        addr,
        "POST",
        "/api/stop",
        &[
            ("Content-Type", "application/json"),
            ("Origin", "http://evil.example"),
        ],
        b"{}",
    );
    foreign.assert_error(403, "a stop from a foreign origin");
    let same = format!("http://{addr}");
    let own = call(
        addr,
        "POST",
        "/api/load",
        &[("Content-Type", "application/json"), ("Origin", &same)],
        br#"{"users": 3}"#,
    );
    assert_eq!(
        own.status,
        200,
        "a POST from the server's own origin: {}",
        own.text()
    );
    assert_eq!(
        get_json(addr, "/api/state")["state"],
        "running",
        "the foreign stop stopped nothing"
    );

    let stopped = post_json(addr, "/api/stop", &json!({}));
    assert_eq!(stopped.status, 200, "POST /api/stop: {}", stopped.text());
    let state = wait_state(addr, "finished");
    post_json(addr, "/api/stop", &json!({})).assert_error(409, "a second stop");
    post_json(addr, "/api/load", &json!({"users": 4})).assert_error(409, "load after the end");

    let served = target.stats().0;
    assert!(served > 0, "the test sent requests; state {state}");
    let summary = get_json(addr, "/api/report.json");
    assert_eq!(
        summary_requests(&summary),
        served,
        "report.json totals.requests vs the target's count"
    );

    let reset = post_json(addr, "/api/reset", &json!({}));
    assert_eq!(reset.status, 200, "POST /api/reset: {}", reset.text());
    wait_state(addr, "idle");
    get(addr, "/api/report.json").assert_error(404, "the report after a reset");

    get(addr, "/nowhere").assert_error(404, "an unknown route");
    get(addr, "/api/start").assert_error(405, "GET on a POST route");
    assert_eq!(target.stats().0, served, "nothing sent after the stop");
    stampede.assert_alive();
}

/// With `--web-auth`, every request needs the right basic credentials (401
/// and a challenge otherwise), and the password is never printed.
#[test]
fn web_auth_requires_credentials_and_never_prints_the_password() {
    let _serial = serial();
    let target = TargetProcess::start();
    let addr = web_addr();
    let mut stampede = Stampede::spawn(&[
        "run",
        "--web",
        &addr.to_string(),
        "--web-auth",
        "user:secret",
        "--host",
        &target.url(),
        "-u",
        "1",
        "--run-time",
        "30s",
    ]);
    // "user:secret" and "user:wrong" in base64.
    let right = [("Authorization", "Basic dXNlcjpzZWNyZXQ=")];
    let wrong = [("Authorization", "Basic dXNlcjp3cm9uZw==")];

    let missing = stampede.wait_web(addr, &[]);
    missing.assert_error(401, "no credentials");
    let challenge = missing.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Basic"),
        "WWW-Authenticate: {challenge:?}"
    );
    call(addr, "GET", "/api/state", &wrong, b"").assert_error(401, "wrong credentials");
    let body = br#"{"run_time": "1s"}"#;
    let json_type = ("Content-Type", "application/json");
    call(addr, "POST", "/api/start", &[json_type, wrong[0]], body)
        .assert_error(401, "a start without the password");
    call(addr, "GET", "/", &[], b"").assert_error(401, "the page without credentials");
    assert_eq!(target.stats().0, 0, "nothing started without credentials");

    let state = call(addr, "GET", "/api/state", &right, b"");
    assert_eq!(state.status, 200, "the right credentials: {}", state.text());
    assert_eq!(state.json()["state"], "idle");

    // A short test with the right credentials, so that its reports are printed too.
    let started = call(addr, "POST", "/api/start", &[json_type, right[0]], body);
    assert_eq!(
        started.status,
        202,
        "an authorized start: {}",
        started.text()
    );
    let finished = wait_until(STATE_LIMIT, || {
        let state = call(addr, "GET", "/api/state", &right, b"");
        state.status == 200 && state.json()["state"] == "finished"
    });
    assert!(
        finished,
        "the authorized test did not finish within {STATE_LIMIT:?}"
    );
    let summary = call(addr, "GET", "/api/report.json", &right, b"");
    assert_eq!(summary.status, 200, "{}", summary.text());
    assert_eq!(
        summary_requests(&summary.json()),
        target.stats().0,
        "report.json vs the target"
    );
    assert!(
        !summary.text().contains("secret"),
        "the password is in report.json"
    );

    stampede.interrupt();
    let status = stampede.exit_within(Duration::from_secs(15));
    assert!(
        status.is_some(),
        "stampede did not exit within 15 s of Ctrl-C"
    );
    let output = stampede.output();
    assert!(
        output.contains("web UI on"),
        "stampede printed where it listens:\n{output}"
    );
    assert!(
        !output.contains("secret"),
        "the password is in stampede's output:\n{output}"
    );
}

/// `--web` on a non-loopback address without `--web-auth` is refused before
/// anything starts: exit 2 and one line naming `--web-auth`.
#[test]
fn non_loopback_web_without_auth_is_refused() {
    let _serial = serial();
    let port = free_port().to_string();
    let started = Instant::now();
    let mut stampede = Stampede::spawn(&[
        "run",
        "--web",
        &format!("0.0.0.0:{port}"),
        "--host",
        "http://127.0.0.1:1",
        "--run-time",
        "5s",
    ]);
    let status = stampede.exit_within(Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("still running after {:?}", started.elapsed()));
    assert_eq!(status.code(), Some(2), "exit status");
    let output = stampede.output();
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line:\n{output}");
    assert!(lines[0].starts_with("[err] "), "on stderr: {output}");
    assert!(
        lines[0].contains("--web-auth"),
        "it names --web-auth: {output}"
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port.parse().unwrap()));
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "nothing listens on {addr} after the refusal"
    );
}

/// The scenario run's `/stats/requests` has exactly the key paths of the real
/// Locust's for the same two endpoints (one failing), and the two CSV routes
/// have Locust's header lines.
#[test]
fn locust_stats_requests_and_csv_match_the_real_locust() {
    let _serial = serial();
    let reference = {
        let locust_target = TargetProcess::start();
        locust::reference(locust_target.addr)
    };
    let locust_paths = key_paths(&reference.stats_requests);
    assert!(
        locust_paths.contains("errors[].error"),
        "Locust's reference has an error row ({}): {}",
        reference.version,
        reference.stats_requests
    );

    let target = TargetProcess::start();
    let scenario = temp_file(
        "two-endpoints.toml",
        &format!(
            r#"[[user]]
name = "Reference"
wait = "constant(0.1)"

[[user.task]]
name = "root"
[[user.task.step]]
path = "/"
name = "{}"

[[user.task]]
name = "item"
[[user.task.step]]
path = "/items/x"
name = "{}"
"#,
            ENDPOINT_NAMES[0], ENDPOINT_NAMES[1]
        ),
    );
    let addr = web_addr();
    let mut stampede = Stampede::spawn(&[
        "run",
        "-f",
        scenario.to_str().unwrap(),
        "--host",
        &target.url(),
        "--web",
        &addr.to_string(),
        "--autostart",
        "-u",
        "2",
        "--run-time",
        "30s",
    ]);
    assert_eq!(stampede.wait_web(addr, &[]).status, 200);
    let ours = wait_json(addr, "/stats/requests", STATE_LIMIT, |s| {
        let rows_have_requests = ENDPOINT_NAMES
            .iter()
            .all(|name| row(s, name).is_some_and(|r| r["num_requests"].as_u64().unwrap_or(0) > 0));
        rows_have_requests && s["errors"].as_array().is_some_and(|e| !e.is_empty())
    });
    let our_paths = key_paths(&ours);
    let only_locust: Vec<&String> = locust_paths.difference(&our_paths).collect();
    let only_ours: Vec<&String> = our_paths.difference(&locust_paths).collect();
    assert!(
        only_locust.is_empty() && only_ours.is_empty(),
        "/stats/requests key paths differ from {}:\n only Locust's: {only_locust:?}\n only ours: {only_ours:?}\nLocust: {}\nours: {ours}",
        reference.version,
        reference.stats_requests
    );

    let requests_csv = get(addr, "/stats/requests/csv");
    assert_eq!(requests_csv.status, 200, "{}", requests_csv.text());
    assert_eq!(
        first_line(&requests_csv.text()),
        reference.requests_csv_header(),
        "/stats/requests/csv header vs {}",
        reference.version
    );
    let failures_csv = get(addr, "/stats/failures/csv");
    assert_eq!(failures_csv.status, 200, "{}", failures_csv.text());
    assert_eq!(
        first_line(&failures_csv.text()),
        reference.failures_csv_header(),
        "/stats/failures/csv header vs {}",
        reference.version
    );

    let stopped = post_form(addr, "/stop", &[]);
    assert_eq!(stopped.status, 200, "POST /stop: {}", stopped.text());
    assert_eq!(stopped.json()["success"], true, "{}", stopped.text());
    wait_state(addr, "finished");
    let summary = get_json(addr, "/api/report.json");
    assert_eq!(
        summary_requests(&summary),
        target.stats().0,
        "report.json vs the target"
    );
    let failed = summary["totals"]["failures"].as_u64().unwrap_or(0);
    let items = get_json(addr, "/stats/requests");
    let items = row(&items, ENDPOINT_NAMES[1])
        .expect("the item row")
        .clone();
    assert!(failed > 0, "the 404s are failures: {summary}");
    assert_eq!(
        Some(failed),
        items["num_requests"].as_u64(),
        "every /items/x request failed: {items}"
    );
    stampede.assert_alive();
}

/// Locust's `POST /swarm` form starts an idle stampede with its user count
/// and host, and `POST /stop` stops it; the report counts what the target served.
#[test]
fn locust_swarm_and_stop_drive_a_test() {
    let _serial = serial();
    let target = TargetProcess::start();
    let addr = web_addr();
    // No --host: the form's host is the only one.
    let mut stampede = Stampede::spawn(&["run", "--web", &addr.to_string(), "--run-time", "30s"]);
    assert_eq!(stampede.wait_web(addr, &[]).json()["state"], "idle");
    let idle = get_json(addr, "/stats/requests");
    assert_eq!(idle["state"], "ready", "Locust's word for idle: {idle}");

    let url = target.url();
    let swarm = post_form(
        addr,
        "/swarm",
        &[("user_count", "3"), ("spawn_rate", "3"), ("host", &url)],
    );
    assert_eq!(swarm.status, 200, "POST /swarm: {}", swarm.text());
    let answer = swarm.json();
    assert_eq!(answer["success"], true, "{answer}");
    assert_eq!(answer["host"], url.as_str(), "{answer}");
    let running = wait_json(addr, "/stats/requests", STATE_LIMIT, |s| {
        s["user_count"] == 3
    });
    assert_eq!(running["state"], "running", "{running}");
    let state = get_json(addr, "/api/state");
    assert_eq!(state["users"], 3, "{state}");
    assert_eq!(state["host"], url.as_str(), "{state}");
    assert_eq!(
        state["run_time_s"], 30.0,
        "the command line's run time: {state}"
    );
    assert!(
        wait_until(STATE_LIMIT, || target.stats().0 > 0),
        "the target counted no request"
    );

    // As in Locust, a swarm on a running test changes its users.
    let again = post_form(addr, "/swarm", &[("user_count", "5")]);
    assert_eq!(again.status, 200, "a second swarm: {}", again.text());
    assert_eq!(again.json()["success"], true, "{}", again.text());
    assert!(
        wait_until(STATE_LIMIT, || get_json(addr, "/stats/requests")
            ["user_count"]
            == 5),
        "the second swarm did not bring the users to 5"
    );

    let stopped = post_form(addr, "/stop", &[]);
    assert_eq!(stopped.status, 200, "POST /stop: {}", stopped.text());
    assert_eq!(stopped.json()["success"], true, "{}", stopped.text());
    wait_state(addr, "finished");
    let finished = get_json(addr, "/stats/requests");
    assert_eq!(finished["state"], "stopped", "{finished}");
    let served = target.stats().0;
    let summary = get_json(addr, "/api/report.json");
    assert_eq!(
        summary_requests(&summary),
        served,
        "report.json vs the target"
    );
    stampede.assert_alive();
}

/// `GET /api/stream` sends a `data:` event with the stats JSON about once a
/// second during a paced run, and the total count never goes down.
#[test]
fn api_stream_sends_stats_events() {
    let _serial = serial();
    let target = TargetProcess::start();
    let addr = web_addr();
    let mut stampede = Stampede::spawn(&[
        "run",
        "--web",
        &addr.to_string(),
        "--host",
        &target.url(),
        "--rate",
        "50",
        "--run-time",
        "30s",
        "--autostart",
    ]);
    assert_eq!(stampede.wait_web(addr, &[]).status, 200);
    // The first stats are published a moment after the state turns running.
    wait_json(addr, "/api/stats", STATE_LIMIT, |s| {
        s["state"] == "running" && s["total"]["num_requests"].is_u64()
    });

    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    write!(
        stream,
        "GET /api/stream HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("read /api/stream: {e}"),
        }
    }
    drop(stream);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head: {text}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{head}"
    );
    // The stream was cut mid-way on purpose: only events ended by a blank line count.
    let complete = body
        .rsplit_once("\n\n")
        .map_or("", |(complete, _)| complete);
    let events: Vec<Value> = complete
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(|data| {
            serde_json::from_str(data).unwrap_or_else(|e| panic!("event is not JSON ({e}): {data}"))
        })
        .collect();
    assert!(events.len() >= 3, "{} events in 4 s:\n{body}", events.len());
    let counts: Vec<u64> = events
        .iter()
        .map(|e| {
            e["total"]["num_requests"]
                .as_u64()
                .unwrap_or_else(|| panic!("no total.num_requests in {e}"))
        })
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "the total went down: {counts:?}"
    );
    assert!(counts.last() > Some(&0), "requests counted: {counts:?}");
    assert!(events.iter().all(|e| e["state"] == "running"), "{events:?}");
    stampede.assert_alive();
}

/// `--autostart --autoquit 1` runs the command line's test and exits by
/// itself with status 0, its `--json` summary counting what the target served.
#[test]
fn autostart_autoquit_exits_by_itself() {
    let _serial = serial();
    let target = TargetProcess::start();
    let web = web_addr().to_string();
    let url = target.url();
    let started = Instant::now();
    let (child, json_path) = spawn_stampede(&[
        "run",
        "--web",
        &web,
        "--host",
        &url,
        "-u",
        "2",
        "--run-time",
        "2s",
        "--autostart",
        "--autoquit",
        "1",
    ]);
    let run = wait_stampede(child, json_path, started, Duration::from_secs(15));
    assert!(
        run.status.success(),
        "exit {:?} after {:?}\nstdout:\n{}\nstderr:\n{}",
        run.status,
        run.elapsed,
        run.stdout,
        run.stderr
    );
    let served = target.stats().0;
    assert!(served > 0, "the test sent requests");
    assert_eq!(
        run.total("requests"),
        served,
        "the --json summary vs the target's count"
    );
}

/// A web start whose load source cannot start (its setup step cannot connect)
/// answers 400 with the setup error, stays idle and sends nothing; a later
/// start in the same process runs and counts what the target served.
#[test]
fn failed_source_start_answers_400_and_stays_idle() {
    let _serial = serial();
    let target = TargetProcess::start();
    // A port nothing listens on: bound, read, released.
    let dead = format!("http://127.0.0.1:{}", free_port());
    // Setup goes to the run's host (the dead one at first); the users' class
    // names the target, so a run that started despite the failed setup would show there.
    let scenario = temp_file(
        "failing-setup.toml",
        &format!(
            r#"[[setup]]
path = "/"
name = "setup"

[[user]]
name = "Reader"
host = "{}"

[[user.task]]
name = "root"
[[user.task.step]]
path = "/"
"#,
            target.url()
        ),
    );
    let addr = web_addr();
    let mut stampede = Stampede::spawn(&[
        "run",
        "--web",
        &addr.to_string(),
        "-f",
        scenario.to_str().unwrap(),
        "--host",
        &dead,
        "-u",
        "2",
        "--run-time",
        "60s",
    ]);
    let first = stampede.wait_web(addr, &[]);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["state"], "idle");

    let refused = post_json(addr, "/api/start", &json!({}));
    refused.assert_error(400, "a start whose setup cannot connect");
    let error = refused.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("setup failed"),
        "the error names the setup: {error}"
    );
    // Give a wrongly started run a moment to reach the target; none should.
    std::thread::sleep(Duration::from_millis(500));
    let state = get_json(addr, "/api/state");
    assert_eq!(state["state"], "idle", "a failed start stays idle: {state}");
    assert_eq!(target.stats().0, 0, "a failed start sends nothing");
    stampede.assert_alive();

    // The same process starts a good test: the run's host is now the target.
    let started = post_json(
        addr,
        "/api/start",
        &json!({"host": target.url(), "iterations": 500}),
    );
    assert_eq!(started.status, 202, "POST /api/start: {}", started.text());
    let state = wait_json(addr, "/api/state", Duration::from_secs(60), |s| {
        s["state"] == "finished"
    });
    assert_eq!(state["stop_reason"], "completed", "{state}");
    let summary = get_json(addr, "/api/report.json");
    assert_eq!(
        summary_requests(&summary),
        500,
        "report.json totals.requests"
    );
    assert_eq!(summary["totals"]["failures"], 0, "{}", summary["failures"]);
    assert_eq!(
        target.stats().0,
        501,
        "the target counts the 500 requests and the one setup request (not in the stats)"
    );
    stampede.assert_alive();
}
