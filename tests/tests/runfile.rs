//! End-to-end tests of run files: `--save-run`, `stampede report` and
//! `stampede compare`, with stampede against stampede-target on 127.0.0.1.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use stampede_tests::{bin, serial, stampede, temp_file, Run, TargetProcess};

/// Generous wall-clock limit for short runs; a hang fails the test, not CI.
const LIMIT: Duration = Duration::from_secs(60);
/// Limit for `report` and `compare`, which only read files.
const TOOL_LIMIT: Duration = Duration::from_secs(20);

/// What a finished `stampede` command printed and how it exited.
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `stampede ARGS` (no flags added), killing it past `limit`.
fn tool(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(bin("stampede"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stampede");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait stampede") {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        code: status.and_then(|s| s.code()),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    assert!(
        status.is_some(),
        "stampede {args:?} ran past {limit:?}\n{}",
        output.stderr
    );
    output
}

/// A fresh, empty directory for one test's files.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stampede-runfile-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(path: &Path) -> String {
    path.display().to_string()
}

/// A closed-loop run of exactly `requests` requests on `path`, saved to `save_run`.
fn saved_run(
    target: &TargetProcess,
    path: &str,
    requests: &str,
    save_run: &Path,
    extra: &[&str],
) -> Run {
    let url = target.url();
    let save_run = text(save_run);
    let mut args = vec![
        "run",
        "--host",
        &url,
        "--path",
        path,
        "--threads",
        "2",
        "-u",
        "2",
        "-n",
        requests,
    ];
    args.extend(["--save-run", &save_run]);
    args.extend_from_slice(extra);
    let run = stampede(&args, LIMIT);
    assert_eq!(run.status.code(), Some(0), "{}\n{}", run.stdout, run.stderr);
    run
}

/// `report` on a saved run writes a JSON summary equal to the live one (totals and every
/// latency percentile included), an identical HTML report, and sends nothing.
#[test]
fn report_reproduces_the_live_reports() {
    let _serial = serial();
    let target = TargetProcess::start();
    let dir = scratch_dir("report");
    let (run_file, live_html) = (dir.join("live.run"), dir.join("live.html"));
    let run = saved_run(
        &target,
        "/",
        "500",
        &run_file,
        &["--html", &text(&live_html)],
    );
    assert_eq!((run.total("requests"), target.stats().0), (500, 500));
    assert!(
        run.stdout
            .contains(&format!("Run saved to {}", run_file.display())),
        "{}",
        run.stdout
    );

    let (json, html) = (dir.join("again.json"), dir.join("again.html"));
    let args = [
        "report",
        &text(&run_file),
        "--json",
        &text(&json),
        "--html",
        &text(&html),
    ];
    let again = tool(&args, TOOL_LIMIT);
    assert_eq!(again.code, Some(0), "{}\n{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("=== Summary"), "{}", again.stdout);
    let replayed: Value = serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    let live = run.summary();
    assert_eq!(replayed["totals"], live["totals"]);
    assert_eq!(replayed["totals"]["requests"], 500);
    for p in ["min", "mean", "p50", "p90", "p95", "p99", "p999", "max"] {
        let (a, b) = (
            &replayed["totals"]["latency_ms"][p],
            &live["totals"]["latency_ms"][p],
        );
        assert!(a.is_f64() && a == b, "{p}: {a} vs {b}");
    }
    assert_eq!(&replayed, live, "the whole summary is the live one");
    assert_eq!(
        fs::read(&html).unwrap(),
        fs::read(&live_html).unwrap(),
        "HTML differs"
    );
    assert_eq!(target.stats().0, 500, "report sends no request");

    // The saved run's thresholds judge it again; --threshold replaces them.
    let failing = tool(
        &["report", &text(&run_file), "--threshold", "p50 < 1us"],
        TOOL_LIMIT,
    );
    assert_eq!(
        failing.code,
        Some(99),
        "{}\n{}",
        failing.stdout,
        failing.stderr
    );
    assert!(
        failing.stdout.contains("1 of 1 thresholds FAILED."),
        "{}",
        failing.stdout
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// `compare` of a run with itself exits 0; a slower RUN against a fast BASE exits 98 and
/// names the p50 regression; the other way round is an improvement (exit 0).
#[test]
fn compare_finds_the_regression() {
    let _serial = serial();
    let target = TargetProcess::start();
    let dir = scratch_dir("compare");
    let (fast, slow) = (dir.join("fast.run"), dir.join("slow.run"));
    let fast_run = saved_run(&target, "/", "400", &fast, &[]);
    saved_run(&target, "/delay/20", "40", &slow, &[]);

    let same = tool(&["compare", &text(&fast), &text(&fast)], TOOL_LIMIT);
    assert_eq!(same.code, Some(0), "{}\n{}", same.stdout, same.stderr);
    assert!(
        same.stdout.contains("No regression beyond 10%"),
        "{}",
        same.stdout
    );

    let worse = tool(
        &["compare", &text(&fast), &text(&slow), "--tolerance", "10%"],
        TOOL_LIMIT,
    );
    assert_eq!(worse.code, Some(98), "{}\n{}", worse.stdout, worse.stderr);
    let p50 = worse
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Aggregated: p50 "));
    assert!(p50.is_some(), "no p50 regression named:\n{}", worse.stdout);
    let row = |name: &str| {
        worse
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .map(str::to_string)
    };
    assert!(
        row("GET / ").is_some_and(|r| r.contains("only in BASE")),
        "{}",
        worse.stdout
    );
    assert!(
        row("GET /delay/20").is_some_and(|r| r.contains("only in RUN")),
        "{}",
        worse.stdout
    );

    let better = tool(&["compare", &text(&slow), &text(&fast)], TOOL_LIMIT);
    assert_eq!(better.code, Some(0), "{}\n{}", better.stdout, better.stderr);

    // A JSON summary serves as BASE too.
    let summary = temp_file("fast.json", &fast_run.summary().to_string());
    let from_json = tool(&["compare", &text(&summary), &text(&slow)], TOOL_LIMIT);
    assert_eq!(
        from_json.code,
        Some(98),
        "{}\n{}",
        from_json.stdout,
        from_json.stderr
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// A corrupt or foreign run file, a bad tolerance and unwritable --save-run or --json
/// paths are bad input: exit 2 with one line, and nothing is sent.
#[test]
fn bad_run_files_and_paths_exit_2() {
    let _serial = serial();
    let target = TargetProcess::start();
    let corrupt = temp_file(
        "corrupt.run",
        "STAMPRUN\u{1}\0 then nothing a run file holds",
    );
    let foreign = temp_file("foreign.run", "Type,Name\n");
    let cases: [(Vec<&str>, &str); 4] = [
        (
            vec!["report", corrupt.to_str().unwrap()],
            "corrupt run file",
        ),
        (
            vec![
                "compare",
                corrupt.to_str().unwrap(),
                foreign.to_str().unwrap(),
            ],
            "corrupt run file",
        ),
        (
            vec![
                "compare",
                foreign.to_str().unwrap(),
                corrupt.to_str().unwrap(),
            ],
            "neither a stampede run file",
        ),
        (
            vec!["compare", "a", "b", "--tolerance", "lots"],
            "--tolerance: invalid tolerance 'lots'",
        ),
    ];
    for (args, expected) in cases {
        let out = tool(&args, TOOL_LIMIT);
        let stderr = out.stderr.trim_end();
        assert_eq!(out.code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
    }

    let missing =
        std::env::temp_dir().join(format!("stampede-runfile-{}-missing", std::process::id()));
    let _ = fs::remove_dir_all(&missing);
    let url = target.url();
    for flag in ["--save-run", "--json"] {
        let path = text(&missing.join("out"));
        let out = tool(&["run", "--host", &url, "-n", "10", flag, &path], LIMIT);
        let stderr = out.stderr.trim_end();
        assert_eq!(out.code, Some(2), "{flag}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("error: {flag}: cannot write")),
            "{stderr}"
        );
    }
    assert_eq!(target.stats().0, 0, "nothing was sent");
}
