//! Flags that would do nothing, or that a mode cannot honour, are refused
//! before anything starts: exit 2 within seconds, one `error:` line on
//! stderr naming the flag (the exact messages of engine/src/config/load.rs
//! and capacity_cmd.rs), nothing on stdout, and no request at the target.
//!
//! Each case is one `stampede` process with `--host` pointing at a
//! stampede-target on 127.0.0.1, run in an empty directory (no
//! `./stampede.conf`) without the caller's `STAMPEDE_*` variables, and
//! killed if it outlives its limit.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stampede_tests::webdriver::wait_until;
use stampede_tests::{bin, serial, temp_file, TargetProcess};

/// How long a refusal may take; it happens before any work, so this only
/// catches a process that started running instead.
const LIMIT: Duration = Duration::from_secs(10);

/// A child process killed on drop, whatever path the test takes, until
/// its output is collected.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a refused command did.
struct Refusal {
    /// Exit code; `None` when it had to be killed (or died of a signal).
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `stampede ARGS --host URL` in `dir` with `env` added (and no other
/// `STAMPEDE_*` variable), killed past [`LIMIT`].
fn refuse(args: &[&str], url: &str, dir: &Path, env: &[(&str, &str)]) -> Refusal {
    let all = [args, &["--host", url]].concat();
    refuse_exactly(&all, dir, env)
}

/// Runs `stampede ARGS` as [`refuse`] does, adding nothing (`stampede
/// worker` takes no `--host`).
fn refuse_exactly(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Refusal {
    let mut command = Command::new(bin("stampede"));
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("STAMPEDE_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    let mut guard = Guard(Some(command.spawn().expect("start stampede")));
    let exited = wait_until(LIMIT, || {
        let child = guard.0.as_mut().expect("the child");
        child.try_wait().ok().flatten().is_some()
    });
    assert!(exited, "{args:?} still ran after {LIMIT:?}");
    let child = guard.0.take().expect("the child");
    let output = child.wait_with_output().expect("collect stampede output");
    Refusal {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// One refused command: its arguments (before `--host`), the environment
/// variables it adds, and the whole stderr line expected.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, String);

/// Each misplaced flag exits 2 with the one line that names it, prints
/// nothing else and sends nothing to the target.
#[test]
fn misplaced_flags_exit_2_with_one_line_naming_the_flag() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    // A fresh directory holding only this file (not `stampede.conf`, so it
    // is read only where --config names it); every case runs in it.
    let conf_file = temp_file("bind.conf", "bind = 127.0.0.1:0\n");
    let dir = conf_file.parent().expect("temp dir").to_path_buf();
    let conf_arg = conf_file.to_str().unwrap();
    let fresh_token = "--processes starts its own workers on loopback with a fresh token; \
                       use `stampede coordinator` to choose where workers join";
    let conf_bind = format!(
        "error: {}, line 1, key 'bind': {fresh_token}",
        conf_file.display()
    );
    let env_bind = format!("error: environment variable STAMPEDE_BIND: {fresh_token}");
    let locust_conf = dir.join("locust.conf");
    std::fs::write(
        &locust_conf,
        "locustfile = ./locustfile.py\nusers = 5\nrun-time = 5s\n",
    )
    .unwrap();
    let locust_conf_arg = locust_conf.to_str().unwrap();
    let aws_keys = vec![
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "not-a-secret"),
    ];
    let cases: Vec<Case> = vec![
        (
            vec!["run", "--web-auth", "a:b"],
            vec![],
            "error: --web-auth: it protects --web or --metrics; add one".into(),
        ),
        (
            vec!["run", "--autoquit", "3"],
            vec![],
            "error: --autoquit: it ends the process after an --autostart test (with --web) \
             or keeps --metrics up after the run"
                .into(),
        ),
        (
            vec!["run", "--web", "127.0.0.1:0", "--headless"],
            vec![],
            "error: --web: --headless runs without the web UI; drop one of them".into(),
        ),
        (
            // With --token: without one, a warning that any worker may join
            // is printed before the refusal (reported separately).
            vec![
                "coordinator",
                "--threads",
                "2",
                "--expect-workers",
                "1",
                "--bind",
                "127.0.0.1:0",
                "--token",
                "refusal-token",
            ],
            vec![],
            "error: --threads: each worker runs its own shards; give --threads to `stampede worker`"
                .into(),
        ),
        (
            // `run` has no --bind flag; a conf file or STAMPEDE_BIND can set it.
            vec!["run", "--processes", "2", "--config", conf_arg],
            vec![],
            conf_bind,
        ),
        (
            vec!["run", "--processes", "2"],
            vec![("STAMPEDE_BIND", "127.0.0.1:0")],
            env_bind,
        ),
        (
            vec!["capacity", "--slo", "p95<1s", "--web"],
            vec![],
            "error: --web: not available in a capacity search".into(),
        ),
        (
            vec!["run", "--remote-write-interval", "1s"],
            vec![],
            "error: --remote-write-interval: it paces --prometheus-remote-write; add that".into(),
        ),
        (
            vec!["run", "--metrics", "0.0.0.0:0"],
            vec![],
            "error: --metrics: 0.0.0.0:0 is reachable from other machines; \
             add --web-auth USER:PASSWORD, or bind 127.0.0.1"
                .into(),
        ),
        (
            // A locustfile on the command line too (Locust's -f), with its name.
            vec!["run", "-f", "locustfile.py"],
            vec![],
            "error: -f locustfile.py: stampede runs TOML scenarios, not locustfiles; see \
             docs/locust.md for the scenario that does what a locustfile does"
                .into(),
        ),
        (
            // A Locust conf naming a locustfile must not become a GET flood of the host.
            vec!["run", "--config", locust_conf_arg],
            vec![],
            format!(
                "error: {}, line 1, key 'locustfile': stampede runs TOML scenarios, not \
                 locustfiles ('./locustfile.py'); give one with -f FILE.toml (the format: \
                 docs/scenario.md; from a locustfile: docs/locust.md)",
                locust_conf.display()
            ),
        ),
        (
            // Locust's flags that stampede does not honour name the equivalent.
            vec!["run", "--logfile", "locust.log"],
            vec![],
            "error: --logfile: stampede writes its warnings and errors to stderr; redirect it \
             (2> FILE)"
                .into(),
        ),
        (
            vec!["run", "--reset-stats"],
            vec![],
            "error: --reset-stats: stampede's reports cover the whole run; to leave the ramp-up \
             out, run the steady load alone (--stages, or -u with a fast --spawn-rate) and judge \
             it with thresholds after --abort-delay (docs/locust.md)"
                .into(),
        ),
        (
            // A --web-auth without a colon must not leave /metrics open.
            vec!["run", "--metrics", "0.0.0.0:0", "--web-auth", "nocolon"],
            vec![],
            "error: --web-auth: give USER:PASSWORD, both non-empty".into(),
        ),
        (
            // Checked before anything starts (a coordinator would wait for workers first).
            vec![
                "coordinator",
                "--expect-workers",
                "1",
                "--bind",
                "127.0.0.1:0",
                "--token",
                "t",
                "--prometheus-remote-write",
                "ftp://127.0.0.1:9/w",
            ],
            vec![],
            "error: --prometheus-remote-write: only http:// URLs are supported, not ftp://".into(),
        ),
        (
            vec!["run", "--jsonl", "-"],
            vec![],
            "error: --jsonl: lines on standard output would mix with the tables; add --quiet".into(),
        ),
        (
            vec!["run", "--metrics-buckets", "1ms,10ms"],
            vec![],
            "error: --metrics-buckets: it shapes --metrics, --web's /metrics or \
             --prometheus-remote-write; add one"
                .into(),
        ),
        (
            vec![
                "run",
                "--step-users",
                "1",
                "--step-time",
                "1s",
                "--processes",
                "2",
            ],
            vec![],
            "error: --step-users: step load is not supported in distributed runs; \
             write it as --stages"
                .into(),
        ),
        (
            vec!["run", "--aws-sigv4-mode", "query"],
            vec![],
            "error: --aws-sigv4-mode: it needs --aws-sigv4 aws:amz:REGION:SERVICE, which is \
             not given"
                .into(),
        ),
        (
            vec!["run", "--aws-sigv4", "aws:amz:us-east-1:s3", "--aws-sigv4-mode", "url"],
            aws_keys.clone(),
            "error: --aws-sigv4-mode: 'url': give header (the Authorization header) or query \
             (a presigned URL)"
                .into(),
        ),
        (
            vec![
                "run",
                "--aws-sigv4",
                "aws:amz:us-east-1:s3",
                "--aws-sigv4-expires",
                "60",
            ],
            aws_keys.clone(),
            "error: --aws-sigv4-expires: X-Amz-Expires belongs to a presigned URL: add \
             --aws-sigv4-mode query"
                .into(),
        ),
        (
            vec![
                "run",
                "--aws-sigv4",
                "aws:amz:us-east-1:s3",
                "--aws-sigv4-mode",
                "query",
                "--aws-sigv4-expires",
                "604801",
            ],
            aws_keys.clone(),
            "error: --aws-sigv4-expires: '604801': give whole seconds from 1 to 604800 \
             (seven days)"
                .into(),
        ),
        (
            vec![
                "run",
                "--aws-sigv4",
                "aws:amz:us-east-1:s3",
                "--aws-sigv4-mode",
                "query",
                "--aws-sign-payload",
            ],
            aws_keys.clone(),
            "error: --aws-sign-payload: a presigned S3 URL carries UNSIGNED-PAYLOAD \
             (--aws-sigv4-mode query): drop one of them"
                .into(),
        ),
    ];
    for (args, env, expected) in &cases {
        let started = Instant::now();
        let out = refuse(args, &url, &dir, env);
        let stderr = out.stderr.trim_end();
        assert_eq!(
            out.code,
            Some(2),
            "{args:?} {env:?}: exit after {:?}\nstderr:\n{stderr}\nstdout:\n{}",
            started.elapsed(),
            out.stdout
        );
        assert_eq!(stderr, expected, "{args:?} {env:?}: the one stderr line");
        assert_eq!(out.stdout, "", "{args:?} {env:?}: nothing on stdout");
        assert_eq!(target.stats().0, 0, "{args:?} {env:?}: nothing was sent");
    }

    // `run --bind` itself is not a flag of `run`: the argument parser refuses
    // it (exit 2, naming it first, with its usage lines after).
    let out = refuse(
        &["run", "--processes", "2", "--bind", "127.0.0.1:0"],
        &url,
        &dir,
        &[],
    );
    assert_eq!(out.code, Some(2), "run --bind: {}", out.stderr);
    assert_eq!(
        out.stderr.lines().next(),
        Some("error: unexpected argument '--bind' found"),
        "{}",
        out.stderr
    );
    assert_eq!(target.stats().0, 0, "run --bind: nothing was sent");
}

/// Without a token distributed mode stays on this machine: a coordinator
/// bound to any other address (the default 0.0.0.0 included, from a flag,
/// a Locust conf or `STAMPEDE_BIND`) and a worker pointed at one are each
/// refused with one line saying how to set a token, exit 2, before they
/// listen or connect. On loopback without a token they go ahead.
#[test]
fn without_a_token_coordinators_and_workers_stay_on_loopback() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    let conf = temp_file("master.conf", "master = true\nmaster-bind-host = *\n");
    let dir = conf.parent().expect("temp dir").to_path_buf();
    let worker_conf = dir.join("worker.conf");
    std::fs::write(
        &worker_conf,
        "worker = true\nmaster-host = 0.0.0.0\nmaster-port = 9\n",
    )
    .unwrap();
    let bind_refused = |addr: &str| {
        format!(
            "error: --bind: {addr} is reachable from other machines and there is no token; \
             set one with --token or STAMPEDE_TOKEN (the same on every worker), or bind 127.0.0.1"
        )
    };
    let worker_refused = |addr: &str, ip: &str| {
        format!(
            "error: --coordinator: {addr} ({ip}) is not this machine's loopback and there is no \
             token; set the coordinator's token with --token or STAMPEDE_TOKEN"
        )
    };
    let cases: Vec<Case> = vec![
        (
            vec!["coordinator", "--expect-workers", "1"],
            vec![],
            bind_refused("0.0.0.0:5557"),
        ),
        (
            vec!["coordinator", "--bind", "[::]:0"],
            vec![],
            bind_refused("[::]:0"),
        ),
        (
            vec!["coordinator"],
            vec![("STAMPEDE_BIND", "0.0.0.0:0")],
            bind_refused("0.0.0.0:0"),
        ),
        (
            vec!["run", "--config", conf.to_str().unwrap()],
            vec![],
            bind_refused("0.0.0.0:5557"),
        ),
        (
            // 0.0.0.0 is not loopback (and dialling it stays on this machine).
            vec!["worker", "--coordinator", "0.0.0.0:9"],
            vec![],
            worker_refused("0.0.0.0:9", "0.0.0.0"),
        ),
        (
            vec!["run", "--config", worker_conf.to_str().unwrap()],
            vec![],
            worker_refused("0.0.0.0:9", "0.0.0.0"),
        ),
    ];
    for (args, env, expected) in &cases {
        let worker = args[0] == "worker" || args.iter().any(|a| a.ends_with("worker.conf"));
        let out = if worker {
            refuse_exactly(args, &dir, env)
        } else {
            refuse(args, &url, &dir, env)
        };
        let stderr = out.stderr.trim_end();
        assert_eq!(out.code, Some(2), "{args:?} {env:?}: {stderr}");
        assert_eq!(stderr, expected, "{args:?} {env:?}: the one stderr line");
        assert_eq!(out.stdout, "", "{args:?} {env:?}: nothing on stdout");
    }
    // On loopback without a token: the worker tries (nobody listens) and
    // gives up as usual, exit 1.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("localhost:{port}");
    let out = refuse_exactly(
        &["worker", "--coordinator", &addr, "--connect-timeout", "1s"],
        &dir,
        &[],
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot reach the coordinator"),
        "{}",
        out.stderr
    );
    assert_eq!(target.stats().0, 0, "nothing was sent");
}
