//! End-to-end tests of the HTML report: a real run against stampede-target
//! writes `--html`, its numbers agree with the JSON summary and the target,
//! and headless Chromium renders it: every chart's lines have a length and a
//! size on screen, the console stays free of errors, and the screenshot is
//! not blank. A path that cannot be written fails before any load is sent.
//!
//! Chromium is Debian's `chromium` package (`.ci/run` installs it). Without
//! it the browser test is skipped with a message, except under CI, where a
//! missing browser is a failure (`stampede_tests::require!`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use stampede_tests::{serial, stampede, stampede_env, TargetProcess};

/// Where Debian's chromium package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";
/// Generous limit for a short run; a hang fails the test, not CI.
const LIMIT: Duration = Duration::from_secs(60);
/// Limit for one headless Chromium invocation.
const BROWSER_LIMIT: Duration = Duration::from_secs(90);
/// Charts the report draws, by element id, in page order.
const CHART_IDS: [&str; 6] = [
    "chart-rps",
    "chart-latency",
    "chart-users",
    "chart-percentiles",
    "chart-bytes",
    "chart-cpu",
];

/// Measures every chart in the browser and writes the results into the
/// page, one `id:width:height:lines:lines-with-width:total-length` line per
/// chart, for `--dump-dom` to read. Only the test's copy of the report gets it.
const PROBE: &str = r#"<script>
(function () {
  var rows = [];
  document.querySelectorAll("figure.chart").forEach(function (figure) {
    var box = figure.querySelector("svg.plot").getBoundingClientRect();
    var lines = figure.querySelectorAll("path.line");
    var wide = 0, length = 0;
    lines.forEach(function (path) {
      length += path.getTotalLength();
      if (path.getBBox().width > 0) { wide += 1; }
    });
    rows.push([figure.id, Math.round(box.width), Math.round(box.height),
               lines.length, wide, Math.round(length)].join(":"));
  });
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = rows.join("\n");
  document.body.appendChild(pre);
})();
</script>"#;

/// A scratch directory for one test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("stampede-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The browser, or `None` when it is missing outside CI (`required`'s rule).
fn chromium() -> Option<&'static Path> {
    let path = Path::new(CHROMIUM);
    let need = format_args!(
        "{CHROMIUM} is not installed, so the HTML report is not rendered in a browser; install \
         it with `apt-get install -y chromium` (.ci/run does)"
    );
    stampede_tests::required(path.exists(), need).then_some(path)
}

/// Runs headless Chromium on `page` with `args`, in a fresh profile, killing it past the limit.
fn run_chromium(browser: &Path, profile: &Path, args: &[String], page: &Path) -> Output {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    while child.try_wait().expect("wait chromium").is_none() && started.elapsed() < BROWSER_LIMIT {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().expect("collect chromium output")
}

/// Lines of the browser's log that come from the page's console (errors included).
fn console_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|line| line.contains(":CONSOLE"))
        .map(str::to_string)
        .collect()
}

/// `1234567` as the report writes it: `1,234,567`.
fn with_commas(n: u64) -> String {
    let digits = n.to_string();
    // The first group holds 1 to 3 digits; every later group exactly 3.
    let first = match digits.len() % 3 {
        0 => 3,
        short => short,
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    out.push_str(&digits[..first]);
    for start in (first..digits.len()).step_by(3) {
        out.push(',');
        out.push_str(&digits[start..start + 3]);
    }
    out
}

/// A 4 s run's report agrees with the JSON and the target, and Chromium draws every chart.
#[test]
fn html_report_renders_in_chromium() {
    let _serial = serial();
    let scratch = Scratch::new("html");
    let report = scratch.0.join("report.html");
    let target = TargetProcess::start();
    let url = target.url();
    let html_arg = report.display().to_string();
    let args = [
        "run",
        "--host",
        &url,
        "--path",
        "/bytes/512",
        "-u",
        "8",
        "-t",
        "4s",
        "--threads",
        "2",
    ];
    let run = stampede(&[&args[..], &["--html", &html_arg]].concat(), LIMIT);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(
        run.stdout.contains("HTML report written to"),
        "{}",
        run.stdout
    );
    let html = std::fs::read_to_string(&report).expect("the report exists");

    // The report's numbers are the run's: the JSON's totals and the target's count.
    let (requests, failures) = (run.total("requests"), run.total("failures"));
    assert!(requests > 0);
    assert_eq!(target.stats().0, requests, "the target's count");
    let card = |label: &str, value: String| {
        format!("<div class=\"label\">{label}</div><div class=\"value\">{value}</div>")
    };
    assert!(
        html.contains(&card("Requests", with_commas(requests))),
        "requests card"
    );
    assert!(
        html.contains(&card("Failures", with_commas(failures))),
        "failures card"
    );
    assert!(
        html.contains(&format!("GET {url}/bytes/512")),
        "the target in the header"
    );
    // The time charts start where their data does: each line's first point
    // is at the plot's left edge (x 62 of 640), and the axis does not begin at 0 s.
    for id in [
        "chart-rps",
        "chart-latency",
        "chart-users",
        "chart-bytes",
        "chart-cpu",
    ] {
        let figure = figure(&html, id);
        let first_point = figure
            .split(" d=\"M")
            .nth(1)
            .unwrap_or_else(|| panic!("{id} has no line"));
        assert!(first_point.starts_with("62.0 "), "{id}: {first_point}");
        assert!(!figure.contains(">0s</text>"), "{id} starts at 0 s");
    }
    // One endpoint: the percentile chart's one line names it.
    assert!(
        figure(&html, "chart-percentiles").contains("All requests: GET /bytes/512</li>"),
        "the endpoint named on the percentile chart"
    );

    let Some(browser) = chromium() else { return };

    // The charts drew: measured in the browser by the probe script.
    let probed = scratch.0.join("probed.html");
    std::fs::write(
        &probed,
        html.replace("</body>", &format!("{PROBE}\n</body>")),
    )
    .unwrap();
    let profile = scratch.0.join("profile");
    let dump = run_chromium(browser, &profile, &["--dump-dom".to_string()], &probed);
    let dom = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    assert_eq!(
        console_lines(&dump.stderr),
        Vec::<String>::new(),
        "console messages"
    );
    let probe = dom
        .split("<pre id=\"probe\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("the probe did not run; DOM:\n{dom}"));
    let rows: Vec<Vec<&str>> = probe
        .lines()
        .map(|line| line.split(':').collect())
        .collect();
    let ids: Vec<&str> = rows.iter().map(|row| row[0]).collect();
    assert_eq!(ids, CHART_IDS, "charts in the page");
    for row in &rows {
        let numbers: Vec<u64> = row[1..].iter().map(|n| n.parse().unwrap()).collect();
        let [width, height, lines, wide, length] = numbers[..] else {
            panic!("probe row {row:?}")
        };
        assert!(
            width >= 300 && height >= 100,
            "{}: drawn at {width}x{height}",
            row[0]
        );
        assert!(
            lines >= 1 && wide == lines,
            "{}: {wide} of {lines} lines have a width",
            row[0]
        );
        assert!(length >= 100, "{}: lines only {length} px long", row[0]);
    }

    // The unmodified report as a picture: written, a PNG, and far from blank.
    let png = scratch.0.join("report.png");
    let shot_args = [
        format!("--screenshot={}", png.display()),
        "--window-size=1280,2000".to_string(),
    ];
    let shot = run_chromium(browser, &profile, &shot_args, &report);
    assert!(
        shot.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    assert_eq!(
        console_lines(&shot.stderr),
        Vec::<String>::new(),
        "console messages"
    );
    let bytes = std::fs::read(&png).expect("the screenshot exists");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank 1280x2000 page compresses to a few KiB; charts and tables to far more.
    assert!(
        bytes.len() > 40_000,
        "screenshot of only {} bytes",
        bytes.len()
    );
}

/// The markup of the chart `id` (its `<figure>`), or a panic naming it.
fn figure<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<figure class=\"chart\" id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no chart {id}"));
    let end = html[start..].find("</figure>").expect("figure closes");
    &html[start..start + end]
}

/// A scenario with ten endpoints: the percentile chart draws the eight
/// busiest and names the other two under the plot, so every endpoint of the
/// JSON summary is either a line or named; the target counted every request.
#[test]
fn percentile_chart_draws_or_names_every_endpoint() {
    let _serial = serial();
    let scratch = Scratch::new("html-endpoints");
    let report = scratch.0.join("report.html");
    let target = TargetProcess::start();
    let mut scenario = String::from("[[user]]\n[[user.task]]\n");
    for size in 1..=10 {
        scenario.push_str(&format!("[[user.task.step]]\npath = \"/bytes/{size}\"\n"));
    }
    let file = stampede_tests::temp_file("ten-endpoints.toml", &scenario);
    let run = stampede(
        &[
            "run",
            "-f",
            file.to_str().unwrap(),
            "--host",
            &target.url(),
            "-u",
            "2",
            "-t",
            "2s",
            "--threads",
            "1",
            "--html",
            &report.display().to_string(),
        ],
        LIMIT,
    );
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(
        target.stats().0,
        run.total("requests"),
        "the target's count"
    );
    let mut endpoints: Vec<String> = run.summary()["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["method"].as_str().unwrap(),
                e["name"].as_str().unwrap()
            )
        })
        .collect();
    endpoints.sort();
    assert_eq!(endpoints.len(), 10, "{endpoints:?}");

    let html = std::fs::read_to_string(&report).expect("the report exists");
    let chart = figure(&html, "chart-percentiles");
    let legend: Vec<&str> = chart
        .split("</span>")
        .skip(1)
        .filter_map(|item| item.split("</li>").next())
        .collect();
    assert_eq!(legend[0], "All requests", "{legend:?}");
    let note = chart
        .split("<p class=\"chart-note\">")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap_or_else(|| panic!("no note under the chart: {chart}"));
    let named = note
        .split("): ")
        .nth(1)
        .and_then(|names| names.strip_suffix('.'))
        .unwrap_or_else(|| panic!("note {note}"));
    assert!(note.starts_with("Not drawn: 2 of 10 endpoints"), "{note}");
    let drawn: Vec<&str> = legend[1..]
        .iter()
        .copied()
        .filter(|l| l.starts_with("GET "))
        .collect();
    assert_eq!(drawn.len(), 8, "{legend:?}");
    let mut shown: Vec<String> = drawn.iter().map(|s| s.to_string()).collect();
    shown.extend(named.split(", ").map(str::to_string));
    shown.sort();
    assert_eq!(shown, endpoints, "every endpoint drawn or named, once");
}

/// Reads the object table of the report in the browser: one line per body
/// row, `name|objects|objects/s|MiB/s|...|failures`, and the table's size on
/// screen, for `--dump-dom` to read.
const OBJECTS_PROBE: &str = r##"<script>
(function () {
  var table = document.querySelector("#objects table");
  var box = table.getBoundingClientRect();
  var rows = [Math.round(box.width) + "x" + Math.round(box.height)];
  table.querySelectorAll("tbody tr").forEach(function (tr) {
    var cells = [];
    tr.querySelectorAll("td").forEach(function (td) { cells.push(td.textContent); });
    rows.push(cells.slice(1).join("|"));
  });
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = rows.join("\n");
  document.body.appendChild(pre);
})();
</script>"##;

/// An object workload (`object-report`) that PUTs bodies of two known
/// sizes and GETs two sizes: the JSON summary's object figures are the
/// target's request counts times the body sizes, the console prints the
/// object table, and Chromium shows the HTML report's with the same objects.
#[test]
fn object_report_counts_bodies_both_ways() {
    let _serial = serial();
    let scratch = Scratch::new("html-objects");
    let report = scratch.0.join("report.html");
    let target = TargetProcess::start_with(&["--count-paths"]);
    // (method, path, name, request body bytes, response body bytes)
    let steps: [(&str, &str, &str, u64, u64); 4] = [
        ("PUT", "/", "put 4KiB", 4096, 2),
        ("PUT", "/bytes/0", "put 1000B", 1000, 0),
        ("GET", "/bytes/1024", "get 1KiB", 0, 1024),
        ("GET", "/bytes/65536", "get 64KiB", 0, 65536),
    ];
    let mut scenario = String::from("[[user]]\n[[user.task]]\n");
    for (method, path, name, sent, _) in steps {
        scenario.push_str(&format!(
            "[[user.task.step]]\nmethod = \"{method}\"\npath = \"{path}\"\nname = \"{name}\"\n"
        ));
        if sent > 0 {
            scenario.push_str(&format!("body = \"{}\"\n", "x".repeat(sent as usize)));
        }
    }
    let file = stampede_tests::temp_file("objects.toml", &scenario);
    let html_arg = report.display().to_string();
    let saved = scratch.0.join("objects.run");
    let saved_arg = saved.display().to_string();
    let args = [
        "run",
        "--save-run",
        &saved_arg,
        "-f",
        file.to_str().unwrap(),
        "--host",
        &target.url(),
        "-u",
        "3",
        "-n",
        "50",
        "--threads",
        "2",
        "--html",
        &html_arg,
    ];
    let run = stampede_env(&args, &[("STAMPEDE_OBJECT_REPORT", "true")], LIMIT);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    let stats = target.stats_json();
    let summary = run.summary();
    let objects = summary["objects"]["endpoints"]
        .as_array()
        .unwrap_or_else(|| panic!("no objects in the summary: {summary}"));
    assert_eq!(objects.len(), steps.len());
    let endpoint = |name: &str| -> &Value {
        summary["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no endpoint {name}"))
    };
    let rps = summary["totals"]["rps"].as_f64().unwrap();
    let duration_s = run.total("requests") as f64 / rps;
    for (_, path, name, sent, received) in steps {
        let served = stats["paths"][path].as_u64().unwrap();
        assert_eq!(served, 50, "{path}: {stats}");
        let row = objects.iter().find(|o| o["name"] == name).unwrap();
        assert_eq!(row["objects"], served, "{name}");
        assert_eq!(row["failures"], 0, "{name}");
        assert_eq!(row["body_bytes"], served * (sent + received), "{name}");
        assert_eq!(endpoint(name)["body_bytes_sent"], served * sent, "{name}");
        assert_eq!(endpoint(name)["body_bytes"], served * received, "{name}");
        let mib_per_s = row["mib_per_s"].as_f64().unwrap();
        let expected = (served * (sent + received)) as f64 / 1048576.0 / duration_s;
        assert!(
            (mib_per_s - expected).abs() <= expected * 1e-6,
            "{name}: {mib_per_s} vs {expected}"
        );
        let objects_per_s = row["objects_per_s"].as_f64().unwrap();
        assert!((objects_per_s - served as f64 / duration_s).abs() <= objects_per_s * 1e-6);
        // Time to last byte is the endpoint's latency; the first byte comes no later.
        assert_eq!(row["ttlb_ms"]["p50"], endpoint(name)["latency_ms"]["p50"]);
        assert_eq!(row["ttlb_ms"]["p99"], endpoint(name)["latency_ms"]["p99"]);
        assert_eq!(row["ttfb_ms"]["p99"], endpoint(name)["ttfb_ms"]["p99"]);
        assert!(row["ttfb_ms"]["p50"].as_f64() <= row["ttlb_ms"]["p50"].as_f64());
        // The console's object table: the row's objects column is the count.
        let table = run
            .stdout
            .split("Objects (MiB/s counts request and response bodies")
            .nth(1)
            .and_then(|rest| rest.split("\n\n").next())
            .unwrap_or_else(|| panic!("no object table on the console:\n{}", run.stdout));
        let line = table
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no console row of {name}:\n{table}"));
        let after_name = line.split(name).nth(1).unwrap();
        assert_eq!(after_name.split_whitespace().next(), Some("50"), "{line}");
    }
    let total_sent: u64 = steps.iter().map(|s| 50 * s.3).sum();
    assert_eq!(run.total("body_bytes_sent"), total_sent);

    // A saved run keeps its config: `stampede report` renders the same table.
    let replayed = scratch.0.join("replayed.json");
    let replay = Command::new(stampede_tests::bin("stampede"))
        .args([
            "report",
            &saved_arg,
            "--json",
            &replayed.display().to_string(),
        ])
        .output()
        .expect("run stampede report");
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let replayed: Value =
        serde_json::from_str(&std::fs::read_to_string(&replayed).unwrap()).unwrap();
    assert_eq!(replayed["objects"], summary["objects"]);

    let html = std::fs::read_to_string(&report).expect("the report exists");
    assert!(html.contains("<section id=\"objects\">"), "no object table");
    let Some(browser) = chromium() else { return };
    let probed = scratch.0.join("probed.html");
    std::fs::write(
        &probed,
        html.replace("</body>", &format!("{OBJECTS_PROBE}\n</body>")),
    )
    .unwrap();
    let profile = scratch.0.join("profile");
    let dump = run_chromium(browser, &profile, &["--dump-dom".to_string()], &probed);
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    assert_eq!(
        console_lines(&dump.stderr),
        Vec::<String>::new(),
        "console messages"
    );
    let dom = String::from_utf8_lossy(&dump.stdout);
    let probe = dom
        .split("<pre id=\"probe\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("the probe did not run; DOM:\n{dom}"));
    let mut lines = probe.lines();
    let size = lines.next().unwrap();
    let (width, height) = size.split_once('x').unwrap();
    assert!(
        width.parse::<u32>().unwrap() >= 300 && height.parse::<u32>().unwrap() >= 60,
        "table drawn at {size}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), steps.len(), "{probe}");
    for (_, _, name, _, _) in steps {
        let row = rows
            .iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("{name} not shown: {probe}"));
        assert_eq!((row[1], row[8]), ("50", "0"), "{name}: {row:?}");
    }
}

/// `--html` into a missing directory is refused with exit 2 before any request is sent.
#[test]
fn unwritable_html_path_fails_before_the_run() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = target.url();
    let started = Instant::now();
    let missing = "/nonexistent-stampede-dir/report.html";
    let run = stampede(
        &[
            "run", "--host", &url, "-u", "2", "-t", "30s", "--html", missing,
        ],
        LIMIT,
    );
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(10), "it ran first");
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains("--html") && errors[0].contains(missing),
        "{}",
        errors[0]
    );
    assert_eq!(target.stats().0, 0, "no request reached the target");
}
