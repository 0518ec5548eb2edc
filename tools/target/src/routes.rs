//! The route table: maps a request's method and target to a `Route`,
//! checking each route's parameters (numbers against their limits, query
//! values and path segments for what the route accepts). Pure; what a route
//! sends back is `response`'s business (or `app`'s, for the dynamic routes),
//! when it is sent is `conn`'s.

use crate::chaos;
use crate::compress::Encoding;
use crate::music;
use crate::query;

/// The largest body `/bytes/N`, `/chunked/N` and `/eof/N` will send (64 MiB).
pub const BODY_BYTES_MAX: u64 = 64 << 20;

/// The longest `/delay/MS` will wait (one minute).
pub const DELAY_MS_MAX: u64 = 60_000;

/// The longest chain `/redirect/N` starts.
pub const REDIRECT_HOPS_MAX: u64 = 100;

/// The statuses `/redirect-to` may answer with; the first is its default.
pub const REDIRECT_STATUSES: [u16; 5] = [302, 301, 303, 307, 308];

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/`: 200 with body `ok`.
    Root,
    /// `/bytes/N`: 200 with N body bytes, Content-Length framed.
    Bytes(u64),
    /// `/delay/MS`: 200 `ok` after MS milliseconds.
    Delay(u64),
    /// `/status/CODE`: that status code with a small body.
    Status(u16),
    /// `/chunked/N`: 200 with N body bytes in several chunks.
    Chunked(u64),
    /// `/close`: 200 `ok` with `Connection: close`, then the server closes.
    Close,
    /// `/eof/N`: 200 with N body bytes delimited by the server closing.
    Eof(u64),
    /// `/garbage`: bytes that are not HTTP, then close.
    Garbage,
    /// `/truncated`: promises 100 body bytes, sends 10, closes.
    Truncated,
    /// `/bighead`: a valid response whose head is larger than 64 KiB.
    BigHead,
    /// `/reset`: close without answering, with a TCP reset where possible.
    Reset,
    /// `/drip/N?ms=M`: Content-Length N, then the N bytes one every M ms.
    Drip {
        /// Body bytes.
        bytes: u64,
        /// Pause before each byte.
        every_ms: u64,
    },
    /// `/badchunk`: a chunked response whose first size line is not hex.
    BadChunk,
    /// `/cut/N`: Content-Length N, half the bytes, then close.
    Cut(u64),
    /// `/silence`: the request is read and never answered; the socket stays
    /// open until the client closes it (or `chaos::SILENCE_MS_MAX`).
    Silence,
    /// `/stall?p=P&ms=M`: 200 `ok`, after M ms for the requests that stall
    /// (probability P, decided by `chaos::stalls` from the request's number).
    Stall {
        /// P in parts per million.
        per_million: u32,
        /// How long a stalled request waits.
        ms: u64,
    },
    /// `/__stats`: the counters as JSON; not counted itself.
    Stats,
    /// The emulated music API (`/auth/login`, `/api/...`), answered by `music`.
    Api(Api),
    /// `/echo/headers`: the request's headers as a JSON object.
    EchoHeaders,
    /// `/echo/body`: the request's body back, with its Content-Type.
    EchoBody,
    /// `/echo/request`: the request's exact bytes (head and body) back.
    EchoRequest,
    /// `/cookies/new`: sets a cookie of a new name, reports the request's cookies (`cookies`).
    NewCookie,
    /// `/redirect/N`: 302 to `/redirect/N-1`; `/redirect/0` is 200 `ok`.
    Redirect(u64),
    /// `/redirect-to?url=URL&status=CODE`: CODE (a redirect status) to the
    /// decoded URL, which `app` takes from the query again.
    RedirectTo(u16),
    /// `/compressed/N?enc=CODING`: N bytes of JSON lines in that coding, or in
    /// the one negotiated from `Accept-Encoding` when `None`.
    Compressed(u64, Option<Encoding>),
    /// `/compressed-json?enc=CODING`: a small JSON object, coded like `Compressed`.
    CompressedJson(Option<Encoding>),
    /// `/bomb?enc=CODING`: a small body that decodes to 512 MiB of zeros; never `Identity`.
    Bomb(Option<Encoding>),
    /// `/basic-auth/USER/PASS`: 200 if the request carries those Basic
    /// credentials, else 401; `app` takes USER and PASS from the path again.
    BasicAuth,
    /// `/bearer`: 200 if the request carries a Bearer token, else 401.
    Bearer,
    /// `/s3-error?code=CODE&status=STATUS&pad=N`: STATUS (4xx or 5xx,
    /// default 400) with an S3-style XML error document whose `Code` is
    /// CODE (1 to 64 ASCII letters or digits), after a `Message` of N
    /// filler bytes (default a short text); `app` takes CODE from the query again.
    S3Error {
        /// The response status.
        status: u16,
        /// Filler bytes before the code, up to `S3_ERROR_PAD_MAX`.
        pad: Option<u64>,
    },
    /// `POST /__reset`: zero the counters; not counted itself.
    ResetCounters,
    /// A known route whose parameter is missing, not a number or over its limit: 400.
    BadParam,
    /// `/__reset` with a method other than POST: 405; not counted either.
    MethodNotAllowed,
    /// Anything else: 404.
    NotFound,
}

/// A route of the emulated music API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// `POST /auth/login`: checks a JSON username and password, answers a session token.
    Login,
    /// `GET /api/song`: a page of songs (`_start`, `_end`); needs a session.
    Songs,
    /// `GET /api/album`: the albums; needs a session.
    Albums,
    /// `POST /api/playlist`: creates a playlist; needs a session.
    PlaylistCreate,
    /// `DELETE /api/playlist/ID`: removes a playlist; needs a session. `None`
    /// is an id not in the server's format, which is unknown by definition.
    PlaylistDelete(Option<u64>),
    /// A music API path with another method: 405, with this `Allow` value.
    WrongMethod(&'static str),
}

impl Route {
    /// True for the routes `app` answers: they need shared state or the
    /// request's own headers and body, which `response` alone does not have.
    pub fn is_dynamic(self) -> bool {
        self == Route::Stats || self.needs_request()
    }

    /// True for the routes whose head and body `conn` keeps for `app`.
    pub fn needs_request(self) -> bool {
        matches!(
            self,
            Route::Api(_)
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
                | Route::S3Error { .. }
        )
    }

    /// True for the control routes, which the counters leave out so that
    /// reading them does not change them.
    pub fn is_control(self) -> bool {
        matches!(
            self,
            Route::Stats | Route::ResetCounters | Route::MethodNotAllowed
        )
    }
}

/// Finds the route for a method and request target; the query only matters
/// to the routes that take parameters there.
pub fn route(method: &str, target: &str) -> Route {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/" => Route::Root,
        "/close" => Route::Close,
        "/garbage" => Route::Garbage,
        "/truncated" => Route::Truncated,
        "/bighead" => Route::BigHead,
        "/reset" => Route::Reset,
        "/badchunk" => Route::BadChunk,
        "/silence" => Route::Silence,
        "/stall" => stall(query),
        "/__stats" => Route::Stats,
        "/__reset" if method == "POST" => Route::ResetCounters,
        "/__reset" => Route::MethodNotAllowed,
        "/echo/headers" => Route::EchoHeaders,
        "/echo/body" => Route::EchoBody,
        "/echo/request" => Route::EchoRequest,
        "/cookies/new" => Route::NewCookie,
        "/redirect-to" => redirect_to(query),
        "/compressed-json" => encoding(query).map_or(Route::BadParam, Route::CompressedJson),
        "/bomb" => match encoding(query) {
            Some(Some(Encoding::Identity)) | None => Route::BadParam,
            Some(enc) => Route::Bomb(enc),
        },
        "/bearer" => Route::Bearer,
        "/s3-error" => s3_error(query),
        "/auth/login" => api(method, "POST", Api::Login),
        "/api/song" => api(method, "GET", Api::Songs),
        "/api/album" => api(method, "GET", Api::Albums),
        "/api/playlist" => api(method, "POST", Api::PlaylistCreate),
        _ => {
            if let Some(id) = path.strip_prefix("/api/playlist/") {
                api(
                    method,
                    "DELETE",
                    Api::PlaylistDelete(music::parse_playlist_id(id)),
                )
            } else if let Some(credentials) = path.strip_prefix("/basic-auth/") {
                basic_auth(credentials)
            } else if let Some(len) = path.strip_prefix("/compressed/") {
                compressed(len, query)
            } else if let Some(len) = path.strip_prefix("/drip/") {
                drip(len, query)
            } else {
                route_with_param(path)
            }
        }
    }
}

/// The most filler bytes `/s3-error`'s `pad` puts before the code (1 MiB).
pub const S3_ERROR_PAD_MAX: u64 = 1 << 20;

/// `/s3-error`'s query: a `code` of 1 to 64 ASCII letters or digits, an
/// optional error `status` (400 to 599) and an optional `pad`.
fn s3_error(query: &str) -> Route {
    let code_ok = query::param(query, "code").is_some_and(|code| {
        (1..=64).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    let status = match query::param(query, "status") {
        None => Some(400),
        Some(code) => parse_decimal(code)
            .and_then(|code| u16::try_from(code).ok())
            .filter(|code| (400..=599).contains(code)),
    };
    let pad = match query::param(query, "pad") {
        None => Some(None),
        Some(n) => parse_decimal(n)
            .filter(|n| *n <= S3_ERROR_PAD_MAX)
            .map(Some),
    };
    match (code_ok, status, pad) {
        (true, Some(status), Some(pad)) => Route::S3Error { status, pad },
        _ => Route::BadParam,
    }
}

/// `/redirect-to`'s query: a `url` that decodes to a header value and an
/// optional redirect `status`.
fn redirect_to(query: &str) -> Route {
    let url_ok = query::param(query, "url").is_some_and(query::decodes_to_header_value);
    let status = match query::param(query, "status") {
        None => Some(REDIRECT_STATUSES[0]),
        Some(code) => parse_decimal(code)
            .and_then(|code| u16::try_from(code).ok())
            .filter(|code| REDIRECT_STATUSES.contains(code)),
    };
    match status {
        Some(status) if url_ok => Route::RedirectTo(status),
        _ => Route::BadParam,
    }
}

/// The `enc` query parameter: `Some(None)` when absent (negotiate), `None`
/// when it names no coding.
fn encoding(query: &str) -> Option<Option<Encoding>> {
    match query::param(query, "enc") {
        None => Some(None),
        Some(token) => Encoding::from_token(token.as_bytes()).map(Some),
    }
}

/// `ms` of a query: `default` when absent, `None` when not a number within
/// `DELAY_MS_MAX`.
fn ms_param(query: &str, default: u64) -> Option<u64> {
    match query::param(query, "ms") {
        None => Some(default),
        Some(ms) => parse_decimal(ms).filter(|ms| *ms <= DELAY_MS_MAX),
    }
}

/// `/drip/N?ms=M`: N within `chaos::DRIP_BYTES_MAX`, M within `DELAY_MS_MAX`.
fn drip(len: &str, query: &str) -> Route {
    match (parse_decimal(len), ms_param(query, chaos::DRIP_MS_DEFAULT)) {
        (Some(bytes), Some(every_ms)) if bytes <= chaos::DRIP_BYTES_MAX => {
            Route::Drip { bytes, every_ms }
        }
        _ => Route::BadParam,
    }
}

/// `/stall?p=P&ms=M`: P a probability (required), M within `DELAY_MS_MAX`.
fn stall(query: &str) -> Route {
    let per_million = query::param(query, "p").and_then(chaos::parse_probability);
    match (per_million, ms_param(query, chaos::STALL_MS_DEFAULT)) {
        (Some(per_million), Some(ms)) => Route::Stall { per_million, ms },
        _ => Route::BadParam,
    }
}

/// `/compressed/N`: N within `BODY_BYTES_MAX` and a valid `enc`, if any.
fn compressed(len: &str, query: &str) -> Route {
    match (parse_decimal(len), encoding(query)) {
        (Some(n), Some(enc)) if n <= BODY_BYTES_MAX => Route::Compressed(n, enc),
        _ => Route::BadParam,
    }
}

/// `/basic-auth/USER/PASS`: exactly two percent-encoded segments, USER not
/// empty and, decoded, without the `:` that Basic credentials cannot carry.
fn basic_auth(credentials: &str) -> Route {
    let Some((user, pass)) = credentials.split_once('/') else {
        return Route::BadParam;
    };
    let mut user_has_colon = false;
    let user_decodes = query::decode_each(user, |b| user_has_colon |= b == b':');
    let user_ok = user_decodes && !user.is_empty() && !user_has_colon;
    if user_ok && !pass.contains('/') && query::decode_each(pass, |_| {}) {
        Route::BasicAuth
    } else {
        Route::BadParam
    }
}

/// Splits `/basic-auth/USER/PASS` into its two still-encoded segments; `app`
/// calls this only for targets the route table made `Route::BasicAuth`.
pub fn basic_auth_segments(target: &str) -> (&str, &str) {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let credentials = path.strip_prefix("/basic-auth/").unwrap_or_default();
    credentials.split_once('/').unwrap_or((credentials, ""))
}

/// `route` when `method` is `allowed` (GET also allows HEAD), else `WrongMethod`.
fn api(method: &str, allowed: &'static str, route: Api) -> Route {
    let head_ok = allowed == "GET" && method == "HEAD";
    if method == allowed || head_ok {
        Route::Api(route)
    } else {
        Route::Api(Api::WrongMethod(match allowed {
            "GET" => "GET, HEAD",
            other => other,
        }))
    }
}

/// Routes of the form `/name/NUMBER`.
fn route_with_param(path: &str) -> Route {
    let Some((name, param)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) else {
        return Route::NotFound;
    };
    let (make, max): (fn(u64) -> Route, u64) = match name {
        "bytes" => (Route::Bytes, BODY_BYTES_MAX),
        "chunked" => (Route::Chunked, BODY_BYTES_MAX),
        "eof" => (Route::Eof, BODY_BYTES_MAX),
        "cut" => (Route::Cut, BODY_BYTES_MAX),
        "delay" | "slow" => (Route::Delay, DELAY_MS_MAX),
        "status" => (status_route, 599),
        "redirect" => (Route::Redirect, REDIRECT_HOPS_MAX),
        _ => return Route::NotFound,
    };
    match parse_decimal(param) {
        Some(n) if n <= max => make(n),
        _ => Route::BadParam,
    }
}

fn status_route(code: u64) -> Route {
    match u16::try_from(code) {
        Ok(code @ 100..=599) => Route::Status(code),
        _ => Route::BadParam,
    }
}

/// Parses plain ASCII digits (no sign, no spaces) into a u64; `None` on
/// anything else, including an empty string and overflow.
pub fn parse_decimal(digits: &str) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.bytes().try_fold(0u64, |n, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    //! Table tests of the route table, with the malformed and over-limit cases.
    use super::*;

    #[test]
    fn every_route_and_its_limits() {
        let cases = [
            ("GET", "/", Route::Root),
            ("POST", "/", Route::Root),
            ("GET", "/?a=b", Route::Root),
            ("GET", "/bytes/0", Route::Bytes(0)),
            ("GET", "/bytes/28000", Route::Bytes(28_000)),
            ("GET", "/bytes/67108864", Route::Bytes(BODY_BYTES_MAX)),
            ("GET", "/bytes/67108865", Route::BadParam),
            ("GET", "/bytes/", Route::BadParam),
            ("GET", "/bytes/ten", Route::BadParam),
            ("GET", "/bytes/-1", Route::BadParam),
            ("GET", "/bytes/99999999999999999999999", Route::BadParam),
            ("GET", "/bytes", Route::NotFound),
            ("GET", "/delay/250?x", Route::Delay(250)),
            ("GET", "/delay/60001", Route::BadParam),
            ("GET", "/status/100", Route::Status(100)),
            ("GET", "/status/503", Route::Status(503)),
            ("GET", "/status/599", Route::Status(599)),
            ("GET", "/status/99", Route::BadParam),
            ("GET", "/status/600", Route::BadParam),
            ("GET", "/status/70000", Route::BadParam),
            ("GET", "/chunked/10000", Route::Chunked(10_000)),
            ("GET", "/eof/5", Route::Eof(5)),
            ("GET", "/close", Route::Close),
            ("GET", "/garbage", Route::Garbage),
            ("GET", "/truncated", Route::Truncated),
            ("GET", "/bighead", Route::BigHead),
            ("GET", "/reset", Route::Reset),
            ("GET", "/__stats", Route::Stats),
            ("POST", "/__reset", Route::ResetCounters),
            ("GET", "/__reset", Route::MethodNotAllowed),
            ("GET", "/nope", Route::NotFound),
            ("GET", "/nope/1", Route::NotFound),
            ("GET", "", Route::NotFound),
            ("GET", "*", Route::NotFound),
            ("GET", "/bytes/1/2", Route::BadParam),
            ("GET", "/slow/250", Route::Delay(250)),
            ("GET", "/slow/60001", Route::BadParam),
            ("GET", "/echo/headers", Route::EchoHeaders),
            ("POST", "/echo/body?x=1", Route::EchoBody),
            (
                "GET",
                "/s3-error?code=SlowDown&status=503",
                Route::S3Error {
                    status: 503,
                    pad: None,
                },
            ),
            (
                "PUT",
                "/s3-error?code=NoSuchKey&pad=1048576",
                Route::S3Error {
                    status: 400,
                    pad: Some(1 << 20),
                },
            ),
            ("GET", "/s3-error", Route::BadParam),
            ("GET", "/s3-error?code=", Route::BadParam),
            ("GET", "/s3-error?code=Slow%20Down", Route::BadParam),
            ("GET", "/s3-error?code=SlowDown&status=200", Route::BadParam),
            ("GET", "/s3-error?code=SlowDown&status=600", Route::BadParam),
            (
                "GET",
                "/s3-error?code=SlowDown&pad=1048577",
                Route::BadParam,
            ),
            ("POST", "/auth/login", Route::Api(Api::Login)),
            ("GET", "/auth/login", Route::Api(Api::WrongMethod("POST"))),
            ("GET", "/api/song?_start=0&_end=5", Route::Api(Api::Songs)),
            ("HEAD", "/api/song", Route::Api(Api::Songs)),
            (
                "POST",
                "/api/song",
                Route::Api(Api::WrongMethod("GET, HEAD")),
            ),
            ("GET", "/api/album", Route::Api(Api::Albums)),
            ("POST", "/api/playlist", Route::Api(Api::PlaylistCreate)),
            ("GET", "/api/playlist", Route::Api(Api::WrongMethod("POST"))),
            (
                "DELETE",
                "/api/playlist/pl-00000000000000ff",
                Route::Api(Api::PlaylistDelete(Some(255))),
            ),
            (
                "DELETE",
                "/api/playlist/17",
                Route::Api(Api::PlaylistDelete(None)),
            ),
            (
                "DELETE",
                "/api/playlist/",
                Route::Api(Api::PlaylistDelete(None)),
            ),
            (
                "GET",
                "/api/playlist/pl-1",
                Route::Api(Api::WrongMethod("DELETE")),
            ),
            ("GET", "/api/other", Route::NotFound),
        ];
        for (method, target, want) in cases {
            assert_eq!(route(method, target), want, "{method} {target}");
        }
    }

    #[test]
    fn redirect_routes_and_their_limits() {
        let cases = [
            ("/redirect/0", Route::Redirect(0)),
            ("/redirect/3?x=1", Route::Redirect(3)),
            ("/redirect/100", Route::Redirect(REDIRECT_HOPS_MAX)),
            ("/redirect/101", Route::BadParam),
            ("/redirect/", Route::BadParam),
            ("/redirect/x", Route::BadParam),
            ("/redirect", Route::NotFound),
            ("/redirect-to?url=/x", Route::RedirectTo(302)),
            (
                "/redirect-to?url=http%3A%2F%2F127.0.0.1%3A9%2Fx%3Fa%3D1&status=307",
                Route::RedirectTo(307),
            ),
            ("/redirect-to?status=301&url=/x", Route::RedirectTo(301)),
            ("/redirect-to?url=/x&status=303", Route::RedirectTo(303)),
            ("/redirect-to?url=/x&status=308", Route::RedirectTo(308)),
            ("/redirect-to?url=/x&status=300", Route::BadParam),
            ("/redirect-to?url=/x&status=200", Route::BadParam),
            ("/redirect-to?url=/x&status=", Route::BadParam),
            ("/redirect-to?url=/x&status=70000", Route::BadParam),
            ("/redirect-to", Route::BadParam),
            ("/redirect-to?url=", Route::BadParam),
            ("/redirect-to?url=%zz", Route::BadParam),
            (
                "/redirect-to?url=/x%0d%0aSet-Cookie:%20a=b",
                Route::BadParam,
            ),
        ];
        for (target, want) in cases {
            assert_eq!(route("GET", target), want, "{target}");
        }
        assert_eq!(route("POST", "/redirect/2"), Route::Redirect(2));
    }

    #[test]
    fn chaos_routes_and_their_limits() {
        let drip = |bytes, every_ms| Route::Drip { bytes, every_ms };
        let stall = |per_million, ms| Route::Stall { per_million, ms };
        let cases = [
            ("/drip/5", drip(5, chaos::DRIP_MS_DEFAULT)),
            ("/drip/0?ms=0", drip(0, 0)),
            (
                "/drip/10000?ms=60000",
                drip(chaos::DRIP_BYTES_MAX, DELAY_MS_MAX),
            ),
            ("/drip/10001", Route::BadParam),
            ("/drip/5?ms=60001", Route::BadParam),
            ("/drip/5?ms=x", Route::BadParam),
            ("/drip/", Route::BadParam),
            ("/drip", Route::NotFound),
            ("/badchunk", Route::BadChunk),
            ("/cut/100", Route::Cut(100)),
            ("/cut/0", Route::Cut(0)),
            ("/cut/67108865", Route::BadParam),
            ("/cut", Route::NotFound),
            ("/silence", Route::Silence),
            ("/silence?x=1", Route::Silence),
            ("/stall?p=0.25", stall(250_000, chaos::STALL_MS_DEFAULT)),
            ("/stall?p=1&ms=2000", stall(1_000_000, 2_000)),
            ("/stall?ms=5&p=0", stall(0, 5)),
            ("/stall", Route::BadParam),
            ("/stall?p=2", Route::BadParam),
            ("/stall?p=0.5&ms=60001", Route::BadParam),
        ];
        for (target, want) in cases {
            assert_eq!(route("GET", target), want, "{target}");
        }
    }

    #[test]
    fn compressed_routes_and_their_limits() {
        let cases = [
            ("/compressed/0", Route::Compressed(0, None)),
            (
                "/compressed/1000?enc=gzip",
                Route::Compressed(1000, Some(Encoding::Gzip)),
            ),
            (
                "/compressed/67108864?enc=zstd",
                Route::Compressed(BODY_BYTES_MAX, Some(Encoding::Zstd)),
            ),
            (
                "/compressed/5?enc=identity",
                Route::Compressed(5, Some(Encoding::Identity)),
            ),
            ("/compressed/67108865", Route::BadParam),
            ("/compressed/5?enc=lzma", Route::BadParam),
            ("/compressed/5?enc=", Route::BadParam),
            ("/compressed/", Route::BadParam),
            ("/compressed/5/6", Route::BadParam),
            ("/compressed", Route::NotFound),
            ("/compressed-json", Route::CompressedJson(None)),
            (
                "/compressed-json?enc=deflate",
                Route::CompressedJson(Some(Encoding::Deflate)),
            ),
            (
                "/compressed-json?enc=br",
                Route::CompressedJson(Some(Encoding::Br)),
            ),
            ("/compressed-json?enc=xz", Route::BadParam),
            ("/bomb", Route::Bomb(None)),
            ("/bomb?enc=gzip", Route::Bomb(Some(Encoding::Gzip))),
            ("/bomb?enc=zstd", Route::Bomb(Some(Encoding::Zstd))),
            ("/bomb?enc=identity", Route::BadParam),
            ("/bomb?enc=nope", Route::BadParam),
        ];
        for (target, want) in cases {
            assert_eq!(route("GET", target), want, "{target}");
        }
    }

    #[test]
    fn auth_and_echo_routes() {
        let cases = [
            ("/basic-auth/alice/secret", Route::BasicAuth),
            ("/basic-auth/a%20b/p%3Aq?x", Route::BasicAuth),
            ("/basic-auth/alice/", Route::BasicAuth),
            ("/basic-auth//secret", Route::BadParam),
            ("/basic-auth/alice", Route::BadParam),
            ("/basic-auth/", Route::BadParam),
            ("/basic-auth/a/b/c", Route::BadParam),
            ("/basic-auth/a:b/c", Route::BadParam),
            ("/basic-auth/a%3Ab/c", Route::BadParam),
            ("/basic-auth/a/%zz", Route::BadParam),
            ("/basic-auth", Route::NotFound),
            ("/bearer", Route::Bearer),
            ("/bearer?x=1", Route::Bearer),
            ("/echo/request", Route::EchoRequest),
            ("/echo/request?a=%20", Route::EchoRequest),
            ("/cookies/new", Route::NewCookie),
        ];
        for (target, want) in cases {
            assert_eq!(route("GET", target), want, "{target}");
        }
        assert_eq!(route("PATCH", "/echo/request"), Route::EchoRequest);
        assert_eq!(
            basic_auth_segments("/basic-auth/a%20b/p%3Aq?x"),
            ("a%20b", "p%3Aq")
        );
    }

    #[test]
    fn only_control_routes_are_uncounted() {
        assert!(Route::Stats.is_control());
        assert!(Route::ResetCounters.is_control());
        assert!(!Route::Root.is_control());
        assert!(!Route::NotFound.is_control());
        assert!(!Route::Reset.is_control());
        assert!(!Route::Api(Api::Login).is_control());
    }

    #[test]
    fn only_app_routes_keep_the_request() {
        for route in [
            Route::Api(Api::Songs),
            Route::EchoHeaders,
            Route::EchoBody,
            Route::EchoRequest,
            Route::NewCookie,
            Route::RedirectTo(302),
            Route::Compressed(1, None),
            Route::CompressedJson(Some(Encoding::Br)),
            Route::Bomb(None),
            Route::BasicAuth,
            Route::Bearer,
        ] {
            assert!(route.needs_request() && route.is_dynamic(), "{route:?}");
        }
        assert!(Route::Stats.is_dynamic() && !Route::Stats.needs_request());
        for route in [
            Route::Root,
            Route::Bytes(1),
            Route::Redirect(3),
            Route::NotFound,
            Route::ResetCounters,
        ] {
            assert!(!route.needs_request() && !route.is_dynamic(), "{route:?}");
        }
    }

    #[test]
    fn decimal_parsing() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("007"), Some(7));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal("18446744073709551616"), None);
        assert_eq!(parse_decimal(""), None);
        assert_eq!(parse_decimal("+1"), None);
        assert_eq!(parse_decimal("1 "), None);
    }
}
