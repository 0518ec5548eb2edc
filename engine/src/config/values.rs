//! Parsing single values: durations, counts, rates, booleans, paths,
//! methods, headers, source addresses and target URLs. Pure functions
//! returning a reason on failure; the caller names where the value came from.

use std::time::Duration;

use super::TargetUrl;
use crate::http::tls;

/// Parses a duration: `30s`, `2m`, `1h30m`, `250ms`, or bare seconds (`45`, `0.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || format!("invalid duration '{text}' (use e.g. 30s, 2m, 1h30m, 250ms)");
    if let Ok(seconds) = text.parse::<f64>() {
        return if seconds.is_finite() && seconds >= 0.0 && seconds < 1e9 {
            Ok(Duration::from_secs_f64(seconds))
        } else {
            Err(bad())
        };
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.checked_mul(60).ok_or_else(bad)?),
            "h" => Duration::from_secs(value.checked_mul(3600).ok_or_else(bad)?),
            "d" => Duration::from_secs(value.checked_mul(86_400).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        total = total.checked_add(unit).ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    if text.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// Parses a size in bytes: `1048576`, `64KiB`, `512k`, `1MiB`, `2MB`, `1GiB`.
/// K, M and G are binary (1024, 1024², 1024³) with or without the `i`, as
/// memory sizes go.
pub fn parse_size(text: &str, max: u64) -> Result<u64, String> {
    let text = text.trim();
    let bad =
        || format!("invalid size '{text}' (use e.g. 65536, 64KiB, 1MiB; at most {max} bytes)");
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits].parse().map_err(|_| bad())?;
    let unit = match text[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => return Err(bad()),
    };
    match number.checked_mul(unit) {
        Some(bytes) if (1..=max).contains(&bytes) => Ok(bytes),
        _ => Err(bad()),
    }
}

pub(super) fn parse_count(text: &str, min: u64, max: u64) -> Result<u64, String> {
    let value: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid number '{text}'"))?;
    if value < min || value > max {
        return Err(format!("'{text}' must be between {min} and {max}"));
    }
    Ok(value)
}

pub(super) fn parse_rate(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid rate '{text}'"))?;
    if !(value.is_finite() && value > 0.0 && value <= 1e9) {
        return Err(format!("rate '{text}' must be above 0 (per second)"));
    }
    Ok(value)
}

pub(super) fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" | "" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => Err(format!("invalid boolean '{text}' (use true or false)")),
    }
}

pub(super) fn parse_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') || text.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "path '{text}' must start with '/' and contain no spaces"
        ));
    }
    Ok(text.to_string())
}

pub(super) fn parse_method(text: &str) -> Result<String, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(format!("invalid method '{text}'"));
    }
    Ok(text.to_ascii_uppercase())
}

/// Parses headers given as `Name: value`, several separated by newlines.
pub(super) fn parse_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("header '{line}' is not 'Name: value'"))?;
            let name = name.trim();
            let valid_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid_name || value.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err(format!("invalid header '{line}'"));
            }
            Ok((name.to_string(), value.trim().to_string()))
        })
        .collect()
}

/// Parses `--source-ips`: a range `127.0.0.2-127.0.0.50` (IPv4, last part
/// varying) and/or a comma-separated list of addresses.
pub(super) fn parse_source_ips(text: &str) -> Result<Vec<std::net::IpAddr>, String> {
    use std::net::{IpAddr, Ipv4Addr};
    let mut ips = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || {
            format!(
                "invalid source address '{part}' (use e.g. 127.0.0.2-127.0.0.50 or a list a,b,c)"
            )
        };
        match part.split_once('-') {
            Some((from, to)) => {
                let from: Ipv4Addr = from.trim().parse().map_err(|_| bad())?;
                let to: Ipv4Addr = to.trim().parse().map_err(|_| bad())?;
                let (from, to) = (u32::from(from), u32::from(to));
                if to < from || to - from >= 65_536 {
                    return Err(bad());
                }
                ips.extend((from..=to).map(|n| IpAddr::V4(Ipv4Addr::from(n))));
            }
            None => ips.push(part.parse().map_err(|_| bad())?),
        }
    }
    if ips.is_empty() {
        return Err(format!("'{text}' names no source address"));
    }
    Ok(ips)
}

/// Parses `http[s]://host[:port][/path]`, resolving the host once.
pub fn parse_url(url: &str, path_override: Option<&str>) -> Result<TargetUrl, String> {
    parse_url_with(url, path_override, &[])
}

/// [`parse_url`] with `--resolve` overrides: a named host gets their addresses, not DNS's.
pub fn parse_url_with(
    url: &str,
    path_override: Option<&str>,
    resolve: &[(String, Vec<std::net::IpAddr>)],
) -> Result<TargetUrl, String> {
    let (rest, https) = if let Some(rest) = url.strip_prefix("http://") {
        (rest, false)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (rest, true)
    } else {
        return Err(format!("'{url}' is not an http:// or https:// URL"));
    };
    let (authority, url_path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') || authority.bytes().any(|b| b <= b' ') {
        return Err(format!("'{url}' has no valid host"));
    }
    let (host, port) =
        split_host_port(authority).ok_or_else(|| format!("'{url}' has an invalid port"))?;
    let port = if https && !authority.ends_with(&format!(":{port}")) {
        443
    } else {
        port
    };
    let addrs = crate::http::dns::HostAddrs::resolve(host, port, resolve)?;
    let addr = *addrs
        .current()
        .first()
        .ok_or_else(|| format!("'{host}' resolved to no address"))?;
    let path = match (path_override, url_path) {
        (Some(p), _) => p.to_string(),
        (None, "") => "/".to_string(),
        (None, p) if p.starts_with('?') => format!("/{p}"),
        (None, p) => p.to_string(),
    };
    let tls_name = if https {
        Some(tls::server_name(host)?)
    } else {
        None
    };
    let origin = crate::http::Origin {
        addr,
        addrs,
        tls_name,
    };
    let resolve = resolve.to_vec();
    Ok(TargetUrl {
        url: url.to_string(),
        authority: authority.to_string(),
        path,
        addr,
        origin,
        resolve,
    })
}

/// The host and port of a URL's authority, with the scheme's default port
/// (443 for https) when none is written.
pub fn split_authority(authority: &str, https: bool) -> Option<(&str, u16)> {
    let (host, port) = split_host_port(authority)?;
    let explicit = authority.ends_with(&format!(":{port}"));
    Some((host, if https && !explicit { 443 } else { port }))
}

/// Splits `host:port`, `[v6]:port`, or a bare host (port 80).
pub(super) fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, port.parse().ok()?)),
            None if after.is_empty() => Some((host, 80)),
            None => None,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Some((host, port.parse().ok()?)),
        Some(_) => None,
        None => Some((authority, 80)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    /// Sizes in bytes, KiB, MiB and GiB; zero, overflow, above the maximum and
    /// unknown units are refused.
    #[test]
    fn sizes_parse_with_binary_units() {
        let max = 1 << 30;
        assert_eq!(parse_size("65536", max), Ok(65_536));
        assert_eq!(parse_size("64KiB", max), Ok(65_536));
        assert_eq!(parse_size("64 k", max), Ok(65_536));
        assert_eq!(parse_size("1MiB", max), Ok(1 << 20));
        assert_eq!(parse_size("2MB", max), Ok(2 << 20));
        assert_eq!(parse_size("1GiB", max), Ok(1 << 30));
        for bad in [
            "",
            "0",
            "KiB",
            "2GiB",
            "1TiB",
            "1.5MiB",
            "99999999999999999999",
            "2048MiB",
        ] {
            assert!(parse_size(bad, max).is_err(), "{bad}");
        }
    }

    /// Durations parse in Locust's forms and reject nonsense.
    #[test]
    fn durations_table() {
        let ok: &[(&str, u64)] = &[
            ("30s", 30_000),
            ("2m", 120_000),
            ("1h30m", 5_400_000),
            ("250ms", 250),
            ("45", 45_000),
            ("0.5", 500),
        ];
        for (text, ms) in ok {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(*ms)),
                "{text}"
            );
        }
        for bad in ["", "s", "10x", "-1", "1h-3m", "m5", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    /// URLs resolve to an address, Host authority and path.
    #[test]
    fn urls_table() {
        let t = parse_url("http://127.0.0.1:8080/a/b?c=1", None).unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("127.0.0.1:8080", "/a/b?c=1")
        );
        assert_eq!(t.addr, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
        let t = parse_url("http://[::1]:9000", Some("/x")).unwrap();
        assert_eq!((t.addr.port(), t.path.as_str()), (9000, "/x"));
        assert_eq!(parse_url("http://localhost", None).unwrap().addr.port(), 80);
        for bad in [
            "127.0.0.1:80",
            "ftp://x",
            "http://",
            "http://h:99999",
            "http://:80",
            "http://a b",
        ] {
            assert!(parse_url(bad, None).is_err(), "{bad}");
        }
        let t = parse_url("https://127.0.0.1/a", None).unwrap();
        assert_eq!((t.addr.port(), t.origin.tls_name.is_some()), (443, true));
        assert_eq!(
            parse_url("https://127.0.0.1:8443", None)
                .unwrap()
                .addr
                .port(),
            8443
        );
    }
}
