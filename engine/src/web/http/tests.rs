//! End-to-end tests of the server: each starts one on 127.0.0.1 port 0 and
//! talks raw HTTP/1.1 to it through a small test client. Tests of single
//! functions live beside them (`auth`, `request`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{serve, Handler, Request, Response, ServerHandle, ServerOptions};

/// Client sockets give up after this long, so no test can hang.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Routes for the tests: plain text, echo, form, JSON, SSE.
struct TestHandler;

impl Handler for TestHandler {
    fn handle(&self, request: &Request) -> Response {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/hello") => Response::text(200, "text/plain", "hello"),
            ("POST", "/echo") => {
                Response::text(200, "application/octet-stream", request.body.clone())
            }
            ("POST", "/form") => {
                let pairs: Vec<Value> = request
                    .form()
                    .into_iter()
                    .map(|(n, v)| json!([n, v]))
                    .collect();
                Response::json(200, &Value::Array(pairs))
            }
            ("GET", "/query") => Response::json(200, &json!({ "q": request.query_param("q") })),
            ("GET", "/events") => Response::sse(|out| {
                for n in 0..3 {
                    write!(out, "data: {n}\n\n")?;
                    out.flush()?;
                }
                Ok(())
            }),
            ("GET", "/forever") => Response::sse(|out| {
                // Bounded, so a broken shutdown fails the test instead of hanging it.
                for _ in 0..500 {
                    out.write_all(b": tick\n\n")?;
                    out.flush()?;
                    thread::sleep(Duration::from_millis(10));
                }
                Ok(())
            }),
            ("GET", "/download") => {
                Response::text(200, "text/csv", "a,b\n").attachment("stats \"x\".csv")
            }
            _ => Response::error(404, "no such route"),
        }
    }
}

/// A server on 127.0.0.1, port 0, with the test routes.
fn start(options: ServerOptions) -> ServerHandle {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    serve(listener, options, Arc::new(TestHandler)).unwrap()
}

/// Test options: the defaults with a short read timeout.
fn options() -> ServerOptions {
    ServerOptions {
        read_timeout: Duration::from_secs(3),
        ..ServerOptions::default()
    }
}

/// One response as the test client read it.
struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A raw HTTP client on one connection.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).unwrap();
    }

    /// Sends one request and reads its response.
    fn ask(&mut self, raw: &str) -> Reply {
        self.send(raw.as_bytes());
        self.reply()
    }

    /// Reads one response: Content-Length bytes of body, or up to the close.
    fn reply(&mut self) -> Reply {
        let head_len = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            assert!(
                self.fill() > 0,
                "closed before a whole head: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        };
        let head = String::from_utf8(self.buf.drain(..head_len).collect()).unwrap();
        let status = head[9..12].parse().unwrap();
        let mut reply = Reply {
            status,
            head,
            body: Vec::new(),
        };
        if status < 200 {
            return reply;
        }
        match reply
            .header("content-length")
            .map(|v| v.parse::<usize>().unwrap())
        {
            Some(len) => {
                while self.buf.len() < len {
                    assert!(self.fill() > 0, "closed inside a body");
                }
                reply.body = self.buf.drain(..len).collect();
            }
            None => {
                while self.fill() > 0 {}
                reply.body = std::mem::take(&mut self.buf);
            }
        }
        reply
    }

    /// Reads once; 0 at the close. A timeout fails the test.
    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                n
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// True when the server closed the connection (nothing more to read).
    fn closed(&mut self) -> bool {
        self.buf.is_empty() && self.fill() == 0
    }
}

/// Waits (boundedly) until the server has this many open connections.
fn wait_open(handle: &ServerHandle, count: usize) {
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while handle.open_connections() != count {
        assert!(
            Instant::now() < deadline,
            "open connections stayed {}",
            handle.open_connections()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn keep_alive_serves_two_requests_and_pipelined_ones_on_one_connection() {
    // HTTP/1.1 keeps the connection open, so requests reuse it, also when two arrive in one write.
    let handle = start(options());
    let mut client = Client::new(handle.local_addr);
    let first = client.ask("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((first.status, first.text().as_str()), (200, "hello"));
    assert_eq!(first.header("connection").as_deref(), Some("keep-alive"));
    let second = client.ask("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!((second.status, second.text().as_str()), (200, "abc"));
    client.send(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(client.reply().status, 200);
    let missing = client.reply();
    assert_eq!(
        (missing.status, missing.json()),
        (404, json!({"error": "no such route"}))
    );
    assert_eq!(handle.open_connections(), 1);
}

#[test]
fn connection_close_and_http_1_0_close_after_the_answer() {
    // `Connection: close` and a plain HTTP/1.0 request get one answer, then the close.
    let handle = start(options());
    let mut client = Client::new(handle.local_addr);
    let reply = client.ask("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(
        (reply.status, reply.header("connection").as_deref()),
        (200, Some("close"))
    );
    assert!(client.closed());
    let mut old = Client::new(handle.local_addr);
    assert_eq!(old.ask("GET /hello HTTP/1.0\r\n\r\n").status, 200);
    assert!(old.closed());
    let mut kept = Client::new(handle.local_addr);
    assert_eq!(
        kept.ask("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .status,
        200
    );
    assert_eq!(
        kept.ask("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .status,
        200
    );
}

#[test]
fn basic_auth_refuses_missing_and_wrong_credentials() {
    // With auth on, no or wrong credentials get 401 and a challenge; the right ones get through.
    let auth = Some(("admin".to_string(), "s3cret".to_string()));
    let handle = start(ServerOptions { auth, ..options() });
    let mut client = Client::new(handle.local_addr);
    let missing = client.ask("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.header("www-authenticate").as_deref(),
        Some("Basic realm=\"stampede\"")
    );
    assert_eq!(missing.json(), json!({"error": "authentication required"}));
    // admin:wrong
    let wrong = client
        .ask("GET /hello HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46d3Jvbmc=\r\n\r\n");
    assert_eq!(wrong.status, 401);
    let garbled = client.ask("GET /hello HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ***\r\n\r\n");
    assert_eq!(garbled.status, 401);
    // admin:s3cret
    let right = client
        .ask("GET /hello HTTP/1.1\r\nHost: x\r\nAuthorization: basic YWRtaW46czNjcmV0\r\n\r\n");
    assert_eq!((right.status, right.text().as_str()), (200, "hello"));
}

#[test]
fn post_with_a_foreign_origin_is_refused() {
    // A POST naming another site's Origin gets 403; the server's own origin and no Origin pass.
    let handle = start(options());
    let host = handle.local_addr.to_string();
    let mut client = Client::new(handle.local_addr);
    let post = |origin: &str| {
        format!("POST /echo HTTP/1.1\r\nHost: {host}\r\n{origin}Content-Length: 2\r\n\r\nhi")
    };
    let foreign = client.ask(&post("Origin: http://evil.example\r\n"));
    assert_eq!(
        (foreign.status, foreign.json()),
        (403, json!({"error": "cross-origin request refused"}))
    );
    let lookalike = client.ask(&post(&format!("Origin: http://{host}.evil.example\r\n")));
    assert_eq!(lookalike.status, 403);
    assert_eq!(client.ask(&post("Origin: null\r\n")).status, 403);
    assert_eq!(
        client
            .ask(&post(&format!("Origin: http://{host}\r\n")))
            .status,
        200
    );
    assert_eq!(
        client
            .ask(&post(&format!("Origin: https://{host}\r\n")))
            .status,
        200
    );
    assert_eq!(client.ask(&post("")).status, 200);
    let get = client.ask("GET /hello HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n\r\n");
    assert_eq!(get.status, 200);
}

#[test]
fn oversized_body_gets_413_and_a_close() {
    // A Content-Length over max_body is refused before the body is read.
    let handle = start(ServerOptions {
        max_body: 1024,
        ..options()
    });
    let mut client = Client::new(handle.local_addr);
    let reply = client.ask("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n");
    assert_eq!(reply.status, 413);
    assert!(client.closed());
    let mut fits = Client::new(handle.local_addr);
    let body = "x".repeat(1024);
    let reply = fits.ask(&format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n{body}"
    ));
    assert_eq!((reply.status, reply.body.len()), (200, 1024));
}

#[test]
fn malformed_oversized_and_chunked_requests_are_refused() {
    // Garbage gets 400, a head over max_head 431, a chunked body 411; each then closes.
    let handle = start(ServerOptions {
        max_head: 256,
        ..options()
    });
    let long_head = format!("GET /hello HTTP/1.1\r\nX-Long: {}\r\n\r\n", "a".repeat(300));
    let cases: [(&[u8], u16); 6] = [
        (b"\x00\x01\x02 garbage\r\n\r\n", 400),
        (b"GET /hello HTTP/9.9\r\n\r\n", 400),
        (b"GET http://other/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (
            b"POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            400,
        ),
        (
            b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            411,
        ),
        (long_head.as_bytes(), 431),
    ];
    for (raw, status) in cases {
        let mut client = Client::new(handle.local_addr);
        client.send(raw);
        let reply = client.reply();
        assert_eq!(
            reply.status,
            status,
            "for {:?}",
            String::from_utf8_lossy(raw)
        );
        assert!(reply.json()["error"].is_string());
        assert!(client.closed());
    }
    let mut endless = Client::new(handle.local_addr);
    endless.send(&[b'a'; 1024]);
    assert_eq!(endless.reply().status, 431);
}

#[test]
fn form_bodies_and_query_parameters_are_decoded() {
    // Percent escapes, '+' as space, bare names and broken escapes all decode.
    let handle = start(options());
    let mut client = Client::new(handle.local_addr);
    let body = "user_count=10&host=http%3A%2F%2Fa.b%3A80&name=J%C3%BCrgen+B&flag&bad=100%&&empty=";
    let raw = format!(
        "POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let reply = client.ask(&raw);
    let expected = json!([
        ["user_count", "10"],
        ["host", "http://a.b:80"],
        ["name", "Jürgen B"],
        ["flag", ""],
        ["bad", "100%"],
        ["empty", ""]
    ]);
    assert_eq!((reply.status, reply.json()), (200, expected));
    let query = client.ask("GET /query?x=1&q=a+b%21 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(query.json(), json!({"q": "a b!"}));
}

#[test]
fn sse_streams_three_events_then_closes() {
    // A stream response has no Content-Length; its events arrive and the connection closes after.
    let handle = start(options());
    let mut client = Client::new(handle.local_addr);
    let reply = client.ask("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-cache"));
    assert_eq!(reply.header("content-length"), None);
    assert_eq!(reply.text(), "data: 0\n\ndata: 1\n\ndata: 2\n\n");
    assert!(client.closed());
}

#[test]
fn connections_beyond_the_limit_get_503() {
    // With max_connections open, the next connection gets 503; a freed place is used again.
    let handle = start(ServerOptions {
        max_connections: 2,
        ..options()
    });
    let mut held: Vec<Client> = (0..2).map(|_| Client::new(handle.local_addr)).collect();
    for client in &mut held {
        assert_eq!(
            client.ask("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").status,
            200
        );
    }
    let mut extra = Client::new(handle.local_addr);
    let refused = extra.ask("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (refused.status, refused.json()),
        (503, json!({"error": "too many connections"}))
    );
    assert!(extra.closed());
    drop(held.pop());
    wait_open(&handle, 1);
    let mut next = Client::new(handle.local_addr);
    assert_eq!(
        next.ask("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
}

#[test]
fn shutdown_stops_accepting_and_ends_streams() {
    // After shutdown, a running stream ends, its place is freed and new connections are refused.
    let handle = start(options());
    let mut client = Client::new(handle.local_addr);
    client.send(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(client.fill() > 0);
    handle.shutdown();
    assert!(handle.is_stopping());
    let started = Instant::now();
    while client.fill() > 0 {}
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the stream outlived shutdown"
    );
    wait_open(&handle, 0);
    assert!(TcpStream::connect(handle.local_addr).is_err());
}

#[test]
fn head_requests_and_downloads_frame_correctly() {
    // HEAD gets the length without the body, and the connection stays usable; a download names a safe file.
    let handle = start(options());
    let mut client = Client::new(handle.local_addr);
    client.send(b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    let head_len = loop {
        if let Some(at) = client.buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        assert!(client.fill() > 0);
    };
    let head = String::from_utf8(client.buf.drain(..head_len).collect()).unwrap();
    let error_len = br#"{"error":"no such route"}"#.len();
    assert!(
        head.starts_with("HTTP/1.1 404 ")
            && head.contains(&format!("Content-Length: {error_len}\r\n")),
        "{head}"
    );
    let download = client.ask("GET /download HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        download.header("content-disposition").as_deref(),
        Some("attachment; filename=\"stats__x_.csv\"")
    );
    assert_eq!(download.text(), "a,b\n");
}

#[test]
fn expect_continue_gets_an_interim_answer() {
    // A client that waits for 100 Continue gets it, then the final answer.
    let handle = start(options());
    let mut client = Client::new(handle.local_addr);
    let interim = client
        .ask("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(interim.status, 100);
    client.send(b"ok");
    assert_eq!(client.reply().text(), "ok");
}

#[test]
fn options_that_break_a_limit_are_refused() {
    // Zero limits and an ambiguous user name fail at start-up, not at the first request.
    let bad = [
        ServerOptions {
            max_connections: 0,
            ..options()
        },
        ServerOptions {
            max_head: 0,
            ..options()
        },
        ServerOptions {
            read_timeout: Duration::ZERO,
            ..options()
        },
        ServerOptions {
            auth: Some(("a:b".into(), "c".into())),
            ..options()
        },
    ];
    for options in bad {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(serve(listener, options, Arc::new(TestHandler)).is_err());
    }
}
