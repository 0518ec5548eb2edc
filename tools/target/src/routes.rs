//! The route table: maps a request's method and path to a `Route`, checking
//! each route's numeric parameter against its limit. Pure; what a route sends
//! back is `response`'s business (or `app`'s, for the dynamic routes), when
//! it is sent is `conn`'s.

use crate::music;

/// The largest body `/bytes/N`, `/chunked/N` and `/eof/N` will send (64 MiB).
pub const BODY_BYTES_MAX: u64 = 64 << 20;

/// The longest `/delay/MS` will wait (one minute).
pub const DELAY_MS_MAX: u64 = 60_000;

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
    /// `/__stats`: the counters as JSON; not counted itself.
    Stats,
    /// The emulated music API (`/auth/login`, `/api/...`), answered by `music`.
    Api(Api),
    /// `/echo/headers`: the request's headers as a JSON object.
    EchoHeaders,
    /// `/echo/body`: the request's body back, with its Content-Type.
    EchoBody,
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
        matches!(
            self,
            Route::Stats | Route::Api(_) | Route::EchoHeaders | Route::EchoBody
        )
    }

    /// True for the routes whose head and body `conn` keeps for `app`.
    pub fn needs_request(self) -> bool {
        matches!(self, Route::Api(_) | Route::EchoHeaders | Route::EchoBody)
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

/// Finds the route for a method and request target (query string ignored).
pub fn route(method: &str, target: &str) -> Route {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    match path {
        "/" => Route::Root,
        "/close" => Route::Close,
        "/garbage" => Route::Garbage,
        "/truncated" => Route::Truncated,
        "/bighead" => Route::BigHead,
        "/reset" => Route::Reset,
        "/__stats" => Route::Stats,
        "/__reset" if method == "POST" => Route::ResetCounters,
        "/__reset" => Route::MethodNotAllowed,
        "/echo/headers" => Route::EchoHeaders,
        "/echo/body" => Route::EchoBody,
        "/auth/login" => api(method, "POST", Api::Login),
        "/api/song" => api(method, "GET", Api::Songs),
        "/api/album" => api(method, "GET", Api::Albums),
        "/api/playlist" => api(method, "POST", Api::PlaylistCreate),
        _ => match path.strip_prefix("/api/playlist/") {
            Some(id) => api(
                method,
                "DELETE",
                Api::PlaylistDelete(music::parse_playlist_id(id)),
            ),
            None => route_with_param(path),
        },
    }
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
        "delay" | "slow" => (Route::Delay, DELAY_MS_MAX),
        "status" => (status_route, 599),
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
        for route in [Route::Api(Api::Songs), Route::EchoHeaders, Route::EchoBody] {
            assert!(route.needs_request() && route.is_dynamic(), "{route:?}");
        }
        assert!(Route::Stats.is_dynamic() && !Route::Stats.needs_request());
        for route in [
            Route::Root,
            Route::Bytes(1),
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
