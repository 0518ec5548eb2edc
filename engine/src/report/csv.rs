//! Locust-compatible CSV reports (`--csv PREFIX`): `PREFIX_stats.csv`,
//! `PREFIX_stats_history.csv`, `PREFIX_failures.csv` and
//! `PREFIX_exceptions.csv`, with Locust's column names and order, so tools
//! built for Locust's CSV read stampede's unchanged.
//!
//! Each function turns an aggregator into one file's text; [`write_csv`]
//! writes all four at the end of a run. Rows follow Locust's conventions:
//! RFC 4180 quoting and `\r\n` line ends (Python's csv module), endpoints
//! sorted by name then method, an `Aggregated` total row with an empty Type,
//! `N/A` percentiles where there were no requests, and rates in history rows
//! with six decimals. Times are milliseconds like Locust's, but kept to the
//! microsecond (`0.241`) rather than rounded to whole milliseconds, which
//! would read 0 for most requests a fast target serves.

use std::io;
use std::path::{Path, PathBuf};

use super::json::RunInfo;
use crate::stats::{percentile_ms, Aggregator, EndpointTotals, IntervalPoint, LatencyStats};

/// Percentiles of the stats and history files, Locust's, each headed `N%`.
const PERCENTILES: [f64; 11] = [
    50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0,
];

/// Columns of `PREFIX_stats.csv` before the percentiles.
const STATS_COLUMNS: [&str; 11] = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
];
/// Columns of `PREFIX_stats_history.csv` before the percentiles.
const HISTORY_COLUMNS: [&str; 6] = [
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
];
/// Columns of `PREFIX_stats_history.csv` after the percentiles.
const HISTORY_TOTAL_COLUMNS: [&str; 7] = [
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
];
/// Columns of `PREFIX_failures.csv`.
const FAILURES_COLUMNS: [&str; 6] = [
    "Method",
    "Name",
    "Error",
    "Occurrences",
    "First Seen",
    "Last Seen",
];
/// Columns of `PREFIX_exceptions.csv` (Python exceptions; stampede has none).
const EXCEPTIONS_COLUMNS: [&str; 4] = ["Count", "Message", "Traceback", "Nodes"];

/// The four files of a prefix: stats, stats history, failures, exceptions.
///
/// Like Locust, the suffix is appended to the prefix as text, so `out/run`
/// gives `out/run_stats.csv`.
pub fn csv_paths(prefix: &Path) -> [PathBuf; 4] {
    let with = |suffix: &str| {
        let mut name = prefix.as_os_str().to_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    [
        with("_stats.csv"),
        with("_stats_history.csv"),
        with("_failures.csv"),
        with("_exceptions.csv"),
    ]
}

/// `PREFIX_stats.csv`: one row per endpoint and the Aggregated row, rates over
/// a run of `duration_s` seconds.
pub fn stats_csv(agg: &Aggregator, duration_s: f64) -> String {
    let mut out = header(&STATS_COLUMNS, &[]);
    for e in agg.endpoints() {
        push_row(&mut out, &stats_cells(e, duration_s));
    }
    push_row(&mut out, &stats_cells(&agg.total(), duration_s));
    out
}

/// `PREFIX_stats_history.csv`: a row per second for all endpoints merged and,
/// with `full_history`, a row per second for each endpoint seen so far.
///
/// Timestamps are Unix seconds at the end of each second of a run that
/// started at `started_unix_ms`. Rates and percentiles are the second's own;
/// the `Total` columns are cumulative up to the end of that second. Endpoint
/// rows need an aggregator made with `Aggregator::with_endpoint_series`;
/// without one there are only Aggregated rows.
pub fn stats_history_csv(agg: &Aggregator, started_unix_ms: u64, full_history: bool) -> String {
    let mut out = header(&HISTORY_COLUMNS, &HISTORY_TOTAL_COLUMNS);
    let endpoint_count = if full_history {
        agg.endpoints().len()
    } else {
        0
    };
    let mut endpoint_totals: Vec<Running> = (0..endpoint_count).map(|_| Running::new()).collect();
    let mut total = Running::new();
    // Running latencies come from the aggregator: old points' histograms are compacted.
    let endpoint_latency: Vec<Vec<LatencyStats>> = (0..endpoint_count)
        .map(|index| agg.endpoint_running_latency(index))
        .collect();
    let total_latency = agg.timeseries_running_latency();
    for point in agg.timeseries() {
        let at = point.t_s as usize - 1;
        let timestamp = interval_end_unix_s(agg, started_unix_ms, point.t_s);
        let duration_s = point.duration_s();
        for (index, running) in endpoint_totals.iter_mut().enumerate() {
            let e = &agg.endpoints()[index];
            let own = agg.endpoint_timeseries(index).get(at);
            if let Some(own) = own {
                running.add(own, endpoint_latency[index].get(at));
            }
            if running.requests == 0 && running.failures == 0 {
                continue;
            }
            let cells = history_cells(
                timestamp,
                point.users,
                (&e.method, &e.name),
                own,
                duration_s,
                running,
            );
            push_row(&mut out, &cells);
        }
        total.add(point, total_latency.get(at));
        let cells = history_cells(
            timestamp,
            point.users,
            ("", "Aggregated"),
            Some(point),
            duration_s,
            &total,
        );
        push_row(&mut out, &cells);
    }
    out
}

/// `PREFIX_failures.csv`: each distinct failure, most frequent first, with the
/// Unix seconds at the end of the first and last second it occurred in.
pub fn failures_csv(agg: &Aggregator, started_unix_ms: u64) -> String {
    let mut out = plain_header(&FAILURES_COLUMNS);
    for f in agg.failures() {
        let cells = [
            f.method.clone(),
            f.name.clone(),
            format!("{}: {}", f.kind.as_str(), f.message),
            f.count.to_string(),
            interval_end_unix_s(agg, started_unix_ms, f.first_t_s).to_string(),
            interval_end_unix_s(agg, started_unix_ms, f.last_t_s).to_string(),
        ];
        push_row(&mut out, &cells);
    }
    out
}

/// `PREFIX_exceptions.csv`: Locust's header alone, since stampede runs no user
/// code that could raise (its failures are all in the failures file).
pub fn exceptions_csv() -> String {
    plain_header(&EXCEPTIONS_COLUMNS)
}

/// Writes the four files of `prefix` (each to a temp file, then renamed over
/// the old one) and returns their paths.
pub fn write_csv(
    prefix: &Path,
    agg: &Aggregator,
    info: &RunInfo,
    full_history: bool,
) -> io::Result<[PathBuf; 4]> {
    let paths = csv_paths(prefix);
    let texts = [
        stats_csv(agg, info.duration_s),
        stats_history_csv(agg, info.started_unix_ms, full_history),
        failures_csv(agg, info.started_unix_ms),
        exceptions_csv(),
    ];
    for (path, text) in paths.iter().zip(&texts) {
        super::output::write_atomic(path, text.as_bytes())?;
    }
    Ok(paths)
}

/// Checks, before a run, that the files of `prefix` can be written there: none
/// of them is a directory, and a probe file can be created and removed beside them.
pub fn check_writable(prefix: &Path) -> io::Result<()> {
    let paths = csv_paths(prefix);
    if let Some(dir) = paths.iter().find(|path| path.is_dir()) {
        let message = format!("{} is a directory", dir.display());
        return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
    }
    super::output::check_writable(&paths[0])
}

/// Cumulative counts and latencies of one history row's scope, second by second.
struct Running {
    requests: u64,
    failures: u64,
    body_bytes: u64,
    /// The points' latencies merged (2 significant figures, like the points).
    latency: LatencyStats,
}

impl Running {
    fn new() -> Self {
        Running {
            requests: 0,
            failures: 0,
            body_bytes: 0,
            latency: LatencyStats::default(),
        }
    }

    /// Adds one second's point, with the running latency up to it.
    fn add(&mut self, point: &IntervalPoint, latency: Option<&LatencyStats>) {
        self.requests = self.requests.saturating_add(point.requests);
        self.failures = self.failures.saturating_add(point.failures);
        self.body_bytes = self.body_bytes.saturating_add(point.body_bytes);
        if let Some(latency) = latency {
            self.latency = *latency;
        }
    }
}

/// Cells of one stats row.
fn stats_cells(e: &EndpointTotals, duration_s: f64) -> Vec<String> {
    let mut cells = vec![
        e.method.clone(),
        e.name.clone(),
        e.requests.to_string(),
        e.failures.to_string(),
        ms(e.percentile_ms(50.0)),
        ms(e.avg_ms()),
        ms(e.min_ms()),
        ms(e.max_ms()),
        e.avg_size_bytes().to_string(),
        e.rps(duration_s).to_string(),
        e.failures_per_s(duration_s).to_string(),
    ];
    let empty = e.requests == 0 || e.latency_us.is_empty();
    cells.extend(percentile_cells(|q| percentile_ms(&e.latency_us, q), empty));
    cells
}

/// Cells of one history row: the second's rates and percentiles (`own`, if the
/// scope had a point that second), then the running totals.
fn history_cells(
    timestamp: u64,
    users: u32,
    (method, name): (&str, &str),
    own: Option<&IntervalPoint>,
    duration_s: f64,
    running: &Running,
) -> Vec<String> {
    let (requests, failures) = own.map_or((0, 0), |p| (p.requests, p.failures));
    let mut cells = vec![
        timestamp.to_string(),
        users.to_string(),
        method.to_string(),
        name.to_string(),
        format!("{:.6}", requests as f64 / duration_s),
        format!("{:.6}", failures as f64 / duration_s),
    ];
    match own {
        Some(point) => {
            let empty = point.requests == 0 || point.latency_us.is_empty();
            cells.extend(percentile_cells(
                |q| point.latency_us.percentile_ms(q),
                empty,
            ))
        }
        None => cells.extend(PERCENTILES.iter().map(|_| "N/A".to_string())),
    }
    let average_size = if running.requests == 0 {
        0.0
    } else {
        running.body_bytes as f64 / running.requests as f64
    };
    cells.extend([
        running.requests.to_string(),
        running.failures.to_string(),
        ms(running.latency.percentile_ms(50.0)),
        ms(running.latency.mean_ms()),
        ms(running.latency.min_ms()),
        ms(running.latency.max_ms()),
        average_size.to_string(),
    ]);
    cells
}

/// The percentile cells of a latency (`percentile` maps 0..=100 to ms), or
/// `N/A` each when there were no requests.
fn percentile_cells(percentile: impl Fn(f64) -> f64, empty: bool) -> Vec<String> {
    PERCENTILES
        .iter()
        .map(|&q| {
            if empty {
                "N/A".to_string()
            } else {
                ms(percentile(q))
            }
        })
        .collect()
}

/// Unix seconds at the end of interval `t_s` of a run started at `started_unix_ms`:
/// the interval's reported end when known (a final interval may be short), else `t_s` seconds.
fn interval_end_unix_s(agg: &Aggregator, started_unix_ms: u64, t_s: u32) -> u64 {
    let point_end_ms = agg
        .timeseries()
        .get((t_s as usize).wrapping_sub(1))
        .map_or(0, |p| p.elapsed_ms);
    let end_ms = if point_end_ms > 0 {
        point_end_ms
    } else {
        u64::from(t_s) * 1_000
    };
    started_unix_ms.saturating_add(end_ms) / 1_000
}

/// Milliseconds kept to the microsecond, written shortest: `12`, `0.241`, `1.5`.
fn ms(value: f64) -> String {
    ((value * 1_000.0).round() / 1_000.0).to_string()
}

/// A header line: `before`, the percentile columns (`N%`), then `after`.
fn header(before: &[&str], after: &[&str]) -> String {
    let percentiles = PERCENTILES.iter().map(|q| format!("{q}%"));
    let cells: Vec<String> = before
        .iter()
        .map(|c| c.to_string())
        .chain(percentiles)
        .chain(after.iter().map(|c| c.to_string()))
        .collect();
    let mut out = String::new();
    push_row(&mut out, &cells);
    out
}

/// A header line of these columns alone.
fn plain_header(columns: &[&str]) -> String {
    let cells: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
    let mut out = String::new();
    push_row(&mut out, &cells);
    out
}

/// Appends one row: cells quoted where needed, separated by commas, ended by `\r\n`.
fn push_row(out: &mut String, cells: &[String]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if cell.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(cell);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::{endpoint, snapshot};
    use stampede_proto::FailureKind::{Connect, Status};
    use std::fs;

    /// Locust's headers, one file per section, as recorded from Locust 2.47.
    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/locust-csv-headers.txt"
    );

    /// The header line (with its `\r\n`) the fixture records for `file`.
    fn fixture_header(file: &str) -> String {
        let text = fs::read_to_string(FIXTURE).unwrap_or_else(|e| {
            panic!("the Locust CSV header fixture {FIXTURE} is required and cannot be read: {e}")
        });
        let mut lines = text.split('\n');
        let label = format!("PREFIX_{file}:");
        lines
            .by_ref()
            .find(|line| line.trim_end() == label)
            .unwrap_or_else(|| panic!("{FIXTURE} has no section {label}"));
        let header = lines
            .next()
            .unwrap_or_else(|| panic!("{FIXTURE}: {label} has no header line"));
        format!("{header}\n")
    }

    /// The first line (header) of a CSV text, with its line end.
    fn first_line(text: &str) -> &str {
        &text[..text.find('\n').map_or(text.len(), |i| i + 1)]
    }

    /// Rows of a CSV text without quoting, each split into cells.
    fn rows(text: &str) -> Vec<Vec<&str>> {
        text.split_terminator("\r\n")
            .map(|line| line.split(',').collect())
            .collect()
    }

    /// GET / from two sources and a failing POST /login in interval 1, nothing in 2,
    /// one late GET / in a final, half-second interval 3; values below 256 µs,
    /// which histograms hold exactly at 2 and 3 significant figures.
    fn run() -> Aggregator {
        let mut agg = Aggregator::with_endpoint_series();
        let refused = (Connect, "connection refused", 1);
        let login = endpoint(
            "POST",
            "/login",
            &[50, 50],
            &[(Status, "HTTP 500", 1), refused],
        );
        let home = endpoint("GET", "/", &[100, 200], &[]);
        agg.merge(&snapshot(0, 1, 3, vec![home, login])).unwrap();
        agg.merge(&snapshot(1, 1, 2, vec![endpoint("GET", "/", &[100], &[])]))
            .unwrap();
        let mut last = snapshot(0, 3, 4, vec![endpoint("GET", "/", &[150], &[])]);
        last.elapsed_ms = 2_500;
        agg.merge(&last).unwrap();
        agg
    }

    /// Every file's header equals Locust's byte for byte, `\r\n` included.
    #[test]
    fn headers_match_locust_exactly() {
        let agg = run();
        let cases = [
            ("stats.csv", stats_csv(&agg, 2.5)),
            ("stats_history.csv", stats_history_csv(&agg, 0, true)),
            ("failures.csv", failures_csv(&agg, 0)),
            ("exceptions.csv", exceptions_csv()),
        ];
        for (file, text) in cases {
            assert_eq!(first_line(&text), fixture_header(file), "{file}");
        }
        assert_eq!(exceptions_csv(), fixture_header("exceptions.csv"));
    }

    /// Stats rows carry each endpoint's counts, times in ms, size, rates and percentiles, then Aggregated.
    #[test]
    fn stats_rows_have_locust_values() {
        let text = stats_csv(&run(), 2.5);
        let rows = rows(&text);
        assert_eq!(rows.len(), 4);
        let get =
            "GET,/,4,0,0.1,0.138,0.1,0.2,100,1.6,0,0.1,0.15,0.15,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2";
        assert_eq!(rows[1].join(","), get);
        let login = format!(
            "POST,/login,2,2,0.05,0.05,0.05,0.05,100,0.8,0.8,{}",
            ["0.05"; 11].join(",")
        );
        assert_eq!(rows[2].join(","), login);
        let total = ",Aggregated,6,2,0.1,0.108,0.05,0.2,100,2.4,0.8,0.1,0.1,0.15,0.15,0.2,0.2,0.2,0.2,0.2,0.2,0.2";
        assert_eq!(rows[3].join(","), total);
        let empty = stats_csv(&Aggregator::new(), 0.0);
        let na = ["N/A"; 11].join(",");
        assert_eq!(
            rows_text(&empty, 1),
            format!(",Aggregated,0,0,0,0,0,0,0,0,0,{na}")
        );
    }

    fn rows_text(text: &str, index: usize) -> String {
        rows(text)[index].join(",")
    }

    /// Without full history there is one Aggregated row per second: the second's
    /// rate and percentiles, running totals, users, and Unix-second timestamps.
    #[test]
    fn history_rows_per_second() {
        let text = stats_history_csv(&run(), 1_700_000_000_400, false);
        let rows = rows(&text);
        assert_eq!(rows.len(), 4, "{text}");
        let na = ["N/A"; 11].join(",");
        let first = "1700000001,5,,Aggregated,5.000000,2.000000,0.1,0.1,0.1,0.1,0.2,0.2,0.2,0.2,0.2,0.2,0.2,5,2,0.1,0.1,0.05,0.2,100";
        assert_eq!(rows[1].join(","), first);
        let gap =
            format!("1700000002,0,,Aggregated,0.000000,0.000000,{na},5,2,0.1,0.1,0.05,0.2,100");
        assert_eq!(rows[2].join(","), gap);
        // The final interval lasted 0.5 s: one request in it is 2 per second.
        let last = [
            "1700000002,4,,Aggregated,2.000000,0.000000",
            &["0.15"; 11].join(","),
            "6,2,0.1,0.108,0.05,0.2,100",
        ];
        assert_eq!(rows[3].join(","), last.join(","));
    }

    /// Full history adds a row per endpoint seen so far before each Aggregated row.
    #[test]
    fn full_history_adds_endpoint_rows() {
        let text = stats_history_csv(&run(), 0, true);
        let keys: Vec<String> = rows(&text)[1..]
            .iter()
            .map(|r| format!("{} {} {}", r[0], r[2], r[3]))
            .collect();
        let expected = [
            "1 GET /",
            "1 POST /login",
            "1  Aggregated",
            "2 GET /",
            "2 POST /login",
            "2  Aggregated",
            "2 GET /",
            "2 POST /login",
            "2  Aggregated",
        ];
        assert_eq!(keys, expected);
        let rows = rows(&text);
        let na = ["N/A"; 11].join(",");
        assert_eq!(rows[2][4..6], ["2.000000", "2.000000"]);
        assert_eq!(
            rows[4][4..].join(","),
            format!("0.000000,0.000000,{na},3,0,0.1,0.133,0.1,0.2,100")
        );
        assert_eq!(rows[7][4..7], ["2.000000", "0.000000", "0.15"]);
        assert_eq!(rows[7][17], "4");
        // An aggregator without endpoint series yields Aggregated rows only.
        let mut plain = Aggregator::new();
        plain
            .merge(&snapshot(0, 1, 1, vec![endpoint("GET", "/", &[1], &[])]))
            .unwrap();
        assert_eq!(stats_history_csv(&plain, 0, true).lines().count(), 2);
    }

    /// Failures list method, name, `kind: message`, count and first/last second, most frequent first.
    #[test]
    fn failure_rows() {
        let mut agg = run();
        let again = endpoint("POST", "/login", &[50, 50], &[(Status, "HTTP 500", 2)]);
        let mut late = snapshot(1, 3, 2, vec![again]);
        late.elapsed_ms = 2_500;
        agg.merge(&late).unwrap();
        let text = failures_csv(&agg, 1_700_000_000_000);
        assert_eq!(
            rows_text(&text, 1),
            "POST,/login,status: HTTP 500,3,1700000001,1700000002"
        );
        assert_eq!(
            rows_text(&text, 2),
            "POST,/login,connect: connection refused,1,1700000001,1700000001"
        );
        assert_eq!(rows(&text).len(), 3);
    }

    /// Cells with commas, quotes or line breaks are quoted the way Python's csv module does.
    #[test]
    fn cells_are_quoted_like_python() {
        let mut out = String::new();
        let cells = ["a,b", "say \"hi\"", "plain", "two\nlines"].map(String::from);
        push_row(&mut out, &cells);
        assert_eq!(out, "\"a,b\",\"say \"\"hi\"\"\",plain,\"two\nlines\"\r\n");
        assert_eq!(ms(1.2345), "1.235");
        assert_eq!(ms(12.0), "12");
    }

    /// The four files land beside the prefix, replace old ones, and leave no temp file.
    #[test]
    fn write_csv_writes_four_files() {
        let dir = std::env::temp_dir().join(format!("stampede-csv-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let prefix = dir.join("run");
        fs::write(dir.join("run_stats.csv"), "old").unwrap();
        let agg = run();
        let info = RunInfo {
            duration_s: 2.5,
            started_unix_ms: 1_700_000_000_000,
            threads: 2,
            io_driver: "epoll".into(),
            cpu_seconds: 0.1,
            max_rss_kb: 1,
            fd_limit: 1,
            config: serde_json::Value::Null,
        };
        let paths = write_csv(&prefix, &agg, &info, true).unwrap();
        assert_eq!(paths[0], dir.join("run_stats.csv"));
        assert_eq!(fs::read_to_string(&paths[0]).unwrap(), stats_csv(&agg, 2.5));
        assert_eq!(
            fs::read_to_string(&paths[1]).unwrap(),
            stats_history_csv(&agg, info.started_unix_ms, true)
        );
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        let expected = [
            "run_exceptions.csv",
            "run_failures.csv",
            "run_stats.csv",
            "run_stats_history.csv",
        ];
        assert_eq!(names, expected);
        assert!(write_csv(&dir.join("missing").join("run"), &agg, &info, false).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The pre-run check accepts a writable directory, leaving nothing, and refuses a missing one.
    #[test]
    fn check_writable_probes_the_directory() {
        let dir = std::env::temp_dir().join(format!("stampede-csv-check-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        check_writable(&dir.join("run")).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        assert!(check_writable(&dir.join("missing").join("run")).is_err());
        fs::create_dir(dir.join("x_stats.csv")).unwrap();
        let err = check_writable(&dir.join("x")).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
