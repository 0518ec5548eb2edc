//! The music API, the echo routes and the extended `/__stats` over real HTTP
//! on both drivers: login sets a cookie whose token authorizes later requests
//! on any shard, playlists live until deleted once, and every 401 and 404 and
//! login is counted exactly.

mod support;

use serde_json::{json, Value};
use stampede_target::{IoDriver, Target, TargetConfig};
use support::{Client, Response};

/// One server per driver, with two accounts.
fn targets() -> Vec<Target> {
    [IoDriver::Epoll, IoDriver::Auto]
        .into_iter()
        .map(|io_driver| {
            let config = TargetConfig {
                io_driver,
                accounts: vec![
                    ("alice".into(), "alice-pw".into()),
                    ("bob".into(), "bob-pw".into()),
                ],
                ..TargetConfig::loopback(2)
            };
            Target::start(config).expect("start target")
        })
        .collect()
}

fn json_of(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|err| {
        panic!(
            "{err}: {:?}",
            String::from_utf8_lossy(&response.body).into_owned()
        )
    })
}

fn login(client: &mut Client, username: &str, password: &str) -> Response {
    let body = json!({"username": username, "password": password}).to_string();
    let headers = [("Content-Type", "application/json")];
    client.call("POST", "/auth/login", &headers, body.as_bytes())
}

/// Logs in and returns the token, checking the body and the cookie agree.
fn token(client: &mut Client, username: &str) -> String {
    let response = login(client, username, &format!("{username}-pw"));
    assert_eq!(response.status, 200);
    let body = json_of(&response);
    let token = body["token"].as_str().expect("a token").to_string();
    assert_eq!(body["name"], username);
    assert!(body["id"].is_string());
    let cookie = format!("nd_session={token}; Path=/");
    assert_eq!(response.header("set-cookie"), Some(cookie.as_str()));
    token
}

fn stats_json(target: &Target) -> Value {
    let response = Client::connect(target.local_addr()).get("/__stats");
    assert_eq!(response.header("content-type"), Some("application/json"));
    json_of(&response)
}

#[test]
fn a_session_browses_and_manages_playlists() {
    for target in targets() {
        let addr = target.local_addr();
        let mut client = Client::connect(addr);
        let token = token(&mut client, "alice");
        let bearer = format!("Bearer {token}");
        let auth = [("x-nd-authorization", bearer.as_str())];
        let cookie = format!("theme=dark; nd_session={token}");
        let by_cookie = [("Cookie", cookie.as_str())];

        let songs = client.call("GET", "/api/song?_start=5&_end=8", &auth, b"");
        assert_eq!(songs.status, 200);
        assert_eq!(songs.header("content-type"), Some("application/json"));
        let ids: Vec<Value> = json_of(&songs)
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].clone())
            .collect();
        assert_eq!(ids, [json!("s6"), json!("s7"), json!("s8")]);
        let default = client.call("GET", "/api/song", &by_cookie, b"");
        assert_eq!(json_of(&default).as_array().unwrap().len(), 10);
        let capped = client.call("GET", "/api/song?_start=0&_end=9999", &auth, b"");
        assert_eq!(json_of(&capped).as_array().unwrap().len(), 500);
        let albums = client.call("GET", "/api/album", &by_cookie, b"");
        assert!(json_of(&albums).as_array().is_some_and(|a| !a.is_empty()));

        // A token issued on one connection (and shard) works on others.
        for _ in 0..4 {
            let mut other = Client::connect(addr);
            assert_eq!(other.call("GET", "/api/album", &auth, b"").status, 200);
        }

        let created = client.call("POST", "/api/playlist", &auth, br#"{"name": "mix"}"#);
        assert_eq!(created.status, 200);
        let id = json_of(&created)["id"].as_str().unwrap().to_string();
        assert_eq!(target.playlists(), 1);
        let path = format!("/api/playlist/{id}");
        let deleted = Client::connect(addr).call("DELETE", &path, &by_cookie, b"");
        assert_eq!((deleted.status, json_of(&deleted)), (200, json!({})));
        assert_eq!(target.playlists(), 0);
        assert_eq!(target.status_count(404), 0);

        let again = client.call("DELETE", &path, &auth, b"");
        assert_eq!(again.status, 404);
        let unknown = client.call("DELETE", "/api/playlist/17", &auth, b"");
        assert_eq!(unknown.status, 404);
        assert_eq!(target.status_count(404), 2);

        let stats = stats_json(&target);
        assert_eq!(stats["statuses"], json!({"404": 2}));
        assert_eq!(stats["logins"], json!({"alice": 1}));
        assert_eq!(stats["connections"], 6);
    }
}

#[test]
fn requests_without_a_valid_session_get_401() {
    for target in targets() {
        let mut client = Client::connect(target.local_addr());
        let denied = login(&mut client, "alice", "wrong");
        assert_eq!(denied.status, 401);
        assert_eq!(json_of(&denied), json!({"error": "invalid credentials"}));
        assert_eq!(denied.header("set-cookie"), None);
        assert_eq!(login(&mut client, "mallory", "x").status, 401);
        let garbled = client.call("POST", "/auth/login", &[], b"{\"username\": ");
        assert_eq!(garbled.status, 400);

        let forged = [("x-nd-authorization", "Bearer tok-alice-1")];
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
        let cases: [Case; 5] = [
            ("GET", "/api/song", &[]),
            ("GET", "/api/album", &forged),
            ("POST", "/api/playlist", &[("Cookie", "nd_session=x")]),
            ("DELETE", "/api/playlist/pl-0000000000000001", &[]),
            ("GET", "/api/song", &[("Authorization", "Bearer x")]),
        ];
        for (method, path, headers) in cases {
            let response = client.call(method, path, headers, b"{}");
            assert_eq!(response.status, 401, "{method} {path}");
            assert_eq!(json_of(&response), json!({"error": "unauthorized"}));
        }
        let wrong_method = client.get("/auth/login");
        assert_eq!(
            (wrong_method.status, wrong_method.header("allow")),
            (405, Some("POST"))
        );
        let stats = stats_json(&target);
        assert_eq!(stats["statuses"], json!({"400": 1, "401": 7, "405": 1}));
        assert_eq!(stats["logins"], json!({}));
        assert_eq!(stats["requests"], 9);
    }
}

#[test]
fn logins_are_counted_per_user_across_shards_and_reset() {
    for target in targets() {
        let addr = target.local_addr();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut client = Client::connect(addr);
                    let user = if i % 2 == 0 { "alice" } else { "bob" };
                    (0..5).map(|_| token(&mut client, user)).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut tokens: Vec<String> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("login thread"))
            .collect();
        tokens.sort();
        tokens.dedup();
        assert_eq!(tokens.len(), 20, "every login gets its own token");
        assert_eq!((target.logins("alice"), target.logins("bob")), (10, 10));
        assert_eq!(
            stats_json(&target)["logins"],
            json!({"alice": 10, "bob": 10})
        );

        let mut client = Client::connect(addr);
        assert_eq!(client.get("/nope").status, 404);
        client.send(b"POST /__reset HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(client.read_response().unwrap().status, 200);
        let stats = stats_json(&target);
        assert_eq!(
            stats,
            json!({"requests": 0, "connections": 0, "statuses": {}, "logins": {}})
        );
        // Tokens outlive the reset.
        let bearer = format!("Bearer {}", tokens[0]);
        let auth = [("x-nd-authorization", bearer.as_str())];
        assert_eq!(client.call("GET", "/api/album", &auth, b"").status, 200);
    }
}

#[test]
fn echo_routes_return_headers_and_bodies() {
    for target in targets() {
        let mut client = Client::connect(target.local_addr());
        let headers = [("X-Request-Id", "abc-1"), ("Accept", "application/json")];
        let echoed = client.call("GET", "/echo/headers", &headers, b"");
        assert_eq!(echoed.status, 200);
        let body = json_of(&echoed);
        assert_eq!(body["x-request-id"], "abc-1");
        assert_eq!(body["accept"], "application/json");
        assert_eq!(body["host"], "t");

        // A body larger than one read, sent after a 100-continue.
        let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let head = format!(
            "POST /echo/body HTTP/1.1\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            big.len()
        );
        client.send(head.as_bytes());
        assert_eq!(client.read_response().unwrap().status, 100);
        client.send(&big);
        let echoed = client.read_response().unwrap();
        assert_eq!(echoed.header("content-type"), Some("text/plain"));
        assert!(echoed.body == big, "the body comes back byte for byte");

        // Pipelined with plain routes, in order.
        client.send(
            b"POST /echo/body HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n\
              {\"a\":1}GET / HTTP/1.1\r\n\r\nGET /slow/10 HTTP/1.1\r\n\r\n",
        );
        let echoed = client.read_response().unwrap();
        assert_eq!(echoed.body, br#"{"a":1}"#);
        assert_eq!(echoed.header("content-type"), Some("application/json"));
        assert_eq!(client.read_response().unwrap().body, b"ok");
        assert_eq!(client.read_response().unwrap().body, b"ok");

        let too_big = vec![b'z'; (1 << 20) + 1];
        let refused = client.call("POST", "/echo/body", &[], &too_big);
        assert_eq!(refused.status, 413);
        assert_eq!(client.get("/").status, 200, "the connection stays usable");
    }
}
