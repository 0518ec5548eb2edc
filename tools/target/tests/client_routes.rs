//! The routes that test HTTP clients, over real HTTP on both drivers:
//! redirect chains counted hop by hop with `--count-paths`, compressed
//! bodies larger than one write streamed on a keep-alive connection, auth
//! refusals counted as 401, and `/echo/request` returning the exact bytes sent.

mod support;

use std::io::Read as _;

use serde_json::{json, Value};
use stampede_target::{IoDriver, Target, TargetConfig};
use support::{Client, Response};

/// One server per driver, counting paths when `count_paths`.
fn targets(count_paths: bool) -> Vec<Target> {
    [IoDriver::Epoll, IoDriver::Auto]
        .into_iter()
        .map(|io_driver| {
            let config = TargetConfig {
                io_driver,
                count_paths,
                ..TargetConfig::loopback(2)
            };
            Target::start(config).expect("start target")
        })
        .collect()
}

/// `GET /__stats` on a fresh connection, parsed.
fn stats_json(target: &Target) -> Value {
    let response = Client::connect(target.local_addr()).get("/__stats");
    assert_eq!(response.status, 200);
    serde_json::from_slice(&response.body).expect("stats json")
}

/// The text `/compressed/N` decodes to, built independently of the server.
fn json_lines(len: usize) -> Vec<u8> {
    let mut text = Vec::new();
    let mut i = 0;
    while text.len() < len {
        text.extend_from_slice(format!("{{\"i\":{i},\"name\":\"song {i}\"}}\n").as_bytes());
        i += 1;
    }
    text.truncate(len);
    text
}

fn gunzip(response: &Response) -> Vec<u8> {
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&response.body[..])
        .read_to_end(&mut decoded)
        .expect("valid gzip");
    decoded
}

#[test]
fn redirect_hops_are_counted_by_path() {
    for target in targets(true) {
        let mut client = Client::connect(target.local_addr());
        let mut path = "/redirect/3?from=test".to_string();
        let mut hops = 0;
        let last = loop {
            let response = client.get(&path);
            if response.status != 302 {
                break response;
            }
            assert_eq!(response.body, b"redirect");
            path = response.header("location").expect("a location").to_string();
            hops += 1;
        };
        assert_eq!(
            (hops, last.status, last.body.as_slice()),
            (3, 200, &b"ok"[..])
        );
        let to = client.get("/redirect-to?url=%2Fredirect%2F0&status=308");
        assert_eq!(
            (to.status, to.header("location")),
            (308, Some("/redirect/0"))
        );
        let want = json!({
            "/redirect/3": 1, "/redirect/2": 1, "/redirect/1": 1, "/redirect/0": 1,
            "/redirect-to": 1,
        });
        let stats = stats_json(&target);
        assert_eq!(stats["paths"], want);
        assert_eq!(
            (&stats["requests"], &stats["connections"]),
            (&json!(5), &json!(1))
        );
        assert_eq!(target.path_count("/redirect/2"), 1);
        let reset = Client::connect(target.local_addr()).call("POST", "/__reset", &[], b"");
        assert_eq!(reset.status, 200);
        assert_eq!(stats_json(&target)["paths"], json!({}));
    }
}

#[test]
fn paths_are_left_out_unless_asked_for() {
    for target in targets(false) {
        assert_eq!(
            Client::connect(target.local_addr())
                .get("/redirect/1")
                .status,
            302
        );
        let stats = stats_json(&target);
        assert!(stats.get("paths").is_none(), "{stats}");
        assert_eq!(target.path_count("/redirect/1"), 0);
    }
}

#[test]
fn large_compressed_bodies_stream_on_keep_alive() {
    let len = 3_000_000;
    for target in targets(false) {
        let mut client = Client::connect(target.local_addr());
        let path = format!("/compressed/{len}?enc=gzip");
        let first = client.get(&path);
        let second = client.get(&path);
        assert_eq!(client.get("/").body, b"ok");
        for response in [&first, &second] {
            assert_eq!(response.status, 200);
            assert_eq!(response.header("content-encoding"), Some("gzip"));
            assert_eq!(response.header("x-decoded-length"), Some("3000000"));
            assert!(response.body.len() < len / 4);
        }
        assert_eq!(first.body, second.body);
        assert_eq!(gunzip(&first), json_lines(len));
        client.send(format!("HEAD {path} HTTP/1.1\r\n\r\n").as_bytes());
        let head = client.read_head_response().unwrap();
        let content_length = first.body.len().to_string();
        assert_eq!(head.header("content-length"), Some(content_length.as_str()));
        assert_eq!(client.get("/").body, b"ok");
        let negotiated = client.call(
            "GET",
            "/compressed/1000",
            &[("Accept-Encoding", "gzip")],
            b"",
        );
        assert_eq!(gunzip(&negotiated), json_lines(1000));
    }
}

#[test]
fn auth_refusals_are_counted_as_401() {
    for target in targets(false) {
        let mut client = Client::connect(target.local_addr());
        // base64("user:pass").
        let basic = [("Authorization", "Basic dXNlcjpwYXNz")];
        assert_eq!(
            client
                .call("GET", "/basic-auth/user/pass", &basic, b"")
                .status,
            200
        );
        let refused = client.get("/basic-auth/user/other");
        assert_eq!(refused.status, 401);
        assert_eq!(
            refused.header("www-authenticate"),
            Some("Basic realm=\"stampede-target\"")
        );
        let bearer = [("Authorization", "Bearer t0k3n")];
        let granted = client.call("GET", "/bearer", &bearer, b"");
        assert_eq!(granted.body, br#"{"token":"t0k3n"}"#);
        assert_eq!(client.get("/bearer").status, 401);
        assert_eq!(target.status_count(401), 2);
        assert_eq!(stats_json(&target)["statuses"], json!({"401": 2}));
    }
}

#[test]
fn echo_request_returns_the_bytes_sent() {
    for target in targets(false) {
        let mut client = Client::connect(target.local_addr());
        let sent = b"POST /echo/request?name=a%2Bb+c HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\nq=a+b%26c";
        client.send(sent);
        let response = client.read_response().unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, sent);
    }
}
