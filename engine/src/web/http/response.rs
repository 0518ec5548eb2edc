//! A response as the handler builds it, and how one goes on the wire.
//!
//! It owns [`Response`], [`Body`] and [`Producer`], and writing them: the
//! status line, the framing headers (Content-Length or a close-delimited
//! stream), the safety headers, and the check that no handler string can
//! inject a header. When to write, and whether the connection stays open
//! afterwards, is `conn`'s decision.

use std::fmt;
use std::io::{self, Write};
use std::net::TcpStream;

use serde_json::Value;

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

/// Writes the response (without its body for HEAD); true when the connection
/// may serve another request.
pub(super) fn write_response(
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
