//! S3's XML error documents, read into a failure kind.
//!
//! S3 (and the services that speak its API: MinIO, Ceph, moto) answers a
//! failed request with an error status and a body like
//!
//! ```text
//! <?xml version="1.0" encoding="UTF-8"?>
//! <Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>...</Error>
//! ```
//!
//! [`parse_error_code`] finds the `Code` in the first bytes of such a body
//! (the bytes a response's capture kept, so never more than its limit) and
//! [`S3Error::from_code`] turns it into a `Copy` value that the failure
//! counts carry without allocating: the five codes a load test most needs
//! to tell apart have their own kinds, any other keeps its text inline.
//! Which responses are read this way is the user's decision (`shard::user`);
//! anything that is not such a document is left to count as a plain status.

/// Most bytes of an error code kept; longer codes are not S3's (its
/// longest, `ServerSideEncryptionConfigurationNotFoundError`, has 46).
pub const MAX_CODE_BYTES: usize = 48;

/// An S3 error code other than the named ones, kept inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct S3Code {
    /// The code's bytes, `len` of them used.
    bytes: [u8; MAX_CODE_BYTES],
    /// How many of `bytes` the code has.
    len: u8,
}

impl S3Code {
    /// The code as text (always ASCII letters and digits).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("?")
    }
}

impl std::fmt::Debug for S3Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an S3 error document said, as one of the report's kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum S3Error {
    /// `SlowDown`: the service throttles (503).
    SlowDown,
    /// `AccessDenied`.
    AccessDenied,
    /// `NoSuchKey`.
    NoSuchKey,
    /// `SignatureDoesNotMatch`.
    SignatureDoesNotMatch,
    /// `RequestTimeTooSkewed`.
    RequestTimeTooSkewed,
    /// Any other code.
    Other(S3Code),
}

impl S3Error {
    /// The error a code names; `code` is what [`parse_error_code`] returned
    /// (at most [`MAX_CODE_BYTES`] ASCII letters and digits).
    pub fn from_code(code: &[u8]) -> S3Error {
        match code {
            b"SlowDown" => S3Error::SlowDown,
            b"AccessDenied" => S3Error::AccessDenied,
            b"NoSuchKey" => S3Error::NoSuchKey,
            b"SignatureDoesNotMatch" => S3Error::SignatureDoesNotMatch,
            b"RequestTimeTooSkewed" => S3Error::RequestTimeTooSkewed,
            _ => {
                let len = code.len().min(MAX_CODE_BYTES);
                let mut bytes = [0u8; MAX_CODE_BYTES];
                bytes[..len].copy_from_slice(&code[..len]);
                S3Error::Other(S3Code {
                    bytes,
                    len: len as u8,
                })
            }
        }
    }

    /// The code as S3 spells it.
    pub fn code(&self) -> &str {
        match self {
            S3Error::SlowDown => "SlowDown",
            S3Error::AccessDenied => "AccessDenied",
            S3Error::NoSuchKey => "NoSuchKey",
            S3Error::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            S3Error::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            S3Error::Other(code) => code.as_str(),
        }
    }
}

/// The `Code` of an S3 error document, or `None` when `body` is not one.
///
/// `body` is the document's first bytes (possibly cut short). It is one when,
/// after an optional byte-order mark, white space and `<?xml ...?>`
/// declaration, it opens with `<Error>` and a `<Code>` element follows with
/// 1 to [`MAX_CODE_BYTES`] ASCII letters or digits (white space around them
/// allowed) before `</Code>`. Anything else (another root, an empty, long or
/// odd code, a document cut before `</Code>`) is `None`. The scan is linear
/// in `body` and allocates nothing.
pub fn parse_error_code(body: &[u8]) -> Option<&[u8]> {
    let mut rest = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    rest = trim_start(rest);
    if rest.starts_with(b"<?xml") {
        let end = find(rest, b"?>")?;
        rest = trim_start(&rest[end + 2..]);
    }
    rest = rest.strip_prefix(b"<Error>")?;
    let open = find(rest, b"<Code>")?;
    // The code is a child of this Error, not of a later element.
    if find(&rest[..open], b"</Error>").is_some() {
        return None;
    }
    rest = &rest[open + b"<Code>".len()..];
    let close = find(rest, b"</Code>")?;
    let code = trim_end(trim_start(&rest[..close]));
    let valid = !code.is_empty()
        && code.len() <= MAX_CODE_BYTES
        && code.iter().all(|b| b.is_ascii_alphanumeric());
    valid.then_some(code)
}

/// `bytes` without leading XML white space.
fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// `bytes` without trailing XML white space.
fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::config;
    use proptest::prelude::*;

    /// S3's own documents, as AWS and moto write them, give their code.
    #[test]
    fn reads_the_code_of_s3_documents() {
        let aws = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
            <Message>Please reduce your request rate.</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>";
        assert_eq!(parse_error_code(aws), Some(&b"SlowDown"[..]));
        let moto = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n    <Code>NoSuchKey</Code>\n    \
            <Message>The specified key does not exist.</Message>\n    <Key>k</Key>\n</Error>";
        assert_eq!(parse_error_code(moto), Some(&b"NoSuchKey"[..]));
        let bare =
            b"\xEF\xBB\xBF  <Error><RequestId>1</RequestId><Code> AccessDenied </Code></Error>";
        assert_eq!(parse_error_code(bare), Some(&b"AccessDenied"[..]));
    }

    /// Bodies that are not S3 error documents give no code.
    #[test]
    fn other_bodies_give_none() {
        for body in [
            &b""[..],
            b"Service Unavailable",
            b"{\"Code\":\"SlowDown\"}",
            b"<?xml version=\"1.0\"?><Errors><Code>SlowDown</Code></Errors>",
            b"<Error><Message>no code</Message></Error>",
            b"<Error></Error><Code>SlowDown</Code>",
            b"<Error><Code></Code></Error>",
            b"<Error><Code>Slow Down</Code></Error>",
            b"<Error><Code>Slow&amp;Down</Code></Error>",
            b"<Error><Code>SlowDown",
            b"<?xml version=\"1.0\"",
            b"<?xml version=\"1.0\"?>\n<Err",
            b"<Error><Code>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA</Code></Error>",
        ] {
            assert_eq!(
                parse_error_code(body),
                None,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// The five codes a load test tells apart are named; any other keeps its text.
    #[test]
    fn codes_map_to_errors() {
        assert_eq!(S3Error::from_code(b"SlowDown"), S3Error::SlowDown);
        assert_eq!(S3Error::from_code(b"AccessDenied"), S3Error::AccessDenied);
        assert_eq!(S3Error::from_code(b"NoSuchKey"), S3Error::NoSuchKey);
        assert_eq!(
            S3Error::from_code(b"SignatureDoesNotMatch"),
            S3Error::SignatureDoesNotMatch
        );
        assert_eq!(
            S3Error::from_code(b"RequestTimeTooSkewed"),
            S3Error::RequestTimeTooSkewed
        );
        let other = S3Error::from_code(b"InvalidBucketName");
        assert!(matches!(other, S3Error::Other(_)));
        assert_eq!(other.code(), "InvalidBucketName");
        assert_eq!(other, S3Error::from_code(b"InvalidBucketName"));
        assert_ne!(other, S3Error::from_code(b"NoSuchBucket"));
        let longest = b"ServerSideEncryptionConfigurationNotFoundError";
        assert_eq!(S3Error::from_code(longest).code().as_bytes(), longest);
    }

    proptest! {
        #![proptest_config(config(2_000))]

        /// A well-formed document gives back the code it was built with, however
        /// much white space and which other elements surround it, and every
        /// prefix of it that stops before `</Code>` ends gives none.
        #[test]
        fn fuzz_s3_error_documents_give_their_code(
            code in "[A-Za-z0-9]{1,48}",
            declaration in any::<bool>(),
            before in "[ \t\r\n]{0,3}",
            inside in "[ \t\r\n]{0,3}",
            message in "[A-Za-z .]{0,40}",
        ) {
            let mut body = String::new();
            if declaration {
                body.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
            }
            body.push_str(&before);
            body.push_str("<Error>");
            body.push_str(&inside);
            body.push_str(&format!("<Code>{inside}{code}{inside}</Code>"));
            body.push_str(&format!("<Message>{message}</Message></Error>"));
            prop_assert_eq!(parse_error_code(body.as_bytes()), Some(code.as_bytes()));
            let end = body.find("</Code>").unwrap() + "</Code>".len();
            for len in 0..end {
                prop_assert_eq!(parse_error_code(&body.as_bytes()[..len]), None);
            }
        }

        /// Any bytes at all: no panic, and a code found is a valid one found
        /// inside the input.
        #[test]
        fn fuzz_s3_error_random_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
            if let Some(code) = parse_error_code(&body) {
                prop_assert!(!code.is_empty() && code.len() <= MAX_CODE_BYTES);
                prop_assert!(code.iter().all(|b| b.is_ascii_alphanumeric()));
                prop_assert!(body.windows(code.len()).any(|w| w == code));
            }
        }

        /// Mutated S3 documents (bytes flipped, cut, spliced) never panic, and
        /// whatever code they still give is well-formed.
        #[test]
        fn fuzz_s3_error_mutated_documents(
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                <Message>Please reduce your request rate.</Message></Error>".to_vec();
            for (at, byte) in flips {
                let i = at.index(body.len());
                body[i] = byte;
            }
            body.truncate(cut.index(body.len() + 1));
            if let Some(code) = parse_error_code(&body) {
                prop_assert!(code.iter().all(|b| b.is_ascii_alphanumeric()));
                let error = S3Error::from_code(code);
                prop_assert_eq!(error.code().as_bytes(), code);
            }
        }
    }
}
