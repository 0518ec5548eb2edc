//! stampede's SigV4 signatures equal botocore's (the AWS SDK for Python)
//! byte for byte: GET, PUT with a signed payload, a path that needs
//! encoding, query parameters, a session token, another service; and its
//! presigned (query) signatures equal botocore's presigner's, the whole
//! request target against the URL. botocore runs from the venv
//! tests/python-env.sh makes (pinned version).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::{json, Value};
use stampede_engine::http::sigv4::{Credentials, SignatureLocation, Signer, SigningConfig};

/// A request to sign: method, path and query, extra headers, body.
struct Case {
    method: &'static str,
    target: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
    service: &'static str,
    token: Option<&'static str>,
    sign_payload: bool,
    /// `X-Amz-Expires` of a presigned (query) signature; `None` signs headers.
    presign_expires: Option<u32>,
}

const HOST: &str = "127.0.0.1:9000";
const UNIX_TIME: u64 = 1_796_644_800; // 2026-12-07T12:00:00Z

fn cases() -> Vec<Case> {
    let case = |method, target, body, sign_payload| Case {
        method,
        target,
        headers: Vec::new(),
        body,
        service: "s3",
        token: None,
        sign_payload,
        presign_expires: None,
    };
    vec![
        case("GET", "/bucket/key.txt", "", false),
        case("PUT", "/bucket/obj", "hello, object", true),
        case("PUT", "/bucket/unsigned", "body bytes", false),
        case("GET", "/bucket/a%20b/%C3%A9t%C3%A9~%21.bin", "", false),
        case(
            "GET",
            "/bucket?list-type=2&prefix=logs%2F2026&max-keys=10",
            "",
            false,
        ),
        case("GET", "/bucket?delimiter=%2F&prefix=a&prefix=b", "", false),
        Case {
            headers: vec![
                ("Range", "bytes=0-1023"),
                ("Content-Type", "text/plain  ;  x=1"),
            ],
            token: Some("FwoGZXIvYXdzEXAMPLEtoken/+="),
            ..case("GET", "/bucket/ranged", "", false)
        },
        Case {
            service: "execute-api",
            ..case("POST", "/prod/items/a b?x=1", "{\"a\":1}", true)
        },
    ]
}

fn config(case: &Case) -> SigningConfig {
    SigningConfig {
        region: "eu-west-1".into(),
        service: case.service.into(),
        credentials: Credentials::new(
            "AKIDEXAMPLE".into(),
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            case.token.map(str::to_string),
        ),
        sign_payload: case.sign_payload,
        location: match case.presign_expires {
            Some(expires_s) => SignatureLocation::Query { expires_s },
            None => SignatureLocation::Headers,
        },
    }
}

/// Presigned (query) cases: a GET, a path that needs encoding, a query of
/// its own, a session token with a signed Range header, a PUT with a body.
fn presigned_cases() -> Vec<Case> {
    let case = |method, target, body| Case {
        method,
        target,
        headers: Vec::new(),
        body,
        service: "s3",
        token: None,
        sign_payload: false,
        presign_expires: Some(3600),
    };
    vec![
        case("GET", "/bucket/key.txt", ""),
        case("GET", "/bucket/a%20b/%C3%A9t%C3%A9~%21.bin", ""),
        case(
            "GET",
            "/bucket?list-type=2&prefix=logs%2F2026&max-keys=10",
            "",
        ),
        Case {
            headers: vec![("Range", "bytes=0-1023")],
            token: Some("FwoGZXIvYXdzEXAMPLEtoken/+="),
            presign_expires: Some(604_800),
            ..case("GET", "/bucket/ranged", "")
        },
        Case {
            presign_expires: Some(60),
            ..case("PUT", "/bucket/obj?x-id=PutObject", "object body")
        },
    ]
}

/// What stampede adds to the case's request: header name (lower case) -> value.
fn stampede_headers(case: &Case) -> Vec<(String, String)> {
    let (before, after) = stampede_signed(case);
    after
        .lines()
        .filter(|l| l.contains(": ") && !before.contains(&format!("{l}\r\n")))
        .map(|l| {
            let (name, value) = l.split_once(": ").unwrap();
            (name.to_ascii_lowercase(), value.to_string())
        })
        .collect()
}

/// The case's request as stampede renders it, before and after signing.
fn stampede_signed(case: &Case) -> (String, String) {
    let mut request = format!(
        "{} {} HTTP/1.1\r\nHost: {HOST}\r\n",
        case.method,
        encode_spaces(case.target)
    );
    for (name, value) in &case.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !case.body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", case.body.len()));
    }
    request.push_str("\r\n");
    request.push_str(case.body);
    let before = request.clone();
    let mut bytes = request.into_bytes();
    let mut signer = Signer::new(Arc::new(config(case)));
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(UNIX_TIME);
    signer.sign(&mut bytes, now);
    (before, String::from_utf8(bytes).unwrap())
}

/// A request line cannot hold a space; the case's one stands for %20.
fn encode_spaces(target: &str) -> String {
    target.replace(' ', "%20")
}

/// botocore's answers for `cases` (tests/oracle/sigv4_botocore.py).
fn botocore(cases: &[Case]) -> Vec<Value> {
    let venv = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/python-env.sh"
        ))
        .output()
        .expect("run tests/python-env.sh");
    assert!(
        venv.status.success(),
        "{}",
        String::from_utf8_lossy(&venv.stderr)
    );
    let python = format!("{}/python", String::from_utf8_lossy(&venv.stdout).trim());
    let input: Vec<Value> = cases
        .iter()
        .map(|c| {
            let mut headers: Vec<(&str, String)> = vec![("Host", HOST.to_string())];
            headers.extend(c.headers.iter().map(|(n, v)| (*n, v.to_string())));
            if !c.body.is_empty() {
                headers.push(("Content-Length", c.body.len().to_string()));
            }
            json!({
                "method": c.method,
                "url": format!("http://{HOST}{}", encode_spaces(c.target)),
                "headers": headers,
                "body": c.body,
                "access_key": "AKIDEXAMPLE",
                "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "token": c.token,
                "region": "eu-west-1",
                "service": c.service,
                "sign_payload": c.sign_payload,
                "unix_time": UNIX_TIME,
                "presign_expires": c.presign_expires,
            })
        })
        .collect();
    let mut child = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/oracle/sigv4_botocore.py"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the botocore oracle");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(expected.len(), cases.len());
    expected
}

#[test]
fn signatures_equal_botocores() {
    let cases = cases();
    let expected = botocore(&cases);
    for (case, botocore) in cases.iter().zip(&expected) {
        let ours = stampede_headers(case);
        let botocore: Vec<(String, String)> = botocore
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let mut ours_sorted = ours.clone();
        ours_sorted.sort();
        let mut theirs = botocore.clone();
        theirs.sort();
        assert_eq!(ours_sorted, theirs, "{} {}", case.method, case.target);
        assert!(ours.iter().any(|(n, _)| n == "authorization"));
    }
}

/// A presigned request's target is botocore's presigned URL (path and
/// query, byte for byte), and no header is added.
#[test]
fn presigned_targets_equal_botocores() {
    let cases = presigned_cases();
    let expected = botocore(&cases);
    for (case, botocore) in cases.iter().zip(&expected) {
        let (before, after) = stampede_signed(case);
        let url = botocore["url"].as_str().expect("url");
        let botocore_target = url
            .strip_prefix(&format!("http://{HOST}"))
            .expect("botocore's URL is on the case's host");
        let target = after
            .split(' ')
            .nth(1)
            .expect("a request line with a target");
        assert_eq!(target, botocore_target, "{} {}", case.method, case.target);
        assert!(target.contains("X-Amz-Signature="), "{target}");
        assert_eq!(botocore["headers"], json!({}), "botocore added headers");
        let head_after = &after[after.find("\r\n").unwrap()..];
        let head_before = &before[before.find("\r\n").unwrap()..];
        assert_eq!(
            head_after, head_before,
            "stampede changed more than the target"
        );
    }
}
