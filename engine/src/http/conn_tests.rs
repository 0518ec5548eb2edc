//! `Conn` over scripted streams (`script`): heads and bodies split at every
//! byte, interim responses, pipelined responses in one read, cuts at every
//! byte, and what each outcome means for reusing the connection.

use std::future::Future;
use std::time::Duration;

use super::*;
use crate::http::script::Script;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/// Runs a future on a monoio runtime (timers on), failing after 20 s.
pub(crate) fn run<F: Future>(future: F) -> F::Output {
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    rt.block_on(async {
        monoio::time::timeout(Duration::from_secs(20), future)
            .await
            .expect("test timed out")
    })
}

/// A connection's surroundings: limits, the shard's buffers and head cache.
#[derive(Default)]
struct Env {
    limits: Limits,
    buffers: BufferPool,
    heads: HeadCache,
}

/// A connection over `script`.
fn conn(script: Script) -> Conn {
    let peer = SocketAddr::from(([127, 0, 0, 1], 80));
    Conn::over(Stream::Scripted(script), peer, Rc::default())
}

/// One exchange of `request` over `script` on a fresh connection; the
/// connection comes back with the outcome.
fn exchange_over(
    script: Script,
    request: &[u8],
    capture: &mut Capture,
) -> (Result<Exchange, Failure>, Conn) {
    let env = Env::default();
    let mut conn = conn(script);
    let is_head = request.starts_with(b"HEAD ");
    let result = run(conn.exchange(
        request,
        is_head,
        &env.limits,
        capture,
        &env.buffers,
        &env.heads,
    ));
    (result, conn)
}

/// One exchange of GET over `script`, keeping head and body.
fn get(script: Script) -> (Result<Exchange, Failure>, Capture) {
    let mut capture = Capture::with_body_limit(1 << 20);
    capture.want_head = true;
    capture.want_body = true;
    let (result, _) = exchange_over(script, GET, &mut capture);
    (result, capture)
}

/// Every way to cut `bytes` into two or three reads.
fn splits(bytes: &[u8]) -> Vec<Script> {
    let mut scripts = Vec::new();
    for i in 1..bytes.len() {
        scripts.push(Script::new().read_split(bytes, &[i]));
        for j in i + 1..bytes.len() {
            scripts.push(Script::new().read_split(bytes, &[i, j]));
        }
    }
    scripts
}

/// A response head split anywhere (two or three reads, or a byte per
/// read) parses to the same response, and the request went out once, whole.
#[test]
fn head_split_at_every_point() {
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
    let head_len = response.len() - 5;
    let mut scripts = splits(response);
    let bytewise: Vec<usize> = (1..response.len()).collect();
    scripts.push(Script::new().read_split(response, &bytewise));
    for script in scripts {
        let written = script.written();
        let (result, capture) = get(script);
        let exchange = result.unwrap();
        assert_eq!(
            (exchange.status, exchange.body_bytes, exchange.keep_alive),
            (200, 5, true)
        );
        assert_eq!(exchange.bytes_received, response.len() as u64);
        assert_eq!(capture.head, &response[..head_len]);
        assert_eq!(capture.body, b"hello");
        assert_eq!(&written.borrow()[..], GET);
    }
}

/// Interim responses (100 Continue, 103 Early Hints) before the final one
/// are skipped wherever the reads cut them; the final response is the one
/// reported, and the interim heads' bytes are counted as received.
#[test]
fn interim_responses_before_the_final_one() {
    let response: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\
        Link: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    for script in splits(response) {
        let (result, capture) = get(script);
        let exchange = result.unwrap();
        assert_eq!((exchange.status, exchange.body_bytes), (201, 2));
        assert_eq!(
            exchange.bytes_received,
            response.len() as u64,
            "interim heads count"
        );
        assert!(capture.head.starts_with(b"HTTP/1.1 201 Created\r\n"));
        assert_eq!(capture.body, b"ok");
    }
}

/// Two pipelined responses that arrive in one read are both read from it,
/// in order, with no second read: they share the read's clock time.
#[test]
fn two_pipelined_responses_in_one_read() {
    let both: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na\
        HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n";
    let script = Script::new().read(both);
    let written = script.written();
    let env = Env::default();
    let mut conn = conn(script);
    let mut capture = Capture::with_body_limit(64);
    capture.want_body = true;
    let (first, first_body, second, second_body) = run(async {
        conn.write_copies(GET, 2, &env.buffers).await.unwrap();
        let (limits, buffers, heads) = (&env.limits, &env.buffers, &env.heads);
        let first = conn.read_response(false, limits, &mut capture, buffers, heads);
        let first = first.await.unwrap();
        let first_body = capture.body.clone();
        let second = conn.read_response(false, limits, &mut capture, buffers, heads);
        let second = second.await.unwrap();
        (first, first_body, second, capture.body.clone())
    });
    assert_eq!((first.status, first_body.as_slice()), (200, &b"a"[..]));
    assert_eq!((second.status, second_body.as_slice()), (404, &b"b"[..]));
    assert_eq!(first.done_at, second.first_byte_at, "one read for both");
    assert_eq!(second.first_byte_at, second.done_at);
    assert_eq!(&written.borrow()[..], [GET, GET].concat());
}

/// A response cut by the peer at any byte is the failure of where it was
/// cut: nothing yet, inside the head, inside the body (by length or
/// chunked), and a reset is a reset wherever it comes.
#[test]
fn body_cut_at_every_byte() {
    let responses: [&[u8]; 2] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n0123\r\n6;x=y\r\n456789\r\n0\r\nT: 1\r\n\r\n",
    ];
    for response in responses {
        let head_len = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        for cut in 0..response.len() {
            let expected = if cut == 0 {
                Failure::ClosedBeforeResponse
            } else if cut < head_len {
                Failure::TruncatedHead
            } else {
                Failure::TruncatedBody
            };
            let (result, _) = get(Script::new().read(&response[..cut]));
            assert_eq!(result, Err(expected), "cut at {cut} of {response:?}");
            let reset = Script::new()
                .read(&response[..cut])
                .fail_read(Failure::Reset);
            assert_eq!(get(reset).0, Err(Failure::Reset), "reset at {cut}");
        }
        let (result, capture) = get(Script::new().read(response));
        assert_eq!(result.unwrap().body_bytes, 10);
        assert_eq!(capture.body, b"0123456789");
    }
}

/// A body delimited by the close ends wherever TCP's close comes, and the
/// connection is not kept.
#[test]
fn close_delimited_body_ends_at_the_close() {
    let response = b"HTTP/1.1 200 OK\r\n\r\n0123456789";
    let head_len = response.len() - 10;
    for cut in head_len..=response.len() {
        let script = Script::new().read_split(&response[..cut], &[head_len]);
        let (result, capture) = get(script);
        let exchange = result.unwrap();
        assert_eq!(exchange.body_bytes, (cut - head_len) as u64);
        assert!(!exchange.keep_alive);
        assert_eq!(capture.body, &response[head_len..cut]);
    }
}

/// A response followed by nothing leaves the connection holding no buffer,
/// ready for the pool.
#[test]
fn an_idle_connection_holds_no_buffer() {
    let script = Script::new().read("HTTP/1.1 204 No Content\r\n\r\n");
    let (result, conn) = exchange_over(script, GET, &mut Capture::default());
    assert_eq!(result.unwrap().status, 204);
    assert_eq!(conn.read_buf.capacity(), 0);
    assert!(conn.is_reused());
}

/// Bytes that come with a response that has no body (204, 304, a HEAD's)
/// are a body the server must not send: a protocol failure, never taken as
/// the next request's response (here they even look like one).
#[test]
fn bytes_after_a_bodyless_response_are_a_failure() {
    let next = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let head_request: &[u8] = b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n";
    let cases: [(&[u8], &str); 3] = [
        (GET, "HTTP/1.1 204 No Content\r\n\r\n"),
        (
            GET,
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 38\r\n\r\n",
        ),
        (
            head_request,
            "HTTP/1.1 200 OK\r\nContent-Length: 38\r\n\r\n",
        ),
    ];
    for (request, head) in cases {
        let script = Script::new().read(format!("{head}{next}"));
        let (result, _) = exchange_over(script, request, &mut Capture::default());
        assert_eq!(result, Err(Failure::BytesAfterResponse), "{head:?}");
        let (result, _) = exchange_over(Script::new().read(head), request, &mut Capture::default());
        assert!(result.unwrap().keep_alive, "{head:?} alone is fine");
    }
}

/// So are bytes beyond a body's announced length: the server's framing is
/// wrong, and they must not become the next response.
#[test]
fn bytes_beyond_the_announced_length_are_a_failure() {
    let script = Script::new().read("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 2");
    let (result, _) = exchange_over(script, GET, &mut Capture::default());
    assert_eq!(result, Err(Failure::BytesAfterResponse));
}

/// Over TLS, a body delimited by the close needs the peer's close_notify
/// to be whole: a cut without it, at any byte, may be an attacker's FIN
/// and is a truncated body. Length-delimited bodies do not depend on it.
#[test]
fn close_delimited_body_cut_without_close_notify_is_truncated() {
    let response = b"HTTP/1.1 200 OK\r\n\r\n0123456789";
    let head_len = response.len() - 10;
    for cut in head_len..=response.len() {
        let script = Script::new().read(&response[..cut]).cut();
        assert_eq!(get(script).0, Err(Failure::TruncatedBody), "cut at {cut}");
    }
    let framed = Script::new()
        .read("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        .cut();
    assert_eq!(get(framed).0.unwrap().body_bytes, 2);
}

/// A captured head and body live in buffers lent by the shard: given back
/// after the response is judged, the capture holds nothing, and the next
/// capture reuses the same buffer instead of allocating; a body with a
/// Content-Length is kept in one allocation of its size.
#[test]
fn captured_bodies_borrow_the_shards_buffers() {
    let body = vec![b'x'; 100_000];
    let response = [
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
        &body,
    ]
    .concat();
    let env = Env::default();
    let mut conn = conn(Script::new().read(&response).read(&response));
    let mut capture = Capture::with_body_limit(1 << 20);
    capture.want_head = true;
    capture.want_body = true;
    let mut exchange = |capture: &mut Capture| {
        let result = run(conn.exchange(GET, false, &env.limits, capture, &env.buffers, &env.heads));
        assert_eq!(result.unwrap().body_bytes, body.len() as u64);
    };
    exchange(&mut capture);
    assert_eq!(capture.body, body);
    assert_eq!(capture.body.capacity(), body.len(), "one allocation, exact");
    let lent = capture.body.as_ptr();
    capture.release(&env.buffers);
    assert_eq!((capture.head.capacity(), capture.body.capacity()), (0, 0));
    assert!(env.buffers.idle_body_bytes() >= body.len());
    exchange(&mut capture);
    assert_eq!(capture.body, body);
    assert_eq!(capture.body.as_ptr(), lent, "the lent buffer came back");
    capture.release(&env.buffers);
}

/// The shard keeps at most `POOLED_BODY_BYTES_MAX` of idle body buffers;
/// more are freed when given back.
#[test]
fn the_shards_body_buffers_are_bounded() {
    let buffers = BufferPool::default();
    let mut held = Vec::new();
    for _ in 0..40 {
        held.push(Vec::<u8>::with_capacity(1 << 20));
    }
    for buf in &mut held {
        buffers.give_body(buf);
        assert_eq!(buf.capacity(), 0);
    }
    assert_eq!(buffers.idle_body_bytes(), 32 << 20);
    let taken = buffers.take_body();
    assert_eq!(taken.capacity(), 1 << 20);
    assert_eq!(buffers.idle_body_bytes(), 31 << 20);
}
