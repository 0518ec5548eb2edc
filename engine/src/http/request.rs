//! Encoding a request into bytes once, before the run starts.
//!
//! The run sends the same bytes again and again; nothing is formatted per
//! request. Templated requests (scenarios) render into a reused buffer instead.

/// Everything needed to encode one request.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path with query, starting with `/`.
    pub path: String,
    /// Value of the Host header (`host[:port]`).
    pub host: String,
    /// Extra headers in order, as (name, value).
    pub headers: Vec<(String, String)>,
    /// Request body; sent with a Content-Length when non-empty.
    pub body: Vec<u8>,
}

/// The User-Agent stampede sends unless the request sets its own.
pub const USER_AGENT: &str = concat!("stampede/", env!("CARGO_PKG_VERSION"));

/// Encodes the request as HTTP/1.1 bytes (keep-alive is HTTP/1.1's default).
pub fn encode_request(spec: &RequestSpec) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + spec.path.len() + spec.body.len());
    let mut line = |parts: &[&str]| {
        for part in parts {
            out.extend_from_slice(part.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    };
    line(&[&spec.method, " ", &spec.path, " HTTP/1.1"]);
    line(&["Host: ", &spec.host]);
    let has = |name: &str| {
        spec.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    if !has("user-agent") {
        line(&["User-Agent: ", USER_AGENT]);
    }
    for (name, value) in &spec.headers {
        line(&[name, ": ", value]);
    }
    if !spec.body.is_empty() && !has("content-length") {
        line(&["Content-Length: ", &spec.body.len().to_string()]);
    }
    line(&[]);
    out.extend_from_slice(&spec.body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RequestSpec {
        RequestSpec {
            method: "GET".into(),
            path: "/a?b=1".into(),
            host: "127.0.0.1:8080".into(),
            headers: vec![],
            body: vec![],
        }
    }

    /// A plain GET encodes to a request line, Host and User-Agent, and a blank line.
    #[test]
    fn encodes_a_get() {
        let bytes = encode_request(&spec());
        let expected = format!(
            "GET /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: {USER_AGENT}\r\n\r\n"
        );
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    /// A body gets a Content-Length, and a given User-Agent replaces ours.
    #[test]
    fn encodes_body_and_custom_headers() {
        let mut spec = spec();
        spec.method = "POST".into();
        spec.headers = vec![("user-agent".into(), "x".into())];
        spec.body = b"hello".to_vec();
        let text = String::from_utf8(encode_request(&spec)).unwrap();
        assert!(
            text.starts_with("POST /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nuser-agent: x\r\n")
        );
        assert!(text.ends_with("Content-Length: 5\r\n\r\nhello"));
        assert!(!text.contains(USER_AGENT));
    }
}
