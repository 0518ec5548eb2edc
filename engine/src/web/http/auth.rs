//! The checks a request passes before any handler sees it.
//!
//! It owns HTTP basic auth (the `Authorization` header, base64 and a
//! constant-time compare) and the same-origin check on state-changing
//! requests. It only answers yes or no: the 401 and 403 responses, and
//! which methods need the origin check, are `conn`'s.

use super::request::Request;

/// True when the request carries `Authorization: Basic` with exactly the
/// expected `user:password`, compared in constant time.
pub(super) fn authorized(request: &Request, expected: &[u8]) -> bool {
    let Some(value) = request.header("authorization") else {
        return false;
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    base64_decode(encoded.trim()).is_some_and(|given| same_bytes(&given, expected))
}

/// True when the request has no Origin, or its Origin is this server's own
/// (`http://` or `https://` and the Host it was reached at). A browser sends
/// Origin on every cross-site POST; scripts send none.
pub(super) fn same_origin(request: &Request) -> bool {
    let Some(origin) = request.header("origin") else {
        return true;
    };
    let Some(host) = request.header("host") else {
        return false;
    };
    let (origin, host) = (origin.as_bytes(), host.as_bytes());
    [&b"http://"[..], &b"https://"[..]].iter().any(|scheme| {
        origin.len() == scheme.len() + host.len()
            && origin[..scheme.len()].eq_ignore_ascii_case(scheme)
            && origin[scheme.len()..].eq_ignore_ascii_case(host)
    })
}

/// Compares in time that depends only on the lengths, not on where the
/// bytes differ, so a guesser learns nothing from response times.
fn same_bytes(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for i in 0..given.len().max(expected.len()) {
        let a = given.get(i).copied().unwrap_or(0);
        let b = expected.get(i).copied().unwrap_or(0);
        diff |= usize::from(a ^ b);
    }
    diff == 0
}

/// Decodes standard base64 (padding optional); None on any other character.
fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let data = input.trim_end_matches('=');
    if input.len() - data.len() > 2 || data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in data.as_bytes() {
        acc = (acc << 6) | u32::from(base64_value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The six bits one base64 character stands for.
fn base64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_padded_unpadded_and_refuses_junk() {
        // The decoder handles every padding case and refuses characters outside the alphabet.
        assert_eq!(base64_decode("YWRtaW46czNjcmV0").unwrap(), b"admin:s3cret");
        assert_eq!(base64_decode("YWRtaW46d3Jvbmc=").unwrap(), b"admin:wrong");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        for junk in ["Y", "YQ===", "YW*j", "YW Rt", "ü"] {
            assert!(base64_decode(junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn same_bytes_needs_equal_length_and_content() {
        // The constant-time comparison is still a correct one.
        assert!(same_bytes(b"a:b", b"a:b"));
        assert!(!same_bytes(b"a:b", b"a:c"));
        assert!(!same_bytes(b"a:b", b"a:bb"));
        assert!(!same_bytes(b"", b"a"));
    }
}
