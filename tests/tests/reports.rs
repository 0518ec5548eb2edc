//! End-to-end tests of the CSV reports and thresholds: stampede against
//! stampede-target on 127.0.0.1, comparing the CSV files with the JSON summary
//! and the target's own count, and asserting the exit codes thresholds set.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use stampede_tests::{serial, stampede, Run, TargetProcess};

/// Generous wall-clock limit for short runs; a hang fails the test, not CI.
const LIMIT: Duration = Duration::from_secs(60);
/// Locust's CSV headers, recorded from Locust itself.
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/locust-csv-headers.txt"
);

fn args<'a>(target: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["run", "--host", target, "--threads", "2"];
    all.extend_from_slice(extra);
    all
}

/// A fresh, empty directory for one test's files.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stampede-reports-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The header line the fixture records for `file` (e.g. `stats.csv`), with its `\r\n`.
fn fixture_header(file: &str) -> String {
    let text = fs::read_to_string(FIXTURE).unwrap_or_else(|e| {
        panic!("the Locust CSV header fixture {FIXTURE} is required and cannot be read: {e}")
    });
    let label = format!("PREFIX_{file}:");
    let mut lines = text.split('\n');
    lines
        .by_ref()
        .find(|line| line.trim_end() == label)
        .unwrap_or_else(|| panic!("{FIXTURE} has no {label}"));
    format!(
        "{}\n",
        lines
            .next()
            .unwrap_or_else(|| panic!("{FIXTURE}: no header after {label}"))
    )
}

/// A CSV file's text and its rows (stampede's test names need no quoting).
fn read_csv(path: &PathBuf) -> (String, Vec<Vec<String>>) {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rows = text
        .split_terminator("\r\n")
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (text, rows)
}

/// The cell of `row` under the header `column`.
fn cell<'a>(rows: &'a [Vec<String>], row: &'a [String], column: &str) -> &'a str {
    let index = rows[0]
        .iter()
        .position(|c| c == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    &row[index]
}

fn thresholds(run: &Run) -> &Vec<serde_json::Value> {
    run.summary()["thresholds"]
        .as_array()
        .expect("thresholds array")
}

/// `--csv` writes Locust's four files with Locust's headers, and their totals equal the JSON's and the target's.
#[test]
fn csv_totals_match_json_and_target() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    let dir = scratch_dir("csv");
    let prefix = dir.join("run");
    let prefix_text = prefix.display().to_string();
    let run = stampede(
        &args(
            &url,
            &[
                "-u",
                "5",
                "-n",
                "500",
                "--csv",
                &prefix_text,
                "--csv-full-history",
            ],
        ),
        LIMIT,
    );
    assert!(run.status.success(), "{}", run.stderr);
    let target_requests = target.stats().0;
    assert_eq!((run.total("requests"), target_requests), (500, 500));

    let files = [
        "stats.csv",
        "stats_history.csv",
        "failures.csv",
        "exceptions.csv",
    ];
    let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(format!("run_{f}"))).collect();
    for (file, path) in files.iter().zip(&paths) {
        let (text, _) = read_csv(path);
        assert!(
            text.starts_with(&fixture_header(file)),
            "{file} header differs from Locust's:\n{text}"
        );
    }

    let (_, stats) = read_csv(&paths[0]);
    assert_eq!(stats.len(), 3, "header, GET /, Aggregated: {stats:?}");
    let (get, total) = (&stats[1], &stats[2]);
    assert_eq!((&get[0][..], &get[1][..]), ("GET", "/"));
    assert_eq!((&total[0][..], &total[1][..]), ("", "Aggregated"));
    for row in [get, total] {
        assert_eq!(
            cell(&stats, row, "Request Count"),
            run.total("requests").to_string()
        );
        assert_eq!(
            cell(&stats, row, "Failure Count"),
            run.total("failures").to_string()
        );
    }
    let p50_ms: f64 = cell(&stats, total, "50%").parse().unwrap();
    let json_p50_ms = run.summary()["totals"]["latency_ms"]["p50"]
        .as_f64()
        .unwrap();
    assert!(
        (p50_ms - json_p50_ms).abs() < 0.001,
        "{p50_ms} vs {json_p50_ms}"
    );

    let (_, history) = read_csv(&paths[1]);
    let aggregated: Vec<&Vec<String>> = history[1..]
        .iter()
        .filter(|r| r[3] == "Aggregated")
        .collect();
    let endpoint_rows = history[1..]
        .iter()
        .filter(|r| r[2] == "GET" && r[3] == "/")
        .count();
    assert!(
        !aggregated.is_empty() && endpoint_rows == aggregated.len(),
        "{history:?}"
    );
    let last = aggregated.last().unwrap();
    assert_eq!(cell(&history, last, "Total Request Count"), "500");
    let started_s = run.summary()["started_unix_ms"].as_u64().unwrap() / 1_000;
    for row in &aggregated {
        let timestamp: u64 = row[0].parse().unwrap();
        assert!(
            (started_s..=started_s + 60).contains(&timestamp),
            "{timestamp} vs start {started_s}"
        );
    }

    for path in &paths[2..] {
        assert_eq!(read_csv(path).1.len(), 1, "{}: header only", path.display());
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// All thresholds passing exits 0; one failing exits 99 and the reports are still written.
#[test]
fn thresholds_pass_or_fail_the_exit_code() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    let passing = [
        "p99 < 10s",
        "error_rate < 1%",
        "requests == 500",
        "failures == 0",
        "rps > 1",
    ];
    let mut extra = vec!["-u", "5", "-n", "500"];
    for t in &passing {
        extra.extend(["--threshold", t]);
    }
    let run = stampede(&args(&url, &extra), LIMIT);
    assert_eq!(run.status.code(), Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("All 5 thresholds passed."),
        "{}",
        run.stdout
    );
    let verdicts = thresholds(&run);
    assert_eq!(verdicts.len(), 5);
    assert!(verdicts.iter().all(|v| v["passed"] == true), "{verdicts:?}");
    assert_eq!(verdicts[2]["actual"], 500.0);

    let dir = scratch_dir("fail");
    let prefix = dir.join("slow").display().to_string();
    let extra = [
        "--path",
        "/delay/20",
        "-u",
        "5",
        "-n",
        "50",
        "--csv",
        &prefix,
    ];
    let mut extra = extra.to_vec();
    extra.extend(["--threshold", "p95 < 5ms", "--threshold", "requests == 50"]);
    let run = stampede(&args(&url, &extra), LIMIT);
    assert_eq!(
        run.status.code(),
        Some(99),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains("1 of 2 thresholds FAILED."),
        "{}",
        run.stdout
    );
    let failed = run
        .stdout
        .lines()
        .find(|l| l.starts_with("p95 < 5ms"))
        .expect("verdict row");
    assert!(failed.ends_with("| FAIL"), "{failed}");
    let verdicts = thresholds(&run);
    assert!(
        verdicts[0]["passed"] == false && verdicts[1]["passed"] == true,
        "{verdicts:?}"
    );
    assert!(
        verdicts[0]["actual"].as_f64().unwrap() >= 20.0,
        "{verdicts:?}"
    );
    assert_eq!(run.total("requests"), 50);
    assert!(
        dir.join("slow_stats.csv").exists(),
        "a failed threshold still writes the CSV"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// A per-endpoint threshold judges that endpoint; one naming an endpoint without traffic fails with no data.
#[test]
fn per_endpoint_thresholds() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    let extra = ["--path", "/bytes/100", "-u", "2", "-n", "200"];
    let mut judged = extra.to_vec();
    judged.extend([
        "--threshold",
        "\"GET /bytes/100\": requests == 200",
        "--threshold",
        "GET /bytes/100: p50 < 10s",
    ]);
    let run = stampede(&args(&url, &judged), LIMIT);
    assert_eq!(run.status.code(), Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(thresholds(&run)[0]["endpoint"], "GET /bytes/100");

    let mut missing = extra.to_vec();
    missing.extend(["--threshold", "GET /elsewhere: p95 < 1s"]);
    let run = stampede(&args(&url, &missing), LIMIT);
    assert_eq!(
        run.status.code(),
        Some(99),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("GET /elsewhere"))
        .expect("verdict row");
    assert!(row.contains("no data") && row.ends_with("| FAIL"), "{row}");
    assert_eq!(thresholds(&run)[0]["actual"], serde_json::Value::Null);
    assert_eq!(target.stats().0, 400);
}

/// A malformed threshold or an unwritable CSV prefix is bad input: exit 2, one line naming it, no request sent.
#[test]
fn bad_report_input_fails_before_the_run() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    let run = stampede(
        &args(&url, &["-n", "100", "--threshold", "p95 <> 5ms"]),
        LIMIT,
    );
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    let stderr = run.stderr.trim_end();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--threshold") && stderr.contains("'p95 <> 5ms'"),
        "{stderr}"
    );

    let missing =
        std::env::temp_dir().join(format!("stampede-reports-{}-missing", std::process::id()));
    let _ = fs::remove_dir_all(&missing);
    let prefix = missing.join("run").display().to_string();
    let run = stampede(&args(&url, &["-n", "100", "--csv", &prefix]), LIMIT);
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    let stderr = run.stderr.trim_end();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: --csv: cannot write"), "{stderr}");
    assert!(run.json.is_none(), "no run, no summary");
    assert_eq!(target.stats().0, 0, "nothing was sent");
}

/// A report that cannot be written at the end (its directory vanished
/// mid-run) is an error naming it, exit 1, and the other reports are still
/// written: a failed JSON write does not skip the HTML and CSV files.
#[test]
fn a_failed_report_does_not_skip_the_others() {
    let _serial = serial();
    let target = TargetProcess::start();
    let kept = scratch_dir("kept");
    let doomed = scratch_dir("doomed");
    let json = doomed.join("run.json");
    let html = kept.join("run.html");
    let csv = kept.join("run");
    let url = target.url();
    let child = std::process::Command::new(stampede_tests::bin("stampede"))
        .args(args(
            &url,
            &["--rate", "200", "--run-time", "2s", "--only-summary"],
        ))
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .arg("--csv")
        .arg(&csv)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The run is paced for 2 s; the directory goes after the start-up checks.
    std::thread::sleep(Duration::from_millis(700));
    fs::remove_dir_all(&doomed).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot write {}", json.display())),
        "{stderr}"
    );
    assert!(fs::read_to_string(&html).unwrap().contains("</html>"));
    let stats = fs::read_to_string(kept.join("run_stats.csv")).unwrap();
    let total: u64 = stats
        .lines()
        .find(|l| l.contains("Aggregated"))
        .and_then(|l| l.split(',').nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(
        total,
        target.stats().0,
        "the CSV counts what the target got"
    );
    fs::remove_dir_all(&kept).unwrap();
}
