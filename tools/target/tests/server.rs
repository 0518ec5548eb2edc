//! The in-process `Target` on both drivers: exact counts, pipelining, request
//! bodies, limits, the failure routes, HTTP/1.0, and stopping on drop.

mod support;

use std::io::Read;
use std::time::{Duration, Instant};

use stampede_target::{IoDriver, Target, TargetConfig};
use support::{stats, Client};

/// One server per driver: epoll, and `Auto` (io_uring where the kernel allows).
fn targets() -> Vec<Target> {
    [IoDriver::Epoll, IoDriver::Auto]
        .into_iter()
        .map(|io_driver| {
            let config = TargetConfig {
                io_driver,
                ..TargetConfig::loopback(2)
            };
            Target::start(config).expect("start target")
        })
        .collect()
}

#[test]
fn twenty_keep_alive_users_open_twenty_connections() {
    for target in targets() {
        let mut clients: Vec<Client> = (0..20)
            .map(|_| Client::connect(target.local_addr()))
            .collect();
        for round in 0..5 {
            for client in &mut clients {
                let path = if round % 2 == 0 { "/" } else { "/bytes/100" };
                assert_eq!(client.get(path).status, 200);
            }
        }
        assert_eq!((target.requests(), target.connections()), (100, 20));
        assert_eq!(
            stats(target.local_addr()),
            (100, 20),
            "{:?}",
            target.io_driver()
        );
        // Connections that never send a counted request are not counted.
        let _idle = Client::connect(target.local_addr());
        assert_eq!(stats(target.local_addr()), (100, 20));
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    for target in targets() {
        let mut client = Client::connect(target.local_addr());
        client.send(
            b"GET /bytes/3 HTTP/1.1\r\n\r\n\
              GET /chunked/5000 HTTP/1.1\r\n\r\n\
              GET /status/204 HTTP/1.1\r\n\r\n\
              GET /delay/30 HTTP/1.1\r\n\r\n\
              HEAD /bytes/7 HTTP/1.1\r\n\r\n\
              GET /bytes/100000 HTTP/1.1\r\n\r\n\
              GET /status/418 HTTP/1.1\r\n\r\n",
        );
        let r = client.read_response().unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, b"xxx".as_slice()));
        let r = client.read_response().unwrap();
        assert_eq!((r.body.len(), r.chunks), (5000, 2));
        assert_eq!(client.read_response().unwrap().status, 204);
        assert_eq!(client.read_response().unwrap().body, b"ok");
        let r = client.read_head_response().unwrap();
        assert_eq!((r.status, r.header("content-length")), (200, Some("7")));
        assert_eq!(client.read_response().unwrap().body.len(), 100_000);
        assert_eq!(client.read_response().unwrap().status, 418);
        assert_eq!(client.get("/").status, 200);
        assert_eq!(target.requests(), 8);
    }
}

#[test]
fn requests_split_across_reads_are_reassembled() {
    for target in targets() {
        let mut client = Client::connect(target.local_addr());
        for part in [
            &b"GET / HTTP/1.1\r\n\r\nGET /by"[..],
            b"tes/3 HTTP/1.1\r",
            b"\n\r\n",
        ] {
            client.send(part);
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(client.read_response().unwrap().body, b"ok");
        assert_eq!(client.read_response().unwrap().body, b"xxx");
        // A body that arrives in pieces after its head.
        client.send(b"POST /bytes/2 HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc");
        std::thread::sleep(Duration::from_millis(20));
        client.send(b"defGET / HTTP/1.1\r\n\r\n");
        assert_eq!(client.read_response().unwrap().body, b"xx");
        assert_eq!(client.read_response().unwrap().body, b"ok");
    }
}

#[test]
fn request_bodies_are_read_and_discarded() {
    for target in targets() {
        let mut client = Client::connect(target.local_addr());
        let body = vec![b'b'; 200_000];
        client.send(
            format!(
                "POST /bytes/4 HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        client.send(&body);
        assert_eq!(client.read_response().unwrap().body, b"xxxx");
        // Expect: 100-continue gets the interim response before the body is sent.
        client.send(b"PUT / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(client.read_response().unwrap().status, 100);
        client.send(b"hello");
        assert_eq!(client.read_response().unwrap().body, b"ok");
        // A small body pipelined with the next request.
        client
            .send(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /bytes/1 HTTP/1.1\r\n\r\n");
        assert_eq!(client.read_response().unwrap().body, b"ok");
        assert_eq!(client.read_response().unwrap().body, b"x");
        assert_eq!(target.connections(), 1);
    }
}

#[test]
fn limits_and_chunked_bodies_are_refused_and_close() {
    for target in targets() {
        let mut huge = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
        huge.resize(70_000, b'a');
        huge.extend_from_slice(b"\r\n\r\n");
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..65 {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        let cases: [(&[u8], u16); 5] = [
            (&huge, 400),
            (&many, 400),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                411,
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n", 400),
            (b"\x16\x03\x01 not http\r\n\r\n", 400),
        ];
        for (request, status) in cases {
            let mut client = Client::connect(target.local_addr());
            client.send(request);
            let response = client.read_response().unwrap();
            assert_eq!(response.status, status);
            assert_eq!(response.header("connection"), Some("close"));
            assert!(client.expect_closed());
        }
    }
}

#[test]
fn closing_and_failure_routes() {
    for target in targets() {
        let addr = target.local_addr();

        let mut client = Client::connect(addr);
        let response = client.get("/close");
        assert_eq!(
            (response.header("connection"), response.body.as_slice()),
            (Some("close"), b"ok".as_slice())
        );
        assert!(client.expect_closed());

        let mut client = Client::connect(addr);
        client.send(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert_eq!(client.read_response().unwrap().body, b"ok");
        assert!(client.expect_closed());

        // The close-delimited body is read until EOF by the helper.
        let response = Client::connect(addr).get("/eof/70000");
        assert_eq!(
            (response.header("content-length"), response.body.len()),
            (None, 70_000)
        );

        let mut client = Client::connect(addr);
        client.send(b"GET /garbage HTTP/1.1\r\n\r\n");
        let mut raw = Vec::new();
        client.stream.read_to_end(&mut raw).unwrap();
        assert_eq!(raw, b"NOT-HTTP garbage\r\n\r\n");

        let mut client = Client::connect(addr);
        client.send(b"GET /truncated HTTP/1.1\r\n\r\n");
        assert!(client.read_response().is_err(), "truncated body must fail");

        let response = Client::connect(addr).get("/bighead");
        assert_eq!(
            (response.status, response.body.as_slice()),
            (200, b"ok".as_slice())
        );
        assert!(response
            .header("x-big")
            .is_some_and(|v| v.len() > 64 * 1024));

        let mut client = Client::connect(addr);
        client.send(b"GET /reset HTTP/1.1\r\n\r\n");
        assert!(!client.expect_closed(), "expected a TCP reset");

        let mut client = Client::connect(addr);
        client.send(b"GET /status/100 HTTP/1.1\r\n\r\n");
        assert_eq!(client.read_response().unwrap().status, 100);
        assert!(client.expect_closed(), "no final response follows a 1xx");
    }
}

#[test]
fn http10_closes_unless_asked_to_keep_alive() {
    for target in targets() {
        let mut client = Client::connect(target.local_addr());
        client.send(b"GET /chunked/9 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let response = client.read_response().unwrap();
        assert_eq!(
            (response.header("transfer-encoding"), response.body.len()),
            (None, 9)
        );

        let mut client = Client::connect(target.local_addr());
        client.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(
            client.read_response().unwrap().header("connection"),
            Some("keep-alive")
        );
        client.send(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(
            client.read_response().unwrap().header("connection"),
            Some("close")
        );
        assert!(client.expect_closed());
    }
}

#[test]
fn counters_reset() {
    for target in targets() {
        let mut client = Client::connect(target.local_addr());
        client.get("/");
        assert_eq!(client.get("/__reset").status, 405);
        client.send(b"POST /__reset HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(client.read_response().unwrap().status, 200);
        assert_eq!(stats(target.local_addr()), (0, 0));
        // The connection was counted before the reset, so it stays uncounted.
        client.get("/");
        assert_eq!((target.requests(), target.connections()), (1, 0));
        target.reset_counters();
        assert_eq!(target.totals(), Default::default());
    }
}

#[test]
fn dropping_the_target_stops_accepting() {
    for target in targets() {
        let addr = target.local_addr();
        let mut open = Client::connect(addr);
        assert_eq!(open.get("/").status, 200);
        drop(target);
        // Already open connections are still served.
        assert_eq!(open.get("/").status, 200);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                Err(_) => break,
                Ok(_) => {
                    assert!(Instant::now() < deadline, "still accepting after drop");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

#[test]
fn start_rejects_zero_threads() {
    let err = Target::start(TargetConfig::loopback(0))
        .err()
        .expect("must fail");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
