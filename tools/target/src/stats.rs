//! The `/__stats` document: the request and connection totals first, exactly
//! as they always were, then the non-2xx responses by status and the
//! successful logins by username. Pure rendering; the numbers come from
//! `counters` and `music`.

use std::io::Write as _;

use crate::counters::Totals;
use crate::music::push_json_str;

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
