//! The report in object terms, for object workloads (`object-report`, set
//! by `stampede s3`): per endpoint (one per operation and size class, e.g.
//! `put 4KiB`), objects per second, MiB per second, time to first byte and
//! time to last byte, and failures.
//!
//! An *object* is a request that succeeded. Its bytes are the body bytes it
//! moved both ways: the request body sent (what a PUT uploads) plus the
//! response body received (what a GET downloads), counted for every request
//! that got a response. Time to last byte is the response time of the other
//! tables. This module turns an aggregator into rows; the console, HTML and
//! JSON reports each render them.

use serde_json::{json, Value};

use super::json::RunInfo;
use crate::stats::{Aggregator, EndpointTotals};

/// Bytes in a MiB, the unit of the throughput column.
const MIB: f64 = 1024.0 * 1024.0;

/// True when the run asked for the object table (its config's
/// `object_report`; a saved run carries its config, so a replay agrees).
pub fn wanted(info: &RunInfo) -> bool {
    info.config["object_report"].as_bool().unwrap_or(false)
}

/// One endpoint (or all of them) in object terms.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRow {
    /// HTTP method; empty for the total.
    pub method: String,
    /// Endpoint name; `Aggregated` for the total.
    pub name: String,
    /// Requests that succeeded.
    pub objects: u64,
    /// Requests that failed.
    pub failures: u64,
    /// Objects per second over the run.
    pub objects_per_s: f64,
    /// Body bytes sent and received, together.
    pub body_bytes: u64,
    /// Those bytes in MiB per second over the run.
    pub mib_per_s: f64,
    /// Time to first byte, 50th and 99th percentiles, milliseconds.
    pub ttfb_ms: [f64; 2],
    /// Time to last byte (the response time), 50th and 99th percentiles, milliseconds.
    pub ttlb_ms: [f64; 2],
}

impl ObjectRow {
    /// The row of one endpoint's totals over a run of `duration_s` seconds.
    pub fn of(totals: &EndpointTotals, duration_s: f64) -> ObjectRow {
        let objects = totals.requests.saturating_sub(totals.failures);
        let body_bytes = totals.body_bytes_sent.saturating_add(totals.body_bytes);
        let per_s = |n: f64| {
            if duration_s > 0.0 {
                n / duration_s
            } else {
                0.0
            }
        };
        ObjectRow {
            method: totals.method.clone(),
            name: totals.name.clone(),
            objects,
            failures: totals.failures,
            objects_per_s: per_s(objects as f64),
            body_bytes,
            mib_per_s: per_s(body_bytes as f64 / MIB),
            ttfb_ms: [50.0, 99.0].map(|q| totals.ttfb_percentile_ms(q)),
            ttlb_ms: [50.0, 99.0].map(|q| totals.percentile_ms(q)),
        }
    }
}

/// A row per endpoint, then the total.
pub fn rows(agg: &Aggregator, duration_s: f64) -> (Vec<ObjectRow>, ObjectRow) {
    let rows = agg
        .endpoints()
        .iter()
        .map(|e| ObjectRow::of(e, duration_s))
        .collect();
    (rows, ObjectRow::of(&agg.total(), duration_s))
}

/// The summary's `objects` value: the rows and the total.
pub fn json(agg: &Aggregator, duration_s: f64) -> Value {
    let (rows, total) = rows(agg, duration_s);
    let row = |r: &ObjectRow| {
        json!({
            "method": r.method,
            "name": r.name,
            "objects": r.objects,
            "failures": r.failures,
            "objects_per_s": r.objects_per_s,
            "body_bytes": r.body_bytes,
            "mib_per_s": r.mib_per_s,
            "ttfb_ms": {"p50": r.ttfb_ms[0], "p99": r.ttfb_ms[1]},
            "ttlb_ms": {"p50": r.ttlb_ms[0], "p99": r.ttlb_ms[1]},
        })
    };
    json!({
        "endpoints": rows.iter().map(row).collect::<Vec<_>>(),
        "total": row(&total),
    })
}

/// The console's object table, ending in a newline.
pub fn console_table(agg: &Aggregator, duration_s: f64) -> String {
    use super::console::format_ms;
    let (rows, total) = rows(agg, duration_s);
    let name_width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(10, 40);
    let header = format!(
        "{:<8} {:<name_width$} {:>9} {:>10} {:>9} | {:>8} {:>8} | {:>8} {:>8} | {:>8}",
        "Type",
        "Name",
        "objects",
        "objects/s",
        "MiB/s",
        "TTFB p50",
        "TTFB p99",
        "TTLB p50",
        "TTLB p99",
        "# fails"
    );
    let line = |r: &ObjectRow| {
        let name: String = r.name.chars().take(name_width).collect();
        format!(
            "{:<8} {:<name_width$} {:>9} {:>10.1} {:>9.2} | {:>8} {:>8} | {:>8} {:>8} | {:>8}",
            r.method,
            name,
            r.objects,
            r.objects_per_s,
            r.mib_per_s,
            format_ms(r.ttfb_ms[0]),
            format_ms(r.ttfb_ms[1]),
            format_ms(r.ttlb_ms[0]),
            format_ms(r.ttlb_ms[1]),
            r.failures
        )
    };
    let rule = "-".repeat(header.len());
    let mut out = format!(
        "Objects (MiB/s counts request and response bodies; times in ms)\n{header}\n{rule}\n"
    );
    for row in &rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    if rows.len() != 1 {
        out.push_str(&rule);
        out.push('\n');
        out.push_str(&line(&total));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row counts successes as objects and both bodies as bytes, per second of the run.
    #[test]
    fn rows_count_objects_and_both_bodies() {
        let mut put = EndpointTotals::new("PUT", "put 4KiB");
        put.requests = 10;
        put.failures = 2;
        put.body_bytes_sent = 10 * 4096;
        put.body_bytes = 10 * 2;
        for us in [1_000, 2_000, 3_000] {
            put.latency_us.record(us).unwrap();
            put.ttfb_us.record(us / 2).unwrap();
        }
        let row = ObjectRow::of(&put, 2.0);
        assert_eq!((row.objects, row.failures), (8, 2));
        assert_eq!(row.objects_per_s, 4.0);
        assert_eq!(row.body_bytes, 10 * 4098);
        assert!((row.mib_per_s - 10.0 * 4098.0 / MIB / 2.0).abs() < 1e-12);
        assert!((row.ttlb_ms[0] - 2.0).abs() < 0.01, "{:?}", row.ttlb_ms);
        assert!((row.ttfb_ms[1] - 1.5).abs() < 0.01, "{:?}", row.ttfb_ms);
        let empty = ObjectRow::of(&EndpointTotals::new("GET", "get"), 0.0);
        assert_eq!((empty.objects_per_s, empty.mib_per_s), (0.0, 0.0));
    }
}
