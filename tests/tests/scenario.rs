//! End-to-end tests of scenario files: the music example, wait functions,
//! checks, weighted tasks and malformed files, against stampede-target.

use std::time::Duration;

use stampede_tests::{repo_file, serial, stampede, temp_file, TargetProcess};

const LIMIT: Duration = Duration::from_secs(90);

fn run_scenario(target: &TargetProcess, scenario: &str, extra: &[&str]) -> stampede_tests::Run {
    let url = target.url();
    let mut args = vec!["run", "-f", scenario, "--host", &url, "--threads", "2"];
    args.extend_from_slice(extra);
    stampede(&args, LIMIT)
}

/// The music example logs each account in exactly once (and the admin once in
/// setup), groups playlist ids under one name, and deletes by extracted id.
#[test]
fn music_example_logs_in_once_per_account() {
    let _serial = serial();
    let accounts = repo_file("examples/music-target-accounts.csv");
    let target = TargetProcess::start_with(&["--accounts", accounts.to_str().unwrap()]);
    let example = repo_file("examples/music.toml");
    let run = run_scenario(
        &target,
        example.to_str().unwrap(),
        &["-u", "50", "-n", "120"],
    );
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    let stats = target.stats_json();
    for user in ["admin", "alice", "bob", "carol", "dave"] {
        assert_eq!(
            stats["logins"][user], 1,
            "logins of {user}: {}",
            stats["logins"]
        );
    }
    assert_eq!(stats["logins"].as_object().unwrap().len(), 5);
    assert!(
        stats["statuses"]["404"].as_u64().unwrap_or(0) == 0,
        "a playlist delete missed: {stats}"
    );
    assert_eq!(run.total("failures"), 0, "{}", run.summary()["failures"]);
    assert!(run.endpoint_requests("/api/playlist/[id]") > 0);
    assert_eq!(
        run.endpoint_requests("/api/playlist/[id]"),
        run.endpoint_requests("/api/playlist")
    );
    assert_eq!(
        run.endpoint_requests("/auth/login"),
        4,
        "setup requests are not in the stats"
    );
    // Everything stampede counted reached the target (plus the setup login).
    assert_eq!(
        stats["requests"].as_u64().unwrap(),
        run.total("requests") + 1
    );
}

fn pacing_scenario(wait: &str) -> String {
    format!("[[user]]\nwait = \"{wait}\"\n[[user.task]]\n[[user.task.step]]\npath = \"/\"\n")
}

/// constant_pacing(0.1) and constant_throughput(5) hold their iteration rates.
#[test]
fn pacing_waits_hold_their_rate() {
    let _serial = serial();
    for (wait, expected) in [
        ("constant_pacing(0.1)", 300.0),
        ("constant_throughput(5)", 150.0),
    ] {
        let target = TargetProcess::start();
        let file = temp_file("pacing.toml", &pacing_scenario(wait));
        let run = run_scenario(&target, file.to_str().unwrap(), &["-u", "10", "-t", "3s"]);
        assert!(run.status.success(), "{}", run.stderr);
        let requests = run.total("requests") as f64;
        assert!(
            (requests - expected).abs() <= expected * 0.05,
            "{wait}: {requests} iterations, expected {expected}"
        );
        assert_eq!(target.stats().0 as f64, requests);
    }
}

/// between(a, b) keeps every wait within its bounds.
#[test]
fn between_wait_stays_in_bounds() {
    let _serial = serial();
    let target = TargetProcess::start();
    let file = temp_file("between.toml", &pacing_scenario("between(0.2, 0.3)"));
    let run = run_scenario(&target, file.to_str().unwrap(), &["-u", "5", "-t", "2s"]);
    assert!(run.status.success(), "{}", run.stderr);
    // Each user: one iteration at once, then one every 0.2-0.3 s for 2 s.
    let requests = run.total("requests");
    assert!(
        (5 * 7..=5 * 11).contains(&requests),
        "{requests} iterations"
    );
}

/// Failing checks show in the failures with their message and exact count.
#[test]
fn check_failures_are_counted_with_their_message() {
    let _serial = serial();
    let target = TargetProcess::start();
    let text = "[[user]]\n[[user.task]]\n[[user.task.step]]\npath = \"/\"\ncheck = { status = 200, body_contains = \"nope\" }\n\
                [[user.task.step]]\npath = \"/status/404\"\nname = \"missing\"\ncheck = { status = 404 }\n";
    let file = temp_file("checks.toml", text);
    let run = run_scenario(&target, file.to_str().unwrap(), &["-u", "4", "-n", "25"]);
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.total("requests"), 50);
    assert_eq!(run.failures_of_kind("check"), 25);
    let failure = &run.summary()["failures"][0];
    assert_eq!(failure["message"], "GET /: body does not contain 'nope'");
    assert_eq!(failure["count"], 25);
    assert_eq!(
        run.failures_of_kind("status"),
        0,
        "a status check makes 404 a success"
    );
}

/// A body a check needs is kept up to `--max-body-capture`: 4 KiB bodies
/// pass a body check under the default limit, and every one fails (counted,
/// with the message naming the flag) under a 1 KiB limit; the target counts
/// the same requests either way.
#[test]
fn body_capture_limit_is_configurable() {
    let _serial = serial();
    let target = TargetProcess::start();
    let text = "[[user]]\n[[user.task]]\n[[user.task.step]]\npath = \"/bytes/4096\"\ncheck = { body_contains = \"xxxx\" }\n";
    let file = temp_file("capture.toml", text);
    let run = run_scenario(&target, file.to_str().unwrap(), &["-u", "2", "-n", "20"]);
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!((run.total("requests"), run.total("failures")), (20, 0));
    let run = run_scenario(
        &target,
        file.to_str().unwrap(),
        &["-u", "2", "-n", "20", "--max-body-capture", "1KiB"],
    );
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!((run.total("requests"), run.total("failures")), (20, 20));
    let failure = &run.summary()["failures"][0];
    assert_eq!(
        failure["message"],
        "body larger than --max-body-capture (default 1 MiB) for checks"
    );
    assert_eq!(target.stats().0, 40);
    let bad = run_scenario(
        &target,
        file.to_str().unwrap(),
        &["-n", "1", "--max-body-capture", "lots"],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("--max-body-capture"), "{}", bad.stderr);
}

/// Weighted task selection over 10 000 iterations lands within 3 points of the weights.
#[test]
fn weighted_tasks_follow_their_weights() {
    let _serial = serial();
    let target = TargetProcess::start();
    let text = "[[user]]\n[[user.task]]\nweight = 1\n[[user.task.step]]\npath = \"/bytes/1\"\n\
                [[user.task]]\nweight = 3\n[[user.task.step]]\npath = \"/bytes/2\"\n";
    let file = temp_file("weights.toml", text);
    let run = run_scenario(&target, file.to_str().unwrap(), &["-u", "8", "-n", "10000"]);
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.total("requests"), 10_000);
    let share = run.endpoint_requests("/bytes/1") as f64 / 10_000.0;
    assert!((share - 0.25).abs() <= 0.03, "weight 1 of 4 got {share}");
}

/// A variable used before any step sets it is a counted `template` failure, not a crash.
#[test]
fn unset_variable_is_a_template_failure() {
    let _serial = serial();
    let target = TargetProcess::start();
    let text = "[[user]]\n[[user.task]]\n[[user.task.step]]\npath = \"/item/${later}\"\nname = \"/item\"\n\
                [[user.task.step]]\npath = \"/\"\nextract = { later = \"header:x-never\" }\n";
    let file = temp_file("unset.toml", text);
    let run = run_scenario(&target, file.to_str().unwrap(), &["-u", "2", "-n", "20"]);
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.failures_of_kind("template"), 20);
    assert_eq!(
        target.stats().0,
        0,
        "nothing is sent for a step that cannot be rendered"
    );
}

/// Malformed files fail at load with file, line, column and key; exit code 2.
#[test]
fn malformed_scenarios_name_file_line_column_and_key() {
    let _serial = serial();
    let cases: &[(&str, &str, &str)] = &[
        ("[[user]]\n[[user.task]]\n[[user.task.step]]\npaht = \"/\"\n", ":4:1:", "paht"),
        ("[[user]]\n[[user.task]]\n[[user.task.step]]\npath = \"/${oops\"\n", ":4:8:", "user[0].task[0].step[0].path"),
        ("[[user]]\n[[user.task]]\nweight = \"heavy\"\n[[user.task.step]]\npath = \"/\"\n", ":3:10:", "weight"),
        ("[feeders.a]\nfile = \"nowhere.csv\"\n[[user]]\n[[user.task]]\n[[user.task.step]]\npath = \"/\"\n", ":2:8:", "feeders.a.file"),
        ("[[user]]\n[[user.task]]\n[[user.task.step]]\npath = \"/\"\nheaders = { a = \"${nobody}\" }\n", ":5:17:", "user[0].task[0].step[0].headers.a"),
    ];
    for (text, position, key) in cases {
        let file = temp_file("bad.toml", text);
        let path = file.to_str().unwrap();
        let run = stampede(&["run", "-f", path, "--host", "http://127.0.0.1:9"], LIMIT);
        assert_eq!(run.status.code(), Some(2), "{text}: {}", run.stderr);
        let line = run
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("");
        assert!(
            line.contains(&format!("{path}{position}")),
            "{text}: {line}"
        );
        assert!(line.contains(&format!("'{key}'")), "{text}: {line}");
        assert_eq!(
            run.stderr
                .lines()
                .filter(|l| l.starts_with("error:"))
                .count(),
            1
        );
    }
}

/// Locust's -T/--tags and -E/--exclude-tags select scenario tasks by their
/// `tags`; `--json` without a file prints the summary alone on stdout. The
/// target's per-path counts show which tasks ran.
#[test]
fn tags_select_tasks_and_json_goes_to_stdout() {
    let _serial = serial();
    let target = TargetProcess::start_with(&["--count-paths"]);
    let scenario = temp_file(
        "tagged.toml",
        r#"
[[user]]
[[user.task]]
tags = ["browse"]
[[user.task.step]]
path = "/bytes/1"
[[user.task]]
tags = ["buy", "slow"]
[[user.task.step]]
path = "/bytes/2"
[[user.task]]
[[user.task.step]]
path = "/bytes/3"
"#,
    );
    let output = std::process::Command::new(stampede_tests::bin("stampede"))
        .args([
            "run",
            "-f",
            scenario.to_str().unwrap(),
            "--host",
            &target.url(),
        ])
        .args([
            "-u",
            "2",
            "-n",
            "60",
            "--threads",
            "1",
            "-T",
            "browse",
            "buy",
            "-E",
            "slow",
        ])
        .args(["--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not the JSON alone: {e}"));
    assert_eq!(summary["totals"]["requests"], 60);
    let paths = &target.stats_json()["paths"];
    // Only "browse" is left: "buy" is excluded by its "slow" tag, the untagged task by -T.
    assert_eq!(paths["/bytes/1"], 60, "{paths}");
    assert!(
        paths.get("/bytes/2").is_none() && paths.get("/bytes/3").is_none(),
        "{paths}"
    );
}

/// Users keep no captured body between requests: 2000 users each check
/// one 1 MiB body and stay, and the generator's peak memory stays under
/// 500 MiB, and under one MiB per body checked (each user keeping its body
/// would take one more MiB per user served), because body buffers go back
/// to the shard once a response is judged. The target paces the run
/// (`--max-rps 200`), far below what loopback carries, so only a few bodies
/// are in flight at once; the users still queued at the end are cut off.
/// The body comes from the target's cache: a debug build fills `/bytes/N`
/// byte by byte, too slowly for this pace on a busy machine.
#[test]
fn captured_bodies_are_not_kept_per_user() {
    let _serial = serial();
    let target = TargetProcess::start_with(&["--max-rps", "200"]);
    let text = "[[user]]\nwait = \"constant(60)\"\n[[user.task]]\n[[user.task.step]]\n\
                path = \"/compressed/1048576?enc=identity\"\ncheck = { body_contains = \"song 0\" }\n";
    let file = temp_file("big-bodies.toml", text);
    let url = target.url();
    let run = stampede(
        &[
            "run",
            "-f",
            file.to_str().unwrap(),
            "--host",
            &url,
            "--threads",
            "1",
            "-u",
            "2000",
            "--spawn-rate",
            "1000",
            "--run-time",
            "6s",
            "--stop-timeout",
            "1s",
        ],
        LIMIT,
    );
    assert!(run.status.success(), "{}", run.stderr);
    let (requests, failures) = (run.total("requests"), run.total("failures"));
    assert_eq!(
        failures,
        run.failures_of_kind("cut_off"),
        "{}",
        run.summary()["failures"]
    );
    let checked = requests - failures;
    // A busy machine checks fewer in the time; 300 MiB of bodies is still
    // well above the generator's own few tens of MiB.
    assert!(
        checked >= 300,
        "only {checked} bodies checked: too few to mean anything"
    );
    let max_rss_mib = run.summary()["generator"]["max_rss_kb"].as_u64().unwrap() / 1024;
    assert!(
        max_rss_mib < 500 && max_rss_mib < checked,
        "max RSS {max_rss_mib} MiB after checking {checked} bodies of 1 MiB"
    );
}
