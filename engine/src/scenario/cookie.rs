//! A virtual user's cookie jar: what `Set-Cookie` stores and which cookies
//! a request carries back, by RFC 6265's rules (5.3 storage, 5.4 the
//! `Cookie` header), within a bound on what one user keeps.
//!
//! A cookie belongs to the host that set it (host-only, without a `Domain`
//! attribute) or to a domain and its subdomains (with one), and to a path
//! and what lies below it (by default the directory of the request's path);
//! a `Secure` one goes only over https. Without a public-suffix list, a
//! `Domain` with no inner dot (`com`, `localhost`) is kept only when it is
//! the request's host, and then as host-only; an IP address matches only
//! itself. `Max-Age` and `Expires` delete a cookie when they say it is
//! already gone; a later expiry is not tracked during a run.
//!
//! A user keeps at most [`COOKIES_PER_USER_MAX`] cookies of at most
//! [`COOKIE_BYTES_MAX`] bytes each, so a target that sets a new name on
//! every response cannot grow a user's memory: the cookie set least
//! recently makes room. A full jar reuses the evicted cookie's buffers, so
//! storing allocates nothing once warm. The user tells the jar where each
//! request goes ([`CookieUrl`]); the jar does no I/O.

use std::cmp::Reverse;

use super::check::headers;

/// Cookies one user keeps at most; the one set least recently makes room.
pub const COOKIES_PER_USER_MAX: usize = 50;

/// Longest cookie kept (name and value); browsers keep at least this much
/// (RFC 6265 6.1) and refuse more.
pub const COOKIE_BYTES_MAX: usize = 4096;

/// Where a request goes, as the jar sees it.
#[derive(Debug, Default, Clone)]
pub struct CookieUrl {
    /// The host, lower-case, without the port.
    host: Vec<u8>,
    /// The request target's path, without the query.
    path: Vec<u8>,
    /// Whether the request goes over https.
    https: bool,
}

impl CookieUrl {
    /// Where `host` (`name[:port]`), `path` (a request target) and `https` say.
    pub fn new(host: &str, path: &str, https: bool) -> Self {
        let mut url = CookieUrl::default();
        url.set(host.as_bytes(), path.as_bytes(), https);
        url
    }

    /// Reads where a rendered request head goes: the path from its request
    /// line, the host from its `Host` header.
    pub fn read_request(&mut self, request: &[u8], https: bool) {
        let line_end = request
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(request.len());
        let target = request[..line_end].split(|&b| b == b' ').nth(1);
        let host = super::check::header(request, "host").unwrap_or_default();
        self.set(host, target.unwrap_or_default(), https);
    }

    /// Keeps `host` without its port and the path of `target`, reusing the buffers.
    fn set(&mut self, host: &[u8], target: &[u8], https: bool) {
        let host = host.trim_ascii();
        let host = match host.first() {
            // An IPv6 literal: `[::1]:8080`.
            Some(b'[') => host.split_inclusive(|&b| b == b']').next(),
            _ => host.split(|&b| b == b':').next(),
        };
        self.host.clear();
        self.host.extend_from_slice(host.unwrap_or_default());
        self.host.make_ascii_lowercase();
        let path = target.split(|&b| b == b'?' || b == b'#').next();
        self.path.clear();
        self.path.extend_from_slice(path.unwrap_or_default());
        self.https = https;
    }
}

/// One stored cookie.
#[derive(Debug, Default, Clone)]
struct Cookie {
    /// Its name.
    name: Vec<u8>,
    /// Its value.
    value: Vec<u8>,
    /// The host (host-only) or the domain it belongs to, lower-case.
    domain: Vec<u8>,
    /// Sent to exactly `domain`, not to its subdomains.
    host_only: bool,
    /// Sent to this path and the paths below it.
    path: Vec<u8>,
    /// Sent over https only.
    secure: bool,
    /// When it was first stored (the jar's clock): among cookies of equal
    /// path length the older one is sent first (RFC 6265 5.4).
    created: u64,
    /// When it was last set: the least recently set one makes room.
    set: u64,
}

impl Cookie {
    /// True when a request to `url` carries this cookie (RFC 6265 5.4).
    fn goes_to(&self, url: &CookieUrl) -> bool {
        let host_ok = if self.host_only {
            url.host == self.domain
        } else {
            domain_matches(&url.host, &self.domain)
        };
        host_ok && path_matches(&url.path, &self.path) && (url.https || !self.secure)
    }
}

/// What one `Set-Cookie` header says, borrowed from the response head.
struct SetCookie<'h> {
    name: &'h [u8],
    value: &'h [u8],
    /// The `Domain` attribute without its leading dot; `None` without one.
    domain: Option<&'h [u8]>,
    /// The `Path` attribute when it is a path (starts with `/`).
    path: Option<&'h [u8]>,
    secure: bool,
    /// `Max-Age` <= 0, or (without `Max-Age`) an `Expires` in the past.
    expired: bool,
}

/// A user's cookies, in the order a `Cookie` header lists them: longer
/// paths first, then older first (RFC 6265 5.4, step 2).
#[derive(Debug, Default, Clone)]
pub struct CookieJar {
    /// The cookies, kept sorted by (path length descending, created).
    cookies: Vec<Cookie>,
    /// Counts stores: the jar's clock for `created` and `set`.
    clock: u64,
}

impl CookieJar {
    /// Stores every `Set-Cookie` of a raw response head to a request that
    /// went to `url`. One with `Max-Age` <= 0 or a past `Expires` deletes
    /// the cookie of its name, domain and path; one whose `Domain` does not
    /// cover the host, or larger than [`COOKIE_BYTES_MAX`], is ignored.
    pub fn store(&mut self, head: &[u8], url: &CookieUrl) {
        let mut now = None;
        for (name, line) in headers(head) {
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            if let Some(set) = parse_set_cookie(line, || *now.get_or_insert_with(now_unix_s)) {
                self.store_one(&set, url);
            }
        }
    }

    /// Stores (or deletes) one parsed cookie.
    fn store_one(&mut self, set: &SetCookie<'_>, url: &CookieUrl) {
        let (domain, host_only): (&[u8], bool) = match set.domain {
            None => (&url.host, true),
            Some(domain) if domain.eq_ignore_ascii_case(&url.host) => {
                // Without a public-suffix list, a single-label domain is
                // only its own host's.
                (&url.host, !domain.contains(&b'.'))
            }
            Some(domain) if domain.contains(&b'.') && domain_matches(&url.host, domain) => {
                (domain, false)
            }
            Some(_) => return,
        };
        let mut default_path = url.path.as_slice();
        if set.path.is_none() {
            default_path = directory_of(&url.path);
        }
        let path = set.path.unwrap_or(default_path);
        let same = |c: &Cookie| {
            c.name == set.name && c.path == path && c.domain.eq_ignore_ascii_case(domain)
        };
        let existing = self.cookies.iter().position(same);
        if set.expired {
            if let Some(i) = existing {
                self.cookies.remove(i);
            }
            return;
        }
        self.clock += 1;
        if let Some(i) = existing {
            // Replaced in place: its creation time, so its place, stays.
            let cookie = &mut self.cookies[i];
            refill(&mut cookie.value, set.value);
            cookie.host_only = host_only;
            cookie.secure = set.secure;
            cookie.set = self.clock;
            return;
        }
        let mut cookie = if self.cookies.len() >= COOKIES_PER_USER_MAX {
            let stalest = (0..self.cookies.len()).min_by_key(|&i| self.cookies[i].set);
            self.cookies.remove(stalest.unwrap_or(0))
        } else {
            Cookie::default()
        };
        refill(&mut cookie.name, set.name);
        refill(&mut cookie.value, set.value);
        refill(&mut cookie.domain, domain);
        cookie.domain.make_ascii_lowercase();
        refill(&mut cookie.path, path);
        cookie.host_only = host_only;
        cookie.secure = set.secure;
        cookie.created = self.clock;
        cookie.set = self.clock;
        let key = |c: &Cookie| (Reverse(c.path.len()), c.created);
        let at = self.cookies.partition_point(|c| key(c) < key(&cookie));
        self.cookies.insert(at, cookie);
    }

    /// The value of the cookie called `name` set most recently, whatever
    /// its domain and path (for extractors).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.cookies
            .iter()
            .filter(|c| c.name == name.as_bytes())
            .max_by_key(|c| c.set)
            .map(|c| c.value.as_slice())
    }

    /// Cookies kept now.
    pub fn len(&self) -> usize {
        self.cookies.len()
    }

    /// True when the jar holds no cookie.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// Appends a `Cookie:` header line with the cookies a request to `url`
    /// carries, if any.
    pub fn write_header(&self, out: &mut Vec<u8>, url: &CookieUrl) {
        let mut first = true;
        for cookie in self.cookies.iter().filter(|c| c.goes_to(url)) {
            out.extend_from_slice(if first { b"Cookie: " } else { b"; " });
            first = false;
            out.extend_from_slice(&cookie.name);
            out.push(b'=');
            out.extend_from_slice(&cookie.value);
        }
        if !first {
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Replaces `buf`'s contents with `bytes`, keeping its allocation.
fn refill(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.clear();
    buf.extend_from_slice(bytes);
}

/// Parses one `Set-Cookie` value (RFC 6265 5.2); `None` for one without
/// `name=` or larger than [`COOKIE_BYTES_MAX`]. `now` is read only when an
/// `Expires` needs it.
fn parse_set_cookie(line: &[u8], now: impl FnOnce() -> i64) -> Option<SetCookie<'_>> {
    let mut parts = line.split(|&b| b == b';');
    let pair = parts.next()?;
    let eq = pair.iter().position(|&b| b == b'=')?;
    let (name, value) = (pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii());
    if name.is_empty() || name.len() + value.len() > COOKIE_BYTES_MAX {
        return None;
    }
    let mut set = SetCookie {
        name,
        value,
        domain: None,
        path: None,
        secure: false,
        expired: false,
    };
    let (mut max_age, mut expires) = (None, None);
    // The last of each attribute counts (RFC 6265 5.3, step 3 onwards).
    for attribute in parts {
        let (key, value) = match attribute.iter().position(|&b| b == b'=') {
            Some(i) => (attribute[..i].trim_ascii(), attribute[i + 1..].trim_ascii()),
            None => (attribute.trim_ascii(), &b""[..]),
        };
        let is = |k: &str| key.eq_ignore_ascii_case(k.as_bytes());
        if is("domain") {
            let domain = value.strip_prefix(b".").unwrap_or(value);
            set.domain = (!domain.is_empty()).then_some(domain);
        } else if is("path") {
            set.path = value.starts_with(b"/").then_some(value);
        } else if is("secure") {
            set.secure = true;
        } else if is("max-age") {
            max_age = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<i64>().ok());
        } else if is("expires") {
            expires = std::str::from_utf8(value).ok().and_then(http_date_unix_s);
        }
    }
    set.expired = match (max_age, expires) {
        (Some(age), _) => age <= 0,
        (None, Some(at)) => at <= now(),
        (None, None) => false,
    };
    Some(set)
}

/// RFC 6265 5.1.3: `host` is `domain` or a subdomain of it, and not an IP address.
fn domain_matches(host: &[u8], domain: &[u8]) -> bool {
    if host.eq_ignore_ascii_case(domain) {
        return true;
    }
    let is_ip =
        host.first() == Some(&b'[') || host.iter().all(|b| b.is_ascii_digit() || *b == b'.');
    let Some(dot) = host.len().checked_sub(domain.len() + 1) else {
        return false;
    };
    !is_ip && host[dot] == b'.' && host[dot + 1..].eq_ignore_ascii_case(domain)
}

/// RFC 6265 5.1.4: `path` is `cookie_path` or below it.
fn path_matches(path: &[u8], cookie_path: &[u8]) -> bool {
    let path: &[u8] = if path.is_empty() { b"/" } else { path };
    path.starts_with(cookie_path)
        && (path.len() == cookie_path.len()
            || cookie_path.ends_with(b"/")
            || path[cookie_path.len()] == b'/')
}

/// RFC 6265 5.1.4's default-path: the request path up to its last `/`
/// (exclusive), or `/` when that leaves nothing.
fn directory_of(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(last) if path.starts_with(b"/") && last > 0 => &path[..last],
        _ => b"/",
    }
}

/// Seconds since the Unix epoch now (0 if the clock is before it).
fn now_unix_s() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_secs() as i64)
}

/// An HTTP date (`Thu, 01 Jan 1970 00:00:00 GMT`, or the older
/// `Thursday, 01-Jan-70 00:00:00 GMT`) as Unix seconds.
fn http_date_unix_s(text: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    // [weekday, day, month, year, hour, minute, second, zone], without allocating.
    let mut fields = text.split([' ', '-', ',', ':']).filter(|f| !f.is_empty());
    let _weekday = fields.next()?;
    let (day, month, year) = (fields.next()?, fields.next()?, fields.next()?);
    let (hour, minute, second) = (fields.next()?, fields.next()?, fields.next()?);
    let month = MONTHS
        .iter()
        .position(|m| month.len() >= 3 && month[..3].eq_ignore_ascii_case(m))?
        as i64
        + 1;
    let mut year: i64 = year.parse().ok()?;
    if year < 100 {
        year += if year < 70 { 2000 } else { 1900 };
    }
    let (day, hour, minute, second): (i64, i64, i64, i64) = (
        day.parse().ok()?,
        hour.parse().ok()?,
        minute.parse().ok()?,
        second.parse().ok()?,
    );
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

#[cfg(test)]
#[path = "cookie_tests.rs"]
mod tests;
