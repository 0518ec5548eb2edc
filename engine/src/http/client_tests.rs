//! `Client` over scripted connections (`script`): which connections go back
//! to the pool, and when a failed request is sent again on a fresh one.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::http::conn::tests::run;
use crate::http::script::Script;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// A client of one origin whose dials get `scripts` in turn (a dial past
/// the last is refused).
fn client(scripts: Vec<Script>) -> Client {
    let origin = Origin::plain(SocketAddr::from(([127, 0, 0, 1], 80)));
    let timeout = Duration::from_secs(5);
    Client::new(
        vec![origin],
        Connector::scripted(scripts),
        Limits::default(),
        timeout,
        timeout,
    )
}

/// Sends `request` on `client` to its one origin.
fn send(client: &Client, request: &[u8]) -> Result<Exchange, Failure> {
    let is_head = request.starts_with(b"HEAD ");
    run(client.send(0, request, is_head, None, &mut Capture::default()))
}

/// Connections idle in the pool.
fn idle(client: &Client) -> usize {
    client.pool.borrow().idle_count()
}

/// A keep-alive connection the server closed while it idled in the pool is
/// retried once, on a fresh connection, and the request succeeds; the
/// request went out on both.
#[test]
fn stale_keep_alive_connection_is_retried_once() {
    let stale = Script::new().read(OK);
    let fresh = Script::new().read(OK);
    let (stale_written, fresh_written) = (stale.written(), fresh.written());
    let client = client(vec![stale, fresh]);
    assert_eq!(send(&client, GET).unwrap().status, 200);
    assert_eq!(idle(&client), 1);
    assert_eq!(send(&client, GET).unwrap().status, 200);
    assert_eq!(client.connections_opened(), 2);
    assert_eq!(&stale_written.borrow()[..], [GET, GET].concat());
    assert_eq!(&fresh_written.borrow()[..], GET);
    assert_eq!(idle(&client), 1, "the fresh one is kept");
}

/// A stale connection may fail at the write too (the server's reset came
/// first): the request is retried the same way.
#[test]
fn a_stale_connection_that_fails_the_write_is_retried() {
    let client = client(vec![Script::new().read(OK), Script::new().read(OK)]);
    send(&client, GET).unwrap();
    let mut stale = client.pool.borrow_mut().take(0).unwrap();
    stale.replace_stream(Script::new().fail_writes(Failure::Reset));
    client.pool.borrow_mut().give(0, stale);
    assert_eq!(send(&client, GET).unwrap().status, 200);
    assert_eq!(client.connections_opened(), 2);
}

/// The retry happens once: when the fresh connection fails too, the
/// failure is returned and no third connection is dialed.
#[test]
fn a_retry_that_fails_is_not_retried_again() {
    let unused = Script::new().read(OK);
    let unused_written = unused.written();
    let scripts = vec![
        Script::new().read(OK),
        Script::new().fail_read(Failure::Reset),
        unused,
    ];
    let client = client(scripts);
    send(&client, GET).unwrap();
    assert_eq!(send(&client, GET), Err(Failure::Reset));
    assert_eq!(client.connections_opened(), 2);
    assert!(unused_written.borrow().is_empty());
    assert_eq!(client.connections_open(), 0);
}

/// A fresh connection that fails is not retried: only a reused one may have
/// gone stale while idle.
#[test]
fn a_fresh_connection_is_not_retried() {
    let client = client(vec![Script::new(), Script::new().read(OK)]);
    assert_eq!(send(&client, GET), Err(Failure::ClosedBeforeResponse));
    assert_eq!(client.connections_opened(), 1);
}

/// A 101 (Switching Protocols) hands the connection to another protocol,
/// whose bytes may follow at once: the connection never goes back to the
/// pool, and the next request dials a new one.
#[test]
fn switching_protocols_does_not_return_the_connection() {
    let upgrade: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\n\r\n\x81\x02hi";
    let client = client(vec![Script::new().read(upgrade), Script::new().read(OK)]);
    assert_eq!(send(&client, GET).unwrap().status, 101);
    assert_eq!(idle(&client), 0);
    assert_eq!(client.connections_open(), 0);
    assert_eq!(send(&client, GET).unwrap().status, 200);
    assert_eq!(client.connections_opened(), 2);
}

/// A response with both Transfer-Encoding and Content-Length is read by
/// its Transfer-Encoding (RFC 9112 6.3), but such a message may be an
/// attempt at response splitting: its connection is closed after use.
#[test]
fn transfer_encoding_with_content_length_closes_after_use() {
    let both: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\
        2\r\nok\r\n0\r\n\r\n";
    let client = client(vec![Script::new().read(both)]);
    let exchange = send(&client, GET).unwrap();
    assert_eq!((exchange.status, exchange.body_bytes), (200, 2));
    assert!(!exchange.keep_alive);
    assert_eq!((idle(&client), client.connections_open()), (0, 0));
}

/// The server may have acted on a request that met a stale connection, so
/// only idempotent methods are sent again (RFC 9112 9.3.1): POST and PATCH
/// fail instead, with no second connection; GET, HEAD, PUT, DELETE and
/// OPTIONS are retried.
#[test]
fn non_idempotent_requests_are_not_retried() {
    for (method, retried) in [
        ("POST", false),
        ("PATCH", false),
        ("GET", true),
        ("HEAD", true),
        ("PUT", true),
        ("DELETE", true),
        ("OPTIONS", true),
    ] {
        let request = format!("{method} /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx");
        let answer: &[u8] = if method == "HEAD" {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
        } else {
            OK
        };
        let fresh = Script::new().read(answer);
        let fresh_written = fresh.written();
        let client = client(vec![Script::new().read(OK), fresh]);
        send(&client, GET).unwrap();
        let outcome = send(&client, request.as_bytes());
        if retried {
            assert_eq!(outcome.map(|e| e.status), Ok(200), "{method}");
            assert_eq!(&fresh_written.borrow()[..], request.as_bytes());
        } else {
            assert_eq!(outcome, Err(Failure::ClosedBeforeResponse), "{method}");
            assert!(fresh_written.borrow().is_empty(), "{method} sent again");
        }
        assert_eq!(client.connections_opened(), 1 + u64::from(retried));
    }
}

/// Pipelined POSTs cut off by a stale connection are reported as failures,
/// every one, and not sent again.
#[test]
fn pipelined_non_idempotent_requests_are_not_retried() {
    const POST: &[u8] = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx";
    let fresh = Script::new().read(OK.repeat(3));
    let fresh_written = fresh.written();
    let client = client(vec![Script::new().read(OK), fresh]);
    send(&client, GET).unwrap();
    let mut outcomes = Vec::new();
    let mut on_response = |outcome: Result<Exchange, Failure>, _| outcomes.push(outcome);
    run(client.pipeline(0, POST, false, 3, &mut Capture::default(), &mut on_response));
    assert_eq!(outcomes, vec![Err(Failure::ClosedBeforeResponse); 3]);
    assert!(fresh_written.borrow().is_empty());
}

/// Bytes after a 204 fail the request without a retry, and its connection
/// is closed; so is a pipelined connection with bytes after the last
/// response it waited for.
#[test]
fn bytes_after_a_response_close_the_connection() {
    let extra: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n{}";
    let client = client(vec![Script::new().read(extra), Script::new().read(OK)]);
    assert_eq!(send(&client, GET), Err(Failure::BytesAfterResponse));
    assert_eq!(client.connections_opened(), 1);
    assert_eq!(client.connections_open(), 0);
    let two = [OK, OK, b"HTTP/1.1 200"].concat();
    let client = self::client(vec![Script::new().read(two)]);
    let mut statuses = Vec::new();
    let mut on_response =
        |outcome: Result<Exchange, Failure>, _| statuses.push(outcome.map(|e| e.status));
    run(client.pipeline(0, GET, false, 2, &mut Capture::default(), &mut on_response));
    assert_eq!(statuses, vec![Ok(200), Ok(200)]);
    assert_eq!((idle(&client), client.connections_open()), (0, 0));
}
