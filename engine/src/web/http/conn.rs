//! One served connection, from its first byte to its close.
//!
//! It owns reading requests off the socket (within the read deadline,
//! pipelined requests included, with `100 Continue` when asked), the
//! auth and origin gate in front of the handler, keep-alive, and the
//! bounded drain before a close. Parsing is `request`'s, writing is
//! `response`'s, and which connections get served at all is `server`'s.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::auth::{authorized, same_origin};
use super::request::{
    body_length, expects_continue, keep_alive, parse_head, split_target, Head, Request,
};
use super::response::{write_response, Response};
use super::server::{ServerOptions, Shared};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 8192;
/// Longest wait for the peer's next bytes while draining before a close.
const LINGER_STEP: Duration = Duration::from_millis(500);
/// Longest drain before a close, in all.
const LINGER_MAX: Duration = Duration::from_secs(2);
/// Most bytes drained before a close.
const LINGER_BYTES_MAX: usize = 1 << 20;

/// Serves requests on one connection until it closes, fails or must close.
pub(super) fn serve_connection(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let options = &shared.options;
    let configured = stream
        .set_read_timeout(Some(options.read_timeout))
        .and_then(|()| stream.set_write_timeout(Some(options.read_timeout)))
        .and_then(|()| stream.set_nodelay(true));
    if configured.is_err() {
        return;
    }
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
        peer,
        options,
    };
    while !shared.stopping.load(Ordering::SeqCst) {
        match conn.next_request() {
            Ok(Incoming::Request(request, keep_alive)) => {
                let response = respond(shared, &request);
                let head_only = request.method == "HEAD";
                match write_response(&mut conn.stream, response, head_only, keep_alive) {
                    Ok(true) => continue,
                    Ok(false) | Err(_) => return,
                }
            }
            Ok(Incoming::Refused(response)) => {
                let _ = write_response(&mut conn.stream, response, false, false);
                linger(&mut conn.stream);
                return;
            }
            Ok(Incoming::Closed) | Err(_) => return,
        }
    }
}

/// The handler's answer, or the refusal of a request that fails the auth or
/// origin check.
fn respond(shared: &Shared, request: &Request) -> Response {
    if let Some(expected) = &shared.credentials {
        if !authorized(request, expected) {
            return Response::error(401, "authentication required")
                .with_header("WWW-Authenticate", "Basic realm=\"stampede\"");
        }
    }
    if !matches!(request.method.as_str(), "GET" | "HEAD") && !same_origin(request) {
        return Response::error(403, "cross-origin request refused");
    }
    shared.handler.handle(request)
}

/// What reading the next request from a connection came to.
enum Incoming {
    /// A whole request, and whether the connection may stay open after it.
    Request(Request, bool),
    /// The peer closed, or stopped mid-request.
    Closed,
    /// The request broke a rule; this answer is sent and the connection closed.
    Refused(Response),
}

/// A served connection's socket and the bytes read but not yet used.
struct Conn<'a> {
    /// The socket.
    stream: TcpStream,
    /// Bytes read and not yet consumed: a partial head, or pipelined requests.
    buf: Vec<u8>,
    /// The client's address, for `Request::peer`.
    peer: SocketAddr,
    /// The limits.
    options: &'a ServerOptions,
}

impl Conn<'_> {
    /// Reads one request, head and body, within `read_timeout` in all; an
    /// I/O error (a timeout included) means the connection is done.
    fn next_request(&mut self) -> io::Result<Incoming> {
        let deadline = Instant::now() + self.options.read_timeout;
        let head = loop {
            match parse_head(&self.buf, self.options.max_head) {
                Err(refusal) => return Ok(Incoming::Refused(refusal)),
                Ok(Some(head)) => break head,
                Ok(None) if self.fill(deadline)? == 0 => return Ok(Incoming::Closed),
                Ok(None) => {}
            }
        };
        let body_len = match body_length(&head, self.options.max_body) {
            Ok(len) => len,
            Err(refusal) => return Ok(Incoming::Refused(refusal)),
        };
        let Some((path, query)) = split_target(&head.target) else {
            return Ok(Incoming::Refused(Response::error(
                400,
                "request target must be a path",
            )));
        };
        let end = head.len + body_len;
        if self.buf.len() < end && expects_continue(&head) {
            self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        while self.buf.len() < end {
            if self.fill(deadline)? == 0 {
                return Ok(Incoming::Closed);
            }
        }
        let body = self.buf[head.len..end].to_vec();
        self.buf.drain(..end);
        let keep_alive = keep_alive(&head);
        let Head {
            method, headers, ..
        } = head;
        let request = Request {
            method,
            path,
            query,
            headers,
            body,
            peer: self.peer,
        };
        Ok(Incoming::Request(request, keep_alive))
    }

    /// Reads once more into `buf`; 0 at end of stream, TimedOut past `deadline`.
    fn fill(&mut self, deadline: Instant) -> io::Result<usize> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            if Instant::now() >= deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Half-closes, then reads and drops what the peer still sends (briefly and
/// boundedly), so the close does not reset the connection before the peer
/// has read our answer.
pub(super) fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER_STEP));
    let deadline = Instant::now() + LINGER_MAX;
    let mut chunk = [0u8; READ_CHUNK];
    let mut drained = 0;
    while Instant::now() < deadline && drained < LINGER_BYTES_MAX {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}
