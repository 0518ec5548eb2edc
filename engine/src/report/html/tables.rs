//! The HTML report's tables: requests per endpoint, response-time
//! percentiles (and service times in open loop), and failures.
//!
//! Each section is built from the aggregator's cumulative totals; every cell's
//! text is escaped here, in one place. The page around the tables is `html`'s.

use std::fmt::Write as _;

use super::format::{self, escape};
use crate::report::console::format_ms;
use crate::stats::{max_ms, percentile_ms, Aggregator, EndpointTotals};

/// Percentiles of the percentile table (Locust's).
const PERCENTILES: [f64; 11] = [
    50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0,
];

/// A table cell: its text (escaped when rendered) and CSS class.
struct Cell {
    text: String,
    class: &'static str,
}

/// A number cell.
fn num(text: String) -> Cell {
    Cell { text, class: "" }
}

/// A text cell.
fn text(text: &str) -> Cell {
    Cell {
        text: text.to_string(),
        class: "text",
    }
}

/// An endpoint name cell, which may wrap.
fn name(text: &str) -> Cell {
    Cell {
        text: text.to_string(),
        class: "text name",
    }
}

/// A table: header labels (a leading `<` marks a text column), rows, and an optional footer row.
fn table(head: &[&str], rows: Vec<Vec<Cell>>, foot: Option<Vec<Cell>>) -> String {
    let mut out = String::from("<div class=\"table-wrap\"><table>\n<thead><tr>");
    for label in head {
        match label.strip_prefix('<') {
            Some(label) => {
                let _ = write!(out, "<th class=\"text\">{}</th>", escape(label));
            }
            None => {
                let _ = write!(out, "<th>{}</th>", escape(label));
            }
        }
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let row = |out: &mut String, cells: &[Cell]| {
        out.push_str("<tr>");
        for cell in cells {
            if cell.class.is_empty() {
                let _ = write!(out, "<td>{}</td>", escape(&cell.text));
            } else {
                let _ = write!(
                    out,
                    "<td class=\"{}\">{}</td>",
                    cell.class,
                    escape(&cell.text)
                );
            }
        }
        out.push_str("</tr>\n");
    };
    for cells in &rows {
        row(&mut out, cells);
    }
    out.push_str("</tbody>\n");
    if let Some(cells) = foot {
        out.push_str("<tfoot>\n");
        row(&mut out, &cells);
        out.push_str("</tfoot>\n");
    }
    out.push_str("</table></div>\n");
    out
}

/// Requests, failures, rates, times and sizes per endpoint, with the aggregated row.
pub fn endpoints_section(agg: &Aggregator, duration_s: f64) -> String {
    let head = [
        "<Method", "<Name", "Requests", "Failures", "Fail %", "RPS", "Avg ms", "Min ms", "Max ms",
        "p50", "p90", "p95", "p99", "p99.9", "Avg size",
    ];
    let row = |e: &EndpointTotals| {
        let mut failures = num(format::count(e.failures));
        if e.failures > 0 {
            failures.class = "bad";
        }
        let mut cells = vec![
            text(&e.method),
            name(&e.name),
            num(format::count(e.requests)),
            failures,
            num(format::percent(e.failure_percent())),
            num(format::rate(e.rps(duration_s))),
            num(format_ms(e.avg_ms())),
            num(format_ms(e.min_ms())),
            num(format_ms(e.max_ms())),
        ];
        cells.extend([50.0, 90.0, 95.0, 99.0, 99.9].map(|q| num(format_ms(e.percentile_ms(q)))));
        cells.push(num(format::bytes(e.avg_size_bytes())));
        cells
    };
    let rows = agg.endpoints().iter().map(row).collect();
    let foot = (agg.endpoints().len() != 1).then(|| row(&agg.total()));
    format!(
        "<section id=\"endpoints\">\n<h2>Requests per endpoint</h2>\n{}</section>\n",
        table(&head, rows, foot)
    )
}

/// The object table (`object-report`): per endpoint objects per second,
/// MiB per second, time to first and to last byte, failures.
pub fn objects_section(agg: &Aggregator, duration_s: f64) -> String {
    use crate::report::objects::{rows, ObjectRow};
    let head = [
        "<Method",
        "<Name",
        "Objects",
        "Objects/s",
        "MiB/s",
        "TTFB p50 ms",
        "TTFB p99 ms",
        "TTLB p50 ms",
        "TTLB p99 ms",
        "Failures",
    ];
    let row = |r: &ObjectRow| {
        let mut failures = num(format::count(r.failures));
        if r.failures > 0 {
            failures.class = "bad";
        }
        vec![
            text(&r.method),
            name(&r.name),
            num(format::count(r.objects)),
            num(format::rate(r.objects_per_s)),
            num(format!("{:.2}", r.mib_per_s)),
            num(format_ms(r.ttfb_ms[0])),
            num(format_ms(r.ttfb_ms[1])),
            num(format_ms(r.ttlb_ms[0])),
            num(format_ms(r.ttlb_ms[1])),
            failures,
        ]
    };
    let (rows, total) = rows(agg, duration_s);
    let foot = (rows.len() != 1).then(|| row(&total));
    let rows = rows.iter().map(row).collect();
    format!(
        "<section id=\"objects\">\n<h2>Objects</h2>\n<p class=\"hint\">An object is a request that \
         succeeded; MiB/s counts the bodies both ways (sent for uploads, received for downloads); \
         TTLB, the time to last byte, is the response time.</p>\n{}</section>\n",
        table(&head, rows, foot)
    )
}

/// Response-time percentiles per endpoint; in open loop also service times.
pub fn percentiles_section(agg: &Aggregator) -> String {
    let mut head = vec!["<Method".to_string(), "<Name".to_string()];
    head.extend(PERCENTILES.iter().map(|q| format!("{q}%")));
    head.push("Requests".to_string());
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let row = |e: &EndpointTotals| {
        let mut cells = vec![text(&e.method), name(&e.name)];
        cells.extend(
            PERCENTILES
                .iter()
                .map(|&q| num(format_ms(e.percentile_ms(q)))),
        );
        cells.push(num(format::count(e.requests)));
        cells
    };
    let rows = agg.endpoints().iter().map(row).collect();
    let foot = (agg.endpoints().len() != 1).then(|| row(&agg.total()));
    let mut out = format!(
        "<section id=\"percentiles\">\n<h2>Response time percentiles (ms)</h2>\n{}",
        table(&head, rows, foot)
    );
    let service: Vec<&EndpointTotals> = agg
        .endpoints()
        .iter()
        .filter(|e| e.service_us.is_some())
        .collect();
    if !service.is_empty() {
        out.push_str(
            "<h3>Service time (ms), from the actual send</h3>\n<p class=\"hint\">The table above measures \
             from the intended send time, so it includes any wait for a free slot (coordinated omission \
             corrected); this one measures from the moment the request was written.</p>\n",
        );
        let head = [
            "<Method", "<Name", "p50", "p90", "p95", "p99", "p99.9", "Max",
        ];
        let rows = service
            .iter()
            .filter_map(|e| {
                let histogram = e.service_us.as_ref()?;
                let mut cells = vec![text(&e.method), name(&e.name)];
                cells.extend(
                    [50.0, 90.0, 95.0, 99.0, 99.9]
                        .map(|q| num(format_ms(percentile_ms(histogram, q)))),
                );
                cells.push(num(format_ms(max_ms(histogram))));
                Some(cells)
            })
            .collect();
        out.push_str(&table(&head, rows, None));
    }
    out.push_str(&timing_tables(agg));
    out.push_str("</section>\n");
    out
}

/// Time to first byte per endpoint, and connect and TLS handshake times
/// over the run; nothing when none was recorded.
fn timing_tables(agg: &Aggregator) -> String {
    let head = [
        "<Method", "<Name", "p50", "p90", "p95", "p99", "p99.9", "Max",
    ];
    let cells_of = |histogram: &hdrhistogram::Histogram<u64>| {
        let mut cells: Vec<Cell> = [50.0, 90.0, 95.0, 99.0, 99.9]
            .map(|q| num(format_ms(percentile_ms(histogram, q))))
            .into();
        cells.push(num(format_ms(max_ms(histogram))));
        cells
    };
    let mut out = String::new();
    if !agg.total().ttfb_us.is_empty() {
        out.push_str(
            "<h3>Time to first byte (ms)</h3>\n<p class=\"hint\">From the same start as the response \
             time above (which is the time to the last byte) to the first byte of the response.</p>\n",
        );
        let row = |e: &EndpointTotals| {
            let mut cells = vec![text(&e.method), name(&e.name)];
            cells.extend(cells_of(&e.ttfb_us));
            cells
        };
        let rows = agg.endpoints().iter().map(row).collect();
        let foot = (agg.endpoints().len() != 1).then(|| row(&agg.total()));
        out.push_str(&table(&head, rows, foot));
    }
    let dial = agg.dial_totals();
    let rows: Vec<Vec<Cell>> = [
        ("TCP connect", &dial.connect_us),
        ("TLS handshake", &dial.tls_handshake_us),
    ]
    .into_iter()
    .filter_map(|(label, h)| {
        let h = h.as_ref().filter(|h| !h.is_empty())?;
        let mut cells = vec![text(label), num(format::count(h.len()))];
        cells.extend(cells_of(h));
        Some(cells)
    })
    .collect();
    if !rows.is_empty() {
        out.push_str("<h3>Connection setup (ms), all origins</h3>\n");
        let head = [
            "<Phase",
            "Connections",
            "p50",
            "p90",
            "p95",
            "p99",
            "p99.9",
            "Max",
        ];
        out.push_str(&table(&head, rows, None));
    }
    if !dial.addresses.is_empty() {
        out.push_str("<h3>Requests by target address</h3>\n");
        let rows = dial
            .addresses
            .iter()
            .map(|(addr, n)| vec![text(addr), num(format::count(*n))])
            .collect();
        out.push_str(&table(&["<Address", "Requests"], rows, None));
    }
    out
}

/// Each distinct failure with its count, most frequent first.
pub fn failures_section(agg: &Aggregator) -> String {
    let failures = agg.failures();
    let mut out = String::from("<section id=\"failures\">\n<h2>Failures</h2>\n");
    if failures.is_empty() {
        out.push_str("<p class=\"panel empty\">No failures.</p>\n");
    } else {
        let all: u64 = failures.iter().map(|f| f.count).sum();
        let head = [
            "<Method",
            "<Name",
            "<Kind",
            "<Message",
            "Count",
            "Share",
            "<First sample",
        ];
        let rows = failures
            .iter()
            .map(|f| {
                vec![
                    text(&f.method),
                    name(&f.name),
                    text(f.kind.as_str()),
                    name(&f.message),
                    num(format::count(f.count)),
                    num(format::percent(100.0 * f.count as f64 / all.max(1) as f64)),
                    name(&sample_text(f.sample.as_ref())),
                ]
            })
            .collect();
        out.push_str(&table(&head, rows, None));
    }
    out.push_str("</section>\n");
    out
}

/// A failure sample in one line: the request sent, the status, the body's start.
fn sample_text(sample: Option<&stampede_proto::FailureSample>) -> String {
    let Some(sample) = sample else {
        return String::new();
    };
    let status = match sample.status {
        0 => "no response".to_string(),
        status => format!("HTTP {status}"),
    };
    let body: String = String::from_utf8_lossy(&sample.body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let body = body.trim();
    if body.is_empty() {
        format!("{} → {status}", sample.request)
    } else {
        format!("{} → {status}: {body}", sample.request)
    }
}

/// The workers table of a distributed run: what each worker did over the
/// run (its peak users, average rate and average shard CPU), as the
/// console's final table.
pub fn workers_section(workers: &[crate::report::workers::WorkerRow]) -> String {
    let mut out = String::from("<section id=\"workers\">\n<h2>Workers</h2>\n");
    let head = [
        "Worker",
        "<Host",
        "Cores",
        "<State",
        "Peak users",
        "Average req/s",
        "Average CPU %",
        "Requests",
    ];
    let rows = workers
        .iter()
        .map(|w| {
            vec![
                num(w.id.to_string()),
                name(&w.host),
                num(w.cores.to_string()),
                text(w.state),
                num(format::count(u64::from(w.users_peak))),
                num(format::rate(w.rps_mean)),
                num(format!("{:.1}", w.cpu_percent_mean)),
                num(format::count(w.requests)),
            ]
        })
        .collect();
    out.push_str(&table(&head, rows, None));
    out.push_str("</section>\n");
    out
}
