//! Parses one request head in place with httparse into a small owned
//! `RequestHead`: its route, its body length and whether the connection stays
//! open. A head that has not fully arrived is `Parsed::Partial`, a normal
//! outcome; the head-size limit is enforced by `conn`, which owns the buffer.

use crate::routes::{self, Route};

/// The largest request head accepted (request line and headers), in bytes.
pub const HEAD_BYTES_MAX: usize = 64 * 1024;

/// The most request headers accepted; httparse parses into an array this long.
pub const HEADERS_MAX: usize = 64;

/// The result of parsing the start of a connection's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole head is in the buffer.
    Complete(RequestHead),
    /// More bytes are needed before the head can be parsed.
    Partial,
}

/// Why a request head was refused; every case answers with an error status and closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not an HTTP/1.x request head.
    Malformed,
    /// More than `HEADERS_MAX` headers.
    TooManyHeaders,
    /// No complete head within `HEAD_BYTES_MAX` bytes.
    HeadTooLarge,
    /// A Content-Length that is not a number, or two that disagree.
    BadContentLength,
    /// A Transfer-Encoding request body: not supported, answered 411 Length Required.
    BodyNotLengthed,
}

/// What the server needs to know about one request, copied out of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// Bytes of the request line and headers, consumed before the body.
    pub head_len: usize,
    /// What the request asks for.
    pub route: Route,
    /// Body bytes that follow the head (Content-Length), read and discarded.
    pub body_len: u64,
    /// Whether the client lets the connection stay open after the response.
    pub keep_alive: bool,
    /// HTTP/1.0: no chunked responses, keep-alive only when asked for.
    pub http10: bool,
    /// A HEAD request: the response carries headers but no body.
    pub head_only: bool,
    /// `Expect: 100-continue`: the client waits for an interim 100 before sending its body.
    pub expect_continue: bool,
}

/// Parses the request head at the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed, ParseError> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        Err(_) => return Err(ParseError::Malformed),
    };
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Err(ParseError::Malformed);
    };
    let http10 = version == 0;
    let mut head = RequestHead {
        head_len,
        route: routes::route(method, target),
        body_len: 0,
        keep_alive: !http10,
        http10,
        head_only: method == "HEAD",
        expect_continue: false,
    };
    let mut content_length = None;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let value = parse_content_length(header.value)?;
            if content_length.is_some_and(|seen| seen != value) {
                return Err(ParseError::BadContentLength);
            }
            content_length = Some(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ParseError::BodyNotLengthed);
        } else if name.eq_ignore_ascii_case("connection") {
            apply_connection_tokens(header.value, &mut head.keep_alive);
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = trim(header.value).eq_ignore_ascii_case(b"100-continue");
        }
    }
    head.body_len = content_length.unwrap_or(0);
    Ok(Parsed::Complete(head))
}

/// The path of the request whose head starts `buf` (its target up to any
/// `?`), as sent: still percent-encoded. Only for heads `parse` accepted.
pub fn path_of(buf: &[u8]) -> &[u8] {
    let line_end = buf.iter().position(|b| *b == b'\r' || *b == b'\n');
    let line = &buf[..line_end.unwrap_or(buf.len())];
    let mut words = line.split(|b| *b == b' ').filter(|w| !w.is_empty());
    let target = words.nth(1).unwrap_or_default();
    let path_end = target.iter().position(|b| *b == b'?');
    &target[..path_end.unwrap_or(target.len())]
}

fn parse_content_length(value: &[u8]) -> Result<u64, ParseError> {
    std::str::from_utf8(trim(value))
        .ok()
        .and_then(routes::parse_decimal)
        .ok_or(ParseError::BadContentLength)
}

/// `close` ends the connection after this response; `keep-alive` keeps an
/// HTTP/1.0 connection open. Other tokens (e.g. `upgrade`) are ignored.
fn apply_connection_tokens(value: &[u8], keep_alive: &mut bool) {
    for token in value.split(|b| *b == b',').map(trim) {
        if token.eq_ignore_ascii_case(b"close") {
            *keep_alive = false;
            return;
        }
        if token.eq_ignore_ascii_case(b"keep-alive") {
            *keep_alive = true;
        }
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    //! Parsing tests: complete, partial, pipelined and refused heads.
    use super::*;

    fn complete(buf: &[u8]) -> RequestHead {
        match parse(buf) {
            Ok(Parsed::Complete(head)) => head,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
        }
    }

    #[test]
    fn a_plain_get_keeps_the_connection_alive() {
        let buf = b"GET /bytes/10 HTTP/1.1\r\nHost: x\r\n\r\n";
        let head = complete(buf);
        assert_eq!(head.head_len, buf.len());
        assert_eq!(head.route, Route::Bytes(10));
        assert_eq!(head.body_len, 0);
        assert!(head.keep_alive && !head.http10 && !head.head_only && !head.expect_continue);
    }

    #[test]
    fn paths_leave_off_the_query() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"GET /redirect/3?x=1 HTTP/1.1\r\n\r\n", b"/redirect/3"),
            (b"POST /a%20b HTTP/1.1\r\nHost: x\r\n\r\nbody", b"/a%20b"),
            (b"GET /? HTTP/1.1\r\n\r\n", b"/"),
            (b"GET http://h/x HTTP/1.1\r\n\r\n", b"http://h/x"),
            (b"GET", b""),
        ];
        for (buf, want) in cases {
            assert_eq!(path_of(buf), want, "{}", String::from_utf8_lossy(buf));
        }
    }

    #[test]
    fn partial_heads_wait_for_more_bytes() {
        let full = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        for cut in 0..full.len() - 3 {
            assert_eq!(parse(&full[..cut]), Ok(Parsed::Partial), "cut at {cut}");
        }
        assert_eq!(complete(full).body_len, 3);
    }

    #[test]
    fn pipelined_heads_are_parsed_one_at_a_time() {
        let buf = b"GET / HTTP/1.1\r\n\r\nGET /close HTTP/1.1\r\n\r\nGET /";
        let first = complete(buf);
        assert_eq!(first.route, Route::Root);
        let second = complete(&buf[first.head_len..]);
        assert_eq!(second.route, Route::Close);
        let rest = &buf[first.head_len + second.head_len..];
        assert_eq!(parse(rest), Ok(Parsed::Partial));
    }

    #[test]
    fn connection_semantics_follow_the_version_and_header() {
        let cases: [(&[u8], bool); 6] = [
            (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false),
            (
                b"GET / HTTP/1.1\r\nconnection: Keep-Alive, CLOSE\r\n\r\n",
                false,
            ),
            (b"GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n", true),
            (b"GET / HTTP/1.0\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
            (
                b"GET / HTTP/1.0\r\nConnection: foo , keep-alive\r\n\r\n",
                true,
            ),
        ];
        for (buf, keep_alive) in cases {
            let head = complete(buf);
            assert_eq!(
                head.keep_alive,
                keep_alive,
                "{}",
                String::from_utf8_lossy(buf)
            );
        }
        assert!(complete(b"GET / HTTP/1.0\r\n\r\n").http10);
    }

    #[test]
    fn bodies_head_requests_and_expect() {
        let head = complete(
            b"PUT /x HTTP/1.1\r\nContent-Length:  12 \r\ncontent-length: 12\r\nExpect: 100-Continue\r\n\r\n",
        );
        assert_eq!(head.body_len, 12);
        assert!(head.expect_continue);
        assert_eq!(head.route, Route::NotFound);
        assert!(complete(b"HEAD /bytes/5 HTTP/1.1\r\n\r\n").head_only);
    }

    #[test]
    fn refused_heads() {
        let cases: [(&[u8], ParseError); 6] = [
            (b"\x00\x01garbage\r\n\r\n", ParseError::Malformed),
            (b"GET / HTTP/2.0\r\n\r\n", ParseError::Malformed),
            (
                b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                ParseError::BadContentLength,
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                ParseError::BadContentLength,
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                ParseError::BadContentLength,
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                ParseError::BodyNotLengthed,
            ),
        ];
        for (buf, want) in cases {
            assert_eq!(parse(buf), Err(want), "{}", String::from_utf8_lossy(buf));
        }
    }

    #[test]
    fn at_most_64_headers() {
        let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..HEADERS_MAX {
            buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        let mut ok = buf.clone();
        ok.extend_from_slice(b"\r\n");
        assert!(matches!(parse(&ok), Ok(Parsed::Complete(_))));
        buf.extend_from_slice(b"X-last: v\r\n\r\n");
        assert_eq!(parse(&buf), Err(ParseError::TooManyHeaders));
    }
}
