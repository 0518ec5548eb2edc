//! The `/__stats` document: the request and connection totals first, exactly
//! as they always were, then the non-2xx responses by status and the
//! successful logins by username, and the sections only some servers have
//! (TLS handshakes, requests by path). Pure rendering; the numbers come from
//! `counters` and `music`.

use std::io::Write as _;

use crate::counters::Totals;
use crate::music::push_json_str;
use crate::paths::{PathsSnapshot, OTHER};
use crate::service::{ServiceSnapshot, Summary};

/// Appends the JSON document, for example
/// `{"requests": 7, "connections": 2, "statuses": {"401": 1, "404": 2}, "logins": {"alice": 1}}`.
/// `statuses` and `logins` list only non-zero counts, so each is `{}` at first.
pub fn write_json<'a>(
    totals: Totals,
    statuses: &[(u16, u64)],
    logins: impl Iterator<Item = (&'a str, u64)>,
    out: &mut Vec<u8>,
) {
    let _ = write!(
        out,
        "{{\"requests\": {}, \"connections\": {}, \"statuses\": {{",
        totals.requests, totals.connections
    );
    for (i, (code, n)) in statuses.iter().enumerate() {
        let comma = if i > 0 { ", " } else { "" };
        let _ = write!(out, "{comma}\"{code}\": {n}");
    }
    out.extend_from_slice(b"}, \"logins\": {");
    for (i, (name, n)) in logins.filter(|(_, n)| *n > 0).enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        push_json_str(out, name);
        let _ = write!(out, ": {n}");
    }
    out.extend_from_slice(b"}}");
}

/// Adds `"tls": {"full": n, "resumed": n}` to the document `write_json` wrote.
pub fn append_tls(full: u64, resumed: u64, out: &mut Vec<u8>) {
    out.pop();
    let _ = write!(
        out,
        ", \"tls\": {{\"full\": {full}, \"resumed\": {resumed}}}}}"
    );
}

/// Adds `"body_bytes": n` (request body bytes of counted requests) to the
/// document `write_json` wrote.
pub fn append_body_bytes(body_bytes: u64, out: &mut Vec<u8>) {
    out.pop();
    let _ = write!(out, ", \"body_bytes\": {body_bytes}}}");
}

/// Adds `"stalls": {"requests": n, "stalled": n}` (the `/stall` route's
/// requests and how many of them stalled) to the document `write_json` wrote.
pub fn append_stalls(requests: u64, stalled: u64, out: &mut Vec<u8>) {
    out.pop();
    let _ = write!(
        out,
        ", \"stalls\": {{\"requests\": {requests}, \"stalled\": {stalled}}}}}"
    );
}

/// Adds `"paths": {"/a": n, ..., "__other__": n}` to the document
/// `write_json` wrote: the paths in byte order (as UTF-8, lossily), then
/// `__other__` when it is not zero.
pub fn append_paths(paths: &PathsSnapshot, out: &mut Vec<u8>) {
    out.pop();
    out.extend_from_slice(b", \"paths\": {");
    let other = (paths.other > 0).then_some((OTHER.as_bytes(), paths.other));
    let entries = paths.by_path.iter().map(|(path, n)| (&path[..], *n));
    for (i, (path, n)) in entries.chain(other).enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        push_json_str(out, &String::from_utf8_lossy(path));
        let _ = write!(out, ": {n}");
    }
    out.extend_from_slice(b"}}");
}

/// Adds `"service_ms": {"delay": SPEC, "count": n, "min": ms, "mean": ms,
/// "p50": ms, "p90": ms, "p95": ms, "p99": ms, "p999": ms, "max": ms,
/// "drawn": {...}}` to the document `write_json` wrote: the service times
/// (head parsed to response written) and, under `"drawn"`, the delays drawn,
/// in milliseconds with microsecond precision.
pub fn append_service(service: &ServiceSnapshot, out: &mut Vec<u8>) {
    out.pop();
    out.extend_from_slice(b", \"service_ms\": {\"delay\": ");
    push_json_str(out, &service.delay.to_string());
    out.extend_from_slice(b", ");
    push_summary(&service.served, out);
    out.extend_from_slice(b", \"drawn\": {");
    push_summary(&service.drawn, out);
    out.extend_from_slice(b"}}}");
}

/// The fields of one summary, in milliseconds, without the braces.
fn push_summary(s: &Summary, out: &mut Vec<u8>) {
    let ms = |us: u64| us as f64 / 1000.0;
    let _ = write!(
        out,
        "\"count\": {}, \"min\": {:.3}, \"mean\": {:.3}, \"p50\": {:.3}, \"p90\": {:.3}, \
         \"p95\": {:.3}, \"p99\": {:.3}, \"p999\": {:.3}, \"max\": {:.3}",
        s.count,
        ms(s.min_us),
        s.mean_us / 1000.0,
        ms(s.p50_us),
        ms(s.p90_us),
        ms(s.p95_us),
        ms(s.p99_us),
        ms(s.p999_us),
        ms(s.max_us),
    );
}

#[cfg(test)]
mod tests {
    //! The document's exact shape, empty and full, and that it is valid JSON.
    use super::*;

    fn render(totals: Totals, statuses: &[(u16, u64)], logins: &[(&str, u64)]) -> String {
        let mut out = Vec::new();
        write_json(totals, statuses, logins.iter().copied(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn empty_counters() {
        assert_eq!(
            render(Totals::default(), &[], &[("alice", 0)]),
            r#"{"requests": 0, "connections": 0, "statuses": {}, "logins": {}}"#
        );
    }

    #[test]
    fn optional_sections_come_last() {
        let mut out = Vec::new();
        write_json(Totals::default(), &[], std::iter::empty(), &mut out);
        append_tls(2, 1, &mut out);
        let paths = PathsSnapshot {
            by_path: vec![
                ("/a\"b".as_bytes().into(), 3),
                (b"/redirect/0"[..].into(), 1),
            ],
            other: 2,
        };
        append_paths(&paths, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with(r#", "paths": {"/a\"b": 3, "/redirect/0": 1, "__other__": 2}}"#),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["tls"], serde_json::json!({"full": 2, "resumed": 1}));
        let mut out = Vec::new();
        write_json(Totals::default(), &[], std::iter::empty(), &mut out);
        append_paths(&PathsSnapshot::default(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with(r#""logins": {}, "paths": {}}"#), "{text}");
    }

    #[test]
    fn service_times_render_in_milliseconds() {
        let mut out = Vec::new();
        write_json(Totals::default(), &[], std::iter::empty(), &mut out);
        let served = Summary {
            count: 3,
            min_us: 20_001,
            mean_us: 20_500.5,
            p50_us: 20_100,
            p90_us: 21_000,
            p95_us: 21_500,
            p99_us: 22_000,
            p999_us: 22_000,
            max_us: 22_000,
        };
        let service = ServiceSnapshot {
            delay: crate::delay::Delay::Fixed { us: 20_000 },
            served,
            drawn: Summary::default(),
        };
        append_service(&service, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(r#""service_ms": {"delay": "fixed:20ms", "count": 3, "min": 20.001, "mean": 20.500, "p50": 20.100, "p90": 21.000, "p95": 21.500, "p99": 22.000"#),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["service_ms"]["max"], 22.0);
        assert_eq!(json["service_ms"]["drawn"]["count"], 0);
        assert_eq!(json["requests"], 0);
    }

    #[test]
    fn full_counters_keep_the_old_fields_first() {
        let totals = Totals {
            requests: u64::MAX,
            connections: 20,
        };
        let text = render(
            totals,
            &[(401, 2), (404, 1)],
            &[("alice", 3), ("bob", 0), ("c\"d", 1)],
        );
        let prefix = format!("{{\"requests\": {}, \"connections\": 20, ", u64::MAX);
        assert!(text.starts_with(&prefix), "{text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "requests": u64::MAX,
                "connections": 20,
                "statuses": {"401": 2, "404": 1},
                "logins": {"alice": 3, "c\"d": 1},
            })
        );
    }
}
