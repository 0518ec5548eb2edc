//! Checks on a response and extraction of values from it.
//!
//! Both read a captured response: its head (re-parsed here only when a check
//! or extractor needs a header) and its body (parsed as JSON at most once).
//! A failed check yields the id of its fixed message; no text is made per
//! request. The user decides what to do with the outcome.

use std::time::Duration;

use regex::bytes::Regex;
use serde_json::Value;

/// What a status check accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusMatch {
    /// Any of these codes.
    Codes(Vec<u16>),
    /// A class: 2 for 2xx and so on.
    Class(u16),
}

impl StatusMatch {
    fn accepts(&self, status: u16) -> bool {
        match self {
            StatusMatch::Codes(codes) => codes.contains(&status),
            StatusMatch::Class(class) => status / 100 == *class,
        }
    }
}

/// JSON value types a `json_type` check can ask for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JsonKind {
    Array,
    Object,
    String,
    Number,
    Bool,
    Null,
}

impl JsonKind {
    /// Parses a type name.
    pub fn parse(text: &str) -> Option<JsonKind> {
        Some(match text {
            "array" | "list" => JsonKind::Array,
            "object" => JsonKind::Object,
            "string" => JsonKind::String,
            "number" => JsonKind::Number,
            "bool" | "boolean" => JsonKind::Bool,
            "null" => JsonKind::Null,
            _ => return None,
        })
    }

    fn matches(self, value: &Value) -> bool {
        match self {
            JsonKind::Array => value.is_array(),
            JsonKind::Object => value.is_object(),
            JsonKind::String => value.is_string(),
            JsonKind::Number => value.is_number(),
            JsonKind::Bool => value.is_boolean(),
            JsonKind::Null => value.is_null(),
        }
    }
}

/// One condition on a response.
#[derive(Debug, Clone)]
pub enum Rule {
    /// The status is accepted.
    Status(StatusMatch),
    /// The body contains these bytes.
    BodyContains(Vec<u8>),
    /// The JSON value at the pointer equals this.
    JsonEquals(String, Value),
    /// The JSON pointer resolves.
    JsonExists(String),
    /// The JSON value at the pointer has this type.
    JsonType(String, JsonKind),
    /// The header (lower-case name) has this value.
    Header(String, String),
    /// The response took at most this long.
    MaxTime(Duration),
}

/// A rule with the id of the message counted when it fails.
#[derive(Debug, Clone)]
pub struct Check {
    /// The condition.
    pub rule: Rule,
    /// Index into the plan's messages.
    pub message: u32,
}

/// Where an extracted value comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A JSON pointer into the body; strings are taken without quotes.
    Json(String),
    /// A response header (lower-case name).
    Header(String),
    /// The first capture group of a regex over the body (the whole match without one).
    Regex(Regex),
    /// A cookie from the user's jar after this response.
    Cookie(String),
}

/// An extraction into a variable slot.
#[derive(Debug, Clone)]
pub struct Extract {
    /// Slot that receives the value.
    pub slot: usize,
    /// Where it comes from.
    pub source: Source,
    /// Index into the plan's messages, counted when nothing is found.
    pub message: u32,
}

/// A captured response to judge.
pub struct Response<'a> {
    /// Status code.
    pub status: u16,
    /// Raw head bytes (empty unless captured).
    pub head: &'a [u8],
    /// Body bytes (empty unless captured).
    pub body: &'a [u8],
    /// Time from send to the end of the body.
    pub elapsed: Duration,
}

/// Parses the body as JSON once, on first use.
struct LazyJson<'a> {
    body: &'a [u8],
    parsed: Option<Option<Value>>,
}

impl LazyJson<'_> {
    fn at(&mut self, pointer: &str) -> Option<&Value> {
        let body = self.body;
        self.parsed
            .get_or_insert_with(|| serde_json::from_slice(body).ok())
            .as_ref()?
            .pointer(pointer)
    }
}

/// Runs the checks; returns the message id of the first that fails.
pub fn first_failure(checks: &[Check], response: &Response<'_>) -> Option<u32> {
    let mut json = LazyJson {
        body: response.body,
        parsed: None,
    };
    checks
        .iter()
        .find(|check| !passes(&check.rule, response, &mut json))
        .map(|c| c.message)
}

fn passes(rule: &Rule, response: &Response<'_>, json: &mut LazyJson<'_>) -> bool {
    match rule {
        Rule::Status(accept) => accept.accepts(response.status),
        Rule::BodyContains(needle) => {
            needle.is_empty()
                || response
                    .body
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice())
        }
        Rule::JsonEquals(pointer, expected) => json.at(pointer) == Some(expected),
        Rule::JsonExists(pointer) => json.at(pointer).is_some(),
        Rule::JsonType(pointer, kind) => json.at(pointer).is_some_and(|v| kind.matches(v)),
        Rule::Header(name, value) => {
            header(response.head, name).is_some_and(|v| v == value.as_bytes())
        }
        Rule::MaxTime(limit) => response.elapsed <= *limit,
    }
}

/// The first value of header `name` (lower-case) in a raw head.
pub fn header<'h>(head: &'h [u8], name: &str) -> Option<&'h [u8]> {
    headers(head)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Iterates (name, value) over a raw head's header lines.
pub fn headers(head: &[u8]) -> impl Iterator<Item = (&str, &[u8])> {
    head.split(|&b| b == b'\n').skip(1).filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        let name = std::str::from_utf8(&line[..colon]).ok()?;
        Some((name.trim(), line[colon + 1..].trim_ascii()))
    })
}

/// Writes the extracted value into `out`; false when nothing was found.
pub fn extract_into(
    source: &Source,
    response: &Response<'_>,
    jar: &CookieJar,
    out: &mut Vec<u8>,
) -> bool {
    out.clear();
    match source {
        Source::Json(pointer) => {
            let Ok(value) = serde_json::from_slice::<Value>(response.body) else {
                return false;
            };
            match value.pointer(pointer) {
                Some(Value::String(s)) => out.extend_from_slice(s.as_bytes()),
                Some(Value::Null) | None => return false,
                Some(other) => out.extend_from_slice(other.to_string().as_bytes()),
            }
        }
        Source::Header(name) => match header(response.head, name) {
            Some(value) => out.extend_from_slice(value),
            None => return false,
        },
        Source::Regex(regex) => match regex.captures(response.body) {
            Some(caps) => match caps.get(1).or_else(|| caps.get(0)) {
                Some(m) => out.extend_from_slice(m.as_bytes()),
                None => return false,
            },
            None => return false,
        },
        Source::Cookie(name) => match jar.get(name) {
            Some(value) => out.extend_from_slice(value),
            None => return false,
        },
    }
    true
}

/// Seconds since the Unix epoch now (0 if the clock is before it).
fn now_unix_s() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_secs() as i64)
}

/// Whether a cookie's attributes say it is already gone at `now` (Unix
/// seconds): `Max-Age` <= 0 wins over `Expires`; an unreadable date is ignored.
fn expired<'a>(attributes: impl Iterator<Item = &'a [u8]>, now: i64) -> bool {
    let mut max_age = None;
    let mut expires = None;
    for attribute in attributes {
        let Ok(attribute) = std::str::from_utf8(attribute) else {
            continue;
        };
        let (key, value) = attribute.split_once('=').unwrap_or((attribute, ""));
        let key = key.trim();
        if key.eq_ignore_ascii_case("max-age") {
            max_age = value.trim().parse::<i64>().ok();
        } else if key.eq_ignore_ascii_case("expires") {
            expires = http_date_unix_s(value.trim());
        }
    }
    match (max_age, expires) {
        (Some(age), _) => age <= 0,
        (None, Some(at)) => at <= now,
        (None, None) => false,
    }
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

/// A user's cookies: set by responses, sent back like a browser would (one
/// jar per user). `Max-Age` and `Expires` delete a cookie when they say it
/// is gone; domain and path are not tracked (one jar per user and target).
#[derive(Debug, Default, Clone)]
pub struct CookieJar {
    cookies: Vec<(String, Vec<u8>)>,
}

impl CookieJar {
    /// Stores every `Set-Cookie` of a raw head; one with `Max-Age` <= 0,
    /// or (without `Max-Age`) an `Expires` in the past, deletes the cookie
    /// (RFC 6265 5.3).
    pub fn store(&mut self, head: &[u8]) {
        for (name, header) in headers(head) {
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let mut parts = header.split(|&b| b == b';');
            let pair = parts.next().unwrap_or(header);
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            let Ok(cookie) = std::str::from_utf8(pair[..eq].trim_ascii()) else {
                continue;
            };
            let value = pair[eq + 1..].trim_ascii();
            if expired(parts, now_unix_s()) {
                self.cookies.retain(|(n, _)| n != cookie);
                continue;
            }
            match self.cookies.iter_mut().find(|(n, _)| n == cookie) {
                Some((_, v)) => {
                    v.clear();
                    v.extend_from_slice(value);
                }
                None => self.cookies.push((cookie.to_string(), value.to_vec())),
            }
        }
    }

    /// The value of a cookie.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Appends a `Cookie:` header line when the jar is not empty.
    pub fn write_header(&self, out: &mut Vec<u8>) {
        if self.cookies.is_empty() {
            return;
        }
        out.extend_from_slice(b"Cookie: ");
        for (i, (name, value)) in self.cookies.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b"; ");
            }
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value);
        }
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Max-Age <= 0 and a past Expires delete a cookie; a future one keeps it.
    #[test]
    fn expired_cookies_are_deleted() {
        let mut jar = CookieJar::default();
        jar.store(b"HTTP/1.1 200 OK\r\nSet-Cookie: k=v; Path=/\r\nSet-Cookie: a=1\r\n\r\n");
        assert_eq!(jar.get("k"), Some(&b"v"[..]));
        jar.store(b"HTTP/1.1 200 OK\r\nSet-Cookie: k=; Max-Age=0\r\n\r\n");
        assert_eq!(jar.get("k"), None);
        jar.store(
            b"HTTP/1.1 200 OK\r\nSet-Cookie: a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n",
        );
        assert_eq!(jar.get("a"), None);
        jar.store(
            b"HTTP/1.1 200 OK\r\nSet-Cookie: b=2; Expires=Fri, 01 Jan 2100 00:00:00 GMT\r\n\r\n",
        );
        assert_eq!(jar.get("b"), Some(&b"2"[..]));
        // Max-Age wins over Expires.
        jar.store(b"HTTP/1.1 200 OK\r\nSet-Cookie: b=3; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n");
        assert_eq!(jar.get("b"), Some(&b"3"[..]));
        assert_eq!(
            http_date_unix_s("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            http_date_unix_s("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date_unix_s("not a date"), None);
    }

    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: nd_session=abc; Path=/\r\nX-Id: 7\r\n\r\n";
    const BODY: &[u8] = br#"{"token":"t1","items":[{"id":"s1"},{"id":"s2"}],"n":3}"#;

    fn response(elapsed_ms: u64) -> Response<'static> {
        Response {
            status: 200,
            head: HEAD,
            body: BODY,
            elapsed: Duration::from_millis(elapsed_ms),
        }
    }

    fn check(rule: Rule, message: u32) -> Check {
        Check { rule, message }
    }

    /// Passing checks pass, and the first failing one names its message.
    #[test]
    fn checks_table() {
        let passing = vec![
            check(Rule::Status(StatusMatch::Class(2)), 0),
            check(Rule::Status(StatusMatch::Codes(vec![201, 200])), 1),
            check(Rule::BodyContains(b"s2".to_vec()), 2),
            check(
                Rule::JsonEquals("/items/0/id".into(), Value::String("s1".into())),
                3,
            ),
            check(Rule::JsonExists("/items/1".into()), 4),
            check(Rule::JsonType("/items".into(), JsonKind::Array), 5),
            check(Rule::JsonType("".into(), JsonKind::Object), 6),
            check(
                Rule::Header("content-type".into(), "application/json".into()),
                7,
            ),
            check(Rule::MaxTime(Duration::from_millis(40)), 8),
        ];
        assert_eq!(first_failure(&passing, &response(10)), None);
        assert_eq!(first_failure(&passing, &response(41)), Some(8));
        let failing = [
            check(Rule::Status(StatusMatch::Codes(vec![201])), 10),
            check(Rule::BodyContains(b"nope".to_vec()), 11),
            check(Rule::JsonExists("/items/5".into()), 12),
            check(Rule::JsonType("/n".into(), JsonKind::String), 13),
        ];
        for c in failing {
            let message = c.message;
            assert_eq!(first_failure(&[c], &response(1)), Some(message));
        }
    }

    /// Values come out of JSON, headers, regex captures and cookies.
    #[test]
    fn extraction_table() {
        let mut jar = CookieJar::default();
        jar.store(HEAD);
        let mut out = Vec::new();
        let cases = [
            (Source::Json("/token".into()), &b"t1"[..]),
            (Source::Json("/n".into()), b"3"),
            (Source::Header("x-id".into()), b"7"),
            (Source::Regex(Regex::new(r#""id":"(s\d)""#).unwrap()), b"s1"),
            (Source::Cookie("nd_session".into()), b"abc"),
        ];
        for (source, expected) in cases {
            assert!(
                extract_into(&source, &response(1), &jar, &mut out),
                "{source:?}"
            );
            assert_eq!(out, expected, "{source:?}");
        }
        assert!(!extract_into(
            &Source::Json("/missing".into()),
            &response(1),
            &jar,
            &mut out
        ));
        assert!(!extract_into(
            &Source::Cookie("other".into()),
            &response(1),
            &jar,
            &mut out
        ));
    }

    /// The jar sends cookies back and replaces a cookie set again.
    #[test]
    fn cookie_jar_round_trip() {
        let mut jar = CookieJar::default();
        jar.store(HEAD);
        jar.store(
            b"HTTP/1.1 200 OK\r\nset-cookie: nd_session=def\r\nSet-Cookie: b=2; HttpOnly\r\n\r\n",
        );
        let mut out = Vec::new();
        jar.write_header(&mut out);
        assert_eq!(out, b"Cookie: nd_session=def; b=2\r\n");
    }
}
