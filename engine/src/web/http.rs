//! The control API's blocking HTTP/1.1 server: one thread accepts, one thread
//! per connection serves.
//!
//! It owns everything between the socket and a route: request parsing
//! (Content-Length bodies only, keep-alive, pipelining), the limits that keep
//! a hostile client cheap (connections, head and body sizes, read and write
//! timeouts), HTTP basic auth, the same-origin check on state-changing
//! requests, and response writing (framed bodies and close-delimited streams
//! such as Server-Sent Events). It knows no route: what a request means, and
//! which content types a route takes, is `web::api`'s job, behind [`Handler`].

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Most headers one request may carry; more is answered 431.
const HEADERS_MAX: usize = 64;
/// Refused connections answered 503 at the same time; beyond this they are
/// closed unanswered, so a connection flood cannot spawn threads without end.
const REJECTING_MAX: usize = 16;
/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 8192;
/// Pause after a failed accept (out of file descriptors, say), so the accept
/// loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait for the peer's next bytes while draining before a close.
const LINGER_STEP: Duration = Duration::from_millis(500);
/// Longest drain before a close, in all.
const LINGER_MAX: Duration = Duration::from_secs(2);
/// Most bytes drained before a close.
const LINGER_BYTES_MAX: usize = 1 << 20;
/// How long `shutdown` waits to connect to its own listener to wake the
/// accept thread.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// One request, read whole (head and body) before the handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method as sent (`GET`, `POST`, ...).
    pub method: String,
    /// The target's path, still percent-encoded, without the query.
    pub path: String,
    /// The target's query, after `?`, still percent-encoded ("" when none).
    pub query: String,
    /// Headers in order; names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (Content-Length bytes; empty when none).
    pub body: Vec<u8>,
    /// The client's address.
    pub peer: SocketAddr,
}

impl Request {
    /// The first header of this name (any case), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut matching = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        matching.next().map(|(_, value)| value.as_str())
    }

    /// The first query parameter of this name, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let pairs = decode_form(self.query.as_bytes());
        pairs
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value)
    }

    /// The body decoded as `application/x-www-form-urlencoded` pairs, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        decode_form(&self.body)
    }

    /// The body parsed as JSON; an empty body reads as `{}`, since every
    /// field of the API's bodies is optional.
    pub fn json(&self) -> Result<Value, String> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(serde_json::Map::new()));
        }
        serde_json::from_slice(&self.body).map_err(|e| format!("bad JSON body: {e}"))
    }
}

/// Writes a streamed body; returns when it is done, the client went away, or
/// a write failed.
pub type Producer = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

/// A response body: bytes sent with a Content-Length, or a stream written
/// until its producer returns, after which the connection closes.
pub enum Body {
    /// A whole body, sent with Content-Length; the connection may stay open.
    Bytes(Vec<u8>),
    /// A close-delimited body, written by the producer straight to the socket.
    Stream(Producer),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            Body::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// A response; the server adds Content-Length, Connection and its own
/// safety headers.
#[derive(Debug)]
pub struct Response {
    /// The status code (200 to 599; anything else is sent as 500).
    pub status: u16,
    /// The Content-Type header ("" for none).
    pub content_type: String,
    /// Further headers; ones with CR or LF, and the framing headers
    /// (Content-Length, Transfer-Encoding, Connection), are dropped.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, value: &Value) -> Response {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
        Response::text(status, "application/json", body)
    }

    /// An error response: `{"error": message}`.
    pub fn error(status: u16, message: &str) -> Response {
        Response::json(status, &serde_json::json!({ "error": message }))
    }

    /// A response with this content type and body (a `String` or bytes).
    pub fn text(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type: content_type.to_string(),
            headers: Vec::new(),
            body: Body::Bytes(body.into()),
        }
    }

    /// An HTML page in UTF-8.
    pub fn html(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::text(status, "text/html; charset=utf-8", body)
    }

    /// A Server-Sent Events stream; `producer` writes events (flushing each)
    /// and returns when the client goes away or a write fails.
    pub fn sse(
        producer: impl FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static,
    ) -> Response {
        Response {
            status: 200,
            content_type: "text/event-stream".to_string(),
            headers: vec![("Cache-Control".to_string(), "no-cache".to_string())],
            body: Body::Stream(Box::new(producer)),
        }
    }

    /// This response with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// This response as a download named `filename` (characters other than
    /// letters, digits, `.`, `-` and `_` become `_`).
    pub fn attachment(self, filename: &str) -> Response {
        let safe: String = filename
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.with_header(
            "Content-Disposition",
            &format!("attachment; filename=\"{safe}\""),
        )
    }
}

/// Answers requests; called from connection threads, several at once.
pub trait Handler: Send + Sync + 'static {
    /// The response to one request that passed the auth and origin checks.
    fn handle(&self, request: &Request) -> Response;
}

/// The server's limits and credentials.
#[derive(Clone)]
pub struct ServerOptions {
    /// HTTP basic auth (user, password) required on every request, if set.
    pub auth: Option<(String, String)>,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Largest request body in bytes; larger is answered 413.
    pub max_body: usize,
    /// Largest request head in bytes; larger is answered 431.
    pub max_head: usize,
    /// Limit on one request's arrival (idle keep-alive wait included) and on
    /// each blocked write.
    pub read_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            auth: None,
            max_connections: 64,
            max_body: 1 << 20,
            max_head: 16 << 10,
            read_timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for ServerOptions {
    // The password stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("auth_user", &self.auth.as_ref().map(|(user, _)| user))
            .field("max_connections", &self.max_connections)
            .field("max_body", &self.max_body)
            .field("max_head", &self.max_head)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

/// A running server; dropping it shuts the server down.
#[must_use = "dropping the handle shuts the server down"]
pub struct ServerHandle {
    /// The address the server listens on.
    pub local_addr: SocketAddr,
    /// State shared with the accept and connection threads.
    shared: Arc<Shared>,
    /// The accept thread, until `shutdown` joins it.
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl ServerHandle {
    /// Stops accepting and closes every open connection's socket, so blocked
    /// reads end and stream producers' next write fails. Idempotent.
    pub fn shutdown(&self) {
        if self.shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        let accept = lock(&self.accept).take();
        // The accept thread sleeps in accept(): one connection wakes it to see
        // the flag. If that connect fails, the thread ends at the next accept.
        let woken =
            TcpStream::connect_timeout(&wake_address(self.local_addr), WAKE_TIMEOUT).is_ok();
        if let (true, Some(thread)) = (woken, accept) {
            let _ = thread.join();
        }
        for stream in lock(&self.shared.open).streams.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// True once `shutdown` was called; stream producers may poll it.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }

    /// The flag behind `is_stopping`, for producers that outlive a borrow of
    /// the handle.
    pub fn stopping(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.shared.stopping)
    }

    /// Connections being served now.
    pub fn open_connections(&self) -> usize {
        lock(&self.shared.open).streams.len()
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts serving `listener` on a new accept thread; fails on options that
/// break a limit (zero connections, head size or timeout; a user with `:`).
pub fn serve(
    listener: TcpListener,
    options: ServerOptions,
    handler: Arc<dyn Handler>,
) -> io::Result<ServerHandle> {
    check_options(&options)?;
    listener.set_nonblocking(false)?;
    let local_addr = listener.local_addr()?;
    let credentials = options
        .auth
        .as_ref()
        .map(|(user, password)| format!("{user}:{password}").into_bytes());
    let shared = Arc::new(Shared {
        options,
        credentials,
        handler,
        stopping: Arc::new(AtomicBool::new(false)),
        open: Mutex::new(OpenConns::default()),
        rejecting: AtomicUsize::new(0),
    });
    let for_thread = Arc::clone(&shared);
    let accept = thread::Builder::new()
        .name("web-accept".to_string())
        .spawn(move || accept_loop(listener, for_thread))?;
    Ok(ServerHandle {
        local_addr,
        shared,
        accept: Mutex::new(Some(accept)),
    })
}

/// Refuses options under which the server could not serve anything.
fn check_options(options: &ServerOptions) -> io::Result<()> {
    let invalid = |why: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, why.to_string()));
    if options.max_connections == 0 {
        return invalid("web server: max_connections must be at least 1");
    }
    if options.max_head == 0 {
        return invalid("web server: max_head must be at least 1");
    }
    if options.read_timeout.is_zero() {
        return invalid("web server: read_timeout must be above zero");
    }
    if options
        .auth
        .as_ref()
        .is_some_and(|(user, _)| user.contains(':'))
    {
        return invalid("web server: a basic-auth user name cannot contain ':'");
    }
    Ok(())
}

/// What the accept thread and the connection threads share.
struct Shared {
    /// Limits and credentials.
    options: ServerOptions,
    /// `user:password` as basic auth carries it, when auth is on.
    credentials: Option<Vec<u8>>,
    /// The routes.
    handler: Arc<dyn Handler>,
    /// Set by `shutdown`.
    stopping: Arc<AtomicBool>,
    /// Connections being served, so `shutdown` can close their sockets.
    open: Mutex<OpenConns>,
    /// Refused connections being answered 503.
    rejecting: AtomicUsize,
}

/// The sockets of the connections being served, by connection number.
#[derive(Default)]
struct OpenConns {
    /// The next connection's number.
    next_id: u64,
    /// A clone of each served connection's socket.
    streams: HashMap<u64, TcpStream>,
}

/// A served connection's place in `OpenConns`, given back when dropped.
struct Slot {
    /// Where the place is kept.
    shared: Arc<Shared>,
    /// The connection's number.
    id: u64,
}

impl Slot {
    /// A place for `stream`, or None when `max_connections` are open.
    fn take(shared: &Arc<Shared>, stream: &TcpStream) -> Option<Slot> {
        let mut open = lock(&shared.open);
        if open.streams.len() >= shared.options.max_connections {
            return None;
        }
        let clone = stream.try_clone().ok()?;
        let id = open.next_id;
        open.next_id += 1;
        open.streams.insert(id, clone);
        Some(Slot {
            shared: Arc::clone(shared),
            id,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.shared.open).streams.remove(&self.id);
    }
}

/// A place among the connections being refused, given back when dropped.
struct RejectSlot(Arc<Shared>);

impl RejectSlot {
    /// A place, or None when `REJECTING_MAX` refusals are under way.
    fn take(shared: &Arc<Shared>) -> Option<RejectSlot> {
        let slot = RejectSlot(Arc::clone(shared));
        (shared.rejecting.fetch_add(1, Ordering::SeqCst) < REJECTING_MAX).then_some(slot)
    }
}

impl Drop for RejectSlot {
    fn drop(&mut self) {
        self.0.rejecting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Locks a mutex; a thread that panicked holding it left nothing half-done
/// that matters here, so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where `shutdown` connects to wake the accept thread: the listening
/// address, with a wildcard address replaced by loopback.
fn wake_address(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Accepts until shutdown, handing each connection to its own thread.
fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for incoming in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        match incoming {
            Ok(stream) => admit(stream, &shared),
            Err(_) => thread::sleep(ACCEPT_BACKOFF),
        }
    }
}

/// Serves `stream` on a new thread, or refuses it when the server is full.
fn admit(stream: TcpStream, shared: &Arc<Shared>) {
    let Ok(peer) = stream.peer_addr() else { return };
    let Some(slot) = Slot::take(shared, &stream) else {
        return refuse_busy(stream, shared);
    };
    let shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("web-conn".to_string())
        .spawn(move || {
            let _slot = slot;
            serve_connection(stream, peer, &shared);
        });
    // A failed spawn drops the closure, its slot and the stream: a plain close.
    drop(spawned);
}

/// Answers 503 on a short-lived thread, or just closes when too many
/// refusals are under way already.
fn refuse_busy(stream: TcpStream, shared: &Arc<Shared>) {
    let Some(slot) = RejectSlot::take(shared) else {
        return;
    };
    let write_timeout = shared.options.read_timeout;
    let _ = thread::Builder::new()
        .name("web-refuse".to_string())
        .spawn(move || {
            let _slot = slot;
            let mut stream = stream;
            let _ = stream.set_write_timeout(Some(write_timeout));
            let busy = Response::error(503, "too many connections").with_header("Retry-After", "1");
            let _ = write_response(&mut stream, busy, false, false);
            linger(&mut stream);
        });
}

/// Serves requests on one connection until it closes, fails or must close.
fn serve_connection(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
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

/// True when the request carries `Authorization: Basic` with exactly the
/// expected `user:password`, compared in constant time.
fn authorized(request: &Request, expected: &[u8]) -> bool {
    let Some(value) = request.header("authorization") else {
        return false;
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    base64_decode(encoded.trim()).is_some_and(|given| same_bytes(&given, expected))
}

/// True when the request has no Origin, or its Origin is this server's own
/// (`http://` or `https://` and the Host it was reached at). A browser sends
/// Origin on every cross-site POST; scripts send none.
fn same_origin(request: &Request) -> bool {
    let Some(origin) = request.header("origin") else {
        return true;
    };
    let Some(host) = request.header("host") else {
        return false;
    };
    let (origin, host) = (origin.as_bytes(), host.as_bytes());
    [&b"http://"[..], &b"https://"[..]].iter().any(|scheme| {
        origin.len() == scheme.len() + host.len()
            && origin[..scheme.len()].eq_ignore_ascii_case(scheme)
            && origin[scheme.len()..].eq_ignore_ascii_case(host)
    })
}

/// Compares in time that depends only on the lengths, not on where the
/// bytes differ, so a guesser learns nothing from response times.
fn same_bytes(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for i in 0..given.len().max(expected.len()) {
        let a = given.get(i).copied().unwrap_or(0);
        let b = expected.get(i).copied().unwrap_or(0);
        diff |= usize::from(a ^ b);
    }
    diff == 0
}

/// Decodes standard base64 (padding optional); None on any other character.
fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let data = input.trim_end_matches('=');
    if input.len() - data.len() > 2 || data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in data.as_bytes() {
        acc = (acc << 6) | u32::from(base64_value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The six bits one base64 character stands for.
fn base64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Splits `a=1&b=2` into decoded pairs; a pair without `=` has an empty value.
fn decode_form(input: &[u8]) -> Vec<(String, String)> {
    let pairs = input.split(|&b| b == b'&').filter(|pair| !pair.is_empty());
    pairs
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (percent_decode(&pair[..eq]), percent_decode(&pair[eq + 1..])),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (a space in forms); a `%` not followed by
/// two hex digits stays as it is, and invalid UTF-8 becomes U+FFFD.
fn percent_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let escaped = input
            .get(i + 1..i + 3)
            .and_then(|hex| Some((hex_value(hex[0])? << 4) | hex_value(hex[1])?));
        match (input[i], escaped) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of one hex digit.
fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
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

/// The parts of a request head the server keeps, copied out of the buffer.
struct Head {
    /// The method.
    method: String,
    /// The request target (path and query).
    target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    minor_version: u8,
    /// Headers, names lower-cased.
    headers: Vec<(String, String)>,
    /// Bytes of the head, blank line included.
    len: usize,
}

impl Head {
    /// Values of every header of this (lower-case) name.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Parses the request head at the start of `buf`: `Ok(None)` while it is
/// incomplete, `Err` with the answer when it is malformed or too large.
fn parse_head(buf: &[u8], max_head: usize) -> Result<Option<Head>, Response> {
    let mut slots = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut parsed = httparse::Request::new(&mut slots);
    let too_large = || Response::error(431, "request head too large");
    match parsed.parse(buf) {
        Ok(httparse::Status::Partial) if buf.len() > max_head => Err(too_large()),
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(len)) if len > max_head => Err(too_large()),
        Ok(httparse::Status::Complete(len)) => Ok(Some(Head {
            method: parsed.method.unwrap_or_default().to_string(),
            target: parsed.path.unwrap_or_default().to_string(),
            minor_version: parsed.version.unwrap_or(0),
            headers: parsed
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
            len,
        })),
        Err(httparse::Error::TooManyHeaders) => Err(too_large()),
        Err(_) => Err(Response::error(400, "malformed request")),
    }
}

/// The body's length from Content-Length (0 without one); `Err` with the
/// answer for chunked bodies, conflicting lengths and bodies over `max_body`.
fn body_length(head: &Head, max_body: usize) -> Result<usize, Response> {
    if head.values("transfer-encoding").next().is_some() {
        return Err(Response::error(
            411,
            "send the body with Content-Length, not chunked",
        ));
    }
    let mut length = None;
    for value in head.values("content-length") {
        let value = value.trim();
        let parsed = value
            .parse::<u64>()
            .ok()
            .filter(|_| value.bytes().all(|b| b.is_ascii_digit()));
        match (parsed, length) {
            (None, _) => return Err(Response::error(400, "bad Content-Length")),
            (Some(n), Some(seen)) if n != seen => {
                return Err(Response::error(400, "conflicting Content-Length"))
            }
            (Some(n), _) => length = Some(n),
        }
    }
    match length.unwrap_or(0) {
        n if n > max_body as u64 => Err(Response::error(413, "request body too large")),
        n => Ok(n as usize),
    }
}

/// Splits an origin-form target into path and query; None for any other
/// form (`*`, absolute URLs).
fn split_target(target: &str) -> Option<(String, String)> {
    if !target.starts_with('/') {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Some((path.to_string(), query.to_string()))
}

/// True when the client waits for `100 Continue` before sending its body.
fn expects_continue(head: &Head) -> bool {
    head.minor_version == 1
        && head
            .values("expect")
            .any(|v| v.trim().eq_ignore_ascii_case("100-continue"))
}

/// True when the connection stays open after the response: HTTP/1.1 unless
/// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
fn keep_alive(head: &Head) -> bool {
    let has = |token: &str| {
        head.values("connection")
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if has("close") {
        return false;
    }
    head.minor_version == 1 || has("keep-alive")
}

/// Writes the response (without its body for HEAD); true when the connection
/// may serve another request.
fn write_response(
    stream: &mut TcpStream,
    response: Response,
    head_only: bool,
    keep_alive: bool,
) -> io::Result<bool> {
    match response.body {
        Body::Bytes(ref bytes) => {
            let mut out = head_bytes(&response, Some(bytes.len()), keep_alive);
            if !head_only {
                out.extend_from_slice(bytes);
            }
            stream.write_all(&out)?;
            stream.flush()?;
            Ok(keep_alive)
        }
        Body::Stream(_) => {
            stream.write_all(&head_bytes(&response, None, false))?;
            stream.flush()?;
            if let (Body::Stream(producer), false) = (response.body, head_only) {
                // The producer's error only says the client went away.
                let _ = producer(stream);
            }
            Ok(false)
        }
    }
}

/// The status line and headers, blank line included.
fn head_bytes(response: &Response, content_length: Option<usize>, keep_alive: bool) -> Vec<u8> {
    let status = if (200..=599).contains(&response.status) {
        response.status
    } else {
        500
    };
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    let mut push = |name: &str, value: &str| {
        if header_is_safe(name, value) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    };
    if !response.content_type.is_empty() {
        push("Content-Type", &response.content_type);
    }
    if let Some(length) = content_length {
        push("Content-Length", &length.to_string());
    }
    push(
        "Connection",
        if keep_alive { "keep-alive" } else { "close" },
    );
    // No sniffing a JSON answer into a script, no framing the page into
    // another site (a framed Start button is a click-jacking target).
    push("X-Content-Type-Options", "nosniff");
    push("X-Frame-Options", "DENY");
    for (name, value) in &response.headers {
        let framing = ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f));
        if !framing {
            push(name, value);
        }
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// True when the name is a token and the value cannot end the header early,
/// so no handler string can inject a header or a second response.
fn header_is_safe(name: &str, value: &str) -> bool {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !name.is_empty()
        && name.bytes().all(token)
        && !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// The reason phrase of the statuses this server sends ("" for others).
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Half-closes, then reads and drops what the peer still sends (briefly and
/// boundedly), so the close does not reset the connection before the peer
/// has read our answer.
fn linger(stream: &mut TcpStream) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let garbled =
            client.ask("GET /hello HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ***\r\n\r\n");
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
        let get =
            client.ask("GET /hello HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n\r\n");
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
        let body =
            "user_count=10&host=http%3A%2F%2Fa.b%3A80&name=J%C3%BCrgen+B&flag&bad=100%&&empty=";
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
        let interim = client.ask(
            "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
        );
        assert_eq!(interim.status, 100);
        client.send(b"ok");
        assert_eq!(client.reply().text(), "ok");
    }

    #[test]
    fn base64_decodes_padded_unpadded_and_refuses_junk() {
        // The decoder handles every padding case and refuses characters outside the alphabet.
        assert_eq!(base64_decode("YWRtaW46czNjcmV0").unwrap(), b"admin:s3cret");
        assert_eq!(base64_decode("YWRtaW46d3Jvbmc=").unwrap(), b"admin:wrong");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        for junk in ["Y", "YQ===", "YW*j", "YW Rt", "ü"] {
            assert!(base64_decode(junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn same_bytes_needs_equal_length_and_content() {
        // The constant-time comparison is still a correct one.
        assert!(same_bytes(b"a:b", b"a:b"));
        assert!(!same_bytes(b"a:b", b"a:c"));
        assert!(!same_bytes(b"a:b", b"a:bb"));
        assert!(!same_bytes(b"", b"a"));
    }

    #[test]
    fn json_body_reads_empty_as_an_object_and_reports_bad_json() {
        // An empty body is `{}`; broken JSON is an error message, not a panic.
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut request = Request {
            method: "POST".into(),
            path: "/api/start".into(),
            query: String::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Vec::new(),
            peer,
        };
        assert_eq!(request.json().unwrap(), json!({}));
        assert_eq!(request.header("Content-Type"), Some("application/json"));
        request.body = b"{\"users\": 5}".to_vec();
        assert_eq!(request.json().unwrap(), json!({"users": 5}));
        request.body = b"{\"users\": ".to_vec();
        assert!(request.json().unwrap_err().starts_with("bad JSON body"));
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
}
