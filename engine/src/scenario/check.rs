//! Checks on a response and extraction of values from it.
//!
//! Both read a captured response: its head (re-parsed here only when a check
//! or extractor needs a header) and its body (parsed as JSON at most once).
//! A failed check yields the id of its fixed message; no text is made per
//! request. The user decides what to do with the outcome.

use std::time::Duration;

use regex::bytes::Regex;
use serde_json::Value;

pub use super::cookie::{CookieJar, CookieUrl};

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

/// Whether the status checks among `checks` (if any) accept `status`.
pub fn status_accepted(checks: &[Check], status: u16) -> bool {
    checks.iter().all(|check| match &check.rule {
        Rule::Status(accept) => accept.accepts(status),
        _ => true,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

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
        jar.store(HEAD, &CookieUrl::new("h", "/", false));
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
}
