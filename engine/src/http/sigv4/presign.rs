//! SigV4 in the query string (`--aws-sigv4-mode query`): the form of a
//! presigned URL. The signer adds `X-Amz-Algorithm`, `X-Amz-Credential`,
//! `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders` (and
//! `X-Amz-Security-Token` with a session token) after the request's own
//! query parameters, signs the canonical request they are part of, and
//! appends `X-Amz-Signature`: no header is added. S3's payload is
//! `UNSIGNED-PAYLOAD` (a presigned URL cannot know its body); other
//! services hash it, as botocore's query signer does. The order and
//! encoding of the parameters are botocore's, so a request target equals
//! the URL `generate_presigned_url` makes for the same request and second.

use ring::digest;

use super::{aws_encode_into, find, hex_into, insert_at, write_scope, Signer, UNSIGNED_PAYLOAD};

impl Signer {
    /// Signs `request` (whose body continues in `body`) in its query,
    /// valid for `expires_s` seconds from `now`. A request without a blank
    /// line or a request line with no target is left as it is.
    pub(super) fn sign_in_query(
        &mut self,
        request: &mut Vec<u8>,
        body: &[u8],
        expires_s: u32,
        now: std::time::SystemTime,
    ) {
        let Some(target_end) = target_end(request) else {
            return;
        };
        let Some(head_end) = find(request, b"\r\n\r\n") else {
            return;
        };
        let mut stamp = [0u8; 16];
        super::amz_date(now, &mut stamp);
        let date: [u8; 8] = stamp[..8].try_into().expect("8 bytes");
        let mut payload_hex = [0u8; 64];
        let payload: &[u8] = if self.config.service == "s3" {
            UNSIGNED_PAYLOAD
        } else {
            let mut context = digest::Context::new(&digest::SHA256);
            context.update(&request[head_end + 4..]);
            context.update(body);
            hex_into(context.finish().as_ref(), &mut payload_hex);
            &payload_hex
        };
        // The signed headers are the request's own: the canonical request
        // of the request as it is names them.
        self.canonical_request(&request[..head_end + 2], payload);
        self.added.clear();
        let target = &request[..target_end];
        if !target.ends_with(b"?") {
            self.added
                .push(if target.contains(&b'?') { b'&' } else { b'?' });
        }
        self.added
            .extend_from_slice(b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
        self.decoded.clear();
        self.decoded
            .extend_from_slice(self.config.credentials.access_key.as_bytes());
        self.decoded.push(b'/');
        write_scope(&mut self.decoded, &date, &self.config);
        aws_encode_into(&self.decoded, &mut self.added, false);
        self.added.extend_from_slice(b"&X-Amz-Date=");
        self.added.extend_from_slice(&stamp);
        self.added.extend_from_slice(b"&X-Amz-Expires=");
        let mut digits = [0u8; 10];
        self.added
            .extend_from_slice(decimal(expires_s, &mut digits));
        self.added.extend_from_slice(b"&X-Amz-SignedHeaders=");
        let signed_headers = self.signed_headers_range();
        aws_encode_into(&self.canonical[signed_headers], &mut self.added, false);
        if let Some(token) = &self.config.credentials.session_token {
            self.added.extend_from_slice(b"&X-Amz-Security-Token=");
            aws_encode_into(token.as_bytes(), &mut self.added, false);
        }
        insert_at(request, target_end, &self.added);
        let params_end = target_end + self.added.len();
        let head_end = head_end + self.added.len();
        self.canonical_request(&request[..head_end + 2], payload);
        let signature_hex = self.signature_hex(&stamp);
        self.added.clear();
        self.added.extend_from_slice(b"&X-Amz-Signature=");
        self.added.extend_from_slice(&signature_hex);
        insert_at(request, params_end, &self.added);
    }
}

/// Where the request target ends: the space before the HTTP version in
/// the request line, if the line has a method, a target and a version.
pub(super) fn target_end(request: &[u8]) -> Option<usize> {
    let line_end = find(request, b"\r\n")?;
    let line = &request[..line_end];
    let first = line.iter().position(|&b| b == b' ')?;
    let last = line.iter().rposition(|&b| b == b' ')?;
    (last > first + 1).then_some(last)
}

/// `n` in decimal, written into the end of `out`.
fn decimal(mut n: u32, out: &mut [u8; 10]) -> &[u8] {
    let mut at = out.len();
    loop {
        at -= 1;
        out[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &out[at..];
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{Credentials, SignatureLocation, Signer, SigningConfig};

    fn signer(token: Option<&str>) -> Signer {
        Signer::new(Arc::new(SigningConfig {
            region: "us-east-1".into(),
            service: "s3".into(),
            credentials: Credentials::new(
                "AKIAIOSFODNN7EXAMPLE".into(),
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
                token.map(str::to_string),
            ),
            sign_payload: false,
            location: SignatureLocation::Query { expires_s: 86_400 },
        }))
    }

    /// AWS's published presigned-URL example (S3 docs, "Authenticating
    /// Requests: Using Query Parameters"): the same signature, no header.
    #[test]
    fn aws_example_presigned_url() {
        let mut request =
            b"GET /test.txt HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\r\n".to_vec();
        // 2013-05-24T00:00:00Z
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600);
        signer(None).sign(&mut request, now);
        let text = String::from_utf8(request).unwrap();
        assert_eq!(
            text,
            "GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 \
             HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\r\n"
        );
    }

    /// Parameters follow the request's own query, and a body stays where it was.
    #[test]
    fn parameters_follow_the_query_and_the_body_stays() {
        let mut request =
            b"PUT /b/k?partNumber=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc".to_vec();
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600);
        signer(Some("tok/+=")).sign(&mut request, now);
        let text = String::from_utf8(request).unwrap();
        assert!(
            text.starts_with(
                "PUT /b/k?partNumber=1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
            ),
            "{text}"
        );
        assert!(
            text.contains("&X-Amz-SignedHeaders=content-length%3Bhost&"),
            "{text}"
        );
        assert!(
            text.contains("&X-Amz-Security-Token=tok%2F%2B%3D&X-Amz-Signature="),
            "{text}"
        );
        assert!(
            text.ends_with(" HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"),
            "{text}"
        );
    }

    /// Decimal digits without allocating.
    #[test]
    fn decimals() {
        let mut out = [0u8; 10];
        assert_eq!(super::decimal(0, &mut out), b"0");
        assert_eq!(super::decimal(604_800, &mut out), b"604800");
        assert_eq!(super::decimal(u32::MAX, &mut out), b"4294967295");
    }
}
