//! Answers the dynamic routes (`Route::is_dynamic`): the music API, the echo
//! routes, `/cookies/new` (with `cookies`), `/redirect-to`, the compressed
//! routes, the auth routes and `/__stats`. For them `conn` keeps a copy of
//! the request head and body in an `Exchange`; this module re-parses the
//! head for its target and headers, asks `music`, `cookies`, `compress`,
//! `auth` or `stats` for the document and frames it with `response`. Plain routes never touch an `Exchange`, so its buffers
//! stay unallocated on connections that only use them.

use std::io::Write as _;

use crate::auth;
use crate::compress::{self, Bodies, Doc, Encoding};
use crate::counters::Counters;
use crate::music::{push_json_str, ApiRequest, Music, SESSION_COOKIE};
use crate::query;
use crate::request::{RequestHead, HEADERS_MAX};
use crate::response::{self, Reply, REDIRECT_BODY};
use crate::routes::{self, Route};

/// The largest request body the dynamic routes read; a larger one is
/// discarded and answered 413.
pub const BODY_BYTES_MAX: u64 = 1 << 20;

/// The Content-Type line of every JSON document.
const JSON: &[u8] = b"Content-Type: application/json\r\n";

/// The Content-Type line of raw bytes (`/echo/request`, `/bomb`).
const OCTET_STREAM: &[u8] = b"Content-Type: application/octet-stream\r\n";

/// The Content-Type line of `/compressed/N`'s JSON lines.
const NDJSON: &[u8] = b"Content-Type: application/x-ndjson\r\n";

/// The shared state the dynamic routes read, one of each per server.
pub(crate) struct AppState<'a> {
    /// The counters, for `/__stats`.
    pub counters: &'a Counters,
    /// The music API.
    pub music: &'a Music,
    /// The compressed routes' encoded bodies.
    pub bodies: &'a Bodies,
}

/// One connection's buffers for the dynamic routes, reused request after request.
#[derive(Debug, Default)]
pub(crate) struct Exchange {
    /// A copy of the current request's head.
    head: Vec<u8>,
    /// The current request's body, when it is at most `BODY_BYTES_MAX`.
    body: Vec<u8>,
    /// The response body being built.
    doc: Vec<u8>,
    /// The response's extra header lines.
    extra: Vec<u8>,
}

impl Exchange {
    /// Starts a request: keeps a copy of its head and forgets the last body.
    pub fn begin(&mut self, head: &[u8]) {
        self.head.clear();
        self.head.extend_from_slice(head);
        self.body.clear();
    }

    /// Where `conn` appends the request's body.
    pub fn body_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }
}

/// Whether `conn` should keep this request's body for `answer` (else it discards it).
pub(crate) fn keeps_body(req: &RequestHead) -> bool {
    req.route.needs_request() && req.body_len <= BODY_BYTES_MAX
}

/// Renders the answer to a dynamic route into `out`.
pub(crate) fn answer(
    req: &RequestHead,
    ex: &mut Exchange,
    state: &AppState<'_>,
    out: &mut Vec<u8>,
) -> Reply {
    let Exchange {
        head,
        body,
        doc,
        extra,
    } = ex;
    doc.clear();
    extra.clear();
    let AppState {
        counters,
        music,
        bodies,
    } = *state;
    if req.route == Route::Stats {
        let logins = music.logins();
        crate::stats::write_json(counters.totals(), &counters.statuses(), logins, doc);
        let (full, resumed) = counters.tls.get();
        if full + resumed > 0 {
            // HTTPS only.
            crate::stats::append_tls(full, resumed, doc);
        }
        if let Some(paths) = counters.paths.snapshot() {
            crate::stats::append_paths(&paths, doc);
        }
        let (requests, stalled) = counters.stalls.get();
        if requests > 0 {
            // Only once /stall was asked for.
            crate::stats::append_stalls(requests, stalled, doc);
        }
        if let Some(service) = counters.service.snapshot() {
            crate::stats::append_service(&service, doc);
        }
        crate::stats::append_body_bytes(counters.body_bytes(), doc);
        return response::whole(out, req, 200, JSON, doc);
    }
    if req.body_len > BODY_BYTES_MAX {
        doc.extend_from_slice(br#"{"error": "body too large"}"#);
        return response::whole(out, req, 413, JSON, doc);
    }
    let mut fields = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut parsed = httparse::Request::new(&mut fields);
    // `request::parse` accepted this very head, so this only fails on a bug.
    let (Ok(httparse::Status::Complete(_)), Some(target)) = (parsed.parse(head), parsed.path)
    else {
        return response::whole(out, req, 500, b"", b"internal error");
    };
    let headers = &*parsed.headers;
    match req.route {
        Route::Api(api) => {
            let query = target.split_once('?').map_or("", |(_, q)| q);
            let api_req = ApiRequest {
                query,
                headers,
                body,
            };
            let answer = music.answer(api, &api_req, doc);
            extra.extend_from_slice(JSON);
            if let Some(token) = answer.session {
                extra.extend_from_slice(b"Set-Cookie: ");
                extra.extend_from_slice(SESSION_COOKIE.as_bytes());
                extra.push(b'=');
                extra.extend_from_slice(token.as_str().as_bytes());
                extra.extend_from_slice(b"; Path=/\r\n");
            }
            if let Some(allow) = answer.allow {
                extra.extend_from_slice(b"Allow: ");
                extra.extend_from_slice(allow.as_bytes());
                extra.extend_from_slice(b"\r\n");
            }
            response::whole(out, req, answer.status, extra, doc)
        }
        Route::EchoHeaders => {
            echo_headers(headers, doc);
            response::whole(out, req, 200, JSON, doc)
        }
        Route::EchoBody => {
            let content_type = headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-type"))
                .map_or(&b"application/octet-stream"[..], |h| h.value);
            extra.extend_from_slice(b"Content-Type: ");
            extra.extend_from_slice(content_type);
            extra.extend_from_slice(b"\r\n");
            response::whole(out, req, 200, extra, body)
        }
        Route::EchoRequest => {
            doc.extend_from_slice(head);
            doc.extend_from_slice(body);
            response::whole(out, req, 200, OCTET_STREAM, doc)
        }
        Route::NewCookie => {
            crate::cookies::answer(target, headers, extra, doc);
            response::whole(out, req, 200, extra, doc)
        }
        Route::RedirectTo(status) => {
            // The route table checked that `url` is there and decodes cleanly.
            let url = query::param(query::query_of(target), "url").unwrap_or_default();
            extra.extend_from_slice(b"Location: ");
            query::decode_each(url, |b| extra.push(b));
            extra.extend_from_slice(b"\r\n");
            response::whole(out, req, status, extra, REDIRECT_BODY)
        }
        Route::Compressed(len, enc) => {
            let enc = enc.unwrap_or_else(|| negotiate(headers));
            push_coding_headers(extra, NDJSON, enc, len);
            response::shared(out, req, 200, extra, bodies.get(Doc::Pattern(len), enc))
        }
        Route::CompressedJson(enc) => {
            let enc = enc.unwrap_or_else(|| negotiate(headers));
            let len = compress::json_doc(enc).len() as u64;
            push_coding_headers(extra, JSON, enc, len);
            response::shared(out, req, 200, extra, bodies.get(Doc::Json, enc))
        }
        Route::Bomb(enc) => {
            // A bomb is always compressed: gzip when the client takes none.
            let enc = match enc.unwrap_or_else(|| negotiate(headers)) {
                Encoding::Identity => Encoding::Gzip,
                enc => enc,
            };
            push_coding_headers(extra, OCTET_STREAM, enc, compress::BOMB_DECODED_BYTES);
            response::shared(out, req, 200, extra, bodies.bomb(enc))
        }
        Route::BasicAuth => {
            let (user, pass) = routes::basic_auth_segments(target);
            // The route table checked that both segments decode.
            let (user, pass) = (
                query::decode(user).unwrap_or_default(),
                query::decode(pass).unwrap_or_default(),
            );
            let authorization = header(headers, "authorization").unwrap_or_default();
            if auth::basic_matches(authorization, &user, &pass) {
                doc.extend_from_slice(br#"{"authenticated":true,"user":"#);
                push_json_str(doc, &String::from_utf8_lossy(&user));
                doc.push(b'}');
                response::whole(out, req, 200, JSON, doc)
            } else {
                extra.extend_from_slice(JSON);
                extra.extend_from_slice(auth::BASIC_CHALLENGE);
                let refusal = br#"{"authenticated":false}"#;
                response::whole(out, req, 401, extra, refusal)
            }
        }
        Route::Bearer => match header(headers, "authorization").and_then(auth::bearer_token) {
            Some(token) => {
                doc.extend_from_slice(br#"{"token":"#);
                push_json_str(doc, &String::from_utf8_lossy(token));
                doc.push(b'}');
                response::whole(out, req, 200, JSON, doc)
            }
            None => {
                extra.extend_from_slice(JSON);
                extra.extend_from_slice(auth::BEARER_CHALLENGE);
                let refusal = br#"{"authenticated":false}"#;
                response::whole(out, req, 401, extra, refusal)
            }
        },
        _ => response::respond(req, out),
    }
}

/// The value of the first header called `name` (ASCII case ignored).
fn header<'h>(headers: &[httparse::Header<'h>], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// The coding picked from the request's `Accept-Encoding` headers.
fn negotiate(headers: &[httparse::Header<'_>]) -> Encoding {
    let accepted = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("accept-encoding"))
        .map(|h| h.value);
    compress::negotiate(accepted)
}

/// The header lines of a coded body: its type, its coding (none for
/// identity), its decoded length, and `Vary` since the coding may be negotiated.
fn push_coding_headers(extra: &mut Vec<u8>, content_type: &[u8], enc: Encoding, decoded_len: u64) {
    extra.extend_from_slice(content_type);
    if enc != Encoding::Identity {
        extra.extend_from_slice(b"Content-Encoding: ");
        extra.extend_from_slice(enc.token().as_bytes());
        extra.extend_from_slice(b"\r\n");
    }
    // Writing to a Vec cannot fail.
    let _ = write!(
        extra,
        "X-Decoded-Length: {decoded_len}\r\nVary: Accept-Encoding\r\n"
    );
}

/// The headers as one JSON object: lower-cased names to values (as UTF-8,
/// lossily); a repeated name's values are joined with `, `.
fn echo_headers(headers: &[httparse::Header<'_>], out: &mut Vec<u8>) {
    let mut object = serde_json::Map::new();
    for header in headers {
        let name = header.name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(header.value);
        match object.get_mut(&name) {
            Some(serde_json::Value::String(seen)) => {
                seen.push_str(", ");
                seen.push_str(&value);
            }
            _ => {
                object.insert(name, serde_json::Value::String(value.into_owned()));
            }
        }
    }
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(out, &object);
}

#[cfg(test)]
mod tests {
    //! Whole requests through `answer`: parsed again from the kept head, with
    //! the headers and status the routes promise.
    use super::*;
    use crate::request::{self, Parsed};

    fn run(
        raw: &[u8],
        body: &[u8],
        music: &Music,
        counters: &Counters,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let Ok(Parsed::Complete(head)) = request::parse(raw) else {
            panic!("bad test request");
        };
        let mut ex = Exchange::default();
        ex.begin(&raw[..head.head_len]);
        if keeps_body(&head) {
            ex.body_mut().extend_from_slice(body);
        }
        let mut out = Vec::new();
        let bodies = Bodies::default();
        let state = AppState {
            counters,
            music,
            bodies: &bodies,
        };
        let reply = answer(&head, &mut ex, &state, &mut out);
        let mut rest = reply.body;
        while rest != response::Body::Done {
            response::fill_body(&mut rest, &mut out, 64 * 1024);
        }
        let mut fields = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut fields);
        let Ok(httparse::Status::Complete(n)) = response.parse(&out) else {
            panic!("not a response");
        };
        assert_eq!(response.code, Some(reply.status));
        let headers = response
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        (reply.status, headers, out[n..].to_vec())
    }

    fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn setup() -> (Music, Counters) {
        let accounts = vec![("alice".to_string(), "alice-pw".to_string())];
        (Music::new(&accounts).unwrap(), Counters::new(1))
    }

    #[test]
    fn login_sets_the_session_cookie_that_then_authorizes() {
        let (music, counters) = setup();
        let body = br#"{"username":"alice","password":"alice-pw"}"#;
        let raw = format!(
            "POST /auth/login HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let (status, fields, doc) = run(raw.as_bytes(), body, &music, &counters);
        assert_eq!(status, 200);
        assert_eq!(field(&fields, "content-type"), Some("application/json"));
        let json: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        let token = json["token"].as_str().unwrap();
        assert_eq!(
            field(&fields, "set-cookie"),
            Some(format!("nd_session={token}; Path=/").as_str())
        );
        let raw = format!("GET /api/album HTTP/1.1\r\nCookie: nd_session={token}\r\n\r\n");
        assert_eq!(run(raw.as_bytes(), b"", &music, &counters).0, 200);
        let raw = b"GET /api/album HTTP/1.1\r\nCookie: nd_session=nope\r\n\r\n";
        assert_eq!(run(raw, b"", &music, &counters).0, 401);
        let (status, fields, _) = run(b"GET /auth/login HTTP/1.1\r\n\r\n", b"", &music, &counters);
        assert_eq!((status, field(&fields, "allow")), (405, Some("POST")));
    }

    #[test]
    fn echo_routes_return_the_request() {
        let (music, counters) = setup();
        let raw = b"GET /echo/headers HTTP/1.1\r\nHost: t\r\nX-Trace: a\r\nx-trace: b\r\nX-User: \xc3\xa9\r\n\r\n";
        let (status, _, doc) = run(raw, b"", &music, &counters);
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"host": "t", "x-trace": "a, b", "x-user": "\u{e9}"})
        );
        let raw = b"POST /echo/body HTTP/1.1\r\nContent-Type: text/csv; charset=utf-8\r\nContent-Length: 5\r\n\r\n";
        let (status, fields, doc) = run(raw, b"a,b\nc", &music, &counters);
        assert_eq!((status, doc.as_slice()), (200, b"a,b\nc".as_slice()));
        assert_eq!(
            field(&fields, "content-type"),
            Some("text/csv; charset=utf-8")
        );
        let (_, fields, doc) = run(b"POST /echo/body HTTP/1.1\r\n\r\n", b"", &music, &counters);
        assert_eq!(
            field(&fields, "content-type"),
            Some("application/octet-stream")
        );
        assert!(doc.is_empty());
    }

    #[test]
    fn oversized_bodies_are_refused() {
        let (music, counters) = setup();
        let raw = format!(
            "POST /echo/body HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            BODY_BYTES_MAX + 1
        );
        assert_eq!(run(raw.as_bytes(), b"", &music, &counters).0, 413);
    }

    #[test]
    fn stats_include_statuses_and_logins() {
        let (music, counters) = setup();
        counters.slot(0).add_request();
        counters.slot(0).add_status(404);
        let body = br#"{"username":"alice","password":"alice-pw"}"#;
        let raw = format!(
            "POST /auth/login HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        run(raw.as_bytes(), body, &music, &counters);
        let (status, fields, doc) = run(b"GET /__stats HTTP/1.1\r\n\r\n", b"", &music, &counters);
        assert_eq!(
            (status, field(&fields, "content-type")),
            (200, Some("application/json"))
        );
        let json: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"requests": 1, "connections": 0, "statuses": {"404": 1}, "logins": {"alice": 1}})
        );
    }

    #[test]
    fn stats_list_paths_only_when_counted() {
        let (music, mut counters) = setup();
        counters.paths = crate::paths::PathCounts::new(true);
        counters.paths.add(b"/redirect/1");
        counters.paths.add(b"/redirect/1");
        let (_, _, doc) = run(b"GET /__stats HTTP/1.1\r\n\r\n", b"", &music, &counters);
        let json: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(json["paths"], serde_json::json!({"/redirect/1": 2}));
        counters.reset();
        let (_, _, doc) = run(b"GET /__stats HTTP/1.1\r\n\r\n", b"", &music, &counters);
        let json: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(json["paths"], serde_json::json!({}));
    }

    #[test]
    fn echo_request_returns_the_exact_bytes() {
        let (music, counters) = setup();
        let raw = b"PUT /echo/request?q=a%20b+c HTTP/1.1\r\nHost: t\r\nX-Odd:  spaced \r\nContent-Length: 7\r\n\r\n";
        let (status, fields, doc) = run(raw, b"a=1&b=2", &music, &counters);
        assert_eq!(status, 200);
        assert_eq!(
            field(&fields, "content-type"),
            Some("application/octet-stream")
        );
        let mut want = raw.to_vec();
        want.extend_from_slice(b"a=1&b=2");
        assert_eq!(doc, want);
    }

    #[test]
    fn redirect_to_sends_the_decoded_url() {
        let (music, counters) = setup();
        let raw = b"GET /redirect-to?url=http%3A%2F%2F127.0.0.1%3A9%2Fx%3Fa%3D1%26b&status=307 HTTP/1.1\r\n\r\n";
        let (status, fields, doc) = run(raw, b"", &music, &counters);
        assert_eq!((status, doc.as_slice()), (307, REDIRECT_BODY));
        assert_eq!(
            field(&fields, "location"),
            Some("http://127.0.0.1:9/x?a=1&b")
        );
        let raw = b"GET /redirect-to?url=/redirect/1 HTTP/1.1\r\n\r\n";
        let (status, fields, _) = run(raw, b"", &music, &counters);
        assert_eq!(
            (status, field(&fields, "location")),
            (302, Some("/redirect/1"))
        );
    }

    #[test]
    fn compressed_bodies_in_each_coding() {
        let (music, counters) = setup();
        for enc in ["gzip", "deflate", "br", "zstd", "identity"] {
            let raw = format!("GET /compressed/100000?enc={enc} HTTP/1.1\r\n\r\n");
            let (status, fields, doc) = run(raw.as_bytes(), b"", &music, &counters);
            assert_eq!(status, 200);
            let coding = Encoding::from_token(enc.as_bytes()).unwrap();
            let want_header = (coding != Encoding::Identity).then_some(enc);
            assert_eq!(field(&fields, "content-encoding"), want_header);
            assert_eq!(field(&fields, "x-decoded-length"), Some("100000"));
            assert_eq!(field(&fields, "content-type"), Some("application/x-ndjson"));
            let len = doc.len().to_string();
            assert_eq!(field(&fields, "content-length"), Some(len.as_str()));
            let decoded = compress::tests::decode(coding, &doc);
            assert_eq!(decoded, compress::pattern(100_000), "{enc}");
        }
    }

    #[test]
    fn the_coding_is_negotiated_without_enc() {
        let (music, counters) = setup();
        let cases = [
            ("", None),
            ("Accept-Encoding: gzip, deflate\r\n", Some("gzip")),
            ("Accept-Encoding: gzip, br\r\n", Some("br")),
            (
                "Accept-Encoding: deflate\r\nAccept-Encoding: zstd\r\n",
                Some("zstd"),
            ),
            ("Accept-Encoding: zstd;q=0, deflate\r\n", Some("deflate")),
        ];
        for (accept, want) in cases {
            let raw = format!("GET /compressed-json HTTP/1.1\r\n{accept}\r\n");
            let (status, fields, doc) = run(raw.as_bytes(), b"", &music, &counters);
            assert_eq!(status, 200);
            assert_eq!(field(&fields, "content-encoding"), want, "{accept}");
            assert_eq!(field(&fields, "vary"), Some("Accept-Encoding"));
            let coding = Encoding::from_token(want.unwrap_or("identity").as_bytes()).unwrap();
            let json: serde_json::Value =
                serde_json::from_slice(&compress::tests::decode(coding, &doc)).unwrap();
            let token = coding.token();
            assert_eq!(json, serde_json::json!({"ok": true, "encoding": token}));
            let decoded_len = compress::json_doc(coding).len().to_string();
            assert_eq!(
                field(&fields, "x-decoded-length"),
                Some(decoded_len.as_str())
            );
        }
    }

    #[test]
    fn bombs_are_small_on_the_wire() {
        let (music, counters) = setup();
        for (query, accept, want) in [
            ("?enc=zstd", "", "zstd"),
            ("?enc=deflate", "", "deflate"),
            ("", "Accept-Encoding: br\r\n", "br"),
            ("", "", "gzip"),
        ] {
            let raw = format!("GET /bomb{query} HTTP/1.1\r\n{accept}\r\n");
            let (status, fields, doc) = run(raw.as_bytes(), b"", &music, &counters);
            assert_eq!(status, 200);
            assert_eq!(field(&fields, "content-encoding"), Some(want));
            assert_eq!(field(&fields, "x-decoded-length"), Some("536870912"));
            assert!(doc.len() < 1 << 20, "{want}: {}", doc.len());
        }
    }

    #[test]
    fn basic_auth_wants_the_exact_credentials() {
        let (music, counters) = setup();
        // base64("a b:p:q") and base64("alice:wrong").
        let cases = [
            ("Authorization: Basic YSBiOnA6cQ==\r\n", 200),
            ("authorization: basic YSBiOnA6cQ==\r\n", 200),
            ("Authorization: Basic YWxpY2U6d3Jvbmc=\r\n", 401),
            ("Authorization: Bearer YSBiOnA6cQ==\r\n", 401),
            ("", 401),
        ];
        for (authorization, want) in cases {
            let raw = format!("GET /basic-auth/a%20b/p%3Aq HTTP/1.1\r\n{authorization}\r\n");
            let (status, fields, doc) = run(raw.as_bytes(), b"", &music, &counters);
            assert_eq!(status, want, "{authorization}");
            let json: serde_json::Value = serde_json::from_slice(&doc).unwrap();
            if want == 200 {
                assert_eq!(
                    json,
                    serde_json::json!({"authenticated": true, "user": "a b"})
                );
                assert_eq!(field(&fields, "www-authenticate"), None);
            } else {
                assert_eq!(json, serde_json::json!({"authenticated": false}));
                assert_eq!(
                    field(&fields, "www-authenticate"),
                    Some("Basic realm=\"stampede-target\"")
                );
            }
        }
    }

    #[test]
    fn bearer_wants_a_token() {
        let (music, counters) = setup();
        let raw = b"GET /bearer HTTP/1.1\r\nAuthorization: Bearer abc.\"def\r\n\r\n";
        let (status, _, doc) = run(raw, b"", &music, &counters);
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(json, serde_json::json!({"token": "abc.\"def"}));
        for authorization in [
            "",
            "Authorization: Bearer \r\n",
            "Authorization: Basic eDp5\r\n",
        ] {
            let raw = format!("GET /bearer HTTP/1.1\r\n{authorization}\r\n");
            let (status, fields, _) = run(raw.as_bytes(), b"", &music, &counters);
            assert_eq!(status, 401, "{authorization}");
            assert!(field(&fields, "www-authenticate")
                .unwrap()
                .starts_with("Bearer"));
        }
    }
}
