//! Prometheus remote write (protocol 1.0) for short runs and CI: this module
//! owns the protocol (metric families to a protobuf `WriteRequest`, raw
//! snappy, the HTTP/1.1 POST) and the one sender thread that pushes off the
//! caller's thread. What to push and when is left to others (the web
//! observer builds the families with `metrics::families` and calls
//! [`RemoteWriter::push`] every [`RemoteWriteOptions::interval`], then
//! [`RemoteWriter::finish`] with the final stats).
//!
//! Only `http://host[:port]/path` URLs are spoken: for HTTPS or an
//! authenticated cloud endpoint, push to a local Prometheus agent (which
//! forwards with its own TLS) or let Prometheus scrape `/metrics` instead.
//! Credentials in the URL (`http://user:pass@host/...`) go as basic auth and
//! are never printed: the URL's `Display` and every error leave them out.
//!
//! A push never blocks the run: the sender holds at most one pending push,
//! and a newer push replaces an older one still waiting (counted as
//! skipped). A failed push is counted and warned about once per distinct
//! error; it never stops anything.

use std::collections::HashSet;
use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::metrics::Family;

/// Each push's time limit in the background (connect, write and read together).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The `User-Agent` every push sends.
pub const USER_AGENT: &str = concat!("stampede/", env!("CARGO_PKG_VERSION"));
/// The flag this module's URL comes from, named in every parse error.
const FLAG: &str = "--prometheus-remote-write";
/// Distinct errors warned about at most; later new ones are only counted.
const MAX_WARNINGS: usize = 32;
/// Bytes of a refused push's response kept for its error message.
const MAX_RESPONSE: usize = 4096;

/// Remote write 1.0's request: every series of one push.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series, one per sample of each family.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// One series: its labels (`__name__` among them, sorted by name) and samples.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Label pairs, sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, oldest first (one per push here).
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// One label pair.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// The label's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The label's value (never empty: empty values are left out).
    #[prost(string, tag = "2")]
    pub value: String,
}

/// One sample: a value at a time.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The series of `families` at `timestamp_ms`: each sample becomes one
/// series named `family.name + sample.suffix` (counters' samples carry
/// `_total`), its labels sorted by name (`__name__` sorts first among
/// lower-case names), empty-valued labels left out as Prometheus does.
pub fn write_request(families: &[Family], timestamp_ms: i64) -> WriteRequest {
    let count = families.iter().map(|f| f.samples.len()).sum();
    let mut timeseries = Vec::with_capacity(count);
    for family in families {
        for sample in &family.samples {
            let mut labels = Vec::with_capacity(sample.labels.len() + 1);
            labels.push(Label {
                name: "__name__".into(),
                value: format!("{}{}", family.name, sample.suffix),
            });
            labels.extend(
                sample
                    .labels
                    .iter()
                    .filter(|(_, value)| !value.is_empty())
                    .map(|(name, value)| Label {
                        name: (*name).into(),
                        value: value.clone(),
                    }),
            );
            // Stable: of a repeated name the first pair stays.
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            labels.dedup_by(|later, earlier| later.name == earlier.name);
            timeseries.push(TimeSeries {
                labels,
                samples: vec![Sample {
                    value: sample.value,
                    timestamp: timestamp_ms,
                }],
            });
        }
    }
    WriteRequest { timeseries }
}

/// A push's HTTP body: the request in protobuf, compressed with raw (block) snappy.
pub fn encode_body(request: &WriteRequest) -> Result<Vec<u8>, String> {
    let bytes = prost::Message::encode_to_vec(request);
    snap::raw::Encoder::new()
        .compress_vec(&bytes)
        .map_err(|e| format!("snappy: {e}"))
}

/// Where pushes go: a parsed `http://` URL; its `Display` leaves credentials out.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteWriteUrl {
    /// Host name or address (an IPv6 address without brackets).
    pub host: String,
    /// Port (80 when the URL has none).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
    /// `Basic ...` from the URL's user info; never printed.
    authorization: Option<String>,
}

impl RemoteWriteUrl {
    /// Parses an `http://[user:pass@]host[:port][/path]` URL; https and others are refused.
    pub fn parse(url: &str) -> Result<RemoteWriteUrl, String> {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!(
                "{FLAG}: give a URL like http://127.0.0.1:9090/api/v1/write"
            ));
        };
        if scheme.eq_ignore_ascii_case("https") {
            return Err(format!(
                "{FLAG}: https is not supported; push over http:// to a local \
                 Prometheus agent (which forwards with TLS), or let Prometheus \
                 scrape the /metrics endpoint instead"
            ));
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(format!(
                "{FLAG}: only http:// URLs are supported, not {scheme}://"
            ));
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!(
                "{FLAG}: the URL's path has spaces or control characters"
            ));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        // A URL with credentials never has a piece of its authority echoed: a
        // password with an unencoded '/', '?' or '#' would show in the error.
        let has_at = url.contains('@');
        let (host, port) = split_host_port(hostport).map_err(|e| {
            if has_at {
                format!("{FLAG}: the URL's host and port do not parse (percent-encode '/', '?', '#' and '@' in credentials)")
            } else {
                e
            }
        })?;
        if host.is_empty() || host.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'/') {
            return Err(format!("{FLAG}: the URL has no valid host"));
        }
        let authorization = match userinfo {
            None => None,
            Some(userinfo) => {
                let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let credentials = format!("{}:{}", percent_decode(user)?, percent_decode(pass)?);
                Some(format!("Basic {}", base64_encode(credentials.as_bytes())))
            }
        };
        Ok(RemoteWriteUrl {
            host: host.to_string(),
            port,
            path,
            authorization,
        })
    }

    /// Whether the URL carried credentials (sent as basic auth).
    pub fn has_credentials(&self) -> bool {
        self.authorization.is_some()
    }

    /// The `Host` header's value (an IPv6 address in brackets).
    fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for RemoteWriteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.path)
    }
}

impl fmt::Debug for RemoteWriteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriteUrl")
            .field("url", &self.to_string())
            .field(
                "credentials",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `host[:port]` or `[v6][:port]`; the port defaults to 80.
fn split_host_port(hostport: &str) -> Result<(&str, u16), String> {
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(format!("{FLAG}: the URL's IPv6 host has no closing ']'"));
        };
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("{FLAG}: the URL's host is malformed")),
            },
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None | Some("") => 80,
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => {
                return Err(format!(
                    "{FLAG}: the URL's port '{port}' is not a port number"
                ))
            }
        },
    };
    Ok((host, port))
}

/// Decodes `%XX` escapes of a URL's user info.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(byte) = hex else {
                return Err(format!("{FLAG}: the URL's user info has a bad %-escape"));
            };
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{FLAG}: the URL's user info is not UTF-8"))
}

/// Standard base64 with padding.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Where and how often to push.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteOptions {
    /// The receiver's URL.
    pub url: RemoteWriteUrl,
    /// How often the observer pushes.
    pub interval: Duration,
    /// Each background push's time limit (connect, write and read together).
    pub timeout: Duration,
}

impl RemoteWriteOptions {
    /// Parses `--prometheus-remote-write`'s URL once, up front, with the push interval.
    pub fn parse(url: &str, interval: Duration) -> Result<RemoteWriteOptions, String> {
        if interval.is_zero() {
            return Err(format!("{FLAG}: the push interval must be more than zero"));
        }
        Ok(RemoteWriteOptions {
            url: RemoteWriteUrl::parse(url)?,
            interval,
            timeout: DEFAULT_TIMEOUT,
        })
    }
}

/// How the pushes of a run went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteWriteReport {
    /// Pushes the receiver accepted (2xx).
    pub pushes_ok: u64,
    /// Pushes that failed (connect, timeout, non-2xx).
    pub pushes_failed: u64,
    /// Pushes replaced by a newer one before the sender got to them.
    pub skipped: u64,
    /// The last failure's message (the URL without credentials).
    pub last_error: Option<String>,
}

/// A push waiting for the sender.
struct Pending {
    families: Vec<Family>,
    timestamp_ms: i64,
}

/// The sender's and the callers' shared state.
struct State {
    /// The one push waiting (the slot a newer push replaces).
    pending: Option<Pending>,
    /// No more pushes: the sender ends once its current push is done.
    closing: bool,
    /// The sender has ended.
    exited: bool,
    report: RemoteWriteReport,
    /// Errors already warned about.
    warned: HashSet<String>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a push's outcome; warns once per distinct error.
    fn record(&self, result: Result<(), String>) {
        let mut state = self.lock();
        let warn = match result {
            Ok(()) => {
                state.report.pushes_ok += 1;
                None
            }
            Err(error) => {
                state.report.pushes_failed += 1;
                let new = state.warned.len() < MAX_WARNINGS && state.warned.insert(error.clone());
                state.report.last_error = Some(error.clone());
                new.then_some(error)
            }
        };
        // Printed after the lock is released: a blocked stderr must not block push().
        drop(state);
        if let Some(error) = warn {
            eprintln!("warning: remote write: {error}");
        }
    }
}

/// Marks the sender ended however it ends (a panic included), so `finish` never waits in vain.
struct ExitGuard(Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.lock().exited = true;
        self.0.wake.notify_all();
    }
}

/// Pushes metric families to a remote write receiver from one sender thread.
pub struct RemoteWriter {
    options: RemoteWriteOptions,
    shared: Arc<Shared>,
    sender: Option<JoinHandle<()>>,
}

impl RemoteWriter {
    /// Starts the sender thread (nothing is sent until the first push).
    pub fn start(options: RemoteWriteOptions) -> RemoteWriter {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: None,
                closing: false,
                exited: false,
                report: RemoteWriteReport::default(),
                warned: HashSet::new(),
            }),
            wake: Condvar::new(),
        });
        let thread_shared = shared.clone();
        let thread_options = options.clone();
        let spawned = std::thread::Builder::new()
            .name("stampede-remote-write".into())
            .spawn(move || run_sender(thread_shared, thread_options));
        let sender = match spawned {
            Ok(handle) => Some(handle),
            Err(e) => {
                // No thread: pushes are only counted as skipped; finish still sends.
                shared.record(Err(format!(
                    "{}: cannot start the sender: {e}",
                    options.url
                )));
                shared.lock().exited = true;
                None
            }
        };
        RemoteWriter {
            options,
            shared,
            sender,
        }
    }

    /// The options it was started with.
    pub fn options(&self) -> &RemoteWriteOptions {
        &self.options
    }

    /// Queues a push without blocking: one still waiting is replaced (counted as skipped).
    pub fn push(&self, families: Vec<Family>, timestamp_ms: i64) {
        let mut state = self.shared.lock();
        if state.exited {
            state.report.skipped += 1;
            return;
        }
        if state
            .pending
            .replace(Pending {
                families,
                timestamp_ms,
            })
            .is_some()
        {
            state.report.skipped += 1;
        }
        drop(state);
        self.shared.wake.notify_all();
    }

    /// Sends the final push on the caller's thread once the sender is done
    /// (a push still waiting is skipped, one in flight is let finish), all
    /// within `limit`, and reports the run's pushes.
    pub fn finish(
        mut self,
        families: Vec<Family>,
        timestamp_ms: i64,
        limit: Duration,
    ) -> RemoteWriteReport {
        // A push still in flight gets half the budget; the final push (and
        // its retries) always has at least the other half.
        let started = Instant::now();
        let deadline = started + limit / 2;
        let mut state = self.shared.lock();
        state.closing = true;
        if state.pending.take().is_some() {
            state.report.skipped += 1;
        }
        self.shared.wake.notify_all();
        while !state.exited {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .shared
                .wake
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let exited = state.exited;
        drop(state);
        if exited {
            if let Some(handle) = self.sender.take() {
                let _ = handle.join();
            }
        }
        // Otherwise the push in flight ends by its own timeout, detached.
        let deadline = started + limit;
        let mut backoff = Duration::from_millis(200);
        let result = loop {
            let result = send(&self.options.url, &families, timestamp_ms, deadline);
            // The remote-write spec: retry 5xx and 429 (and a network failure) with backoff.
            let retry = result.as_ref().err().is_some_and(|e| retryable(e));
            if !retry || Instant::now() + backoff >= deadline {
                break result;
            }
            std::thread::sleep(backoff);
            backoff *= 2;
        };
        self.shared.record(result);
        self.shared.lock().report.clone()
    }
}

impl Drop for RemoteWriter {
    fn drop(&mut self) {
        // Without finish: the sender ends after its current push, detached.
        let mut state = self.shared.lock();
        state.closing = true;
        state.pending = None;
        drop(state);
        self.shared.wake.notify_all();
    }
}

/// The sender: takes the pending push, sends it, counts it, until closing.
fn run_sender(shared: Arc<Shared>, options: RemoteWriteOptions) {
    let _exit = ExitGuard(shared.clone());
    loop {
        let push = {
            let mut state = shared.lock();
            loop {
                if let Some(push) = state.pending.take() {
                    break push;
                }
                if state.closing {
                    return;
                }
                state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner());
            }
        };
        let deadline = Instant::now() + options.timeout;
        let result = send(&options.url, &push.families, push.timestamp_ms, deadline);
        shared.record(result);
    }
}

/// Encodes and POSTs one push; errors name the URL (without credentials).
fn send(
    url: &RemoteWriteUrl,
    families: &[Family],
    timestamp_ms: i64,
    deadline: Instant,
) -> Result<(), String> {
    let body =
        encode_body(&write_request(families, timestamp_ms)).map_err(|e| format!("{url}: {e}"))?;
    post(url, &body, deadline).map_err(|e| format!("{url}: {e}"))
}

/// Time left before `deadline`, or an error when none is.
fn time_left(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(1) {
        Err("time limit reached".into())
    } else {
        Ok(left)
    }
}

/// POSTs `body` over HTTP/1.1 and reads the status: 2xx is success, any
/// other status an error with the start of the receiver's answer.
/// Whether a failed push may succeed when sent again: a server error, a
/// 429, or no answer at all; not a 4xx (the push itself is wrong).
fn retryable(error: &str) -> bool {
    match error.strip_prefix("HTTP ") {
        Some(status) => status.starts_with('5') || status.starts_with("429"),
        None => true,
    }
}

fn post(url: &RemoteWriteUrl, body: &[u8], deadline: Instant) -> Result<(), String> {
    let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("resolve {}: {e}", url.host))?
        .collect();
    let mut stream = None;
    let mut last_error = format!("resolve {}: no addresses", url.host);
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, time_left(deadline)?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = format!("connect {addr}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last_error)?;
    let _ = stream.set_nodelay(true);
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\n\
         Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n\
         X-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: {}\r\n",
        url.path,
        url.host_header(),
        body.len()
    );
    if let Some(authorization) = &url.authorization {
        head.push_str("Authorization: ");
        head.push_str(authorization);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    let write_error = |e: std::io::Error| format!("send: {e}");
    for part in [head.as_bytes(), body] {
        stream
            .set_write_timeout(Some(time_left(deadline)?))
            .map_err(write_error)?;
        stream.write_all(part).map_err(write_error)?;
    }
    let mut response = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let status = loop {
        if let Some(line_end) = response.windows(2).position(|w| w == b"\r\n") {
            break parse_status(&response[..line_end])?;
        }
        if response.len() >= MAX_RESPONSE {
            return Err("the response's status line is too long".into());
        }
        stream
            .set_read_timeout(Some(time_left(deadline)?))
            .map_err(|e| format!("read: {e}"))?;
        match stream.read(&mut buf) {
            Ok(0) => return Err("the receiver closed the connection without answering".into()),
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    };
    if (200..300).contains(&status.0) {
        return Ok(());
    }
    // The receiver says why in the body (e.g. "out of order sample"): read a little of it.
    while response.len() < MAX_RESPONSE {
        let Ok(left) = time_left(deadline) else { break };
        if stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&response);
    let reason = text
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| body.lines().map(str::trim).find(|l| !l.is_empty()))
        .map(|line| line.chars().take(200).collect::<String>());
    Err(match reason {
        Some(reason) => format!("HTTP {} {}: {reason}", status.0, status.1),
        None => format!("HTTP {} {}", status.0, status.1),
    })
}

/// `HTTP/1.x NNN reason` to the code and reason.
fn parse_status(line: &[u8]) -> Result<(u16, String), String> {
    let line = String::from_utf8_lossy(line);
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(code) if version.starts_with("HTTP/") => {
            Ok((code, parts.next().unwrap_or_default().trim().to_string()))
        }
        _ => Err(format!(
            "not an HTTP response: {}",
            line.chars().take(80).collect::<String>()
        )),
    }
}

#[cfg(test)]
#[path = "remote_write_tests.rs"]
mod tests;
