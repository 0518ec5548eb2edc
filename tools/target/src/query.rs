//! Query strings and percent-encoding: finds a parameter in a request
//! target's query and decodes its `%XX` escapes, without allocating unless
//! asked to. Pure; which parameters a route takes is `routes`' business, what
//! the decoded bytes become is `app`'s.

/// The query of a request target (what follows the first `?`), or "" when it has none.
pub fn query_of(target: &str) -> &str {
    target.split_once('?').map_or("", |(_, query)| query)
}

/// The raw (still percent-encoded) value of the first `name=value` pair in
/// `query`; a bare `name` without `=` has the value "". Names are compared
/// exactly, undecoded.
pub fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Decodes `raw`'s `%XX` escapes, handing each decoded byte to `emit`; false
/// (after emitting a prefix) when a `%` is not followed by two hex digits.
/// `+` stays `+`, not a space: the values decoded here are URLs and path
/// segments, where a `+` is a literal plus.
pub fn decode_each(raw: &str, mut emit: impl FnMut(u8)) -> bool {
    let mut bytes = raw.bytes();
    while let Some(byte) = bytes.next() {
        if byte != b'%' {
            emit(byte);
            continue;
        }
        let high = bytes.next().and_then(hex_value);
        let low = bytes.next().and_then(hex_value);
        match (high, low) {
            (Some(high), Some(low)) => emit(high << 4 | low),
            _ => return false,
        }
    }
    true
}

/// `raw` decoded, or `None` on a bad escape.
pub fn decode(raw: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    decode_each(raw, |b| out.push(b)).then_some(out)
}

/// Whether `raw` decodes cleanly to a non-empty value fit for a header line:
/// no control byte (CR, LF, NUL, DEL...) that would end or corrupt the line.
pub fn decodes_to_header_value(raw: &str) -> bool {
    let mut clean = true;
    let valid = decode_each(raw, |b| clean &= (b >= 0x20 && b != 0x7f) || b == b'\t');
    valid && clean && !raw.is_empty()
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    //! Parameters are found by exact name, escapes decode or are refused, and
    //! values that would break a header line are caught.
    use super::*;

    #[test]
    fn parameters_by_name() {
        let query = "a=1&url=http%3A%2F%2Fx&flag&a=2&empty=";
        assert_eq!(param(query, "a"), Some("1"));
        assert_eq!(param(query, "url"), Some("http%3A%2F%2Fx"));
        assert_eq!(param(query, "flag"), Some(""));
        assert_eq!(param(query, "empty"), Some(""));
        assert_eq!(param(query, "missing"), None);
        assert_eq!(param("", "a"), None);
        assert_eq!(query_of("/x?a=1?b"), "a=1?b");
        assert_eq!(query_of("/x"), "");
    }

    #[test]
    fn escapes_decode_or_are_refused() {
        let cases: [(&str, Option<&[u8]>); 8] = [
            ("plain", Some(b"plain")),
            ("a%20b+c", Some(b"a b+c")),
            ("%2f%2F", Some(b"//")),
            ("%e9%C3%A9", Some(b"\xe9\xc3\xa9")),
            ("", Some(b"")),
            ("%", None),
            ("%2", None),
            ("%zz", None),
        ];
        for (raw, want) in cases {
            assert_eq!(decode(raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn header_values_refuse_control_bytes() {
        assert!(decodes_to_header_value("http%3A%2F%2F127.0.0.1%3A8080%2Fx"));
        assert!(decodes_to_header_value("/a%09b"));
        for raw in ["", "a%0d%0aSet-Cookie:x", "%00", "%7f", "%zz"] {
            assert!(!decodes_to_header_value(raw), "{raw}");
        }
    }
}
