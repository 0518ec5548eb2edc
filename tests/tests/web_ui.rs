//! Browser tests of the web UI (docs/web.md): headless Chromium, driven by
//! chromedriver through `stampede_tests::webdriver`, starts, edits and stops
//! a test from the page of `stampede run --web` and of `stampede coordinator
//! --web`, and the downloaded reports count exactly what stampede-target
//! served. A first test checks the WebDriver harness itself on a `data:` page.
//!
//! Chromium and chromedriver are Debian's `chromium` and `chromium-driver`
//! packages (`.ci/run` installs them); without them these tests fail with
//! that hint. `STAMPEDE_SCREENSHOT=1` makes the first end-to-end test save
//! the running page to `docs/web-ui.png`.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stampede_tests::webdriver::{self, free_port, http_get, http_request, wait_until, Browser};
use stampede_tests::{bin, repo_file, serial, temp_file, TargetProcess};

/// The coordinator's token in the distributed test.
const TOKEN: &str = "web-ui-test-token";
/// How long a web server gets to answer its first `/api/state`.
const WEB_READY: Duration = Duration::from_secs(20);
/// How long after Start the local page must show a positive RPS.
const RPS_LIMIT: Duration = Duration::from_secs(3);
/// The same on a coordinator (the shares travel to the workers first).
const CLUSTER_RPS_LIMIT: Duration = Duration::from_secs(5);
/// How long a load change gets to reach the target.
const LOAD_LIMIT: Duration = Duration::from_secs(15);
/// How long Stop gets to reach `finished` (reports written).
const STOP_LIMIT: Duration = Duration::from_secs(20);
/// One HTTP exchange with the web server.
const HTTP_LIMIT: Duration = Duration::from_secs(15);

/// Child processes of one test with everything they print; every child is
/// killed on drop (any path, panics included), and a failing test prints
/// their output.
#[derive(Default)]
struct Processes {
    children: Vec<(String, Child)>,
    lines: Arc<Mutex<Vec<(String, String)>>>,
}

impl Processes {
    /// Starts `command` with piped output; `name` tags its lines.
    fn spawn(&mut self, name: &str, mut command: Command) {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = Arc::clone(&self.lines);
            let name = name.to_string();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((name.clone(), line));
                }
            });
        }
        self.children.push((name.to_string(), child));
    }

    /// Everything printed so far, one `[name] line` per line.
    fn output(&self) -> String {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(name, line)| format!("[{name}] {line}\n"))
            .collect()
    }

    /// Panics if a child has exited (the drop then prints the output).
    fn assert_alive(&mut self) {
        for (name, child) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited early with {status}");
            }
        }
    }

    /// The rest of the first line `name` printed that starts with `prefix`,
    /// waiting at most `limit`.
    fn wait_line(&mut self, name: &str, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let found = self
                .lines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|(n, l)| n == name && l.starts_with(prefix))
                .map(|(_, l)| l[prefix.len()..].to_string());
            if let Some(rest) = found {
                return rest;
            }
            self.assert_alive();
            assert!(
                Instant::now() < deadline,
                "{name} printed no line starting with {prefix:?} in {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the web server at `addr` answers `GET /api/state` with
    /// JSON; panics when a child exits or time runs out.
    fn wait_web(&mut self, addr: SocketAddr) -> Value {
        let deadline = Instant::now() + WEB_READY;
        loop {
            self.assert_alive();
            if let Ok(response) = http_request(addr, "GET", "/api/state", None, HTTP_LIMIT) {
                if response.status == 200 {
                    if let Ok(state) = response.json() {
                        return state;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no web server on {addr} within {WEB_READY:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            // Give the readers a moment to collect the last lines.
            std::thread::sleep(Duration::from_millis(100));
            eprintln!("output of the test's processes:\n{}", self.output());
        }
    }
}

/// A free loopback address for `--web`.
fn web_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// A number as the page shows it ("1,234.5", " 12 ").
fn page_number(text: &str) -> Option<f64> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ',')
        .collect();
    cleaned.parse().ok()
}

/// The statistics table's aggregated `field`, as a number.
fn total_cell(browser: &Browser, field: &str) -> Option<f64> {
    let text = browser
        .text(&format!("#stats-total [data-field={field}]"))
        .ok()?;
    page_number(&text)
}

/// The state word in the header.
fn state_word(browser: &Browser) -> String {
    browser
        .text("#state")
        .map(|t| t.trim().to_lowercase())
        .unwrap_or_default()
}

/// Waits for `#state` to read `word`.
fn wait_state(browser: &Browser, word: &str, limit: Duration) {
    let mut last = String::new();
    let reached = wait_until(limit, || {
        last = state_word(browser);
        last == word
    });
    assert!(reached, "#state is {last:?}, not {word:?}, after {limit:?}");
}

/// Waits for a positive aggregated `current_rps` on the page.
fn wait_rps(browser: &Browser, limit: Duration) {
    let mut last = None;
    let positive = wait_until(limit, || {
        last = total_cell(browser, "current_rps");
        last.is_some_and(|rps| rps > 0.0)
    });
    assert!(
        positive,
        "no positive current_rps in #stats-total within {limit:?} (last {last:?}, #state {:?})",
        state_word(browser)
    );
}

/// Opens the edit box, sets the user count and applies it.
fn edit_users(browser: &Browser, users: u64) {
    browser.click("#edit").expect("click #edit");
    assert!(
        browser.wait_for_displayed("#edit_users", Duration::from_secs(3)),
        "#edit_users did not appear after #edit"
    );
    browser
        .clear_and_type("#edit_users", &users.to_string())
        .expect("type into #edit_users");
    browser.click("#edit_apply").expect("click #edit_apply");
}

/// Waits until the target has counted exactly `connections` connections
/// (one per user: stampede keeps each user's connection open).
fn wait_connections(target: &TargetProcess, connections: u64) {
    let mut last = 0;
    let reached = wait_until(LOAD_LIMIT, || {
        last = target.stats().1;
        last == connections
    });
    assert!(
        reached,
        "the target saw {last} connections, not {connections}, within {LOAD_LIMIT:?}"
    );
}

/// The absolute URL of a download link.
fn link(browser: &Browser, css: &str) -> String {
    let href = browser.property(css, "href").expect("link's href");
    href.as_str()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| panic!("{css} has no href: {href}"))
        .to_string()
}

/// GET of `url`, which must answer 200.
fn get_ok(url: &str) -> webdriver::HttpResponse {
    let response = http_get(url, HTTP_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        response.status,
        200,
        "GET {url}: {}",
        response.text().chars().take(500).collect::<String>()
    );
    response
}

/// `n` with thousands separators, as the HTML report prints counts.
fn with_commas(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The HTML report's "Requests" card for `n` requests.
fn requests_card(n: u64) -> String {
    format!(
        "<div class=\"label\">Requests</div><div class=\"value\">{}</div>",
        with_commas(n)
    )
}

/// `totals.requests` of a JSON summary.
fn summary_requests(summary: &Value) -> u64 {
    summary["totals"]["requests"]
        .as_u64()
        .unwrap_or_else(|| panic!("no totals.requests in {summary}"))
}

/// Processes of process group `pgid` that are still running (zombies
/// waiting for init to reap them do not count), as `pid comm`.
fn live_group_members(pgid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let path = entry.ok()?.path();
        let stat = std::fs::read_to_string(path.join("stat")).ok()?;
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        let (head, rest) = stat.rsplit_once(')')?;
        let mut fields = rest.split_whitespace();
        let state = fields.next()?;
        let pgrp: u32 = fields.nth(1)?.parse().ok()?;
        (pgrp == pgid && state != "Z" && state != "X").then(|| head.replace(" (", " "))
    })
    .collect()
}

/// Percent-encodes `text` for a `data:` URL.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The WebDriver harness types, clicks, reads text, attributes and
/// properties, runs scripts, waits for late elements, takes a PNG screenshot
/// and leaves no chromedriver or Chromium process behind.
#[test]
fn harness_drives_a_data_url_page() {
    let _serial = serial();
    stampede_tests::require!(
        webdriver::browser_available(),
        "{}",
        webdriver::BROWSER_NEED
    );
    let page = r#"<!doctype html><html><head><title>harness page</title></head><body>
<input id="name" value="old">
<button id="go" onclick="document.getElementById('out').textContent = 'hello ' + document.getElementById('name').value">Go</button>
<button id="later" onclick="setTimeout(function () { var p = document.createElement('p'); p.id = 'late'; p.textContent = 'arrived'; document.body.appendChild(p); }, 300)">Later</button>
<p id="out"></p>
<a id="link" href="/x/y?z=1">link</a>
<ul><li class="item">a</li><li class="item">b</li><li class="item">c</li></ul>
</body></html>"#;
    let browser = Browser::start();
    let pid = browser.driver_pid();
    browser
        .goto(&format!(
            "data:text/html;charset=utf-8,{}",
            percent_encode(page)
        ))
        .expect("open the data: page");

    assert_eq!(browser.property("#name", "value").unwrap(), json!("old"));
    browser.clear_and_type("#name", "stampede").unwrap();
    assert_eq!(
        browser.property("#name", "value").unwrap(),
        json!("stampede")
    );
    browser.click("#go").unwrap();
    assert!(
        browser.wait_until(Duration::from_secs(3), || {
            browser.text("#out").is_ok_and(|t| t == "hello stampede")
        }),
        "#out: {:?}",
        browser.text("#out")
    );

    assert_eq!(browser.find_all("li.item").unwrap().len(), 3);
    assert!(browser.find_all("li.nothing").unwrap().is_empty());
    assert!(
        browser.find("#missing").is_err(),
        "a missing element is an error"
    );
    assert_eq!(
        browser.attribute("#link", "href").unwrap().as_deref(),
        Some("/x/y?z=1")
    );
    assert_eq!(browser.attribute("#link", "nonesuch").unwrap(), None);
    assert_eq!(
        browser
            .execute("return arguments[0] + arguments[1];", &[json!(2), json!(3)])
            .unwrap(),
        json!(5)
    );
    assert_eq!(
        browser.execute("return document.title;", &[]).unwrap(),
        json!("harness page")
    );
    assert!(browser.page_source().unwrap().contains("harness page"));

    browser.click("#later").unwrap();
    assert!(browser.find("#late").is_err(), "not there yet");
    assert!(browser.wait_for_displayed("#late", Duration::from_secs(3)));
    assert_eq!(browser.text("#late").unwrap(), "arrived");

    let started = Instant::now();
    assert!(!browser.wait_until(Duration::from_millis(300), || false));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
        "{waited:?}"
    );

    let png = temp_file("harness.png", "");
    browser.screenshot_png(&png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 1000);
    // Width and height from the IHDR chunk: the window size asked for.
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(
        (1000..=1400).contains(&width) && (500..=1000).contains(&height),
        "{width}x{height}"
    );
    let _ = std::fs::remove_file(&png);

    assert!(
        !live_group_members(pid).is_empty(),
        "chromedriver runs in its own process group before the drop"
    );
    drop(browser);
    let mut left = Vec::new();
    let gone = wait_until(Duration::from_secs(5), || {
        left = live_group_members(pid);
        left.is_empty()
    });
    assert!(
        gone,
        "chromedriver's process group {pid} survived the drop: {left:?}"
    );
}

/// On `stampede run --web`, the page starts a test, a user-count edit reaches
/// the target, Stop finishes it, and the downloaded reports count exactly the
/// requests the target served.
#[test]
fn web_ui_starts_edits_stops_and_downloads_the_report() {
    let _serial = serial();
    stampede_tests::require!(
        webdriver::browser_available(),
        "{}",
        webdriver::BROWSER_NEED
    );
    let target = TargetProcess::start();
    let browser = Browser::start();
    let addr = web_addr();
    let base = format!("http://{addr}");
    let mut procs = Processes::default();
    let mut command = Command::new(bin("stampede"));
    command.args([
        "run",
        "--web",
        &addr.to_string(),
        "--host",
        &target.url(),
        "-u",
        "5",
        "--run-time",
        "60s",
    ]);
    procs.spawn("stampede", command);
    let state = procs.wait_web(addr);
    assert_eq!(state["state"], "idle", "no test before Start: {state}");
    assert_eq!(target.stats().0, 0, "no load before Start");

    browser.goto(&format!("{base}/")).expect("open the page");
    wait_state(&browser, "idle", Duration::from_secs(5));
    browser.clear_and_type("#host", &target.url()).unwrap();
    browser.clear_and_type("#users", "5").unwrap();
    browser.clear_and_type("#spawn_rate", "100").unwrap();
    browser.click("#start").expect("click #start");
    wait_rps(&browser, RPS_LIMIT);
    wait_state(&browser, "running", Duration::from_secs(3));
    wait_connections(&target, 5);

    edit_users(&browser, 20);
    wait_connections(&target, 20);
    assert!(
        wait_until(Duration::from_secs(5), || {
            browser
                .text("#header-users")
                .ok()
                .and_then(|t| page_number(&t))
                == Some(20.0)
        }),
        "#header-users: {:?}",
        browser.text("#header-users")
    );
    procs.assert_alive();

    if std::env::var_os("STAMPEDE_SCREENSHOT").is_some() {
        // A few seconds of 20 users, so that the charts have a shape.
        std::thread::sleep(Duration::from_secs(4));
        let path = repo_file("docs/web-ui.png");
        browser.screenshot_png(&path).expect("screenshot");
        eprintln!("screenshot written to {}", path.display());
        browser.click("#tab-charts").expect("open the charts");
        std::thread::sleep(Duration::from_secs(2));
        let charts = repo_file("docs/web-ui-charts.png");
        browser.screenshot_png(&charts).expect("screenshot");
        browser.click("#tab-stats").expect("back to the statistics");
    }

    browser.click("#stop").expect("click #stop");
    wait_state(&browser, "finished", STOP_LIMIT);
    let served = target.stats().0;
    assert!(served > 0);

    let html_url = link(&browser, "#download-html");
    assert!(html_url.starts_with(&base), "{html_url} is not on {base}");
    let html = get_ok(&html_url).text();
    assert!(
        html.contains(&requests_card(served)),
        "the HTML report's Requests card does not read {} (the target's count)",
        with_commas(served)
    );
    // The same report through the browser.
    browser.goto(&html_url).expect("open the HTML report");
    assert!(browser
        .page_source()
        .unwrap()
        .contains(&with_commas(served)));

    let summary = get_ok(&format!("{base}/api/report.json"))
        .json()
        .expect("report.json");
    assert_eq!(
        summary_requests(&summary),
        served,
        "report.json's totals.requests vs the target's count"
    );
    assert_eq!(summary["totals"]["failures"], 0, "{}", summary["failures"]);
    let stats = get_ok(&format!("{base}/api/stats"))
        .json()
        .expect("api/stats");
    assert_eq!(stats["state"], "finished", "{stats}");
    assert_eq!(
        stats["total"]["num_requests"].as_u64(),
        Some(served),
        "/api/stats' total after the end"
    );
    procs.assert_alive();
}

/// On `stampede coordinator --web`, the prefilled page starts the cluster,
/// lists both workers, a user-count edit reaches the target across workers,
/// and after Stop the JSON report counts exactly what the target served.
#[test]
fn web_ui_on_a_coordinator_shows_every_worker() {
    let _serial = serial();
    stampede_tests::require!(
        webdriver::browser_available(),
        "{}",
        webdriver::BROWSER_NEED
    );
    let target = TargetProcess::start();
    let browser = Browser::start();
    let addr = web_addr();
    let base = format!("http://{addr}");
    let mut procs = Processes::default();
    let mut command = Command::new(bin("stampede"));
    command.args([
        "coordinator",
        "--bind",
        "127.0.0.1:0",
        "--token",
        TOKEN,
        "--expect-workers",
        "2",
        "--web",
        &addr.to_string(),
        "--host",
        &target.url(),
        "-u",
        "4",
        "--run-time",
        "60s",
    ]);
    procs.spawn("coordinator", command);
    let listening = procs.wait_line(
        "coordinator",
        "coordinator listening on ",
        Duration::from_secs(20),
    );
    let coordinator = listening.split(',').next().unwrap().trim().to_string();
    for name in ["worker-1", "worker-2"] {
        let mut command = Command::new(bin("stampede"));
        command.args([
            "worker",
            "--coordinator",
            &coordinator,
            "--token",
            TOKEN,
            "--threads",
            "1",
        ]);
        procs.spawn(name, command);
    }
    procs.wait_web(addr);
    let mut state = Value::Null;
    let joined = wait_until(Duration::from_secs(20), || {
        state = http_get(&format!("{base}/api/state"), HTTP_LIMIT)
            .and_then(|r| r.json())
            .unwrap_or(Value::Null);
        state["workers"] == 2
    });
    procs.assert_alive();
    assert!(joined, "two workers did not join: {state}");
    assert_eq!(state["mode"], "coordinator", "{state}");
    assert_eq!(state["state"], "idle", "no test before Start: {state}");

    browser.goto(&format!("{base}/")).expect("open the page");
    wait_state(&browser, "idle", Duration::from_secs(5));
    assert_eq!(
        browser.property("#host", "value").unwrap(),
        json!(target.url()),
        "#host is prefilled with --host"
    );
    assert_eq!(
        browser
            .property("#users", "value")
            .unwrap()
            .as_str()
            .and_then(page_number),
        Some(4.0),
        "#users is prefilled with -u"
    );
    browser.click("#start").expect("click #start");
    wait_rps(&browser, CLUSTER_RPS_LIMIT);
    wait_connections(&target, 4);

    browser.click("#tab-workers").expect("click #tab-workers");
    let mut rows = 0;
    let listed = wait_until(Duration::from_secs(5), || {
        rows = browser.find_all("tr.worker-row").map_or(0, |r| r.len());
        rows == 2 && browser.is_displayed("tr.worker-row").unwrap_or(false)
    });
    assert!(listed, "{rows} visible tr.worker-row, not 2");

    edit_users(&browser, 8);
    wait_connections(&target, 8);
    assert_eq!(
        browser.find_all("tr.worker-row").unwrap().len(),
        2,
        "still two workers"
    );
    procs.assert_alive();

    browser.click("#stop").expect("click #stop");
    wait_state(&browser, "finished", STOP_LIMIT);
    let served = target.stats().0;
    assert!(served > 0);

    let json_url = link(&browser, "#download-json");
    assert!(json_url.starts_with(&base), "{json_url} is not on {base}");
    for url in [json_url, format!("{base}/api/report.json")] {
        let summary = get_ok(&url).json().expect("report.json");
        assert_eq!(
            summary_requests(&summary),
            served,
            "{url}: totals.requests vs the target's count"
        );
        assert_eq!(summary["totals"]["failures"], 0, "{}", summary["failures"]);
    }
}

/// The test's number helpers read and write counts the way the page and report print them.
#[test]
fn with_commas_groups_thousands() {
    assert_eq!(with_commas(0), "0");
    assert_eq!(with_commas(999), "999");
    assert_eq!(with_commas(1000), "1,000");
    assert_eq!(with_commas(1234567), "1,234,567");
    assert_eq!(page_number(" 1,234.5 "), Some(1234.5));
    assert_eq!(page_number("-"), None);
}
