//! `/cookies/new?path=P`, for testing clients' cookie jars: every response
//! sets a cookie of a new name (`c0`, `c1`, ... counted across the server)
//! with `Path=P` (`/` without one, or for a P of other characters than
//! letters, digits and `/_.-~`), and reports how many cookies the request
//! carried and how long its `Cookie` header was, so a test sees what the
//! client sends back: `{"set":"c7","received":7,"cookie_bytes":41}`.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The number in the next cookie's name, shared by every shard.
static NEXT_NAME: AtomicU64 = AtomicU64::new(0);

/// Renders the answer to a request for `target`: the `Set-Cookie` line into
/// `extra` (with the Content-Type), the report into `doc`.
pub(crate) fn answer(
    target: &str,
    headers: &[httparse::Header<'_>],
    extra: &mut Vec<u8>,
    doc: &mut Vec<u8>,
) {
    let name = NEXT_NAME.fetch_add(1, Ordering::Relaxed);
    let path = crate::query::param(crate::query::query_of(target), "path")
        .filter(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_.-~".contains(&b))
        })
        .filter(|p| p.starts_with('/'))
        .unwrap_or("/");
    let (received, bytes) = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("cookie"))
        .fold((0, 0), |(count, bytes), h| {
            (count + count_pairs(h.value), bytes + h.value.len())
        });
    // Writing to a Vec cannot fail.
    let _ = write!(
        extra,
        "Content-Type: application/json\r\nSet-Cookie: c{name}=1; Path={path}\r\n"
    );
    let _ = write!(
        doc,
        r#"{{"set":"c{name}","received":{received},"cookie_bytes":{bytes}}}"#
    );
}

/// The `name=value` pairs in one `Cookie` header value.
fn count_pairs(value: &[u8]) -> usize {
    value
        .split(|&b| b == b';')
        .filter(|pair| !pair.trim_ascii().is_empty())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each answer sets a new name and counts the cookies of every Cookie header.
    #[test]
    fn new_names_and_received_counts() {
        let headers = [
            httparse::Header {
                name: "Cookie",
                value: b"a=1; b=2;",
            },
            httparse::Header {
                name: "cookie",
                value: b"c=3",
            },
            httparse::Header {
                name: "X-Cookie",
                value: b"d=4",
            },
        ];
        let (mut extra, mut doc) = (Vec::new(), Vec::new());
        answer("/cookies/new", &headers, &mut extra, &mut doc);
        let first: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(first["received"], 3);
        assert_eq!(first["cookie_bytes"], 12);
        let name = first["set"].as_str().unwrap().to_string();
        let extra = String::from_utf8(extra).unwrap();
        assert!(extra.contains(&format!("Set-Cookie: {name}=1; Path=/\r\n")));
        let (mut extra, mut doc) = (Vec::new(), Vec::new());
        answer("/cookies/new?path=/a/b", &[], &mut extra, &mut doc);
        let second: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(second["received"], 0);
        assert_ne!(second["set"].as_str().unwrap(), name);
        assert!(String::from_utf8(extra)
            .unwrap()
            .contains("=1; Path=/a/b\r\n"));
        for bad in ["?path=a", "?path=/a%0D%0Ab", "?path=/a;Domain=x"] {
            let (mut extra, mut doc) = (Vec::new(), Vec::new());
            answer(&format!("/cookies/new{bad}"), &[], &mut extra, &mut doc);
            assert!(
                String::from_utf8(extra)
                    .unwrap()
                    .ends_with("=1; Path=/\r\n"),
                "{bad}"
            );
        }
    }
}
