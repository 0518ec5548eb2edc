//! Unit tests of the header signer and its text helpers (presign.rs has
//! the query signer's).

use super::*;

/// Dates render as SigV4 wants them, across leap years.
#[test]
fn amz_dates() {
    let mut out = [0u8; 16];
    let at = |secs: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    amz_date(at(0), &mut out);
    assert_eq!(&out, b"19700101T000000Z");
    amz_date(at(1_709_210_096), &mut out);
    assert_eq!(&out, b"20240229T123456Z");
    amz_date(at(1_796_644_800), &mut out);
    assert_eq!(&out, b"20261207T120000Z");
}

/// The profile reader takes the named profile's keys only.
#[test]
fn profiles() {
    let text = "[default]\naws_access_key_id = A\naws_secret_access_key = S\n\
                [other]\naws_access_key_id=B\naws_secret_access_key=T\naws_session_token=X\n";
    let c = Credentials::from_profile(text, "other").unwrap();
    assert_eq!((c.access_key.as_str(), c.secret.as_str()), ("B", "T"));
    assert_eq!(c.session_token.as_deref(), Some("X"));
    assert!(Credentials::from_profile(text, "missing").is_none());
    assert!(!format!("{c:?}").contains('T') || !format!("{c:?}").contains("\"T\""));
}

/// A `+` in a query is a space, as servers read form-encoded queries:
/// `q=a+b` and `q=a%20b` sign alike.
#[test]
fn plus_in_a_query_is_a_space() {
    let config = std::sync::Arc::new(SigningConfig {
        region: "us-east-1".into(),
        service: "s3".into(),
        credentials: Credentials::new("AK".into(), "SK".into(), None),
        sign_payload: false,
        location: SignatureLocation::Headers,
    });
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_644_800);
    let sign = |target: &str| {
        let mut request = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes();
        Signer::new(config.clone()).sign(&mut request, now);
        let text = String::from_utf8(request).unwrap();
        text.split("Signature=").nth(1).unwrap().to_string()
    };
    assert_eq!(sign("/b?q=a+b"), sign("/b?q=a%20b"));
    assert_ne!(sign("/b?q=a+b"), sign("/b?q=a%2Bb"));
}

/// The text helpers' fast paths (whole runs copied) give what a byte
/// at a time gives.
#[test]
fn text_helpers() {
    let out = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    };
    for (value, trimmed) in [
        ("", ""),
        ("  a  ", "a"),
        ("a b", "a b"),
        ("text/plain  ;  x=1", "text/plain ; x=1"),
        ("\ta\t\tb c ", "a b c"),
        ("x", "x"),
    ] {
        assert_eq!(out(&|v| trim_all_into(value.as_bytes(), v)), trimmed);
    }
    for (text, query, decoded) in [
        ("a%20b+c", false, "a b+c"),
        ("a%20b+c", true, "a b c"),
        ("%zz%4", false, "%zz%4"),
        ("%C3%A9t%C3%A9", false, "été"),
        ("plain/path", true, "plain/path"),
    ] {
        assert_eq!(
            out(&|v| percent_decode_into(text.as_bytes(), v, query)),
            decoded
        );
    }
    for (text, slash, encoded) in [
        ("a b/é~", true, "a%20b/%C3%A9~"),
        ("a b/é~", false, "a%20b%2F%C3%A9~"),
        ("", true, ""),
        ("AZaz09-_.~", false, "AZaz09-_.~"),
    ] {
        assert_eq!(
            out(&|v| aws_encode_into(text.as_bytes(), v, slash)),
            encoded
        );
    }
    assert_eq!(find(b"ab\r\n\r\r\n\r\n", b"\r\n\r\n"), Some(5));
    assert_eq!(find(b"\r\n\r", b"\r\n\r\n"), None);
    assert_eq!(find(b"", b"\r\n"), None);
    let mut name = b"ab".to_vec();
    extend_lowercase(&mut name, b"X-Amz-Date");
    assert_eq!(name, b"abx-amz-date");
}

/// A signer that keeps the last canonical header block signs a run of
/// requests (same headers and other paths, other headers, none, query
/// mode) exactly as a fresh signer signs each.
#[test]
fn kept_header_block_signs_as_a_fresh_signer() {
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_644_800);
    let requests = [
        "GET /b/k1 HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\n\r\n",
        "GET /b/k2?x=1 HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\n\r\n",
        "GET /b/k2 HTTP/1.1\r\nHost: h\r\nRange: bytes=0-8\r\n\r\n",
        "GET /b/k3 HTTP/1.1\r\n\r\n",
        "GET /b/k4 HTTP/1.1\r\n\r\n",
        "PUT /b/k5 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab",
        "GET /b/k1 HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\n\r\n",
    ];
    for location in [
        SignatureLocation::Headers,
        SignatureLocation::Query { expires_s: 60 },
    ] {
        let config = std::sync::Arc::new(SigningConfig {
            region: "us-east-1".into(),
            service: "s3".into(),
            credentials: Credentials::new("AK".into(), "SK".into(), Some("T".into())),
            sign_payload: false,
            location,
        });
        let mut kept = Signer::new(config.clone());
        for text in requests {
            let mut ours = text.as_bytes().to_vec();
            kept.sign(&mut ours, now);
            let mut fresh = text.as_bytes().to_vec();
            Signer::new(config.clone()).sign(&mut fresh, now);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(fresh).unwrap(),
                "{location:?}"
            );
        }
    }
}

/// AWS's published example (GET object, S3 docs): the same signature.
#[test]
fn aws_example_signature() {
    let config = SigningConfig {
        region: "us-east-1".into(),
        service: "s3".into(),
        credentials: Credentials::new(
            "AKIAIOSFODNN7EXAMPLE".into(),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            None,
        ),
        sign_payload: true,
        location: SignatureLocation::Headers,
    };
    let mut signer = Signer::new(std::sync::Arc::new(config));
    let mut request = b"GET /test.txt HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\
                        Range: bytes=0-9\r\n\r\n"
        .to_vec();
    // 2013-05-24T00:00:00Z
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600);
    signer.sign(&mut request, now);
    let text = String::from_utf8(request).unwrap();
    assert!(
        text.contains(
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\r\n"
        ),
        "{text}"
    );
}

/// A body that continues past the request (a slice of the shared body
/// block) signs as the same body written inside it; unsigned payloads
/// ignore it.
#[test]
fn a_body_tail_signs_as_the_whole_body() {
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_644_800);
    let head = b"PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n";
    for sign_payload in [true, false] {
        let config = std::sync::Arc::new(SigningConfig {
            region: "us-east-1".into(),
            service: "s3".into(),
            credentials: Credentials::new("AK".into(), "SK".into(), None),
            sign_payload,
            location: SignatureLocation::Headers,
        });
        let mut whole = [&head[..], b"0123456789"].concat();
        Signer::new(config.clone()).sign(&mut whole, now);
        let mut split = head.to_vec();
        Signer::new(config.clone()).sign_with_body(&mut split, b"0123456789", now);
        let mut other = head.to_vec();
        Signer::new(config).sign_with_body(&mut other, b"0123456780", now);
        assert_eq!(&whole[..whole.len() - 10], &split[..]);
        assert_eq!(split == other, !sign_payload);
    }
}
