//! The three ways to run one test behave the same: one process (`stampede
//! run`), a coordinator with two `stampede worker` processes, and `stampede
//! run --processes 2` (a loopback coordinator over two local workers). Each
//! test runs against stampede-target on 127.0.0.1 and compares what the
//! target counted with what stampede reports: `--abort-on-fail` stops early
//! with exit 99 everywhere, a live load change from the web API reaches every
//! worker, and the JSON summary has the same keys in every mode.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use stampede_tests::locust::key_paths;
use stampede_tests::webdriver::{free_port, http_request, wait_until, HttpResponse};
use stampede_tests::{bin, serial, temp_file, TargetProcess};

/// The token the coordinator and its workers share.
const TOKEN: &str = "run-modes-token";
/// How long a coordinator gets to print its address.
const LISTEN_LIMIT: Duration = Duration::from_secs(20);
/// How long workers get to exit once their coordinator is done.
const WORKER_EXIT_LIMIT: Duration = Duration::from_secs(15);
/// One HTTP exchange with the web API.
const HTTP_LIMIT: Duration = Duration::from_secs(10);

/// How a test is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `stampede run`: this process's shards.
    Single,
    /// `stampede coordinator --expect-workers 2` and two `stampede worker`s.
    Coordinator,
    /// `stampede run --processes 2`.
    Processes,
}

const MODES: [Mode; 3] = [Mode::Single, Mode::Coordinator, Mode::Processes];

/// Child processes of one test and every line they print; all are killed on
/// drop (panics included), and a failing test prints their output.
#[derive(Default)]
struct Processes {
    children: Vec<(String, Child)>,
    lines: Arc<Mutex<Vec<(String, String)>>>,
}

impl Processes {
    /// Starts `stampede ARGS` with piped output; `name` tags its lines.
    fn spawn(&mut self, name: &str, args: &[&str]) {
        let mut child = Command::new(bin("stampede"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = Arc::clone(&self.lines);
            let name = name.to_string();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((name.clone(), line));
                }
            });
        }
        self.children.push((name.to_string(), child));
    }

    fn child(&mut self, name: &str) -> &mut Child {
        self.children
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .unwrap_or_else(|| panic!("no process {name}"))
    }

    /// What `name` printed so far (stdout and stderr interleaved).
    fn output_of(&self, name: &str) -> String {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, line)| format!("{line}\n"))
            .collect()
    }

    /// Everything printed so far, one `[name] line` per line.
    fn output(&self) -> String {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(name, line)| format!("[{name}] {line}\n"))
            .collect()
    }

    /// The rest of the first line `name` printed that starts with `prefix`.
    fn wait_line(&mut self, name: &str, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let found = self
                .lines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|(n, l)| n == name && l.starts_with(prefix))
                .map(|(_, l)| l[prefix.len()..].to_string());
            if let Some(rest) = found {
                return rest;
            }
            if let Ok(Some(status)) = self.child(name).try_wait() {
                panic!("{name} exited with {status} before printing {prefix:?}");
            }
            assert!(
                Instant::now() < deadline,
                "{name} printed no line starting with {prefix:?} in {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for `name` to exit; `None` (and the process killed) past `limit`.
    fn wait_exit(&mut self, name: &str, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.child(name);
        loop {
            if let Some(status) = child.try_wait().expect("wait for a child") {
                // Give the readers a moment to collect the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Panics if any child has exited.
    fn assert_alive(&mut self) {
        self.assert_alive_but("");
    }

    /// Panics if any child other than `except` has exited.
    fn assert_alive_but(&mut self, except: &str) {
        for (name, child) in &mut self.children {
            if name == except {
                continue;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited early with {status}");
            }
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            std::thread::sleep(Duration::from_millis(100));
            eprintln!("output of the test's processes:\n{}", self.output());
        }
    }
}

/// A finished run in one mode.
struct Finished {
    /// Exit code of `stampede run` or of the coordinator; `None` if it had to be killed.
    code: Option<i32>,
    /// Time from the first process's start to the run command's exit.
    elapsed: Duration,
    /// What the run command (not the workers) printed.
    output: String,
    /// The `--json` summary.
    summary: Value,
}

impl Finished {
    /// `totals.<field>` of the summary.
    fn total(&self, field: &str) -> u64 {
        self.summary["totals"][field]
            .as_u64()
            .unwrap_or_else(|| panic!("totals.{field} missing: {}", self.summary["totals"]))
    }
}

/// A fresh path for a `--json` summary.
fn json_path() -> PathBuf {
    let path = temp_file("summary.json", "");
    let _ = std::fs::remove_file(&path);
    path
}

/// Starts two `stampede worker --threads 1` processes joining the coordinator
/// `coordinator` started (its address read from its first line).
fn start_workers(procs: &mut Processes, coordinator: &str) {
    let listening = procs.wait_line(coordinator, "coordinator listening on ", LISTEN_LIMIT);
    let addr = listening.split(',').next().unwrap().trim().to_string();
    for name in ["worker-1", "worker-2"] {
        procs.spawn(
            name,
            &[
                "worker",
                "--coordinator",
                &addr,
                "--token",
                TOKEN,
                "--threads",
                "1",
            ],
        );
    }
}

/// Runs `args` (run and load flags, no command) against `url` in `mode`
/// with a JSON summary; the run command is killed past `limit`. Two shards
/// in every mode: `--threads 2` in one process, one per worker otherwise.
fn run_in(mode: Mode, url: &str, args: &[&str], limit: Duration) -> Finished {
    let mut procs = Processes::default();
    let json = json_path();
    let json_arg = json.to_str().unwrap();
    let common = ["--host", url, "--json", json_arg, "--only-summary"];
    let started = Instant::now();
    let name = match mode {
        Mode::Single => {
            let all = [&["run", "--threads", "2"], &common[..], args].concat();
            procs.spawn("run", &all);
            "run"
        }
        Mode::Processes => {
            let head = ["run", "--processes", "2", "--threads", "1"];
            let all = [&head[..], &common[..], args].concat();
            procs.spawn("run", &all);
            "run"
        }
        Mode::Coordinator => {
            let head = [
                "coordinator",
                "--bind",
                "127.0.0.1:0",
                "--token",
                TOKEN,
                "--expect-workers",
                "2",
            ];
            let all = [&head[..], &common[..], args].concat();
            procs.spawn("coordinator", &all);
            start_workers(&mut procs, "coordinator");
            "coordinator"
        }
    };
    let status = procs.wait_exit(name, limit);
    let elapsed = started.elapsed();
    if mode == Mode::Coordinator {
        for worker in ["worker-1", "worker-2"] {
            let exited = procs.wait_exit(worker, WORKER_EXIT_LIMIT);
            assert!(exited.is_some(), "{mode:?}: {worker} kept running");
        }
    }
    let output = procs.output_of(name);
    let text = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("{mode:?}: no JSON summary ({e}):\n{}", procs.output()));
    let _ = std::fs::remove_file(&json);
    let summary = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{mode:?}: the summary is not JSON ({e}): {text}"));
    Finished {
        code: status.and_then(|s| s.code()),
        elapsed,
        output,
        summary,
    }
}

/// A threshold that fails for sure stops a paced 60 s run within 20 s with
/// exit 99 and stop reason threshold_failed in every mode, with the
/// target's exact count.
#[test]
fn abort_on_fail_stops_every_mode_early_with_exit_99() {
    let _serial = serial();
    for mode in MODES {
        let target = TargetProcess::start();
        let args = [
            "--path",
            "/status/500",
            "--rate",
            "200",
            "--run-time",
            "60s",
            "--threshold",
            "error_rate < 1%",
            "--abort-on-fail",
            "--abort-delay",
            "1s",
        ];
        let run = run_in(mode, &target.url(), &args, Duration::from_secs(45));
        eprintln!(
            "{mode:?}: exit {:?} after {:?}, {} requests",
            run.code, run.elapsed, run.summary["totals"]["requests"]
        );
        assert_eq!(run.code, Some(99), "{mode:?}:\n{}", run.output);
        assert!(
            run.elapsed < Duration::from_secs(20),
            "{mode:?}: took {:?} of a 60 s run:\n{}",
            run.elapsed,
            run.output
        );
        assert!(
            run.output.contains("stopped by threshold_failed"),
            "{mode:?}: the summary names the stop reason:\n{}",
            run.output
        );
        assert!(
            run.output.contains("run aborted (--abort-on-fail)"),
            "{mode:?}:\n{}",
            run.output
        );
        let requests = run.total("requests");
        assert!(requests > 0, "{mode:?}: no request was sent");
        assert_eq!(
            requests,
            target.stats().0,
            "{mode:?}: totals.requests vs the target's count"
        );
        assert_eq!(
            run.total("failures"),
            requests,
            "{mode:?}: every /status/500 is a failure"
        );
    }
}

/// `stampede coordinator --web`: POST /api/load {"users": 6} reaches both
/// workers (3 users each, split by cores), /api/stop ends the test, and the
/// final JSON counts what the target served.
#[test]
fn live_load_change_reaches_every_worker() {
    let _serial = serial();
    let target = TargetProcess::start();
    let web: SocketAddr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let json = json_path();
    let mut procs = Processes::default();
    procs.spawn(
        "coordinator",
        &[
            "coordinator",
            "--bind",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--expect-workers",
            "2",
            "--web",
            &web.to_string(),
            "--autostart",
            "--host",
            &target.url(),
            "-u",
            "2",
            "--run-time",
            "40s",
            "--json",
            json.to_str().unwrap(),
            "--only-summary",
        ],
    );
    start_workers(&mut procs, "coordinator");
    let test_started = Instant::now();

    let get = |path: &str| -> Value {
        http_request(web, "GET", path, None, HTTP_LIMIT)
            .and_then(|r| r.json())
            .unwrap_or(Value::Null)
    };
    let mut stats = Value::Null;
    let running = wait_until(Duration::from_secs(20), || {
        stats = get("/api/stats");
        stats["state"] == "running" && stats["user_count"] == 2
    });
    procs.assert_alive();
    assert!(running, "the test did not run with 2 users: {stats}");

    let answer: HttpResponse = http_request(
        web,
        "POST",
        "/api/load",
        Some(br#"{"users": 6}"#),
        HTTP_LIMIT,
    )
    .expect("POST /api/load");
    assert_eq!(answer.status, 200, "{}", answer.text());

    let spread = wait_until(Duration::from_secs(15), || {
        stats = get("/api/stats");
        let workers = stats["workers"].as_array().cloned().unwrap_or_default();
        stats["user_count"] == 6 && workers.len() == 2 && workers.iter().all(|w| w["users"] == 3)
    });
    procs.assert_alive();
    assert!(
        spread,
        "6 users cluster-wide, 3 on each worker: user_count {}, workers {}",
        stats["user_count"], stats["workers"]
    );
    let mut connections = 0;
    let connected = wait_until(Duration::from_secs(15), || {
        connections = target.stats().1;
        connections >= 6
    });
    assert!(connected, "the target saw {connections} connections, not 6");

    let answer =
        http_request(web, "POST", "/api/stop", Some(b"{}"), HTTP_LIMIT).expect("POST /api/stop");
    assert_eq!(answer.status, 200, "{}", answer.text());
    let mut state = Value::Null;
    let finished = wait_until(Duration::from_secs(20), || {
        state = get("/api/state");
        state["state"] == "finished"
    });
    assert!(finished, "the test did not finish after /api/stop: {state}");
    assert_eq!(state["stop_reason"], "stop_request", "{state}");
    assert!(
        test_started.elapsed() < Duration::from_secs(40),
        "the test outlived its run time; the stop was not what ended it"
    );

    let text = std::fs::read_to_string(&json).expect("the --json summary is written");
    let summary: Value = serde_json::from_str(&text).expect("summary JSON");
    let requests = summary["totals"]["requests"]
        .as_u64()
        .expect("totals.requests");
    assert!(requests > 0);
    assert_eq!(
        requests,
        target.stats().0,
        "totals.requests vs the target's count"
    );
    assert_eq!(summary["totals"]["failures"], 0, "{}", summary["failures"]);
    let peak = summary["timeseries"]
        .as_array()
        .expect("timeseries")
        .iter()
        .filter_map(|p| p["users"].as_u64())
        .max();
    assert_eq!(peak, Some(6), "the series shows the 6 users");

    // Ctrl-C ends the web session; the workers are let go.
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(procs.child("coordinator").id() as i32, libc::SIGINT) };
    let status = procs.wait_exit("coordinator", Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "the coordinator's exit after Ctrl-C: {status:?}"
    );
    for worker in ["worker-1", "worker-2"] {
        assert!(
            procs.wait_exit(worker, WORKER_EXIT_LIMIT).is_some(),
            "{worker} kept running"
        );
    }
    let _ = std::fs::remove_file(&json);
}

/// Key paths that may legitimately differ between modes, each with why.
/// Everything else in the summary must be the same set in every mode.
const MODE_SPECIFIC_KEYS: &[(&str, &str)] = &[(
    "generator.processes[].worker",
    "a worker's id, given only for the worker processes of a distributed run",
)];

/// Key paths whose presence depends on the run's data, not on its mode: an
/// array of scalars shows `[]` only when it has items.
const DATA_DEPENDENT_KEYS: &[(&str, &str)] = &[
    (
        "generator.saturation.reasons[]",
        "listed only when the generator was saturated, which depends on machine load",
    ),
    (
        "generator.saturation.busy_intervals[]",
        "listed only when some second's shard was over the busy limit (machine load)",
    ),
    (
        "generator.saturation.lag_intervals[]",
        "listed only when some second's schedule lag was over its limit (machine load)",
    ),
];

/// The summary's key paths less the allowed differences.
fn comparable_keys(summary: &Value) -> BTreeSet<String> {
    let mut keys = key_paths(summary);
    for (key, _why) in MODE_SPECIFIC_KEYS.iter().chain(DATA_DEPENDENT_KEYS) {
        keys.remove(*key);
    }
    keys
}

/// The same `-u 2 -n 2000` run in every mode writes a JSON summary with the
/// same key paths, and each counts exactly 2000 requests, as the target does.
#[test]
fn json_summary_has_the_same_keys_in_every_mode() {
    let _serial = serial();
    let mut reference: Option<(Mode, BTreeSet<String>)> = None;
    for mode in MODES {
        let target = TargetProcess::start();
        let run = run_in(
            mode,
            &target.url(),
            &["-u", "2", "-n", "2000"],
            Duration::from_secs(60),
        );
        assert_eq!(run.code, Some(0), "{mode:?}:\n{}", run.output);
        assert_eq!(run.total("requests"), 2000, "{mode:?}:\n{}", run.output);
        assert_eq!(
            run.total("failures"),
            0,
            "{mode:?}: {}",
            run.summary["failures"]
        );
        assert_eq!(target.stats().0, 2000, "{mode:?}: the target's count");
        let keys = comparable_keys(&run.summary);
        assert!(keys.contains("totals.latency_ms.p99"), "{mode:?}: {keys:?}");
        match &reference {
            None => reference = Some((mode, keys)),
            Some((first, expected)) => {
                let missing: Vec<&String> = expected.difference(&keys).collect();
                let extra: Vec<&String> = keys.difference(expected).collect();
                assert!(
                    missing.is_empty() && extra.is_empty(),
                    "{mode:?} vs {first:?}: missing {missing:?}, extra {extra:?}"
                );
            }
        }
    }
}

/// A web coordinator that lost a worker (SIGKILL) during a first test runs a
/// second, iteration-bounded test on the worker left: it ends by itself with
/// exactly the requests the target counted, and the state lists one worker.
#[test]
fn web_coordinator_runs_a_second_test_after_losing_a_worker() {
    let _serial = serial();
    let target = TargetProcess::start();
    let web: SocketAddr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut procs = Processes::default();
    procs.spawn(
        "coordinator",
        &[
            "coordinator",
            "--expect-workers",
            "2",
            "--web",
            &web.to_string(),
            "--bind",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--host",
            &target.url(),
            "-u",
            "2",
            // Bounds every test; the start requests below set their own end.
            "--run-time",
            "60s",
        ],
    );
    start_workers(&mut procs, "coordinator");
    let get = |path: &str| -> Value {
        http_request(web, "GET", path, None, HTTP_LIMIT)
            .and_then(|r| r.json())
            .unwrap_or(Value::Null)
    };
    let post = |path: &str, body: &[u8]| -> HttpResponse {
        http_request(web, "POST", path, Some(body), HTTP_LIMIT)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    };
    let mut state = Value::Null;
    let joined = wait_until(Duration::from_secs(20), || {
        state = get("/api/state");
        state["state"] == "idle" && state["workers"] == 2
    });
    procs.assert_alive();
    assert!(joined, "both workers joined the idle coordinator: {state}");

    // Test 1: 4 s on both workers; worker-2 is killed while it runs.
    let answer = post("/api/start", br#"{"run_time": "4s"}"#);
    assert_eq!(answer.status, 202, "first start: {}", answer.text());
    assert!(
        wait_until(Duration::from_secs(10), || target.stats().0 > 0),
        "the first test reached the target"
    );
    let worker = procs.child("worker-2");
    let _ = worker.kill();
    let _ = worker.wait();
    let finished = wait_until(Duration::from_secs(20), || {
        state = get("/api/state");
        state["state"] == "finished"
    });
    assert!(finished, "the first test did not finish: {state}");
    assert_eq!(state["stop_reason"], "run_time", "{state}");
    let first = get("/api/report.json");
    assert!(
        first["totals"]["requests"].as_u64() > Some(0),
        "first report: {}",
        first["totals"]
    );
    assert!(
        procs.output_of("coordinator").contains(" lost: "),
        "the worker was lost during the first test (not between tests):\n{}",
        procs.output()
    );
    let dropped = wait_until(Duration::from_secs(10), || {
        state = get("/api/state");
        state["workers"] == 1
    });
    assert!(dropped, "the lost worker left the cluster: {state}");

    // Test 2: 200 iterations on the worker left end the test by themselves.
    let before = target.stats().0;
    let answer = post("/api/start", br#"{"iterations": 200}"#);
    assert_eq!(answer.status, 202, "second start: {}", answer.text());
    let finished = wait_until(Duration::from_secs(20), || {
        state = get("/api/state");
        state["state"] == "finished"
    });
    assert!(
        finished,
        "the second test did not end by itself within 20 s: {state}\n{}",
        procs.output()
    );
    assert_eq!(state["stop_reason"], "completed", "{state}");
    assert_eq!(state["workers"], 1, "{state}");
    let second = get("/api/report.json");
    assert_eq!(
        second["totals"]["requests"], 200,
        "report.json totals: {}",
        second["totals"]
    );
    assert_eq!(second["totals"]["failures"], 0, "{}", second["failures"]);
    assert_eq!(
        target.stats().0 - before,
        200,
        "the target's count for the second test"
    );
    procs.assert_alive_but("worker-2");
}
