//! Console tables in Locust's layout: request stats, response-time
//! percentiles, and the error report.
//!
//! Each function reads an aggregator and returns the whole table as a
//! string ending in a newline; printing it, and refreshing the live one every
//! 2 s, is the caller's job. Times are milliseconds, written by one rule
//! everywhere ([`format_ms`]): two decimals below 1 ms, one below 10 ms,
//! whole numbers above.

use crate::stats::{Aggregator, EndpointTotals, Rates};

/// Width of the Type (method) column.
const TYPE_WIDTH: usize = 8;
/// Narrowest Name column.
const NAME_WIDTH_MIN: usize = 25;
/// Widest Name column; longer names are cut with an ellipsis.
const NAME_WIDTH_MAX: usize = 60;
/// Percentiles of the percentile table (Locust's); each header is the number and `%`.
const PERCENTILES: [f64; 11] = [
    50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0,
];

/// Which requests-per-second the stats table shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RpsMode {
    /// Over the last completed intervals: the live table.
    Current,
    /// Over the whole run of `duration_s` seconds: the final table.
    Overall {
        /// Length of the run in seconds.
        duration_s: f64,
    },
}

/// One column of a table.
struct Column {
    /// Minimum width; a longer cell widens its row rather than being cut.
    width: usize,
    /// Left-aligned (text) rather than right-aligned (numbers).
    left: bool,
    /// Starts a group, set off by ` | ` instead of a space.
    group: bool,
}

impl Column {
    fn text(width: usize) -> Self {
        Column {
            width,
            left: true,
            group: false,
        }
    }
    fn number(width: usize) -> Self {
        Column {
            width,
            left: false,
            group: false,
        }
    }
    fn grouped(self) -> Self {
        Column {
            group: true,
            ..self
        }
    }
}

/// The request stats table: counts, failures, times and rates per endpoint.
pub fn stats_table(agg: &Aggregator, rps_mode: RpsMode) -> String {
    let name_width = name_width(agg);
    let columns = [
        Column::text(TYPE_WIDTH),
        Column::text(name_width),
        Column::number(7),
        Column::number(12),
        Column::number(7).grouped(),
        Column::number(7),
        Column::number(7),
        Column::number(7),
        Column::number(7).grouped(),
        Column::number(11),
    ];
    let header = [
        "Type",
        "Name",
        "# reqs",
        "# fails",
        "Avg",
        "Min",
        "Max",
        "Med",
        "req/s",
        "failures/s",
    ];
    let rows = agg.endpoints().iter().enumerate().map(|(index, e)| {
        let rates = match rps_mode {
            RpsMode::Current => agg.current_endpoint_rates(index),
            RpsMode::Overall { duration_s } => overall_rates(e, duration_s),
        };
        stats_cells(e, rates, name_width)
    });
    let total = agg.total();
    let total_rates = match rps_mode {
        RpsMode::Current => Rates {
            requests_per_s: agg.current_rps(),
            failures_per_s: agg.current_failures_per_s(),
        },
        RpsMode::Overall { duration_s } => overall_rates(&total, duration_s),
    };
    let total_row = stats_cells(&total, total_rates, name_width);
    table(&columns, &cells(&header), rows, total_row)
}

/// The response-time percentile table, in milliseconds, per endpoint.
pub fn percentile_table(agg: &Aggregator) -> String {
    percentiles_of(
        agg,
        "Response time percentiles (ms)",
        EndpointTotals::percentile_ms,
    )
}

/// Time to first byte and connection setup, after the percentile table:
/// a TTFB table like it and one line of connect and TLS handshake times;
/// empty when no response and no connection was recorded.
pub fn timing_tables(agg: &Aggregator) -> String {
    let mut text = String::new();
    if !agg.total().ttfb_us.is_empty() {
        text.push('\n');
        text.push_str(&percentiles_of(
            agg,
            "Time to first byte percentiles (ms)",
            EndpointTotals::ttfb_percentile_ms,
        ));
    }
    let dial = agg.dial_totals();
    let times = |label: &str, h: &Option<hdrhistogram::Histogram<u64>>| match h {
        Some(h) if !h.is_empty() => format!(
            "{label} p50 {} ms, p99 {} ms, max {} ms ({} connections)",
            format_ms(crate::stats::percentile_ms(h, 50.0)),
            format_ms(crate::stats::percentile_ms(h, 99.0)),
            format_ms(crate::stats::max_ms(h)),
            h.len()
        ),
        _ => String::new(),
    };
    let lines: Vec<String> = [
        times("Connect", &dial.connect_us),
        times("TLS handshake", &dial.tls_handshake_us),
    ]
    .into_iter()
    .filter(|l| !l.is_empty())
    .collect();
    if !lines.is_empty() {
        text.push('\n');
        text.push_str(&lines.join("; "));
    }
    if dial.addresses.len() > 1 {
        let spread: Vec<String> = dial
            .addresses
            .iter()
            .map(|(a, n)| format!("{a} {n}"))
            .collect();
        text.push_str(&format!("\nRequests by address: {}", spread.join(", ")));
    }
    text
}

/// A percentile table titled `title` of the values `at(endpoint, q)` gives.
fn percentiles_of(agg: &Aggregator, title: &str, at: fn(&EndpointTotals, f64) -> f64) -> String {
    let name_width = name_width(agg);
    let mut columns = vec![Column::text(TYPE_WIDTH), Column::text(name_width)];
    columns.extend(PERCENTILES.iter().map(|_| Column::number(6)));
    columns.push(Column::number(7).grouped());
    let mut header = cells(&["Type", "Name"]);
    header.extend(PERCENTILES.iter().map(|q| format!("{q}%")));
    header.push("# reqs".to_string());
    let rows = agg
        .endpoints()
        .iter()
        .map(|e| percentile_cells(e, name_width, at));
    let total_row = percentile_cells(&agg.total(), name_width, at);
    let body = table(&columns, &header, rows, total_row);
    format!("{title}\n{body}")
}

/// The error report: each distinct failure with its occurrences, most frequent first.
pub fn failures_table(agg: &Aggregator) -> String {
    let failures = agg.failures();
    if failures.is_empty() {
        return "Error report: no failures.\n".to_string();
    }
    let errors: Vec<String> = failures
        .iter()
        .map(|f| {
            let endpoint = format!("{} {}", f.method, f.name);
            format!(
                "{}: {}: {}",
                endpoint.trim_start(),
                f.kind.as_str(),
                f.message
            )
        })
        .collect();
    let error_width = errors.iter().map(|e| e.chars().count()).max().unwrap_or(0);
    let columns = [Column::number(13), Column::text(error_width).grouped()];
    let mut out = String::from("Error report\n");
    out.push_str(&row(&columns, &cells(&["# occurrences", "Error"])));
    out.push_str(&separator(&columns));
    for (failure, error) in failures.iter().zip(errors) {
        out.push_str(&row(&columns, &[failure.count.to_string(), error]));
    }
    out.push_str(&separator(&columns));
    let samples: Vec<String> = failures
        .iter()
        .filter_map(|f| {
            let sample = f.sample.as_ref()?;
            let status = match sample.status {
                0 => "no response".to_string(),
                status => format!("HTTP {status}"),
            };
            let body: String = String::from_utf8_lossy(&sample.body)
                .chars()
                .take(SAMPLE_BODY_CHARS)
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let body = if body.trim().is_empty() {
                String::new()
            } else {
                format!(", body: {}", body.trim())
            };
            Some(format!(
                "  {}: {} -> {status}{body}\n",
                f.kind.as_str(),
                sample.request
            ))
        })
        .collect();
    if !samples.is_empty() {
        out.push_str("Failure samples (the first of each)\n");
        samples.iter().for_each(|s| out.push_str(s));
    }
    out
}

/// Characters of a sample's body shown in the console.
const SAMPLE_BODY_CHARS: usize = 100;

/// A time in milliseconds: two decimals below 1 ms, one below 10 ms, else whole.
///
/// The bounds sit just under 1 and 10 so that a value rounding up to them
/// (0.996, 9.96) is written in the next tier ("1.0", "10"), not as "1.00".
pub fn format_ms(ms: f64) -> String {
    if ms < 0.995 {
        format!("{ms:.2}")
    } else if ms < 9.95 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// Cells of one stats row.
fn stats_cells(e: &EndpointTotals, rates: Rates, name_width: usize) -> Vec<String> {
    vec![
        e.method.clone(),
        fit_name(&e.name, name_width),
        e.requests.to_string(),
        format!("{}({:.2}%)", e.failures, e.failure_percent()),
        format_ms(e.avg_ms()),
        format_ms(e.min_ms()),
        format_ms(e.max_ms()),
        format_ms(e.percentile_ms(50.0)),
        format!("{:.2}", rates.requests_per_s),
        format!("{:.2}", rates.failures_per_s),
    ]
}

/// Cells of one percentile row, values from `at`.
fn percentile_cells(
    e: &EndpointTotals,
    name_width: usize,
    at: fn(&EndpointTotals, f64) -> f64,
) -> Vec<String> {
    let mut cells = vec![e.method.clone(), fit_name(&e.name, name_width)];
    cells.extend(PERCENTILES.iter().map(|&q| format_ms(at(e, q))));
    cells.push(e.requests.to_string());
    cells
}

/// Rates over the whole run.
fn overall_rates(e: &EndpointTotals, duration_s: f64) -> Rates {
    Rates {
        requests_per_s: e.rps(duration_s),
        failures_per_s: e.failures_per_s(duration_s),
    }
}

/// Header, separator, endpoint rows, separator, and the Aggregated row.
fn table(
    columns: &[Column],
    header: &[String],
    rows: impl Iterator<Item = Vec<String>>,
    total_row: Vec<String>,
) -> String {
    let mut out = row(columns, header);
    out.push_str(&separator(columns));
    for cells in rows {
        out.push_str(&row(columns, &cells));
    }
    out.push_str(&separator(columns));
    out.push_str(&row(columns, &total_row));
    out
}

/// One line of cells, padded to their columns.
fn row(columns: &[Column], cells: &[String]) -> String {
    let mut line = String::new();
    for (i, (column, cell)) in columns.iter().zip(cells).enumerate() {
        if i > 0 {
            line.push_str(if column.group { " | " } else { " " });
        }
        let width = column.width;
        if column.left {
            line.push_str(&format!("{cell:<width$}"));
        } else {
            line.push_str(&format!("{cell:>width$}"));
        }
    }
    line.truncate(line.trim_end().len());
    line.push('\n');
    line
}

/// The dashed line under a header, with `|` where columns meet.
fn separator(columns: &[Column]) -> String {
    let mut line = String::new();
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            line.push_str(if column.group { "-|-" } else { "|" });
        }
        line.push_str(&"-".repeat(column.width));
    }
    line.push('\n');
    line
}

/// Width of the Name column: the longest name, within the bounds.
fn name_width(agg: &Aggregator) -> usize {
    let longest = agg.endpoints().iter().map(|e| e.name.chars().count());
    longest
        .max()
        .unwrap_or(0)
        .clamp(NAME_WIDTH_MIN, NAME_WIDTH_MAX)
}

/// The name, cut to `width` characters with an ellipsis when longer.
fn fit_name(name: &str, width: usize) -> String {
    if name.chars().count() <= width {
        return name.to_string();
    }
    let mut cut: String = name.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Owned copies of header labels.
fn cells(labels: &[&str]) -> Vec<String> {
    labels.iter().map(|label| label.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::{endpoint, snapshot};
    use stampede_proto::FailureKind::{Connect, Status};

    /// GET / from two sources, a failing POST /login, all in interval 1.
    fn run() -> Aggregator {
        let mut agg = Aggregator::new();
        let login = endpoint("POST", "/login", &[500], &[(Status, "HTTP 500", 1)]);
        let home = endpoint("GET", "/", &[20_000, 40_000], &[]);
        agg.merge(&snapshot(0, 1, 1, vec![home, login])).unwrap();
        let home = endpoint("GET", "/", &[30_000, 50_000], &[]);
        agg.merge(&snapshot(1, 1, 1, vec![home])).unwrap();
        agg
    }

    /// The whitespace-separated words of the first line starting with `start`.
    fn words(table: &str, start: &str) -> Vec<String> {
        let line = table.lines().find(|l| l.starts_with(start));
        let line = line.unwrap_or_else(|| panic!("no line {start:?} in\n{table}"));
        line.split_whitespace().map(str::to_string).collect()
    }

    /// The final stats table has Locust's columns, each endpoint's numbers, and the Aggregated row.
    #[test]
    fn stats_table_shows_columns_rows_and_aggregate() {
        let table = stats_table(&run(), RpsMode::Overall { duration_s: 2.0 });
        let header = "Type Name # reqs # fails | Avg Min Max Med | req/s failures/s";
        assert_eq!(words(&table, "Type").join(" "), header);
        let get = "GET / 4 0(0.00%) | 35 20 50 30 | 2.00 0.00";
        assert_eq!(words(&table, "GET").join(" "), get);
        let post = "POST /login 1 1(100.00%) | 0.50 0.50 0.50 0.50 | 0.50 0.50";
        assert_eq!(words(&table, "POST").join(" "), post);
        let total = "Aggregated 5 1(20.00%) | 28 0.50 50 30 | 2.50 0.50";
        assert_eq!(words(&table, "         Aggregated").join(" "), total);
        let bars: Vec<Option<usize>> = table.lines().map(|l| l.find(" | ")).collect();
        assert_eq!(bars.iter().flatten().count(), 4, "{table}");
        assert!(
            bars.iter().flatten().all(|&at| Some(at) == bars[0]),
            "{table}"
        );
        assert_eq!(
            table.lines().filter(|l| l.starts_with("--------|")).count(),
            2
        );
    }

    /// The live table shows rates over completed intervals, not over the whole run.
    #[test]
    fn live_table_uses_current_rates() {
        let mut agg = run();
        agg.merge(&snapshot(
            0,
            2,
            1,
            vec![endpoint("GET", "/", &[1_000; 6], &[])],
        ))
        .unwrap();
        agg.merge(&snapshot(1, 2, 1, vec![])).unwrap();
        agg.merge(&snapshot(
            0,
            3,
            1,
            vec![endpoint("GET", "/", &[1_000; 50], &[])],
        ))
        .unwrap();
        // Intervals 1 and 2 are complete: GET / made 4 + 6 requests in 2 s.
        let table = stats_table(&agg, RpsMode::Current);
        assert_eq!(words(&table, "GET")[10..], ["5.00", "0.00"]);
        assert_eq!(words(&table, "POST")[10..], ["0.50", "0.50"]);
        assert_eq!(words(&table, "         Aggregated")[9..], ["5.50", "0.50"]);
    }

    /// The percentile table lists Locust's percentiles in ms, then the request count.
    #[test]
    fn percentile_table_shows_each_percentile() {
        let table = percentile_table(&run());
        assert!(table.starts_with("Response time percentiles (ms)\n"));
        let header = "Type Name 50% 66% 75% 80% 90% 95% 98% 99% 99.9% 99.99% 100% | # reqs";
        assert_eq!(words(&table, "Type").join(" "), header);
        let get = "GET / 30 40 40 50 50 50 50 50 50 50 50 | 4";
        assert_eq!(words(&table, "GET").join(" "), get);
        let total = "Aggregated 30 40 40 40 50 50 50 50 50 50 50 | 5";
        assert_eq!(words(&table, "         Aggregated").join(" "), total);
        let timing = timing_tables(&run());
        assert!(
            timing.starts_with("\nTime to first byte percentiles (ms)\n"),
            "{timing}"
        );
        assert_eq!(words(&timing, "Type").join(" "), header);
    }

    /// Failures are listed as `METHOD name: kind: message`, most frequent first.
    #[test]
    fn failures_table_lists_each_failure() {
        let mut agg = run();
        assert_eq!(
            failures_table(&Aggregator::new()),
            "Error report: no failures.\n"
        );
        let refused = [(Connect, "connection refused", 2)];
        agg.merge(&snapshot(
            1,
            2,
            1,
            vec![endpoint("GET", "/", &[1, 1], &refused)],
        ))
        .unwrap();
        let table = failures_table(&agg);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "Error report");
        assert_eq!(lines[1], "# occurrences | Error");
        assert_eq!(
            lines[3],
            "            2 | GET /: connect: connection refused"
        );
        assert_eq!(lines[4], "            1 | POST /login: status: HTTP 500");
        assert_eq!(lines.len(), 6);
    }

    /// The Name column is at least 25 wide, follows longer names, and cuts past 60 with an ellipsis.
    #[test]
    fn name_column_adapts_and_truncates() {
        let mut agg = Aggregator::new();
        agg.merge(&snapshot(0, 1, 1, vec![endpoint("GET", "/", &[1], &[])]))
            .unwrap();
        assert_eq!(name_width(&agg), NAME_WIDTH_MIN);
        let long = format!("/{}", "a".repeat(40));
        let longer = format!("/{}", "b".repeat(80));
        let endpoints = vec![endpoint("GET", &long, &[1], &[])];
        agg.merge(&snapshot(0, 1, 1, endpoints)).unwrap();
        assert_eq!(name_width(&agg), 41);
        agg.merge(&snapshot(
            0,
            1,
            1,
            vec![endpoint("GET", &longer, &[1], &[])],
        ))
        .unwrap();
        assert_eq!(name_width(&agg), NAME_WIDTH_MAX);
        let cut = format!("/{}…", "b".repeat(58));
        let table = stats_table(&agg, RpsMode::Current);
        assert!(table.contains(&format!("GET      {cut} ")), "{table}");
        assert!(table.contains(&format!("GET      {long} ")), "{table}");
    }

    /// Times keep about three significant figures without ever printing "1.00" or "10.0".
    #[test]
    fn times_format_by_one_rule() {
        let cases = [
            (0.0, "0.00"),
            (0.05, "0.05"),
            (0.996, "1.0"),
            (1.234, "1.2"),
        ];
        let more = [(9.96, "10"), (12.6, "13"), (1_234.4, "1234")];
        for (ms, text) in cases.into_iter().chain(more) {
            assert_eq!(format_ms(ms), text, "{ms}");
        }
    }
}
