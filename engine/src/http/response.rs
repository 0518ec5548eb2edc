//! Parsing a response head in place and deciding how its body is framed.
//!
//! Pure functions over a byte slice: a head that has not fully arrived is
//! [`HeadParse::Partial`], a normal state; only broken input is an error. The
//! connection owns the buffer and the reading; this module owns the rules of
//! RFC 9112 section 6.3 for where a body ends.

use std::cell::{Cell, RefCell};
use std::mem::MaybeUninit;

use super::failure::Failure;

/// Most headers any response may carry; the configured limit can only be lower.
pub const MAX_HEADERS_CAP: usize = 128;

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (HEAD request, 1xx, 204, 304).
    None,
    /// Exactly this many bytes (Content-Length).
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// What the connection needs to know from a complete response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Bytes of the head, status line through the blank line.
    pub head_len: usize,
    /// Where the body ends.
    pub framing: BodyFraming,
    /// Whether the connection may carry another request afterwards.
    pub keep_alive: bool,
}

/// Outcome of parsing the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadParse {
    /// The head is complete.
    Complete(Head),
    /// More bytes are needed.
    Partial,
}

/// Heads longer than this are parsed every time, never cached.
const HEAD_CACHE_BYTES_MAX: usize = 1024;

/// The last response head a shard parsed, and what it parsed to.
///
/// A load test gets the same head again and again (nginx's changes only in
/// `Date`, once a second), and a head byte-identical to the last one parses
/// the same: parsing a complete head reads exactly its `head_len` bytes, no
/// more, so comparing those bytes (a `memcmp`) replaces parsing them. The
/// outcome also depends on the header limit and on whether the request was
/// HEAD; both are part of the key. Only complete heads are cached; partial
/// and broken ones are parsed every time.
#[derive(Default)]
pub struct HeadCache {
    /// The last cached head's bytes; its one allocation is made on first use.
    bytes: RefCell<Vec<u8>>,
    /// What those bytes parsed to, with the header limit and the
    /// request-was-HEAD flag they were parsed under.
    parsed: Cell<Option<(Head, usize, bool)>>,
}

impl HeadCache {
    /// [`parse_head`], answered from the cache when `buf` starts with the
    /// last cached head.
    pub fn parse(
        &self,
        buf: &[u8],
        max_headers: usize,
        request_was_head: bool,
    ) -> Result<HeadParse, Failure> {
        let mut bytes = self.bytes.borrow_mut();
        if let Some((head, max, was_head)) = self.parsed.get() {
            if max == max_headers
                && was_head == request_was_head
                && buf.get(..bytes.len()) == Some(&bytes[..])
            {
                return Ok(HeadParse::Complete(head));
            }
        }
        let parsed = parse_head(buf, max_headers, request_was_head)?;
        if let HeadParse::Complete(head) = parsed {
            if head.head_len <= HEAD_CACHE_BYTES_MAX {
                if bytes.capacity() == 0 {
                    bytes.reserve_exact(HEAD_CACHE_BYTES_MAX);
                }
                bytes.clear();
                bytes.extend_from_slice(&buf[..head.head_len]);
                self.parsed.set(Some((head, max_headers, request_was_head)));
            }
        }
        Ok(parsed)
    }
}

/// Parses a response head at the start of `buf`.
///
/// `max_headers` limits the header count (capped at [`MAX_HEADERS_CAP`]);
/// `request_was_head` says the request was HEAD, whose response has no body.
pub fn parse_head(
    buf: &[u8],
    max_headers: usize,
    request_was_head: bool,
) -> Result<HeadParse, Failure> {
    // Uninitialised storage: zeroing 128 headers (4 KiB) per response cost
    // more than parsing a short head does.
    let mut storage = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let headers = &mut storage[..max_headers.min(MAX_HEADERS_CAP)];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        headers,
    );
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(HeadParse::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(Failure::TooManyHeaders),
        Err(_) => return Err(Failure::MalformedHead),
    };
    let status = response.code.unwrap_or(0);
    let http11 = response.version == Some(1);
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut close = false;
    let mut keep_alive_token = false;
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let value = parse_content_length(header.value).ok_or(Failure::BadContentLength)?;
            if content_length.is_some_and(|seen| seen != value) {
                return Err(Failure::BadContentLength);
            }
            content_length = Some(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            chunked = last_token(header.value).eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let framing =
        if request_was_head || (100..200).contains(&status) || status == 204 || status == 304 {
            BodyFraming::None
        } else if transfer_encoding {
            if chunked {
                BodyFraming::Chunked
            } else {
                BodyFraming::UntilClose
            }
        } else if let Some(length) = content_length {
            BodyFraming::Length(length)
        } else {
            BodyFraming::UntilClose
        };
    // After a 101 the connection speaks another protocol (its bytes may
    // already follow the head): it can never carry another HTTP request.
    // Transfer-Encoding and Content-Length together may be an attempt at
    // response splitting; the body is read by the first (RFC 9112 6.3) and
    // the connection is not trusted with another request.
    let framing_conflict = transfer_encoding && content_length.is_some();
    let keep_alive = !close
        && (http11 || keep_alive_token)
        && framing != BodyFraming::UntilClose
        && status != 101
        && !framing_conflict;
    Ok(HeadParse::Complete(Head {
        status,
        head_len,
        framing,
        keep_alive,
    }))
}

/// Parses a Content-Length value: ASCII digits only, no sign, no overflow.
fn parse_content_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// The last comma-separated token of a header value, trimmed.
fn last_token(value: &[u8]) -> &[u8] {
    value
        .rsplit(|&b| b == b',')
        .next()
        .unwrap_or(value)
        .trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<HeadParse, Failure> {
        parse_head(text.as_bytes(), 64, false)
    }

    fn complete(text: &str) -> Head {
        match head(text) {
            Ok(HeadParse::Complete(h)) => h,
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    /// Framing and keep-alive follow RFC 9112 for each kind of response.
    #[test]
    fn framing_table() {
        let cases: &[(&str, BodyFraming, bool)] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                BodyFraming::Length(2),
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                BodyFraming::Chunked,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                BodyFraming::Chunked,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                BodyFraming::UntilClose,
                false,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", BodyFraming::UntilClose, false),
            ("HTTP/1.1 204 No Content\r\n\r\n", BodyFraming::None, true),
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
                BodyFraming::None,
                false,
            ),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                BodyFraming::None,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
                BodyFraming::Length(2),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
                BodyFraming::Length(2),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive\r\n\r\n",
                BodyFraming::Length(2),
                true,
            ),
            // Transfer-Encoding wins over Content-Length (RFC 9112 6.3), and
            // the connection closes after such a response.
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                BodyFraming::Chunked,
                false,
            ),
        ];
        for (text, framing, keep_alive) in cases {
            let h = complete(text);
            assert_eq!(h.framing, *framing, "{text:?}");
            assert_eq!(h.keep_alive, *keep_alive, "{text:?}");
        }
    }

    /// The head length stops at the blank line, leaving the body bytes after it.
    #[test]
    fn head_len_excludes_body() {
        let text = "HTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\nok";
        let h = complete(text);
        assert_eq!(h.status, 503);
        assert_eq!(&text[h.head_len..], "ok");
    }

    /// An incomplete head is a state, and HEAD responses never have a body.
    #[test]
    fn partial_and_head_requests() {
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nContent-Len"),
            Ok(HeadParse::Partial)
        );
        assert_eq!(head(""), Ok(HeadParse::Partial));
        let text = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        match parse_head(text, 64, true) {
            Ok(HeadParse::Complete(h)) => assert_eq!(h.framing, BodyFraming::None),
            other => panic!("{other:?}"),
        }
    }

    /// Broken or hostile heads are named failures, not panics.
    #[test]
    fn bad_heads_are_failures() {
        assert_eq!(
            head("NOT-HTTP garbage\r\n\r\n"),
            Err(Failure::MalformedHead)
        );
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            Err(Failure::BadContentLength)
        );
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            Err(Failure::BadContentLength)
        );
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(Failure::BadContentLength)
        );
        let many: String = (0..10).map(|i| format!("X-{i}: v\r\n")).collect();
        let text = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
        assert_eq!(
            parse_head(text.as_bytes(), 5, false),
            Err(Failure::TooManyHeaders)
        );
    }

    /// The head cache answers exactly what parsing would: for the same
    /// bytes (followed by anything), and never for other bytes, a prefix of
    /// the cached head, another header limit or a HEAD request.
    #[test]
    fn head_cache_answers_as_parsing_would() {
        let cache = HeadCache::default();
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
        let inputs: Vec<(String, usize, bool)> = vec![
            (format!("{ok}ok"), 64, false),
            (format!("{ok}okHTTP/1.1 200"), 64, false),
            (ok.to_string(), 64, true),
            (format!("{ok}ok"), 1, false),
            (format!("{ok}ok"), 0, false),
            (ok[..20].to_string(), 64, false),
            (ok.replace("200 OK", "500 OK") + "ok", 64, false),
            (ok.replace("Length: 2", "Length: 3") + "abc", 64, false),
            (format!("{ok}ok"), 64, false),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n".to_string(),
                64,
                false,
            ),
            (format!("{ok}ok"), 64, false),
        ];
        for (text, max_headers, was_head) in &inputs {
            // Twice each: a miss then (when complete) a hit.
            for _ in 0..2 {
                assert_eq!(
                    cache.parse(text.as_bytes(), *max_headers, *was_head),
                    parse_head(text.as_bytes(), *max_headers, *was_head),
                    "{text:?} max_headers {max_headers} head {was_head}"
                );
            }
        }
    }
}
