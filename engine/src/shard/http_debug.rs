//! `--http-debug[=N]`: the first N requests of a run and their responses,
//! printed to stderr as they went out and came back (heads, and bodies up to
//! [`BODY_BYTES`]), with credentials masked, so a user can see what was
//! really sent (an encoded value, a header, a redirect's hop).

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::http::Capture;

/// Most body bytes printed of a request or a response.
pub const BODY_BYTES: usize = 1024;

/// Headers whose values are masked when printed.
const SECRET_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-amz-security-token",
];

/// How many more exchanges are printed, shared by every shard of the process.
#[derive(Debug, Clone, Default)]
pub struct HttpDebug {
    left: Arc<AtomicU32>,
}

impl HttpDebug {
    /// A budget of `count` exchanges (0 prints none).
    pub fn new(count: u32) -> Self {
        HttpDebug {
            left: Arc::new(AtomicU32::new(count)),
        }
    }

    /// Takes one exchange from the budget; false when none is left. One
    /// relaxed load per request when debugging is off.
    #[inline]
    pub fn take_one(&self) -> bool {
        if self.left.load(Ordering::Relaxed) == 0 {
            return false;
        }
        self.left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// Prints a request and what came back: its status, head and body, or
/// that no response came.
pub fn print(request: &[u8], status: Option<u16>, response: &Capture) {
    let mut out = Vec::with_capacity(request.len() + response.head.len() + 256);
    out.extend_from_slice(b"--- http-debug: request\n");
    write_message(&mut out, request);
    match status {
        Some(status) => {
            let _ = writeln!(out, "--- http-debug: response {status}");
            let mut whole = response.head.clone();
            whole.extend_from_slice(&response.body);
            write_message(&mut out, &whole);
        }
        None => out.extend_from_slice(b"--- http-debug: no response (see the failure)\n"),
    }
    let _ = std::io::stderr().write_all(&out);
}

/// Writes a head (secrets masked) and up to `BODY_BYTES` of its body.
fn write_message(out: &mut Vec<u8>, message: &[u8]) {
    let head_end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |i| i + 4);
    let (head, body) = message.split_at(head_end);
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let name = line.split(|&b| b == b':').next().unwrap_or(b"");
        let secret = line.contains(&b':')
            && SECRET_HEADERS
                .iter()
                .any(|s| name.trim_ascii().eq_ignore_ascii_case(s.as_bytes()));
        if secret {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ***");
        } else {
            out.extend_from_slice(&String::from_utf8_lossy(line).into_owned().into_bytes());
        }
        out.push(b'\n');
    }
    if !body.is_empty() {
        out.push(b'\n');
        let shown = &body[..body.len().min(BODY_BYTES)];
        out.extend_from_slice(String::from_utf8_lossy(shown).as_bytes());
        if body.len() > BODY_BYTES {
            let _ = write!(out, "\n[... {} more bytes]", body.len() - BODY_BYTES);
        }
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Credentials are masked; other headers and the body are shown.
    #[test]
    fn secrets_are_masked() {
        let mut out = Vec::new();
        write_message(
            &mut out,
            b"GET /a%20b HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cret\r\nCookie: sid=abc\r\n\r\nbody",
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("GET /a%20b HTTP/1.1\n"));
        assert!(text.contains("Authorization: ***\n"));
        assert!(text.contains("Cookie: ***\n"));
        assert!(!text.contains("s3cret") && !text.contains("abc"));
        assert!(text.ends_with("\nbody\n"));
    }

    /// The budget is shared and runs out.
    #[test]
    fn budget_runs_out() {
        let debug = HttpDebug::new(2);
        let other = debug.clone();
        assert!(debug.take_one());
        assert!(other.take_one());
        assert!(!debug.take_one());
        assert!(!HttpDebug::default().take_one());
    }
}
