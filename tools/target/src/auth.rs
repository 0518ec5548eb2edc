//! The auth routes' checks on an `Authorization` value: HTTP Basic
//! credentials against the expected user and password (`/basic-auth/USER/PASS`)
//! and the token of a Bearer value (`/bearer`). Pure; finding the header and
//! answering is `app`'s business.

/// The realm `/basic-auth` names in its `WWW-Authenticate` challenge.
pub const BASIC_CHALLENGE: &[u8] = b"WWW-Authenticate: Basic realm=\"stampede-target\"\r\n";

/// The challenge `/bearer` answers a missing token with.
pub const BEARER_CHALLENGE: &[u8] = b"WWW-Authenticate: Bearer realm=\"stampede-target\"\r\n";

/// Whether `authorization` is `Basic base64(user:pass)` (scheme in any case,
/// standard base64 with its padding).
pub fn basic_matches(authorization: &[u8], user: &[u8], pass: &[u8]) -> bool {
    let Some(token) = credentials(authorization, b"basic") else {
        return false;
    };
    let mut plain = Vec::with_capacity(user.len() + 1 + pass.len());
    plain.extend_from_slice(user);
    plain.push(b':');
    plain.extend_from_slice(pass);
    // Encoding the expected credentials and comparing needs no decoder, and
    // so refuses every other spelling of them (missing padding, say).
    let mut expected = Vec::with_capacity(plain.len().div_ceil(3) * 4);
    push_base64(&plain, &mut expected);
    token == expected.as_slice()
}

/// The token of a `Bearer TOKEN` value (scheme in any case), if it has one.
pub fn bearer_token(authorization: &[u8]) -> Option<&[u8]> {
    credentials(authorization, b"bearer")
}

/// What follows `scheme` and its spaces in `value`, trimmed; `None` for
/// another scheme or nothing after it.
fn credentials<'a>(value: &'a [u8], scheme: &[u8]) -> Option<&'a [u8]> {
    let value = value.trim_ascii();
    let (name, rest) = value.split_at_checked(scheme.len())?;
    if !name.eq_ignore_ascii_case(scheme) || rest.first() != Some(&b' ') {
        return None;
    }
    Some(rest.trim_ascii()).filter(|token| !token.is_empty())
}

/// Appends `bytes` in standard base64 (RFC 4648, `+/`, `=` padding).
fn push_base64(bytes: &[u8], out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Basic credentials match only their exact encoding; Bearer tokens are
    //! found behind their scheme; base64 matches RFC 4648's test vectors.
    use super::*;

    #[test]
    fn base64_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            let mut out = Vec::new();
            push_base64(plain.as_bytes(), &mut out);
            assert_eq!(out, encoded.as_bytes(), "{plain}");
        }
        let mut out = Vec::new();
        push_base64(&[0xfb, 0xff, 0xbf], &mut out);
        assert_eq!(out, b"+/+/");
    }

    #[test]
    fn basic_credentials() {
        // base64("alice:s3cret") and base64("alice:").
        let good = b"Basic YWxpY2U6czNjcmV0";
        assert!(basic_matches(good, b"alice", b"s3cret"));
        assert!(basic_matches(
            b"  basic   YWxpY2U6czNjcmV0 ",
            b"alice",
            b"s3cret"
        ));
        assert!(basic_matches(b"Basic YWxpY2U6", b"alice", b""));
        assert!(!basic_matches(good, b"alice", b"other"));
        assert!(!basic_matches(good, b"bob", b"s3cret"));
        assert!(!basic_matches(
            b"Bearer YWxpY2U6czNjcmV0",
            b"alice",
            b"s3cret"
        ));
        assert!(!basic_matches(
            b"BasicYWxpY2U6czNjcmV0",
            b"alice",
            b"s3cret"
        ));
        assert!(!basic_matches(b"Basic", b"alice", b"s3cret"));
        assert!(!basic_matches(b"", b"alice", b"s3cret"));
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer_token(b"Bearer abc.def"), Some(&b"abc.def"[..]));
        assert_eq!(bearer_token(b"bearer  t "), Some(&b"t"[..]));
        assert_eq!(bearer_token(b"Bearer "), None);
        assert_eq!(bearer_token(b"Bearer"), None);
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearerabc"), None);
    }
}
