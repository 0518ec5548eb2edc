//! Following redirects: the next hop's request built from the last one and
//! the response's Location, with the method, body and credential rules
//! browsers follow.

use super::*;

impl VirtualUser {
    /// Builds the request of the next redirect hop into `self.hop` from the
    /// last one and the response's Location; returns its origin and whether
    /// it is a HEAD request. 303 (and 301/302 after a POST) turn into GET
    /// without a body, as browsers do (the Fetch standard); 307 and 308 keep
    /// the method and body. Credentials do not follow to another origin.
    ///
    /// `hop` is (the first hop?, the step's own origin, the last hop's
    /// origin, the redirect's status). With `--aws-sigv4`, only a hop back to
    /// the step's own origin is signed: keys never sign a request to an
    /// origin a response named. `signing` is the step's own scope, if any
    /// (else the run's signer signs).
    pub(super) fn next_hop(
        &mut self,
        hop: (bool, usize, usize, u16),
        signing: Option<usize>,
        client: &Client,
    ) -> Result<(usize, bool), Failure> {
        let (first, home, origin, status) = hop;
        let previous: &[u8] = if first { &self.request } else { &self.hop };
        let tail = if first {
            self.body_slice
        } else {
            self.hop_body
        };
        let location = check::header(&self.capture.head, "location").ok_or(Failure::BadRedirect)?;
        let location = location.split(|&b| b == b'#').next().unwrap_or(location);
        let (next_origin, authority, path): (usize, Option<&[u8]>, &[u8]) =
            if let Some(rest) = strip_scheme(location, b"http://") {
                let (authority, path) = split_authority(rest);
                let authority_text =
                    std::str::from_utf8(authority).map_err(|_| Failure::BadRedirect)?;
                (
                    client.redirect_origin(false, authority_text)?,
                    Some(authority),
                    path,
                )
            } else if let Some(rest) = strip_scheme(location, b"https://") {
                let (authority, path) = split_authority(rest);
                let authority_text =
                    std::str::from_utf8(authority).map_err(|_| Failure::BadRedirect)?;
                (
                    client.redirect_origin(true, authority_text)?,
                    Some(authority),
                    path,
                )
            } else if location.starts_with(b"/") && !location.starts_with(b"//") {
                (origin, None, location)
            } else {
                // Scheme-relative and dot-relative references are not followed.
                return Err(Failure::BadRedirect);
            };
        let head_end = previous
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or(Failure::BadRedirect)?;
        let (head, body) = (&previous[..head_end + 2], &previous[head_end + 4..]);
        let method = head.split(|&b| b == b' ').next().unwrap_or(b"GET");
        let to_get =
            status == 303 && method != b"HEAD" || matches!(status, 301 | 302) && method == b"POST";
        let method: &[u8] = if to_get { b"GET" } else { method };
        let same_origin = next_origin == origin;
        let signs = signer_of(&mut self.signer, &mut self.scoped_signers, signing).is_some();
        let out = &mut self.hop_next;
        out.clear();
        out.extend_from_slice(method);
        out.push(b' ');
        // `http://h?x=1` has a query but no path: the target still starts with `/`.
        if !path.starts_with(b"/") {
            out.push(b'/');
        }
        crate::scenario::template::escape_into(out, path, crate::scenario::template::Escape::Path);
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if let Some(authority) = authority.filter(|_| !same_origin) {
            out.extend_from_slice(b"Host: ");
            out.extend_from_slice(authority);
            out.extend_from_slice(b"\r\n");
        }
        for line in head.split(|&b| b == b'\n').skip(1) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let name = line.split(|&b| b == b':').next().unwrap_or(b"");
            let dropped = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
            let signed = signs
                && (dropped("authorization")
                    || dropped("x-amz-date")
                    || dropped("x-amz-content-sha256")
                    || dropped("x-amz-security-token"));
            if line.is_empty()
                || signed
                || dropped("host") && !same_origin
                || dropped("cookie")
                || dropped("authorization") && !same_origin
                || dropped("content-length")
                || (dropped("content-type") && to_get)
            {
                continue;
            }
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        if self.cookies {
            self.url.read_request(out, client.is_https(next_origin));
            self.jar.write_header(out, &self.url);
        }
        let body_len = body.len() + tail.len();
        if !to_get && body_len > 0 {
            use std::io::Write;
            let _ = write!(out, "Content-Length: {body_len}\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !to_get {
            out.extend_from_slice(body);
        }
        self.hop_body = if to_get { &[] } else { tail };
        let is_head = method == b"HEAD";
        std::mem::swap(&mut self.hop, &mut self.hop_next);
        let signer = signer_of(&mut self.signer, &mut self.scoped_signers, signing);
        if let Some(signer) = signer.filter(|_| next_origin == home) {
            let now = std::time::SystemTime::now();
            signer.sign_with_body(&mut self.hop, self.hop_body, now);
        }
        Ok((next_origin, is_head))
    }
}

/// True for the statuses whose Location is followed.
pub(super) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// `url` without `scheme` (compared without case).
fn strip_scheme<'u>(url: &'u [u8], scheme: &[u8]) -> Option<&'u [u8]> {
    let head = url.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &url[scheme.len()..])
}

/// Splits `host[:port]/path?query` after the scheme into authority and path.
fn split_authority(rest: &[u8]) -> (&[u8], &[u8]) {
    match rest.iter().position(|&b| b == b'/' || b == b'?') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, b""),
    }
}
