//! Renders responses into a connection's reused output buffer: the head and
//! small bodies at once (`respond`, `refuse`, and `whole` for `app`'s
//! documents), large bodies piece by piece (`fill_body`, which also copies
//! out the shared bodies of `shared`), and the verdict on the connection
//! afterwards (`After`). Pure: `conn` decides when the buffer is written and
//! does the waiting.

use std::sync::Arc;

use crate::request::{ParseError, RequestHead};
use crate::routes::Route;

/// The interim response sent before reading a body announced with `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The largest chunk `/chunked/N` sends; several chunks make clients really decode.
pub const CHUNK_BYTES_MAX: u64 = 4096;

/// What `/garbage` sends instead of a response.
pub const GARBAGE: &[u8] = b"NOT-HTTP garbage\r\n\r\n";

/// The size of the one header that makes `/bighead`'s head exceed 64 KiB.
pub const BIG_HEADER_BYTES: usize = 70_000;

/// The body length `/truncated` promises, and the part of it sent before closing.
pub const TRUNCATED_PROMISED_BYTES: u64 = 100;
/// See `TRUNCATED_PROMISED_BYTES`.
pub const TRUNCATED_SENT_BYTES: u64 = 10;

/// The byte every generated body is made of.
const FILLER: u8 = b'x';

/// The body of every redirect: short, but there, so that a client must read
/// it (Content-Length framed) before reusing the connection.
pub const REDIRECT_BODY: &[u8] = b"redirect";

/// What happens to the connection once the response is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Read the next request.
    KeepAlive,
    /// Close gracefully: the response ends the conversation or its body ends at EOF.
    Close,
    /// Close with SO_LINGER 0, so the peer sees a TCP reset.
    Reset,
    /// Send nothing more and keep the connection open until the client
    /// closes it (`/silence`).
    Silence,
}

/// Body bytes still to render after the head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Nothing more.
    Done,
    /// This many raw bytes.
    Filler(u64),
    /// This many bytes in chunked encoding, then the last chunk.
    Chunked(u64),
    /// `bytes` from `offset` on: a body shared with a cache (`compress::Bodies`).
    Shared {
        /// The whole body.
        bytes: Arc<[u8]>,
        /// How much of it is already rendered.
        offset: usize,
    },
}

/// A rendered head plus what remains to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The status code sent, for the status counters; 0 when no HTTP response is sent.
    pub status: u16,
    /// The body still to render with `fill_body`.
    pub body: Body,
    /// The connection's fate once everything is written.
    pub after: After,
}

/// How the receiver finds the end of the body.
#[derive(Clone, Copy)]
enum Framing {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// No framing header: the body ends when the server closes.
    UntilClose,
    /// No body by definition (204, 304).
    NoBody,
}

/// Renders the response to `req` into `out`, for every route but the dynamic ones.
pub fn respond(req: &RequestHead, out: &mut Vec<u8>) -> Reply {
    let keep = req.keep_alive;
    match req.route {
        Route::Root | Route::Delay(_) | Route::ResetCounters => small(out, req, 200, b"ok", keep),
        Route::Close => small(out, req, 200, b"ok", false),
        Route::Bytes(n) => framed(out, req, Framing::Length(n), Body::Filler(n), keep),
        // HTTP/1.0 clients cannot decode chunks; they get the body up to EOF instead.
        Route::Chunked(n) if req.http10 => {
            framed(out, req, Framing::UntilClose, Body::Filler(n), false)
        }
        Route::Chunked(n) => framed(out, req, Framing::Chunked, Body::Chunked(n), keep),
        Route::Eof(n) => framed(out, req, Framing::UntilClose, Body::Filler(n), false),
        Route::Truncated => framed(
            out,
            req,
            Framing::Length(TRUNCATED_PROMISED_BYTES),
            Body::Filler(TRUNCATED_SENT_BYTES),
            false,
        ),
        Route::Status(code) => status(out, req, code),
        Route::BigHead => big_head(out, req),
        Route::Redirect(0) => small(out, req, 200, b"ok", keep),
        Route::Redirect(hops) => redirect(out, req, hops),
        // `app` answers these (`Route::is_dynamic`); arriving here is a server
        // bug, answered rather than panicked on.
        Route::Stats
        | Route::Api(_)
        | Route::EchoHeaders
        | Route::EchoBody
        | Route::EchoRequest
        | Route::NewCookie
        | Route::RedirectTo(_)
        | Route::Compressed(..)
        | Route::CompressedJson(_)
        | Route::Bomb(_)
        | Route::BasicAuth
        | Route::Bearer
        | Route::S3Error { .. } => small(out, req, 500, b"internal error", false),
        Route::Garbage => {
            out.extend_from_slice(GARBAGE);
            Reply {
                status: 0,
                body: Body::Done,
                after: After::Close,
            }
        }
        Route::Reset => Reply {
            status: 0,
            body: Body::Done,
            after: After::Reset,
        },
        Route::Drip { bytes, .. } => crate::chaos::drip(out, req, bytes),
        Route::Cut(bytes) => crate::chaos::cut(out, req, bytes),
        Route::BadChunk => crate::chaos::bad_chunk(out),
        Route::Stall { .. } => crate::chaos::stall(out, req),
        Route::Silence => crate::chaos::silence(),
        Route::BadParam => small(out, req, 400, b"bad parameter", keep),
        Route::NotFound => small(out, req, 404, b"not found", keep),
        Route::MethodNotAllowed => {
            write_head(
                out,
                405,
                Framing::Length(18),
                false,
                req.http10,
                b"Allow: POST\r\n",
            );
            finish_small(out, req, 405, b"method not allowed", keep)
        }
    }
}

/// A response with an inline body of known length and `extra` header lines
/// (each ending in CRLF), such as `app`'s JSON documents.
pub fn whole(out: &mut Vec<u8>, req: &RequestHead, code: u16, extra: &[u8], body: &[u8]) -> Reply {
    write_head(
        out,
        code,
        Framing::Length(body.len() as u64),
        !req.keep_alive,
        req.http10,
        extra,
    );
    finish_small(out, req, code, body, req.keep_alive)
}

/// A response whose body is `body`, shared rather than copied in here:
/// `fill_body` copies it out piece by piece, so a large one never sits whole
/// in the output buffer. `extra` header lines as for `whole`.
pub fn shared(
    out: &mut Vec<u8>,
    req: &RequestHead,
    code: u16,
    extra: &[u8],
    body: Arc<[u8]>,
) -> Reply {
    let len = body.len() as u64;
    write_head(
        out,
        code,
        Framing::Length(len),
        !req.keep_alive,
        req.http10,
        extra,
    );
    Reply {
        status: code,
        body: if req.head_only || len == 0 {
            Body::Done
        } else {
            Body::Shared {
                bytes: body,
                offset: 0,
            }
        },
        after: if req.keep_alive {
            After::KeepAlive
        } else {
            After::Close
        },
    }
}

/// Renders the answer to a refused request head; the connection then closes.
pub fn refuse(err: ParseError, out: &mut Vec<u8>) -> Reply {
    let (code, body): (u16, &[u8]) = match err {
        ParseError::BodyNotLengthed => (411, b"length required"),
        ParseError::Malformed
        | ParseError::TooManyHeaders
        | ParseError::HeadTooLarge
        | ParseError::BadContentLength => (400, b"bad request"),
    };
    write_head(
        out,
        code,
        Framing::Length(body.len() as u64),
        true,
        false,
        b"",
    );
    out.extend_from_slice(body);
    Reply {
        status: code,
        body: Body::Done,
        after: After::Close,
    }
}

/// Appends roughly `budget` more body bytes (whole chunks for chunked bodies)
/// and advances `body`; it becomes `Body::Done` once everything is rendered.
pub fn fill_body(body: &mut Body, out: &mut Vec<u8>, budget: usize) {
    if let Body::Shared { bytes, offset } = body {
        let end = bytes.len().min(*offset + budget);
        out.extend_from_slice(&bytes[*offset..end]);
        *offset = end;
        if end == bytes.len() {
            *body = Body::Done;
        }
        return;
    }
    let budget = budget as u64;
    match *body {
        Body::Done | Body::Shared { .. } => {}
        Body::Filler(remaining) => {
            let n = remaining.min(budget);
            out.resize(out.len() + n as usize, FILLER);
            *body = match remaining - n {
                0 => Body::Done,
                left => Body::Filler(left),
            };
        }
        Body::Chunked(mut remaining) => {
            let mut written = 0;
            while remaining > 0 && written < budget {
                let n = remaining.min(CHUNK_BYTES_MAX);
                push_hex(out, n);
                out.extend_from_slice(b"\r\n");
                out.resize(out.len() + n as usize, FILLER);
                out.extend_from_slice(b"\r\n");
                remaining -= n;
                written += n;
            }
            *body = if remaining == 0 {
                out.extend_from_slice(b"0\r\n\r\n");
                Body::Done
            } else {
                Body::Chunked(remaining)
            };
        }
    }
}

/// A response with a short inline body and Content-Length framing.
fn small(out: &mut Vec<u8>, req: &RequestHead, code: u16, body: &[u8], keep: bool) -> Reply {
    write_head(
        out,
        code,
        Framing::Length(body.len() as u64),
        !keep,
        req.http10,
        b"",
    );
    finish_small(out, req, code, body, keep)
}

fn finish_small(out: &mut Vec<u8>, req: &RequestHead, code: u16, body: &[u8], keep: bool) -> Reply {
    if !req.head_only {
        out.extend_from_slice(body);
    }
    Reply {
        status: code,
        body: Body::Done,
        after: if keep { After::KeepAlive } else { After::Close },
    }
}

/// A 200 whose body `fill_body` renders later.
fn framed(out: &mut Vec<u8>, req: &RequestHead, framing: Framing, body: Body, keep: bool) -> Reply {
    write_head(out, 200, framing, !keep, req.http10, b"");
    Reply {
        status: 200,
        body: if req.head_only { Body::Done } else { body },
        after: if keep { After::KeepAlive } else { After::Close },
    }
}

fn status(out: &mut Vec<u8>, req: &RequestHead, code: u16) -> Reply {
    match code {
        // An interim status has no final response after it here, so the
        // connection closes: a client that waits for one sees EOF, not a hang.
        100..=199 => {
            push_status_line(out, code);
            out.extend_from_slice(b"\r\n");
            Reply {
                status: code,
                body: Body::Done,
                after: After::Close,
            }
        }
        204 | 304 => {
            write_head(out, code, Framing::NoBody, !req.keep_alive, req.http10, b"");
            finish_small(out, req, code, b"", req.keep_alive)
        }
        _ => small(out, req, code, reason(code).as_bytes(), req.keep_alive),
    }
}

/// `/redirect/N` for N > 0: 302 to the next hop down, a relative `Location`.
fn redirect(out: &mut Vec<u8>, req: &RequestHead, hops: u64) -> Reply {
    push_status_line(out, 302);
    out.extend_from_slice(b"Location: /redirect/");
    push_decimal(out, hops - 1);
    out.extend_from_slice(b"\r\n");
    let body_len = REDIRECT_BODY.len() as u64;
    write_fields(out, Framing::Length(body_len), !req.keep_alive, req.http10);
    finish_small(out, req, 302, REDIRECT_BODY, req.keep_alive)
}

fn big_head(out: &mut Vec<u8>, req: &RequestHead) -> Reply {
    push_status_line(out, 200);
    out.extend_from_slice(b"X-Big: ");
    out.resize(out.len() + BIG_HEADER_BYTES, b'b');
    out.extend_from_slice(b"\r\n");
    write_fields(out, Framing::Length(2), !req.keep_alive, req.http10);
    finish_small(out, req, 200, b"ok", req.keep_alive)
}

/// Status line, `extra` header lines, framing and connection headers, blank line.
fn write_head(
    out: &mut Vec<u8>,
    code: u16,
    framing: Framing,
    close: bool,
    http10: bool,
    extra: &[u8],
) {
    push_status_line(out, code);
    out.extend_from_slice(extra);
    write_fields(out, framing, close, http10);
}

fn write_fields(out: &mut Vec<u8>, framing: Framing, close: bool, http10: bool) {
    match framing {
        Framing::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::UntilClose | Framing::NoBody => {}
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn push_status_line(out: &mut Vec<u8>, code: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, u64::from(code));
    out.push(b' ');
    out.extend_from_slice(reason(code).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn push_hex(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// The reason phrase for common codes; any other code gets a generic one.
fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => match code / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

#[cfg(test)]
mod tests {
    //! Every route renders a response a strict parser (httparse) accepts,
    //! with the framing, body and connection verdict the route promises.
    use super::*;

    fn req(route: Route) -> RequestHead {
        RequestHead {
            head_len: 0,
            route,
            body_len: 0,
            keep_alive: true,
            http10: false,
            head_only: false,
            expect_continue: false,
        }
    }

    /// Renders the whole response, body included, in small budgets.
    fn render(req: &RequestHead) -> (Vec<u8>, After) {
        let mut out = Vec::new();
        let reply = respond(req, &mut out);
        let mut body = reply.body;
        while body != Body::Done {
            fill_body(&mut body, &mut out, 1000);
        }
        (out, reply.after)
    }

    /// Status code, lower-cased headers and the bytes after the head.
    fn split(bytes: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(n)) = response.parse(bytes) else {
            panic!("not a response: {:?}", String::from_utf8_lossy(bytes));
        };
        let fields = response
            .headers
            .iter()
            .map(|h| {
                let value = String::from_utf8_lossy(h.value).into_owned();
                (h.name.to_ascii_lowercase(), value)
            })
            .collect();
        (response.code.unwrap_or(0), fields, bytes[n..].to_vec())
    }

    fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn dechunk(mut body: &[u8]) -> (Vec<u8>, usize) {
        let (mut data, mut chunks) = (Vec::new(), 0);
        loop {
            let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = std::str::from_utf8(&body[..line_end]).unwrap();
            let size = usize::from_str_radix(size, 16).unwrap();
            body = &body[line_end + 2..];
            if size == 0 {
                assert_eq!(body, b"\r\n");
                return (data, chunks);
            }
            data.extend_from_slice(&body[..size]);
            assert_eq!(&body[size..size + 2], b"\r\n");
            body = &body[size + 2..];
            chunks += 1;
        }
    }

    #[test]
    fn root_is_a_keep_alive_ok() {
        let (bytes, after) = render(&req(Route::Root));
        assert_eq!(bytes, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(after, After::KeepAlive);
    }

    #[test]
    fn sized_bodies_match_their_content_length() {
        for n in [0, 1, 10, 4096, 100_000] {
            let (bytes, after) = render(&req(Route::Bytes(n)));
            let (code, fields, body) = split(&bytes);
            assert_eq!(code, 200);
            assert_eq!(
                field(&fields, "content-length"),
                Some(n.to_string().as_str())
            );
            assert_eq!(body.len() as u64, n);
            assert!(body.iter().all(|b| *b == FILLER));
            assert_eq!(after, After::KeepAlive);
        }
    }

    #[test]
    fn chunked_bodies_arrive_in_several_chunks() {
        for (n, chunks) in [(0, 0), (1, 1), (4096, 1), (10_000, 3)] {
            let (bytes, after) = render(&req(Route::Chunked(n)));
            let (_, fields, body) = split(&bytes);
            assert_eq!(field(&fields, "transfer-encoding"), Some("chunked"));
            assert_eq!(field(&fields, "content-length"), None);
            assert_eq!(dechunk(&body), (vec![FILLER; n as usize], chunks));
            assert_eq!(after, After::KeepAlive);
        }
    }

    #[test]
    fn http10_gets_close_delimited_instead_of_chunks() {
        let mut request = req(Route::Chunked(5));
        request.http10 = true;
        let (bytes, after) = render(&request);
        let (_, fields, body) = split(&bytes);
        assert_eq!(field(&fields, "transfer-encoding"), None);
        assert_eq!(field(&fields, "connection"), Some("close"));
        assert_eq!(body, b"xxxxx");
        assert_eq!(after, After::Close);
    }

    #[test]
    fn http10_keep_alive_is_confirmed() {
        let mut request = req(Route::Root);
        request.http10 = true;
        let (bytes, after) = render(&request);
        let (_, fields, _) = split(&bytes);
        assert_eq!(field(&fields, "connection"), Some("keep-alive"));
        assert_eq!(after, After::KeepAlive);
    }

    #[test]
    fn closing_routes_say_so() {
        let mut request = req(Route::Root);
        request.keep_alive = false;
        for route_req in [request, req(Route::Close)] {
            let (bytes, after) = render(&route_req);
            let (_, fields, body) = split(&bytes);
            assert_eq!(field(&fields, "connection"), Some("close"));
            assert_eq!(body, b"ok");
            assert_eq!(after, After::Close);
        }
        let (bytes, after) = render(&req(Route::Eof(7)));
        let (_, fields, body) = split(&bytes);
        assert_eq!(field(&fields, "content-length"), None);
        assert_eq!(body.len(), 7);
        assert_eq!(after, After::Close);
    }

    #[test]
    fn failure_routes() {
        let (bytes, after) = render(&req(Route::Garbage));
        assert_eq!((bytes.as_slice(), after), (GARBAGE, After::Close));
        let (bytes, after) = render(&req(Route::Reset));
        assert_eq!((bytes.len(), after), (0, After::Reset));
        let (bytes, after) = render(&req(Route::Truncated));
        let (_, fields, body) = split(&bytes);
        assert_eq!(field(&fields, "content-length"), Some("100"));
        assert_eq!((body.len(), after), (10, After::Close));
        let (bytes, after) = render(&req(Route::BigHead));
        let head_len = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(head_len > 64 * 1024);
        assert_eq!(split(&bytes).2, b"ok");
        assert_eq!(after, After::KeepAlive);
    }

    #[test]
    fn status_codes() {
        for (code, body) in [
            (200, "OK"),
            (503, "Service Unavailable"),
            (599, "Server Error"),
        ] {
            let (bytes, after) = render(&req(Route::Status(code)));
            let (got, _, got_body) = split(&bytes);
            assert_eq!((got, got_body.as_slice()), (code, body.as_bytes()));
            assert_eq!(after, After::KeepAlive);
        }
        let (bytes, after) = render(&req(Route::Status(204)));
        assert_eq!(bytes, b"HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(after, After::KeepAlive);
        let (bytes, after) = render(&req(Route::Status(103)));
        assert_eq!(bytes, b"HTTP/1.1 103 Informational\r\n\r\n");
        assert_eq!(after, After::Close);
    }

    #[test]
    fn whole_documents_carry_their_headers_and_status() {
        let extra = b"Content-Type: application/json\r\nSet-Cookie: a=b; Path=/\r\n";
        let mut out = Vec::new();
        let reply = whole(&mut out, &req(Route::EchoHeaders), 401, extra, b"{}");
        assert_eq!((reply.status, reply.after), (401, After::KeepAlive));
        let (code, fields, body) = split(&out);
        assert_eq!((code, body.as_slice()), (401, b"{}".as_slice()));
        assert_eq!(field(&fields, "content-type"), Some("application/json"));
        assert_eq!(field(&fields, "set-cookie"), Some("a=b; Path=/"));
        assert_eq!(field(&fields, "content-length"), Some("2"));
    }

    #[test]
    fn redirects_count_down_to_ok() {
        let (bytes, after) = render(&req(Route::Redirect(3)));
        assert_eq!(
            bytes,
            b"HTTP/1.1 302 Found\r\nLocation: /redirect/2\r\nContent-Length: 8\r\n\r\nredirect"
        );
        assert_eq!(after, After::KeepAlive);
        let (bytes, _) = render(&req(Route::Redirect(1)));
        assert_eq!(field(&split(&bytes).1, "location"), Some("/redirect/0"));
        let (bytes, after) = render(&req(Route::Redirect(0)));
        assert_eq!(bytes, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(after, After::KeepAlive);
        let mut closing = req(Route::Redirect(100));
        closing.keep_alive = false;
        let (bytes, after) = render(&closing);
        let (code, fields, body) = split(&bytes);
        assert_eq!((code, body.as_slice()), (302, REDIRECT_BODY));
        assert_eq!(field(&fields, "location"), Some("/redirect/99"));
        assert_eq!(field(&fields, "connection"), Some("close"));
        assert_eq!(after, After::Close);
    }

    #[test]
    fn shared_bodies_are_copied_out_in_budgets() {
        let shared_body: Arc<[u8]> = (0..=255u8).cycle().take(2500).collect();
        let extra = b"Content-Encoding: gzip\r\n";
        let mut out = Vec::new();
        let reply = shared(
            &mut out,
            &req(Route::Bomb(None)),
            200,
            extra,
            shared_body.clone(),
        );
        let mut body = reply.body;
        let mut fills = 0;
        while body != Body::Done {
            fill_body(&mut body, &mut out, 1000);
            fills += 1;
        }
        assert_eq!(fills, 3);
        let (code, fields, got) = split(&out);
        assert_eq!((code, &got[..]), (200, &shared_body[..]));
        assert_eq!(field(&fields, "content-length"), Some("2500"));
        assert_eq!(field(&fields, "content-encoding"), Some("gzip"));
        let mut head_only = req(Route::Bomb(None));
        head_only.head_only = true;
        out.clear();
        let reply = shared(&mut out, &head_only, 200, b"", shared_body);
        assert_eq!(reply.body, Body::Done);
        assert_eq!(field(&split(&out).1, "content-length"), Some("2500"));
    }

    #[test]
    fn replies_report_their_status() {
        let cases = [
            (Route::Root, 200),
            (Route::Status(503), 503),
            (Route::Status(204), 204),
            (Route::Status(101), 101),
            (Route::NotFound, 404),
            (Route::BadParam, 400),
            (Route::MethodNotAllowed, 405),
            (Route::Garbage, 0),
            (Route::Reset, 0),
            (Route::Stats, 500),
            (Route::Redirect(2), 302),
            (Route::Redirect(0), 200),
            (Route::EchoRequest, 500),
            (Route::BasicAuth, 500),
        ];
        for (route, status) in cases {
            let mut out = Vec::new();
            assert_eq!(respond(&req(route), &mut out).status, status, "{route:?}");
        }
        let mut out = Vec::new();
        assert_eq!(refuse(ParseError::BodyNotLengthed, &mut out).status, 411);
    }

    #[test]
    fn head_requests_get_no_body() {
        for route in [
            Route::Root,
            Route::Bytes(10),
            Route::Chunked(10),
            Route::Status(503),
        ] {
            let mut request = req(route);
            request.head_only = true;
            let (bytes, _) = render(&request);
            assert!(bytes.ends_with(b"\r\n\r\n"), "{route:?}");
            assert!(split(&bytes).2.is_empty(), "{route:?}");
        }
    }

    #[test]
    fn errors_close_the_connection() {
        let not_found = render(&req(Route::NotFound));
        assert_eq!(split(&not_found.0).0, 404);
        let not_allowed = render(&req(Route::MethodNotAllowed));
        let (code, fields, body) = split(&not_allowed.0);
        assert_eq!((code, field(&fields, "allow")), (405, Some("POST")));
        assert_eq!(body, b"method not allowed");
        let mut out = Vec::new();
        assert_eq!(
            refuse(ParseError::BodyNotLengthed, &mut out).after,
            After::Close
        );
        let (code, fields, _) = split(&out);
        assert_eq!((code, field(&fields, "connection")), (411, Some("close")));
        out.clear();
        refuse(ParseError::HeadTooLarge, &mut out);
        assert_eq!(split(&out).0, 400);
    }
}
