//! A request as the handler sees it, and how one is made from bytes.
//!
//! It owns [`Request`] and its accessors, parsing a request head (with the
//! header-count, head-size and body-size limits), reading the framing
//! headers (Content-Length, Expect, Connection), and decoding forms and
//! queries. It does no I/O: reading the socket is `conn`'s job, and the
//! refusals it returns are written by `response`.

use std::net::SocketAddr;

use serde_json::Value;

use super::response::Response;

/// Most headers one request may carry; more is answered 431.
const HEADERS_MAX: usize = 64;

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

/// The parts of a request head the server keeps, copied out of the buffer.
pub(super) struct Head {
    /// The method.
    pub(super) method: String,
    /// The request target (path and query).
    pub(super) target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    minor_version: u8,
    /// Headers, names lower-cased.
    pub(super) headers: Vec<(String, String)>,
    /// Bytes of the head, blank line included.
    pub(super) len: usize,
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
pub(super) fn parse_head(buf: &[u8], max_head: usize) -> Result<Option<Head>, Response> {
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
pub(super) fn body_length(head: &Head, max_body: usize) -> Result<usize, Response> {
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
pub(super) fn split_target(target: &str) -> Option<(String, String)> {
    if !target.starts_with('/') {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Some((path.to_string(), query.to_string()))
}

/// True when the client waits for `100 Continue` before sending its body.
pub(super) fn expects_continue(head: &Head) -> bool {
    head.minor_version == 1
        && head
            .values("expect")
            .any(|v| v.trim().eq_ignore_ascii_case("100-continue"))
}

/// True when the connection stays open after the response: HTTP/1.1 unless
/// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
pub(super) fn keep_alive(head: &Head) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
