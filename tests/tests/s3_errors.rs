//! End-to-end tests of stampede's S3 support against stampede-target: S3
//! XML error documents counted under their named kinds.

use std::time::Duration;

use serde_json::Value;
use stampede_tests::{serial, stampede_env, temp_file, Run, TargetProcess};

const LIMIT: Duration = Duration::from_secs(90);

/// Made-up keys (AWS's documentation example): the target checks no signature.
const KEYS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    (
        "AWS_SECRET_ACCESS_KEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
];

/// One step per S3 error, each answered with its own status so that the
/// target's count of that status is the count of that error; then an error
/// whose code comes after 1 MiB of filler (past what a failure keeps: a
/// huge body without a code where it is read), and a plain-text error.
const ERRORS: [(&str, &str); 8] = [
    ("/s3-error?code=SlowDown&status=503", "503"),
    ("/s3-error?code=NoSuchKey&status=404", "404"),
    ("/s3-error?code=AccessDenied&status=403", "403"),
    ("/s3-error?code=SignatureDoesNotMatch&status=401", "401"),
    ("/s3-error?code=RequestTimeTooSkewed&status=409", "409"),
    ("/s3-error?code=InvalidBucketName&status=400", "400"),
    ("/s3-error?code=SlowDown&status=500&pad=1048576", "500"),
    ("/status/502", "502"),
];

fn error_scenario() -> String {
    let mut text = String::from("[[user]]\n[[user.task]]\n");
    for (path, status) in ERRORS {
        text.push_str(&format!(
            "[[user.task.step]]\npath = \"{path}\"\nname = \"error {status}\"\n"
        ));
    }
    text
}

/// The failures of the run's JSON summary as (kind, message) -> count.
fn failures(run: &Run) -> Vec<(String, String, u64)> {
    let mut all: Vec<(String, String, u64)> = run.summary()["failures"]
        .as_array()
        .expect("failures array")
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
                f["count"].as_u64().unwrap(),
            )
        })
        .collect();
    all.sort();
    all
}

/// The target's count of responses with `status`.
fn served(stats: &Value, status: &str) -> u64 {
    stats["statuses"][status].as_u64().unwrap_or(0)
}

/// Signed requests (`--aws-sigv4`) that get S3 error documents are counted
/// under the document's kind, exactly as many as the target sent; a code the
/// failure's capture did not reach and a plain-text error stay `status`.
#[test]
fn s3_error_codes_are_counted_by_kind() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    let scenario = temp_file("s3-errors.toml", &error_scenario());
    let dir = scenario.parent().unwrap();
    let (csv, html) = (dir.join("run"), dir.join("report.html"));
    let (csv, html) = (csv.to_str().unwrap(), html.to_str().unwrap());
    let args = [
        "run",
        "-f",
        scenario.to_str().unwrap(),
        "--host",
        &url,
        "--threads",
        "2",
        "-u",
        "3",
        "-n",
        "40",
        "--aws-sigv4",
        "aws:amz:us-east-1:s3",
        "--csv",
        csv,
        "--html",
        html,
    ];
    let run = stampede_env(&args, &KEYS, LIMIT);
    // Failures make the exit status 1; the summary is what matters.
    assert!(run.json.is_some(), "{}\n{}", run.stdout, run.stderr);
    let stats = target.stats_json();
    for (_, status) in ERRORS {
        assert_eq!(served(&stats, status), 40, "{status}: {stats}");
    }
    let expected = |kind: &str, message: &str, status: &str| {
        (
            kind.to_string(),
            message.to_string(),
            served(&stats, status),
        )
    };
    let mut want = vec![
        expected("s3_slow_down", "S3 error SlowDown (503)", "503"),
        expected("s3_no_such_key", "S3 error NoSuchKey (404)", "404"),
        expected("s3_access_denied", "S3 error AccessDenied (403)", "403"),
        expected(
            "s3_signature_mismatch",
            "S3 error SignatureDoesNotMatch (401)",
            "401",
        ),
        expected(
            "s3_time_skewed",
            "S3 error RequestTimeTooSkewed (409)",
            "409",
        ),
        expected("s3_error", "S3 error InvalidBucketName (400)", "400"),
        expected("status", "HTTP 500", "500"),
        expected("status", "HTTP 502", "502"),
    ];
    want.sort();
    assert_eq!(failures(&run), want);
    // The console, the CSV failures file and the HTML report name them too.
    let csv_failures = std::fs::read_to_string(format!("{csv}_failures.csv")).unwrap();
    let html = std::fs::read_to_string(html).unwrap();
    for (kind, message, _) in &want {
        let line = format!("{kind}: {message}");
        assert!(
            run.stdout.contains(&line),
            "console: no {line}\n{}",
            run.stdout
        );
        assert!(
            csv_failures.contains(&line),
            "CSV: no {line}\n{csv_failures}"
        );
        assert!(
            html.contains(&format!("<td class=\"text\">{kind}</td>")),
            "HTML: no {kind}"
        );
    }
    assert_eq!(run.total("requests"), stats["requests"].as_u64().unwrap());
}

/// Unsigned requests are not read for S3 codes: the same documents are
/// plain `status` failures.
#[test]
fn unsigned_requests_count_s3_errors_as_status() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    let scenario = temp_file("s3-errors.toml", &error_scenario());
    let args = [
        "run",
        "-f",
        scenario.to_str().unwrap(),
        "--host",
        &url,
        "--threads",
        "1",
        "-u",
        "1",
        "-n",
        "5",
    ];
    let run = stampede_env(&args, &KEYS, LIMIT);
    assert!(run.json.is_some(), "{}\n{}", run.stdout, run.stderr);
    let stats = target.stats_json();
    let all = failures(&run);
    assert!(all.iter().all(|(kind, ..)| kind == "status"), "{all:?}");
    let counted: u64 = all.iter().map(|(.., n)| n).sum();
    assert_eq!(counted, stats["requests"].as_u64().unwrap());
    assert_eq!(counted, 5 * ERRORS.len() as u64);
}

/// A scenario's `aws_sigv4` signs its class's and step's requests with their
/// own scopes, and the run's `--aws-sigv4` signs the rest: stampede-target's
/// `/echo/request` sends back what arrived, and each step's check finds the
/// signature headers and its scope there. No key is printed.
#[test]
fn scenario_sigv4_signs_per_class_and_step() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    let scenario = "\
[[user]]
name = \"signed\"
auth = { aws_sigv4 = { region = \"us-west-2\", service = \"s3\" } }
[[user.task]]
[[user.task.step]]
method = \"PUT\"
path = \"/echo/request\"
body = \"object body\"
name = \"class scope\"
check = { body_contains = \"Credential=AKIDEXAMPLE/\" }
[[user.task.step]]
path = \"/echo/request\"
name = \"class scope date\"
check = { body_contains = \"/us-west-2/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=\" }
[[user.task.step]]
path = \"/echo/request\"
name = \"step scope\"
auth = { aws_sigv4 = { region = \"eu-central-1\", service = \"execute-api\" } }
check = { body_contains = \"/eu-central-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=\" }
[[user.task.step]]
path = \"/redirect-to\"
query = { url = \"/echo/request?hop=1\" }
name = \"step scope redirected\"
auth = { aws_sigv4 = { region = \"eu-central-1\", service = \"execute-api\" } }
check = { body_contains = \"GET /echo/request?hop=1 HTTP/1.1\\r\\nHost: 127.0.0.1\" }
[[user.task.step]]
path = \"/redirect-to\"
query = { url = \"/echo/request?hop=2\" }
name = \"step scope redirected, signed again\"
auth = { aws_sigv4 = { region = \"eu-central-1\", service = \"execute-api\" } }
check = { body_contains = \"/eu-central-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=\" }
[[user.task.step]]
path = \"/echo/request\"
name = \"bearer\"
auth = { bearer = \"t0ken\" }
check = { body_contains = \"Authorization: Bearer t0ken\" }

[[user]]
name = \"run scope\"
[[user.task]]
[[user.task.step]]
path = \"/echo/request\"
name = \"run scope\"
check = { body_contains = \"/ap-south-1/s3/aws4_request\" }
";
    let file = temp_file("sigv4.toml", scenario);
    let args = [
        "run",
        "-f",
        file.to_str().unwrap(),
        "--host",
        &url,
        "--threads",
        "2",
        "-u",
        "4",
        "-n",
        "40",
        "--aws-sigv4",
        "aws:amz:ap-south-1:s3",
    ];
    let run = stampede_env(&args, &KEYS, LIMIT);
    // The bearer step conflicts with the run's signing: refused by name.
    assert_eq!(run.status.code(), Some(2), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("--aws-sigv4"), "{}", run.stderr);
    assert_eq!(target.stats().0, 0, "nothing was sent");

    // Without the bearer step, every step's check holds.
    let start = scenario
        .find("[[user.task.step]]\npath = \"/echo/request\"\nname = \"bearer\"")
        .unwrap();
    let end = scenario.find("\n[[user]]\nname = \"run scope\"").unwrap();
    let scenario = format!("{}{}", &scenario[..start], &scenario[end + 1..]);
    let file = temp_file("sigv4.toml", &scenario);
    let mut args = args;
    args[2] = file.to_str().unwrap();
    let run = stampede_env(&args, &KEYS, LIMIT);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    let requests = run.total("requests");
    assert_eq!(run.total("failures"), 0, "{}", run.summary()["failures"]);
    // Each redirected step is two requests at the target.
    assert_eq!(
        run.total("redirects"),
        2 * run.endpoint_requests("step scope")
    );
    assert_eq!(target.stats().0, requests + run.total("redirects"));
    for name in [
        "class scope",
        "class scope date",
        "step scope",
        "step scope redirected",
        "step scope redirected, signed again",
        "run scope",
    ] {
        assert!(run.endpoint_requests(name) > 0, "{name} ran");
    }
    for output in [&run.stdout, &run.stderr] {
        assert!(!output.contains(KEYS[1].1), "the secret key was printed");
    }

    // A bearer step is fine when the run itself does not sign.
    let file = temp_file("sigv4.toml", &scenario_without_run_scope(scenario.as_str()));
    let args = [
        "run",
        "-f",
        file.to_str().unwrap(),
        "--host",
        &url,
        "--threads",
        "1",
        "-u",
        "1",
        "-n",
        "5",
    ];
    let run = stampede_env(&args, &KEYS, LIMIT);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.total("failures"), 0, "{}", run.summary()["failures"]);
}

/// The scenario's first class only, with a bearer step added.
fn scenario_without_run_scope(scenario: &str) -> String {
    let end = scenario.find("\n[[user]]\nname = \"run scope\"").unwrap();
    format!(
        "{}\n[[user.task.step]]\npath = \"/echo/request\"\nname = \"bearer\"\nauth = {{ bearer = \"t0ken\" }}\n\
         check = {{ body_contains = \"Authorization: Bearer t0ken\" }}\n",
        &scenario[..end]
    )
}

/// A scenario, the environment it loads in, and the position and key its
/// load error must name.
type BadSpec = (
    String,
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

/// Bad `aws_sigv4` specs, and missing keys, fail at load with the file,
/// line and key, exit status 2, and send nothing.
#[test]
fn bad_sigv4_specs_name_file_line_and_key() {
    let _serial = serial();
    let step = "[[user]]\n[[user.task]]\n[[user.task.step]]\npath = \"/\"\n";
    let cases: &[BadSpec] = &[
        (
            format!("{step}auth = {{ aws_sigv4 = {{ region = \"\", service = \"s3\" }} }}\n"),
            &KEYS,
            ":5:",
            "user[0].task[0].step[0].auth.aws_sigv4.region",
        ),
        (
            format!("{step}auth = {{ aws_sigv4 = {{ region = \"us-east-1\", service = \"S 3\" }} }}\n"),
            &KEYS,
            ":5:",
            "user[0].task[0].step[0].auth.aws_sigv4.service",
        ),
        (
            format!("{step}auth = {{ aws_sigv4 = {{ region = \"us-east-1\", service = \"s3\", secret = \"x\" }} }}\n"),
            &KEYS,
            ":5:",
            "secret",
        ),
        (
            format!("{step}auth = {{ aws_sigv4 = {{ region = \"us-east-1\" }} }}\n"),
            &KEYS,
            ":5:",
            "service",
        ),
        (
            format!("{step}auth = {{ bearer = \"t\", aws_sigv4 = {{ region = \"us-east-1\", service = \"s3\" }} }}\n"),
            &KEYS,
            ":5:",
            "user[0].task[0].step[0].auth.aws_sigv4",
        ),
        (
            format!("{step}auth = {{ aws_sigv4 = {{ region = \"us-east-1\", service = \"s3\" }} }}\n"),
            &[
                ("AWS_ACCESS_KEY_ID", ""),
                ("AWS_SECRET_ACCESS_KEY", ""),
                ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"),
            ],
            ":5:",
            "user[0].task[0].step[0].auth.aws_sigv4",
        ),
    ];
    let target = TargetProcess::start();
    let url = target.url();
    for (text, env, position, key) in cases {
        let file = temp_file("bad.toml", text);
        let path = file.to_str().unwrap();
        let run = stampede_env(&["run", "-f", path, "--host", &url, "-n", "1"], env, LIMIT);
        assert_eq!(run.status.code(), Some(2), "{text}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("{path}{position}")),
            "{text}: no {position} in {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(key),
            "{text}: no {key} in {}",
            run.stderr
        );
    }
    assert_eq!(target.stats().0, 0, "nothing was sent");
}
