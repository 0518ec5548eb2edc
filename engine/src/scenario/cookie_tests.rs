//! The jar's rules as tables of cases: domains and host-only cookies, paths
//! and their defaults, Secure, order, replacement, deletion and the bounds.

use super::*;

/// A jar after `set_cookies` (one `Set-Cookie` value each) came in a
/// response to `from`.
fn jar_from(from: &CookieUrl, set_cookies: &[&str]) -> CookieJar {
    let mut jar = CookieJar::default();
    jar.store(&head(set_cookies), from);
    jar
}

/// A response head carrying these `Set-Cookie` values.
fn head(set_cookies: &[&str]) -> Vec<u8> {
    let lines: String = set_cookies
        .iter()
        .map(|c| format!("Set-Cookie: {c}\r\n"))
        .collect();
    format!("HTTP/1.1 200 OK\r\n{lines}\r\n").into_bytes()
}

/// The `Cookie` header value a request to `to` carries ("" for none).
fn sent(jar: &CookieJar, to: &CookieUrl) -> String {
    let mut out = Vec::new();
    jar.write_header(&mut out, to);
    let text = String::from_utf8(out).unwrap();
    match text.strip_prefix("Cookie: ") {
        Some(rest) => rest.trim_end().to_string(),
        None => {
            assert!(text.is_empty(), "{text:?}");
            String::new()
        }
    }
}

fn http(host: &str, path: &str) -> CookieUrl {
    CookieUrl::new(host, path, false)
}

/// Without `Domain` a cookie goes back to exactly its host (any port);
/// with one, to that domain and its subdomains, and only when the domain
/// covers the host that set it.
#[test]
fn domains_and_host_only_cookies() {
    let from = http("a.example.com:8080", "/");
    let jar = jar_from(
        &from,
        &[
            "host=1",
            "dom=2; Domain=example.com",
            "dot=3; Domain=.Example.COM",
            "other=4; Domain=other.com",
            "sub=5; Domain=b.a.example.com",
            "tld=6; Domain=com",
            "empty=7; Domain=",
        ],
    );
    let cases = [
        ("a.example.com", "host=1; dom=2; dot=3; empty=7"),
        ("A.Example.com:9", "host=1; dom=2; dot=3; empty=7"),
        ("example.com", "dom=2; dot=3"),
        ("b.example.com", "dom=2; dot=3"),
        ("x.a.example.com", "dom=2; dot=3"),
        ("notexample.com", ""),
        ("other.com", ""),
        ("com", ""),
    ];
    for (host, expected) in cases {
        assert_eq!(sent(&jar, &http(host, "/")), expected, "to {host}");
    }
}

/// A single-label Domain (no public-suffix list here) is kept only as its
/// own host's, host-only; an IP address matches only itself.
#[test]
fn single_labels_and_ip_addresses() {
    let jar = jar_from(&http("localhost", "/"), &["l=1; Domain=localhost"]);
    assert_eq!(sent(&jar, &http("localhost:1", "/")), "l=1");
    assert_eq!(sent(&jar, &http("x.localhost", "/")), "");
    let jar = jar_from(
        &http("127.0.0.1:8080", "/"),
        &["ip=1", "part=2; Domain=0.0.1"],
    );
    assert_eq!(sent(&jar, &http("127.0.0.1", "/")), "ip=1");
    assert_eq!(sent(&jar, &http("127.0.0.2", "/")), "");
    let jar = jar_from(&http("[::1]:8080", "/"), &["v6=1"]);
    assert_eq!(jar.cookies[0].domain, b"[::1]");
    assert_eq!(sent(&jar, &http("[::1]", "/x")), "v6=1");
}

/// Without `Path` (or with one that is not a path) a cookie belongs to the
/// directory of the request's path; it goes to that path and below it,
/// never to a sibling that merely starts the same.
#[test]
fn paths_and_their_defaults() {
    let from = http("h", "/shop/cart/item?id=7");
    let jar = jar_from(
        &from,
        &[
            "dflt=1",
            "docs=2; Path=/docs",
            "slash=3; Path=/a/",
            "bad=4; Path=x",
        ],
    );
    let cases = [
        ("/shop/cart", "dflt=1; bad=4"),
        ("/shop/cart/", "dflt=1; bad=4"),
        ("/shop/cart/x?y", "dflt=1; bad=4"),
        ("/shop/cartx", ""),
        ("/shop", ""),
        ("/docs", "docs=2"),
        ("/docs/web", "docs=2"),
        ("/docsets", ""),
        ("/a/", "slash=3"),
        ("/a/b", "slash=3"),
        ("/a", ""),
        ("/", ""),
    ];
    for (path, expected) in cases {
        assert_eq!(sent(&jar, &http("h", path)), expected, "to {path}");
    }
    for (request_path, default) in [
        ("/", "/"),
        ("/x", "/"),
        ("", "/"),
        ("x/y", "/"),
        ("/a/b", "/a"),
        ("/a/b/", "/a/b"),
    ] {
        let jar = jar_from(&http("h", request_path), &["c=1"]);
        assert_eq!(jar.cookies[0].path, default.as_bytes(), "{request_path:?}");
    }
}

/// A Secure cookie goes only over https.
#[test]
fn secure_cookies_go_over_https_only() {
    let jar = jar_from(&http("h", "/"), &["s=1; Secure", "p=2"]);
    assert_eq!(sent(&jar, &http("h", "/")), "p=2");
    assert_eq!(sent(&jar, &CookieUrl::new("h", "/", true)), "s=1; p=2");
}

/// Longer paths go first, then older cookies; setting one again replaces
/// its value in place, and the same name with another path or domain is
/// another cookie.
#[test]
fn order_and_replacement() {
    let from = http("a.example.com", "/");
    let mut jar = jar_from(&from, &["a=1", "b=1; Path=/x/y", "c=1; Path=/x"]);
    jar.store(
        &head(&["a=2", "a=3; Path=/x", "a=4; Domain=example.com"]),
        &from,
    );
    assert_eq!(
        sent(&jar, &http("a.example.com", "/x/y")),
        "b=1; c=1; a=3; a=2; a=4"
    );
    assert_eq!(jar.get("a"), Some(&b"4"[..]), "the one set last");
    assert_eq!(jar.len(), 5);
}

/// Max-Age <= 0 and a past Expires delete the cookie of that name, domain
/// and path only; a future Expires keeps it; Max-Age wins over Expires.
#[test]
fn expired_cookies_are_deleted() {
    let from = http("h", "/");
    let mut jar = jar_from(&from, &["k=v; Path=/", "k=w; Path=/p", "a=1"]);
    jar.store(&head(&["k=; Max-Age=0; Path=/"]), &from);
    assert_eq!(sent(&jar, &http("h", "/p")), "k=w; a=1");
    jar.store(&head(&["a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"]), &from);
    assert_eq!(jar.get("a"), None);
    jar.store(
        &head(&["b=2; Expires=Fri, 01 Jan 2100 00:00:00 GMT"]),
        &from,
    );
    assert_eq!(jar.get("b"), Some(&b"2"[..]));
    jar.store(
        &head(&["b=3; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT"]),
        &from,
    );
    assert_eq!(jar.get("b"), Some(&b"3"[..]));
    assert_eq!(
        http_date_unix_s("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(784_111_777)
    );
    assert_eq!(
        http_date_unix_s("Sunday, 06-Nov-94 08:49:37 GMT"),
        Some(784_111_777)
    );
    assert_eq!(http_date_unix_s("not a date"), None);
}

/// A target that sets a new name on every response leaves the jar at its
/// cap: the cookies set least recently make room, a cookie set again stays,
/// and a full jar stores without growing.
#[test]
fn the_jar_is_bounded() {
    let from = http("h", "/");
    let mut jar = CookieJar::default();
    jar.store(&head(&["session=s"]), &from);
    for i in 0..3 * COOKIES_PER_USER_MAX {
        jar.store(&head(&[&format!("c{i}=1"), "session=s"]), &from);
        assert!(jar.len() <= COOKIES_PER_USER_MAX);
    }
    assert_eq!(jar.len(), COOKIES_PER_USER_MAX);
    let header = sent(&jar, &from);
    assert_eq!(header.matches('=').count(), COOKIES_PER_USER_MAX);
    assert!(header.starts_with("session=s; c101=1; "), "{header}");
    assert!(header.ends_with("; c149=1"), "{header}");
    let capacity = jar.cookies.capacity();
    for i in 0..COOKIES_PER_USER_MAX {
        jar.store(&head(&[&format!("d{i}=1")]), &from);
    }
    assert_eq!(jar.cookies.capacity(), capacity);
    let header = sent(&jar, &from);
    assert!(
        header.starts_with("d0=1; ") && header.ends_with("; d49=1"),
        "{header}"
    );
    let big = format!("big={}", "x".repeat(COOKIE_BYTES_MAX));
    let jar = jar_from(&from, &[&big, "nameless", "=1", "ok=1"]);
    assert_eq!(sent(&jar, &from), "ok=1");
}

/// A request head says where it goes: host from `Host` (port dropped,
/// lower-cased), path from the request line (query dropped).
#[test]
fn urls_are_read_from_the_request_head() {
    let mut url = CookieUrl::default();
    url.read_request(
        b"POST /a/b?c=/d HTTP/1.1\r\nhost: WWW.Example.com:8443\r\nX: y\r\n\r\nbody",
        true,
    );
    assert_eq!(url.host, b"www.example.com");
    assert_eq!(url.path, b"/a/b");
    assert!(url.https);
}
