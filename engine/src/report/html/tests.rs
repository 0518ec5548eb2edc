//! Tests of the HTML report on synthetic runs built from real snapshots.

use std::fs;

use serde_json::json;
use stampede_proto::FailureKind::{Connect, Status};
use stampede_proto::HistogramBuckets;

use super::*;
use crate::stats::test_support::{endpoint, histogram, snapshot};

/// Two shards for 5 s on two endpoints (one with a hostile name), failures on
/// both, shard CPU at 95 % in second 3, and `dropped` arrivals in second 4.
fn run(dropped: u64) -> Aggregator {
    let mut agg = Aggregator::new();
    for t in 1..=5u32 {
        for source in 0..2u32 {
            let home: Vec<u64> = (1..=50).map(|i| i * 40 * u64::from(t)).collect();
            let hostile = endpoint(
                "POST",
                "<script>alert(\"x\")</script>&/api",
                &[3_000, 4_000],
                &[(Status, "HTTP 500 <b>&", 1)],
            );
            let home = endpoint("GET", "/", &home, &[(Connect, "connection refused", 1)]);
            let mut s = snapshot(source, t, 10, vec![home, hostile]);
            s.cpu_us = if t == 3 { 950_000 } else { 200_000 };
            s.dropped = if t == 4 && source == 0 { dropped } else { 0 };
            agg.merge(&s).unwrap();
        }
    }
    agg
}

fn info(config: Value) -> RunInfo {
    RunInfo {
        duration_s: 5.0,
        started_unix_ms: 1_700_000_000_000,
        threads: 2,
        io_driver: "epoll".into(),
        cpu_seconds: 2.5,
        max_rss_kb: 8_192,
        fd_limit: 1_024,
        config,
    }
}

fn closed_config() -> Value {
    json!({
        "target": { "url": "http://127.0.0.1:8080", "authority": "127.0.0.1:8080", "path": "/" },
        "method": "GET",
        "load": { "model": "closed", "users": 20, "spawn_rate_per_s": null },
        "run_time": 5.0,
        "iterations": null,
    })
}

fn render_closed(agg: &Aggregator) -> String {
    let warnings = ["open-file limit 64 is below the 200 this run may need".to_string()];
    render(
        agg,
        &info(closed_config()),
        &Notes {
            stop_reason: Some("run_time"),
            warnings: &warnings,
            workers: &[],
        },
    )
}

/// Byte offsets of `http://` and `https://` that are not plain text: inside a
/// tag (an attribute) or inside the stylesheet.
fn urls_outside_text(doc: &str) -> Vec<usize> {
    let lower = doc.to_ascii_lowercase();
    let style = (lower.find("<style"), lower.find("</style>"));
    let mut offsets = Vec::new();
    for scheme in ["http://", "https://"] {
        for (at, _) in lower.match_indices(scheme) {
            let in_tag = match (lower[..at].rfind('<'), lower[..at].rfind('>')) {
                (Some(open), Some(close)) => open > close,
                (Some(_), None) => true,
                _ => false,
            };
            let in_style = matches!(style, (Some(start), Some(end)) if start < at && at < end);
            if in_tag || in_style {
                offsets.push(at);
            }
        }
    }
    offsets
}

/// The document needs nothing from the network: no external references, no
/// script, and URLs only as visible text.
#[test]
fn document_is_self_contained() {
    let doc = render_closed(&run(0));
    assert!(doc.starts_with("<!DOCTYPE html>"));
    assert!(doc.trim_end().ends_with("</html>"));
    let lower = doc.to_ascii_lowercase();
    for banned in [
        "<script", "<link", "<img", "<iframe", " src=", "@import", "url(", "xmlns",
    ] {
        assert!(!lower.contains(banned), "{banned} in the document");
    }
    assert!(
        doc.contains("http://127.0.0.1:8080/"),
        "the target is shown as text"
    );
    assert_eq!(urls_outside_text(&doc), Vec::<usize>::new());
    // The checker itself catches an attribute URL and one in the stylesheet.
    let bad = "<style>a{background:url(http://x)}</style><a href=\"https://x\">http://text</a>";
    assert_eq!(urls_outside_text(bad).len(), 2);
}

/// Text from the user or the target is escaped wherever it appears.
#[test]
fn user_text_is_escaped() {
    let doc = render_closed(&run(0));
    assert!(
        !doc.contains("<script>"),
        "a raw endpoint name reached the page"
    );
    assert!(!doc.contains("<b>"));
    assert!(doc.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;/api"));
    assert!(doc.contains("HTTP 500 &lt;b&gt;&amp;"));
    let hostile_target =
        json!({ "target": { "url": "http://h/\"><svg onload=x>" }, "method": "<M>" });
    let doc = render(&run(0), &info(hostile_target), &Notes::default());
    assert!(!doc.contains("<svg onload"));
    assert!(!doc.contains("<M>"));
    assert!(doc.contains("&lt;M&gt;"));
}

/// Every section is there, with the run's facts and the tables' numbers.
#[test]
fn sections_and_tables_exist() {
    let doc = render_closed(&run(0));
    for id in [
        "run",
        "totals",
        "charts",
        "endpoints",
        "percentiles",
        "failures",
    ] {
        assert!(
            doc.contains(&format!("<section id=\"{id}\">")),
            "section {id}"
        );
    }
    for fact in [
        "GET http://127.0.0.1:8080/",
        "Closed loop",
        "20 users, all at once",
        "2023-11-14 22:13:20 UTC",
        "stopped by the run time",
        "epoll",
        env!("CARGO_PKG_VERSION"),
    ] {
        assert!(doc.contains(fact), "{fact}");
    }
    // 5 s x 2 shards x 52 requests; 2 failures per shard and second.
    assert!(
        doc.contains("<div class=\"value\">520</div>"),
        "total requests"
    );
    assert!(
        doc.contains("<div class=\"value\">20</div>"),
        "total failures"
    );
    assert!(doc.contains("<th>99.9%</th>") && doc.contains("<th>p99.9</th>"));
    assert!(doc.contains("<td class=\"text\">connect</td><td class=\"text name\">connection refused</td><td>10</td><td>50%</td>"));
    assert!(
        doc.contains("<tfoot>"),
        "the aggregated row of two endpoints"
    );
    assert!(
        !doc.contains("Service time"),
        "closed loop has no service times"
    );
}

/// Six charts, in order, each drawn as SVG with axes and at least one non-empty path.
#[test]
fn charts_are_svg_paths() {
    let doc = render_closed(&run(0));
    assert_eq!(doc.matches("<svg class=\"plot\"").count(), 6);
    let ids = [
        "chart-rps",
        "chart-latency",
        "chart-users",
        "chart-percentiles",
        "chart-bytes",
        "chart-cpu",
    ];
    let mut last = 0;
    for id in ids {
        let start = doc
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id}"));
        assert!(start > last, "{id} out of order");
        last = start;
        let figure = &doc[start..start + doc[start..].find("</figure>").unwrap()];
        let paths: Vec<&str> = figure
            .split("<path class=\"line")
            .skip(1)
            .map(|p| p.split(" d=\"").nth(1).unwrap().split('"').next().unwrap())
            .collect();
        assert!(!paths.is_empty(), "{id} has no line");
        for d in paths {
            assert!(
                d.starts_with('M') && d.matches('L').count() >= 4,
                "{id}: {d}"
            );
        }
        assert!(figure.matches("class=\"grid\"").count() >= 2, "{id} y grid");
        assert!(
            figure.matches("class=\"tick\"").count() >= 2,
            "{id} x ticks"
        );
        let bands = if id == "chart-percentiles" { 61 } else { 5 };
        assert_eq!(figure.matches("<rect ").count(), bands, "{id} hover bands");
        assert!(figure.contains("<ul class=\"legend\">"));
        // Every line starts at the plot's left edge: no empty stretch before the data.
        let first_d = figure.split(" d=\"M").nth(1).unwrap();
        assert!(first_d.starts_with("62.0 "), "{id}: {first_d}");
        if id != "chart-percentiles" {
            // Seconds 1 to 5: the axis runs from the first second's end, not from 0.
            assert!(
                figure.contains(">1s</text>") && !figure.contains(">0s</text>"),
                "{id}"
            );
        }
    }
}

/// The percentile chart draws both endpoints of a two-endpoint run, and with
/// more endpoints than it has lines for, it names the ones it left out.
#[test]
fn percentile_chart_shows_or_names_every_endpoint() {
    let figure = |doc: &str| {
        let start = doc.find("id=\"chart-percentiles\"").unwrap();
        doc[start..start + doc[start..].find("</figure>").unwrap()].to_string()
    };
    let doc = render_closed(&run(0));
    let chart = figure(&doc);
    assert!(chart.contains("</span>GET /</li>"), "{chart}");
    assert!(chart.contains("</span>POST &lt;script&gt;"), "{chart}");
    assert!(!chart.contains("chart-note"));

    let mut agg = Aggregator::new();
    let endpoints = (0..10)
        .map(|i| endpoint("GET", &format!("/p{i}"), &vec![1_000; 30 - i], &[]))
        .collect();
    agg.merge(&snapshot(0, 1, 1, endpoints)).unwrap();
    let doc = render(&agg, &info(closed_config()), &Notes::default());
    let chart = figure(&doc);
    assert_eq!(
        chart.matches("<li>").count(),
        9,
        "all requests and 8 endpoints"
    );
    assert!(
        chart.contains(
            "<p class=\"chart-note\">Not drawn: 2 of 10 endpoints (the chart draws the 8 busiest, \
         to stay readable; the Percentiles table has them all): GET /p8, GET /p9.</p>"
        ),
        "{chart}"
    );
}

/// A shard at 95 % CPU and dropped arrivals raise banners; a quiet run has none.
#[test]
fn bottleneck_banners() {
    let doc = render_closed(&run(0));
    assert!(doc.contains("id=\"warning-cpu\""));
    assert!(doc.contains("in 1 of 5 seconds (peak 95%)"), "{doc}");
    assert!(!doc.contains("id=\"warning-dropped\""));
    assert!(doc.contains("open-file limit 64 is below"));
    let mut quiet = Aggregator::new();
    quiet
        .merge(&snapshot(
            0,
            1,
            1,
            vec![endpoint("GET", "/", &[1_000], &[])],
        ))
        .unwrap();
    let doc = render(&quiet, &info(closed_config()), &Notes::default());
    assert!(!doc.contains("class=\"warning\""));
}

/// Open loop: the rate chart, the dropped banner and card, and service times.
#[test]
fn open_loop_report() {
    let mut agg = run(7);
    let mut e = endpoint("GET", "/", &[9_000], &[]);
    e.service_us = Some(HistogramBuckets::encode(&histogram(&[1_500])).unwrap());
    agg.merge(&snapshot(0, 6, 1, vec![e])).unwrap();
    let config = json!({
        "target": { "authority": "h:1", "path": "/" },
        "method": "GET",
        "load": { "model": "open", "rate_per_s": 5000.0, "max_in_flight": 1000 },
        "run_time": null,
        "iterations": 30000,
    });
    let doc = render(&agg, &info(config), &Notes::default());
    assert!(doc.contains("Open loop") && doc.contains("5,000 req/s, at most 1,000 in flight"));
    assert!(doc.contains("30,000 requests"));
    assert!(doc.contains("id=\"chart-rate\"") && !doc.contains("id=\"chart-users\""));
    assert!(
        doc.contains("id=\"warning-dropped\"")
            && doc.contains("<strong>7 arrivals (1.33%) were dropped")
    );
    assert!(doc.contains("Dropped arrivals"));
    assert!(doc.contains("Service time (ms)") && doc.contains("<td>1.5</td>"));
}

/// A run that recorded nothing still renders every section, with notes instead of data.
#[test]
fn empty_run_renders() {
    let doc = render(&Aggregator::new(), &info(json!({})), &Notes::default());
    assert!(doc.contains("No interval was recorded."));
    assert!(doc.contains("No failures."));
    assert!(!doc.contains("NaN") && !doc.contains(">inf"));
}

/// The report is written atomically; an unwritable path fails the pre-run check.
#[test]
fn writing_and_the_pre_run_check() {
    let dir = std::env::temp_dir().join(format!("stampede-html-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("report.html");
    check_writable(&path).unwrap();
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        0,
        "the probe is removed"
    );
    let agg = run(0);
    write_report(&path, &agg, &info(closed_config()), &Notes::default()).unwrap();
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["report.html"]);
    assert!(fs::read_to_string(&path)
        .unwrap()
        .contains("<svg class=\"plot\""));
    check_writable(&path).unwrap();
    assert!(check_writable(&dir.join("missing").join("r.html")).is_err());
    assert!(check_writable(&dir).is_err(), "a directory");
    assert!(check_writable(Path::new("")).is_err());
    fs::remove_dir_all(&dir).unwrap();
}

/// A distributed run's memory fact is the sum of its processes, each named;
/// a run in one process shows its own.
#[test]
fn memory_fact_sums_the_processes() {
    let doc = render_closed(&run(0));
    assert!(doc.contains("<dt>Max RSS</dt><dd>8.0 MiB</dd>"), "{doc}");
    let mut agg = Aggregator::new();
    for worker in [1u32, 2] {
        let mut s = snapshot(worker << 16, 1, 1, vec![endpoint("GET", "/", &[900], &[])]);
        s.max_rss_kb = 4_096 * u64::from(worker);
        agg.merge(&s).unwrap();
    }
    let doc = render(&agg, &info(closed_config()), &Notes::default());
    assert!(
        doc.contains(
            "<dt>Max RSS</dt><dd>20.0 MiB in all (coordinator 8.0 MiB, worker 1 4.0 MiB, worker 2 8.0 MiB)</dd>"
        ),
        "{doc}"
    );
}

/// With a scenario the header names its file and the host, not one request.
#[test]
fn scenario_runs_name_the_file() {
    let mut config = closed_config();
    config["scenario"] = json!("examples/shop.toml");
    let doc = render(&run(0), &info(config), &Notes::default());
    assert!(doc.contains("<title>stampede report: shop.toml on http://127.0.0.1:8080</title>"));
    assert!(doc.contains("<h1><span class=\"method\">shop.toml</span>http://127.0.0.1:8080</h1>"));
    assert!(doc.contains("<dt>Scenario</dt><dd>examples/shop.toml</dd>"));
}
