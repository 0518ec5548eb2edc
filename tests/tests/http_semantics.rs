//! End-to-end tests of stampede's HTTP behaviour against stampede-target:
//! encoding of values, base paths, redirects (and how hops reconcile with
//! the target's count), compression, auth helpers, the per-read timeout,
//! requests cut off at stop, `--http-debug` and failure samples.

use std::time::Duration;

use serde_json::Value;
use stampede_tests::{serial, stampede, temp_file, Run, TargetProcess};

const LIMIT: Duration = Duration::from_secs(90);

/// Runs `scenario` (TOML text) against `host` with `extra` flags.
fn run(name: &str, scenario: &str, host: &str, extra: &[&str]) -> Run {
    let file = temp_file(name, scenario);
    let file = file.to_str().unwrap().to_string();
    let mut args = vec!["run", "-f", &file, "--host", host, "--threads", "1"];
    args.extend_from_slice(extra);
    stampede(&args, LIMIT)
}

fn endpoint<'r>(run: &'r Run, name: &str) -> &'r Value {
    run.summary()["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no endpoint {name}: {}", run.summary()["endpoints"]))
}

/// A redirected request is one request in the stats and its hops are
/// counted as redirects, so requests + redirects equal what the targets
/// received, exactly: same-origin chains, a cross-origin 303 after a POST
/// (continued as GET), a chain longer than --max-redirects, and a step that
/// does not follow.
#[test]
fn redirects_count_once_and_reconcile_with_the_wire() {
    let _serial = serial();
    let first = TargetProcess::start_with(&["--count-paths"]);
    let other = TargetProcess::start_with(&["--count-paths"]);
    let scenario = format!(
        r#"
[[user]]
[[user.task]]
[[user.task.step]]
path = "/redirect/3"
name = "chain"
[[user.task.step]]
method = "POST"
path = "/redirect-to"
query = {{ url = "{other}/echo/request", status = "303" }}
body = "data"
name = "cross"
check = {{ status = 200, body_contains = "GET /echo/request HTTP/1.1" }}
[[user.task.step]]
path = "/redirect/5"
name = "too-long"
[[user.task.step]]
path = "/redirect/1"
name = "not-followed"
follow_redirects = false
check = {{ status = 302 }}
"#,
        other = other.url()
    );
    let run = run(
        "redirects.toml",
        &scenario,
        &first.url(),
        &["-u", "4", "-n", "40", "--max-redirects", "3"],
    );
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    let n = 40;
    for name in ["chain", "cross", "too-long", "not-followed"] {
        assert_eq!(endpoint(&run, name)["requests"], n, "{name}");
    }
    assert_eq!(endpoint(&run, "chain")["redirects"], 3 * n);
    assert_eq!(endpoint(&run, "cross")["redirects"], n);
    assert_eq!(endpoint(&run, "too-long")["redirects"], 3 * n);
    assert_eq!(endpoint(&run, "not-followed")["redirects"], 0);
    // Only the over-long chain failed, as a redirect failure.
    assert_eq!(
        run.failures_of_kind("redirect"),
        n,
        "{}",
        run.summary()["failures"]
    );
    assert_eq!(run.total("failures"), n);
    // The wire: every request and every hop reached one of the two targets.
    let (first_requests, _) = first.stats();
    let (other_requests, _) = other.stats();
    assert_eq!(
        first_requests + other_requests,
        run.total("requests") + run.total("redirects"),
        "first {}, other {}",
        first.stats_json(),
        other.stats_json()
    );
    let paths = &first.stats_json()["paths"];
    // chain: /3 /2 /1 /0; too-long: /5 /4 /3 /2 (then a 4th hop would pass
    // --max-redirects 3); not-followed: /1.
    assert_eq!(paths["/redirect/5"], n, "{paths}");
    assert_eq!(paths["/redirect/4"], n, "{paths}");
    assert_eq!(paths["/redirect/3"], 2 * n, "{paths}");
    assert_eq!(paths["/redirect/2"], 2 * n, "{paths}");
    assert_eq!(paths["/redirect/1"], 2 * n, "{paths}");
    assert_eq!(paths["/redirect/0"], n, "the chain's last hop: {paths}");
    assert_eq!(other.stats_json()["paths"]["/echo/request"], n);
}

/// Values reach the target encoded for where they land (path, query, query
/// table, form body, JSON body), after the host URL's base path; the target
/// echoes the raw request and the checks look for the exact encoding.
#[test]
fn values_are_encoded_as_the_target_sees_them() {
    let _serial = serial();
    let target = TargetProcess::start_with(&["--count-paths"]);
    let scenario = r#"
vars = { v = "a b/é&x=1" }
[[user]]
[[user.task]]
[[user.task.step]]
path = "/request/${v}"
name = "path"
check = { status = 404 }
[[user.task.step]]
path = "/request?q=${v}"
query = { t = "${v}" }
name = "query"
check = { body_contains = "GET /echo/request?q=a%20b/%C3%A9%26x%3D1&t=a+b%2F%C3%A9%26x%3D1 HTTP/1.1" }
[[user.task.step]]
method = "POST"
path = "/request"
form = { "the name" = "${v} + more" }
name = "form"
check = { body_contains = "the+name=a+b%2F%C3%A9%26x%3D1+%2B+more" }
[[user.task.step]]
method = "POST"
path = "/request"
json = { t = "say \"${v}\"" }
name = "json"
check = { body_contains = '{"t":"say \"a b/é&x=1\""}' }
"#;
    let host = format!("{}/echo/", target.url());
    let run = run("encoding.toml", scenario, &host, &["-u", "2", "-n", "30"]);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.total("requests"), 120);
    assert_eq!(run.total("failures"), 0, "{}", run.summary()["failures"]);
    let paths = &target.stats_json()["paths"];
    assert_eq!(paths["/echo/request"], 90, "{paths}");
    // The path as the target received it (no route: a 404, which the step expects).
    assert_eq!(paths["/echo/request/a%20b/%C3%A9&x=1"], 30, "{paths}");
    assert_eq!(target.stats().0, 120);
}

/// A value holding CR LF in a header is never sent: the request fails as a
/// template failure and the target counts only the requests that were sent
/// (no smuggled extra request).
#[test]
fn line_breaks_in_header_values_are_not_sent() {
    let _serial = serial();
    let target = TargetProcess::start();
    let scenario = r#"
[[user]]
[[user.task]]
[[user.task.step]]
method = "POST"
path = "/echo/body"
headers = { Content-Type = "application/json" }
body = '{"t":"a\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n"}'
extract = { t = "json:/t" }
[[user.task.step]]
path = "/"
headers = { X-Smuggled = "${t}" }
"#;
    let run = run(
        "smuggle.toml",
        scenario,
        &target.url(),
        &["-u", "2", "-n", "20"],
    );
    assert_eq!(
        run.failures_of_kind("template"),
        20,
        "{}",
        run.summary()["failures"]
    );
    assert_eq!(
        target.stats().0,
        20,
        "only the echo requests reached the target"
    );
}

/// Compressed responses: checks read them decoded in every coding, a body
/// nothing reads is not decoded, and a decompression bomb is a decode failure.
#[test]
fn compressed_bodies_decode_for_checks_only() {
    let _serial = serial();
    let target = TargetProcess::start();
    let mut steps = String::new();
    for enc in ["gzip", "deflate", "br", "zstd"] {
        steps.push_str(&format!(
            "[[user.task.step]]\npath = \"/compressed-json?enc={enc}\"\nname = \"{enc}\"\n\
             check = {{ json = {{ \"/ok\" = true }} }}\n"
        ));
    }
    let scenario = format!(
        "[[user]]\n[[user.task]]\n{steps}[[user.task.step]]\npath = \"/compressed/100000\"\n\
         name = \"unread\"\n[[user.task.step]]\npath = \"/bomb?enc=gzip\"\nname = \"bomb\"\n\
         check = {{ body_contains = \"x\" }}\n"
    );
    let run = run(
        "compressed.toml",
        &scenario,
        &target.url(),
        &["-u", "2", "-n", "10", "--compressed"],
    );
    for enc in ["gzip", "deflate", "br", "zstd"] {
        let e = endpoint(&run, enc);
        assert_eq!(
            (e["requests"].as_u64(), e["failures"].as_u64()),
            (Some(10), Some(0)),
            "{enc}: {e}"
        );
        assert!(e["decoded_bytes"].as_u64().unwrap() > 0, "{enc}: {e}");
    }
    let unread = endpoint(&run, "unread");
    assert_eq!(unread["decoded_bytes"], 0, "nothing read it: {unread}");
    assert!(
        unread["body_bytes"].as_u64().unwrap() < 10 * 100_000,
        "sent compressed: {unread}"
    );
    assert_eq!(
        run.failures_of_kind("decode"),
        10,
        "{}",
        run.summary()["failures"]
    );
    assert_eq!(target.stats().0, 60);
}

/// auth = { basic } and { bearer } reach the target as it expects; a wrong
/// password is a 401, counted.
#[test]
fn auth_helpers_authenticate() {
    let _serial = serial();
    let target = TargetProcess::start();
    let scenario = r#"
vars = { pw = "p@ss word" }
[[user]]
auth = { bearer = "tok-${user_id}" }
[[user.task]]
[[user.task.step]]
path = "/basic-auth/alice/p@ss%20word"
auth = { basic = ["alice", "${pw}"] }
name = "basic"
[[user.task.step]]
path = "/bearer"
name = "bearer"
check = { json = { "/token" = "tok-0" } }
[[user.task.step]]
path = "/basic-auth/alice/other"
auth = { basic = ["alice", "${pw}"] }
name = "wrong"
"#;
    let run = run(
        "auth.toml",
        scenario,
        &target.url(),
        &["-u", "1", "-n", "10"],
    );
    assert_eq!(
        endpoint(&run, "basic")["failures"],
        0,
        "{}",
        run.summary()["failures"]
    );
    assert_eq!(
        endpoint(&run, "bearer")["failures"],
        0,
        "{}",
        run.summary()["failures"]
    );
    assert_eq!(endpoint(&run, "wrong")["failures"], 10);
    assert_eq!(target.stats_json()["statuses"]["401"], 10);
}

/// --read-timeout fails a request whose server stays silent, long before
/// the total --timeout.
#[test]
fn read_timeout_fails_silent_servers() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = format!("{}/delay/3000", target.url());
    let run = stampede(
        &[
            "run",
            "--host",
            &url,
            "-u",
            "2",
            "-n",
            "4",
            "--threads",
            "1",
            "--read-timeout",
            "200ms",
        ],
        LIMIT,
    );
    assert_eq!(
        run.failures_of_kind("timeout"),
        4,
        "{}",
        run.summary()["failures"]
    );
    let p50 = run.summary()["totals"]["latency_ms"]["p50"]
        .as_f64()
        .unwrap();
    assert!((150.0..2500.0).contains(&p50), "p50 {p50} ms");
}

/// Requests in flight when the stop timeout ends are counted as cut off.
#[test]
fn requests_in_flight_at_stop_are_cut_off() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = format!("{}/delay/30000", target.url());
    let run = stampede(
        &[
            "run",
            "--host",
            &url,
            "-u",
            "3",
            "--threads",
            "1",
            "--run-time",
            "1s",
            "--stop-timeout",
            "1s",
        ],
        LIMIT,
    );
    assert_eq!(
        run.failures_of_kind("cut_off"),
        3,
        "{}",
        run.summary()["failures"]
    );
    assert_eq!(run.total("requests"), 3);
    assert_eq!(target.stats().0, 3);
}

/// --http-debug prints what was sent with credentials masked; failure
/// samples show the request, the status and the body's first bytes.
#[test]
fn http_debug_masks_secrets_and_failures_keep_samples() {
    let _serial = serial();
    let target = TargetProcess::start();
    let scenario = r#"
[[user]]
[[user.task]]
[[user.task.step]]
path = "/status/503?q=${user_id}"
auth = { bearer = "s3cret-token" }
"#;
    let html = std::env::temp_dir().join(format!("stampede-samples-{}.html", std::process::id()));
    let run = run(
        "debug.toml",
        scenario,
        &target.url(),
        &[
            "-u",
            "1",
            "-n",
            "5",
            "--http-debug=2",
            "--html",
            html.to_str().unwrap(),
        ],
    );
    // The HTML failures table shows the sample too.
    let page = std::fs::read_to_string(&html).unwrap();
    let _ = std::fs::remove_file(&html);
    assert!(
        page.contains(&format!("GET {}/status/503?q=0 → HTTP 503", target.url())),
        "no sample in the HTML failures table"
    );
    assert!(
        run.stderr.contains("--- http-debug: request"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("GET /status/503?q=0 HTTP/1.1"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Authorization: ***"), "{}", run.stderr);
    assert!(
        run.stderr.contains("--- http-debug: response 503"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("--- http-debug: request").count(), 2);
    assert!(!run.stderr.contains("s3cret") && !run.stdout.contains("s3cret"));
    let failures = run.summary()["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    let sample = &failures[0]["sample"];
    assert_eq!(sample["status"], 503);
    assert!(
        sample["request"]
            .as_str()
            .unwrap()
            .starts_with(&format!("GET {}/status/503?q=0", target.url())),
        "{sample}"
    );
    assert!(!sample["body"].as_str().unwrap().is_empty(), "{sample}");
}

/// Over HTTPS a body delimited by the close is whole when the server ends
/// it with close_notify (as stampede-target does): every request succeeds,
/// each on its own connection. (A cut without close_notify is a truncated
/// body; the connection layer's unit tests cover that.)
#[test]
fn close_delimited_bodies_over_https_end_at_close_notify() {
    let _serial = serial();
    let cert = temp_file("cert.pem", "");
    let cert = cert.to_str().unwrap().to_string();
    let target = TargetProcess::start_with(&["--tls-self-signed", "--tls-cert-out", &cert]);
    let url = format!("https://{}/eof/5000", target.addr);
    let run = stampede(
        &[
            "run",
            "--host",
            &url,
            "--cacert",
            &cert,
            "-u",
            "2",
            "-n",
            "50",
            "--threads",
            "1",
        ],
        LIMIT,
    );
    assert_eq!(
        (run.total("requests"), run.total("failures")),
        (50, 0),
        "{}",
        run.summary()["failures"]
    );
    assert!(run.total("bytes_received") >= 50 * 5000);
    assert_eq!(target.stats(), (50, 50));
}

/// A target that sets a cookie of a new name on every response cannot grow
/// a user's jar past its cap of 50: the target's own count of the cookies
/// each request carried in its Cookie header rises by one per request to
/// 50 and stays there (the k-th request carries min(k, 50)), so exactly the
/// first 50 requests fail a check for 50.
#[test]
fn a_cookie_flood_leaves_the_jar_at_its_cap() {
    let _serial = serial();
    let target = TargetProcess::start();
    let scenario = r#"
[[user]]
[[user.task]]
[[user.task.step]]
path = "/cookies/new"
name = "flood"
check = { json = { "/received" = 50 } }
"#;
    let run = run(
        "cookies.toml",
        scenario,
        &target.url(),
        &["-u", "1", "-n", "200"],
    );
    let flood = endpoint(&run, "flood");
    assert_eq!(flood["requests"], 200);
    assert_eq!(flood["failures"], 50, "{}", run.summary()["failures"]);
    assert_eq!(target.stats().0, 200);
}

/// Cookies go back only to the paths they belong to, on redirect hops too:
/// the target counts the cookies each request carried. `/cook` does not
/// cover `/cookies/new`, `/cookies` does, and a hop to `/cookies/new`
/// carries what that path gets, not what the redirecting path got.
#[test]
fn cookies_follow_their_paths_across_redirects() {
    let _serial = serial();
    let target = TargetProcess::start();
    let scenario = r#"
[[user]]
[[user.task]]
[[user.task.step]]
path = "/cookies/new?path=/cook"
name = "cook"
check = { json = { "/received" = 0 } }
[[user.task.step]]
path = "/cookies/new?path=/cookies"
name = "cookies"
check = { json = { "/received" = 0 } }
[[user.task.step]]
path = "/cookies/new"
name = "root"
check = { json = { "/received" = 1 } }
[[user.task.step]]
path = "/redirect-to?url=/cookies/new"
name = "hop"
check = { json = { "/received" = 2 } }
"#;
    let run = run(
        "cookie-paths.toml",
        scenario,
        &target.url(),
        &["-u", "1", "-n", "1"],
    );
    assert_eq!(run.total("requests"), 4);
    assert_eq!(run.total("failures"), 0, "{}", run.summary()["failures"]);
    assert_eq!(target.stats().0, 5, "four requests and one hop");
}
