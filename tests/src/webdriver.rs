//! A small W3C WebDriver client for the browser tests: starts Debian's
//! `chromedriver` on a free loopback port, opens one headless Chromium session
//! and drives it over plain HTTP/1.1 (`std::net::TcpStream` and serde_json).
//! Dropping the [`Browser`] deletes the session and kills chromedriver and
//! every process it started.
//!
//! Chromium and chromedriver are Debian's `chromium` and `chromium-driver`
//! packages (`/usr/bin/chromium`, `/usr/bin/chromedriver`); `.ci/run`
//! installs them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Where Debian's chromium package puts the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Where Debian's chromium-driver package puts chromedriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The arguments every session's Chromium gets.
pub const CHROME_ARGS: [&str; 5] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
];
/// The key of a web element reference in WebDriver's JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long chromedriver gets to answer `/status` with `ready: true`.
const READY_LIMIT: Duration = Duration::from_secs(20);
/// Ports tried before giving up on starting chromedriver.
const PORT_ATTEMPTS: usize = 5;
/// The longest one WebDriver command may take (a navigation included).
const COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// Polling interval of [`wait_until`].
const POLL: Duration = Duration::from_millis(100);

/// A failed WebDriver command or HTTP exchange, in one line.
#[derive(Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The result of a browser command.
pub type Result<T> = std::result::Result<T, Error>;

/// One HTTP response: status code, headers (names lower-cased) and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header (lower-cased name, value) pairs in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error(format!(
                "HTTP {} body is not JSON ({e}): {}",
                self.status,
                truncate(&self.text(), 300)
            ))
        })
    }

    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request to `addr` (`Connection: close`) and reads the
/// whole answer, bounded by `limit`. `body` is sent with `Content-Type:
/// application/json` when it is `Some`.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    limit: Duration,
) -> Result<HttpResponse> {
    let fail =
        |what: &str, e: std::io::Error| Error(format!("{method} http://{addr}{path}: {what}: {e}"));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| fail("connect", e))?;
    stream
        .set_read_timeout(Some(limit))
        .map_err(|e| fail("set timeout", e))?;
    stream
        .set_write_timeout(Some(limit))
        .map_err(|e| fail("set timeout", e))?;
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n");
    if let Some(body) = body {
        request.push_str("Content-Type: application/json; charset=utf-8\r\n");
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    } else if method != "GET" && method != "HEAD" {
        request.push_str("Content-Length: 0\r\n");
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    if let Some(body) = body {
        bytes.extend_from_slice(body);
    }
    stream.write_all(&bytes).map_err(|e| fail("send", e))?;
    let deadline = Instant::now() + limit;
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // A reset after a complete answer still leaves a usable answer.
            Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(fail("read", e)),
        }
        if Instant::now() > deadline {
            return Err(Error(format!(
                "{method} http://{addr}{path}: no end of answer within {limit:?}"
            )));
        }
        if let Some(response) = complete_response(&raw) {
            return Ok(response);
        }
    }
    parse_response(&raw, true).ok_or_else(|| {
        Error(format!(
            "{method} http://{addr}{path}: malformed answer: {}",
            truncate(&String::from_utf8_lossy(&raw), 300)
        ))
    })
}

/// `GET` of a URL of the form `http://HOST:PORT/path` (no TLS, no credentials).
pub fn http_get(url: &str, limit: Duration) -> Result<HttpResponse> {
    let (addr, path) = split_url(url)?;
    http_request(addr, "GET", &path, None, limit)
}

/// Splits `http://HOST:PORT/path?query#fragment` into a socket address and
/// the request target (fragment dropped).
pub fn split_url(url: &str) -> Result<(SocketAddr, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error(format!("not an http:// URL: {url}")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = path.split('#').next().unwrap_or("/");
    let addr = authority
        .parse::<SocketAddr>()
        .or_else(|_| {
            use std::net::ToSocketAddrs;
            authority
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or(())
        })
        .map_err(|_| Error(format!("no address in URL {url}")))?;
    Ok((
        addr,
        if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
    ))
}

/// The response in `raw` if it is complete by its own framing
/// (Content-Length or a final chunk); `None` while more must be read.
fn complete_response(raw: &[u8]) -> Option<HttpResponse> {
    parse_response(raw, false)
}

/// Parses a response. With `at_eof`, a body without framing ends at the end
/// of `raw`; otherwise such a body is incomplete until the peer closes.
fn parse_response(raw: &[u8], at_eof: bool) -> Option<HttpResponse> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[head_end + 4..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let chunked =
        find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if rest.len() < len {
            return None;
        }
        rest[..len].to_vec()
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if at_eof {
        rest.to_vec()
    } else {
        return None;
    };
    Some(HttpResponse {
        status,
        headers,
        body,
    })
}

/// Decodes a complete chunked body; `None` until the last chunk arrived.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        if rest.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Calls `condition` every 100 ms until it returns true (then true) or
/// `timeout` passes (then false). It is always called at least once.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// A free loopback port: bound on 127.0.0.1:0 and released at once. Another
/// process may take it before the caller binds it; callers retry or accept
/// the small risk.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// True when Chromium and chromedriver are both installed; tests check it
/// with `require!` before [`Browser::start`].
pub fn browser_available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

/// What [`browser_available`] wants, for `require!`'s message.
pub const BROWSER_NEED: &str = "the browser tests need Debian's chromium and chromium-driver \
                                packages (apt-get install chromium chromium-driver; .ci/run does)";

/// Panics with the install hint when Chromium or chromedriver is missing.
pub fn require_browser() {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: the browser tests need Debian's chromium and chromium-driver \
             packages; `.ci/run` installs them (apt-get install chromium chromium-driver); \
             this one is from `{package}`"
        );
    }
}

/// chromedriver's process (its own process group) and what it printed.
struct Driver {
    child: Child,
    addr: SocketAddr,
    output: Arc<Mutex<String>>,
}

impl Driver {
    /// Starts chromedriver on `port` and waits until `/status` says ready;
    /// `Err` (with its output) when it exits or is not ready in time.
    fn start(port: u16) -> Result<Driver> {
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that drop can end Chromium too.
            .process_group(0)
            .spawn()
            .map_err(|e| Error(format!("cannot start {CHROMEDRIVER}: {e}")))?;
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(stream)
                    .lines()
                    .map_while(std::result::Result::ok)
                {
                    let mut out = output.lock().unwrap_or_else(|p| p.into_inner());
                    if out.len() < 64 * 1024 {
                        out.push_str(&line);
                        out.push('\n');
                    }
                }
            });
        }
        let mut driver = Driver {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            output,
        };
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            if let Ok(Some(status)) = driver.child.try_wait() {
                return Err(Error(format!(
                    "chromedriver on port {port} exited with {status}: {}",
                    driver.output()
                )));
            }
            let ready = http_request(driver.addr, "GET", "/status", None, Duration::from_secs(2))
                .ok()
                .and_then(|r| r.json().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                return Ok(driver);
            }
            if Instant::now() > deadline {
                let output = driver.output();
                driver.kill();
                return Err(Error(format!(
                    "chromedriver on port {port} not ready within {READY_LIMIT:?}: {output}"
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Kills chromedriver's process group (chromedriver and any Chromium it
    /// left behind) and reaps chromedriver.
    fn kill(&mut self) {
        let pgid = self.child.id() as i32;
        if pgid > 0 {
            // SAFETY: a plain kill(2) of the process group this struct started
            // (process_group(0) made chromedriver its leader).
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session driven through chromedriver.
pub struct Browser {
    driver: Driver,
    session: String,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a session with
    /// headless Chromium. Panics (with the install hint when the browser is
    /// missing) if either cannot start.
    pub fn start() -> Browser {
        require_browser();
        let mut errors = Vec::new();
        let driver = (0..PORT_ATTEMPTS)
            .find_map(|_| match Driver::start(free_port()) {
                Ok(driver) => Some(driver),
                Err(e) => {
                    errors.push(e.0);
                    None
                }
            })
            .unwrap_or_else(|| panic!("chromedriver did not start: {errors:#?}"));
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": CHROME_ARGS,
                    },
                },
            },
        });
        let mut browser = Browser {
            driver,
            session: String::new(),
        };
        let created = browser.command("POST", "/session", Some(capabilities));
        let session = created
            .as_ref()
            .ok()
            .and_then(|v| v["sessionId"].as_str())
            .map(str::to_string);
        match session {
            Some(id) => browser.session = id,
            None => panic!(
                "chromedriver did not open a Chromium session: {:?}\nchromedriver said:\n{}",
                created,
                browser.driver.output()
            ),
        }
        browser
    }

    /// chromedriver's process id, which is also its process group's id.
    pub fn driver_pid(&self) -> u32 {
        self.driver.child.id()
    }

    /// What chromedriver printed so far (for failure messages).
    pub fn driver_output(&self) -> String {
        self.driver.output()
    }

    /// Sends one WebDriver command and returns its `value`, or the error it
    /// reported.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let body = body.map(|b| b.to_string());
        let response = http_request(
            self.driver.addr,
            method,
            path,
            body.as_deref().map(str::as_bytes),
            COMMAND_LIMIT,
        )?;
        let json = response.json()?;
        let value = json.get("value").cloned().unwrap_or(Value::Null);
        if response.status >= 400 || value.get("error").is_some_and(|e| e.is_string()) {
            return Err(Error(format!(
                "{method} {path}: HTTP {}: {}: {}",
                response.status,
                value["error"].as_str().unwrap_or("error"),
                truncate(value["message"].as_str().unwrap_or(""), 500)
            )));
        }
        Ok(value)
    }

    /// A command on this session (`path` starts after `/session/{id}`).
    fn session_command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        self.command(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Navigates to `url` and waits for the page to load.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.session_command("POST", "/url", Some(json!({ "url": url })))
            .map(drop)
    }

    /// The current page's URL.
    pub fn current_url(&self) -> Result<String> {
        let v = self.session_command("GET", "/url", None)?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// The element id of the first element matching `css`.
    pub fn find(&self, css: &str) -> Result<String> {
        let v = self.session_command(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        )?;
        element_id(&v).ok_or_else(|| Error(format!("{css}: no element reference in {v}")))
    }

    /// The element ids of every element matching `css` (possibly none).
    pub fn find_all(&self, css: &str) -> Result<Vec<String>> {
        let v = self.session_command(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": css })),
        )?;
        Ok(v.as_array()
            .map(|a| a.iter().filter_map(element_id).collect())
            .unwrap_or_default())
    }

    /// Clicks the first element matching `css`.
    pub fn click(&self, css: &str) -> Result<()> {
        let id = self.find(css)?;
        self.session_command("POST", &format!("/element/{id}/click"), Some(json!({})))
            .map(drop)
    }

    /// Clears the first input matching `css` and types `text` into it.
    pub fn clear_and_type(&self, css: &str, text: &str) -> Result<()> {
        let id = self.find(css)?;
        self.session_command("POST", &format!("/element/{id}/clear"), Some(json!({})))?;
        self.session_command(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .map(drop)
    }

    /// The rendered text of the first element matching `css`.
    pub fn text(&self, css: &str) -> Result<String> {
        let id = self.find(css)?;
        let v = self.session_command("GET", &format!("/element/{id}/text"), None)?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// An attribute of the first element matching `css` as written in the
    /// document (`None` when absent).
    pub fn attribute(&self, css: &str, name: &str) -> Result<Option<String>> {
        let id = self.find(css)?;
        let v = self.session_command("GET", &format!("/element/{id}/attribute/{name}"), None)?;
        Ok(v.as_str().map(str::to_string))
    }

    /// A DOM property of the first element matching `css` (for example
    /// `href`, resolved to an absolute URL, or an input's `value`).
    pub fn property(&self, css: &str, name: &str) -> Result<Value> {
        let id = self.find(css)?;
        self.session_command("GET", &format!("/element/{id}/property/{name}"), None)
    }

    /// Whether the first element matching `css` is displayed.
    pub fn is_displayed(&self, css: &str) -> Result<bool> {
        let id = self.find(css)?;
        let v = self.session_command("GET", &format!("/element/{id}/displayed"), None)?;
        Ok(v == true)
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page
    /// and returns what it returns.
    pub fn execute(&self, script: &str, args: &[Value]) -> Result<Value> {
        self.session_command(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// The current document's serialized HTML.
    pub fn page_source(&self) -> Result<String> {
        let v = self.session_command("GET", "/source", None)?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Takes a screenshot of the viewport and writes it to `path` as PNG.
    pub fn screenshot_png(&self, path: &Path) -> Result<()> {
        let v = self.session_command("GET", "/screenshot", None)?;
        let text = v
            .as_str()
            .ok_or_else(|| Error(format!("screenshot is not a string: {v}")))?;
        let png = base64_decode(text)?;
        if !png.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Err(Error("screenshot is not a PNG".into()));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error(format!("create {}: {e}", dir.display())))?;
        }
        std::fs::write(path, png).map_err(|e| Error(format!("write {}: {e}", path.display())))
    }

    /// Polls `condition` every 100 ms until it holds (true) or `timeout`
    /// passes (false); see [`wait_until`].
    pub fn wait_until(&self, timeout: Duration, condition: impl FnMut() -> bool) -> bool {
        wait_until(timeout, condition)
    }

    /// Waits until an element matching `css` exists and is displayed.
    pub fn wait_for_displayed(&self, css: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.is_displayed(css).unwrap_or(false))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Closing the session ends Chromium; bounded so a hung browser
            // cannot hang the test (the group kill below ends it anyway).
            let path = format!("/session/{}", self.session);
            let _ = http_request(
                self.driver.addr,
                "DELETE",
                &path,
                None,
                Duration::from_secs(10),
            );
        }
        self.driver.kill();
    }
}

/// The id inside a web element reference.
fn element_id(v: &Value) -> Option<String> {
    v.get(ELEMENT_KEY)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Standard base64 (padding optional, whitespace ignored).
pub fn base64_decode(text: &str) -> Result<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &c in text.as_bytes() {
        if c == b'=' || c.is_ascii_whitespace() {
            continue;
        }
        let v = sextet(c).ok_or_else(|| Error(format!("bad base64 byte {c:#x}")))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! The HTTP framing and base64 decoding the client relies on.
    use super::*;

    #[test]
    fn parses_content_length_and_chunked_answers() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
        let r = parse_response(raw, false).unwrap();
        assert_eq!((r.status, r.text()), (200, "hello".to_string()));
        assert_eq!(r.header("x-a"), Some("b"));
        assert!(parse_response(&raw[..raw.len() - 1], false).is_none());

        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw, false).unwrap().text(), "abcde");
        assert!(parse_response(&raw[..raw.len() - 7], false).is_none());

        let raw = b"HTTP/1.0 404 Not Found\r\n\r\nnope";
        assert!(parse_response(raw, false).is_none());
        assert_eq!(parse_response(raw, true).unwrap().status, 404);
    }

    #[test]
    fn decodes_base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8hIQ==").unwrap(), b"hello!!");
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert!(base64_decode("a*").is_err());
    }

    #[test]
    fn splits_urls() {
        let (addr, path) = split_url("http://127.0.0.1:8089/api/report.html#x").unwrap();
        assert_eq!(addr, "127.0.0.1:8089".parse().unwrap());
        assert_eq!(path, "/api/report.html");
        assert_eq!(split_url("http://127.0.0.1:1").unwrap().1, "/");
        assert!(split_url("https://127.0.0.1:1/").is_err());
    }
}
