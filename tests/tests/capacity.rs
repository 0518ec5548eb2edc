//! End to end: load shapes, the capacity search against a target of
//! known capacity (`stampede-target --max-rps K`), the generator-bound
//! verdict, dropped arrivals with schedule lag, and `--calibrate`.

use std::time::Duration;

use stampede_tests::{serial, stampede, TargetProcess};

const LIMIT: Duration = Duration::from_secs(60);

/// `--max-rps K` serves at most K requests per second and queues the rest:
/// 8 closed-loop users get K/s, each waiting its turn (about 8/K s).
#[test]
fn target_max_rps_queues_beyond_k() {
    let _serial = serial();
    let target = TargetProcess::start_with(&["--max-rps", "500"]);
    let run = stampede(
        &[
            "--host",
            &target.url(),
            "-u",
            "8",
            "-t",
            "3s",
            "--threads",
            "1",
        ],
        LIMIT,
    );
    let s = run.summary();
    let rps: Vec<f64> = s["timeseries"].as_array().unwrap()[1..2]
        .iter()
        .map(|p| p["rps"].as_f64().unwrap())
        .collect();
    assert!(
        rps.iter().all(|r| (450.0..=550.0).contains(r)),
        "steady rps {rps:?}"
    );
    let p50 = s["totals"]["latency_ms"]["p50"].as_f64().unwrap();
    assert!(
        (10.0..=25.0).contains(&p50),
        "p50 {p50} ms, expected about 16 ms"
    );
    assert_eq!(target.stats().0, run.total("requests"));
}

/// The capacity search against a target of capacity K lands within 10% of K,
/// writes its table, JSON and HTML chart, and exits 0.
#[test]
fn capacity_search_finds_a_known_capacity() {
    let _serial = serial();
    let k = 2_000.0;
    let target = TargetProcess::start_with(&["--max-rps", "2000"]);
    let html = std::env::temp_dir().join(format!("stampede-capacity-{}.html", std::process::id()));
    let html_arg = html.display().to_string();
    let args = [
        "capacity",
        "--host",
        &target.url(),
        "--mode",
        "rate",
        "--start",
        "500",
        "--step",
        "500",
        "--max",
        "6000",
        "--hold",
        "2s",
        "--slo",
        "p95<50ms",
        "--bisect",
        "4",
        "--threads",
        "1",
        "--html",
        &html_arg,
    ];
    // Two cores shared with the target: a host stall can spoil one search, so
    // it gets one more try before the assertions.
    let mut run = stampede(&args, Duration::from_secs(120));
    let off = |run: &stampede_tests::Run| {
        run.json
            .as_ref()
            .and_then(|s| s["capacity"]["rps"].as_f64())
            .is_none_or(|rps| (rps - k).abs() / k >= 0.10)
    };
    if off(&run) {
        eprintln!("first search was off, retrying:\n{}", run.stdout);
        run = stampede(&args, Duration::from_secs(120));
    }
    assert_eq!(run.status.code(), Some(0), "{}\n{}", run.stdout, run.stderr);
    let s = run.summary();
    assert_eq!(s["schema"], "stampede.capacity/1");
    assert_eq!(s["found"], true);
    let rps = s["capacity"]["rps"].as_f64().unwrap();
    assert!(
        (rps - k).abs() / k < 0.10,
        "capacity {rps} req/s, K = {k}\n{}",
        run.stdout
    );
    assert!(s["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|step| step["phase"] == "bisect"));
    // The answer is one number and what it means, the same sentence on the
    // console, in the JSON and on the page: the req/s delivered, which is the
    // JSON's capacity value (here its measured rps).
    let headline = s["headline"].as_str().unwrap();
    assert_eq!(s["capacity"]["value"], s["capacity"]["rps"]);
    let number = s["capacity"]["value"].as_f64().unwrap().round() as u64;
    let expected_start = format!(
        "Capacity: {} req/s — the highest rate the target held with p95 < 50 ms and ≤ 1% failures (measured at ",
        with_commas(number)
    );
    assert!(headline.starts_with(&expected_start), "{headline}");
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.starts_with("Capacity:"))
            .collect::<Vec<_>>(),
        [headline],
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("each must hold p95 < 50 ms and ≤ 1% failures"),
        "{}",
        run.stdout
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"knee\"") && page.contains("id=\"p95-line\""));
    let (number_part, meaning) = headline.split_once(" — ").unwrap();
    let meaning = meaning.replace('<', "&lt;").replace('>', "&gt;");
    assert!(
        page.contains(&format!(
            "<p id=\"headline\"><strong>{number_part}</strong> — {meaning}</p>"
        )),
        "{page}"
    );
    let _ = std::fs::remove_file(&html);
}

/// `2031` as the reports write it: `2,031`.
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

/// A search whose first step already breaks the SLO finds nothing and exits 3.
#[test]
fn capacity_search_without_a_passing_step_exits_3() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = format!("{}/delay/30", target.url());
    let args = [
        "capacity",
        "--host",
        &url,
        "--start",
        "2",
        "--max",
        "4",
        "--hold",
        "1s",
        "--slo",
        "p95<10ms",
        "--threads",
        "1",
    ];
    let run = stampede(&args, LIMIT);
    assert_eq!(run.status.code(), Some(3), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.summary()["ending"], "first_step_failed");
    assert!(run.summary()["capacity"].is_null());
    assert!(
        run.stdout.contains(
            "No capacity found: the first step (2 users) already missed p95 < 10 ms and ≤ 1% failures; lower --start."
        ),
        "{}",
        run.stdout
    );
}

/// One shard asked for far more than it can send reports saturation (busy
/// CPU, late schedule, dropped arrivals) in JSON and on the console.
#[test]
fn saturated_generator_is_reported() {
    let _serial = serial();
    let target = TargetProcess::start();
    let args = [
        "--host",
        &target.url(),
        "--rate",
        "1000000",
        "--max-in-flight",
        "20",
        "-t",
        "2s",
        "--threads",
        "1",
    ];
    let run = stampede(&args, LIMIT);
    let generator = &run.summary()["generator"];
    assert_eq!(generator["saturated"], true, "{generator}");
    // Busy share is CPU over wall time: on a host whose cores are shared with
    // the target (and other jobs) the shard may get well under a core, so the
    // busy reason is not asserted; the dropped arrivals always are.
    assert!(
        generator["saturation"]["busy_max"].as_f64().unwrap() > 0.2,
        "{generator}"
    );
    assert!(generator["saturation"]["dropped"].as_u64().unwrap() > 0);
    assert!(run.stderr.contains("generator-bound"), "{}", run.stderr);
}

/// A light run is not generator-bound.
#[test]
fn light_run_is_not_saturated() {
    let _serial = serial();
    let target = TargetProcess::start();
    let args = [
        "--host",
        &target.url(),
        "--rate",
        "100",
        "-t",
        "2s",
        "--threads",
        "1",
    ];
    let mut run = stampede(&args, LIMIT);
    if run.summary()["generator"]["saturated"] == true {
        // A shared host can stall the shard's thread for a second (then the
        // verdict is right to say so); one more try tells noise from a bug.
        eprintln!(
            "first light run was judged saturated: {}",
            run.summary()["generator"]
        );
        run = stampede(&args, LIMIT);
    }
    let generator = &run.summary()["generator"];
    assert_eq!(generator["saturated"], false, "{generator}");
    assert!(generator["sched_lag_ms"]["p50"].as_f64().unwrap() < 10.0);
    assert!(!run.stderr.contains("generator-bound"), "{}", run.stderr);
    assert_eq!(run.total("requests"), 200);
}

/// Open loop asking for more than the in-flight cap allows: dropped arrivals
/// plus completed requests are exactly the schedule, and lag is reported.
#[test]
fn open_loop_over_the_cap_drops_and_lags() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = format!("{}/delay/100", target.url());
    let run = stampede(
        &[
            "--host",
            &url,
            "--rate",
            "200",
            "--max-in-flight",
            "5",
            "-t",
            "2s",
            "--threads",
            "1",
        ],
        LIMIT,
    );
    let (requests, dropped) = (run.total("requests"), run.total("dropped"));
    assert_eq!(
        requests + dropped,
        400,
        "requests {requests} dropped {dropped}"
    );
    assert!(dropped > 250, "{dropped}");
    assert_eq!(target.stats().0, requests);
    let generator = &run.summary()["generator"];
    assert_eq!(generator["saturated"], true);
    assert!(
        generator["sched_lag_ms"]["max"].as_f64().is_some(),
        "{generator}"
    );
    assert!(run.summary()["timeseries"][0]["lag_p99_ms"]
        .as_f64()
        .is_some());
}

/// `--stages` ramps users up and back down to 0, and the run ends with the stages.
#[test]
fn user_stages_ramp_up_and_down() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = format!("{}/delay/20", target.url());
    let run = stampede(
        &[
            "--host",
            &url,
            "--stages",
            "1s:6,1s:6,1s:0",
            "--threads",
            "2",
        ],
        LIMIT,
    );
    let s = run.summary();
    let users: Vec<u64> = s["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["users"].as_u64().unwrap())
        .collect();
    assert_eq!(users.iter().max(), Some(&6), "{users:?}");
    assert!(users[2] <= 2, "users fall in the last stage: {users:?}");
    assert!(run.elapsed < Duration::from_secs(8), "{:?}", run.elapsed);
    assert_eq!(target.stats().0, run.total("requests"));
}

/// `--rate-stages` changes the open-loop rate while running: 0 to 200/s over
/// 1 s, then 200/s for 1 s, about 100 + 200 arrivals.
#[test]
fn rate_stages_change_the_rate() {
    let _serial = serial();
    let target = TargetProcess::start();
    let run = stampede(
        &[
            "--host",
            &target.url(),
            "--rate-stages",
            "1s:200,1s:200",
            "--threads",
            "2",
        ],
        LIMIT,
    );
    let requests = run.total("requests");
    assert!((270..=330).contains(&requests), "{requests}");
    assert_eq!(target.stats().0, requests);
    let rps: Vec<f64> = run.summary()["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rps"].as_f64().unwrap())
        .collect();
    assert!(rps[0] < rps[1], "{rps:?}");
}

/// Step load: 2 users more every second up to 6.
#[test]
fn step_load() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = format!("{}/delay/20", target.url());
    let run = stampede(
        &[
            "--host",
            &url,
            "-u",
            "6",
            "--step-users",
            "2",
            "--step-time",
            "1s",
            "--threads",
            "1",
        ],
        LIMIT,
    );
    let users: Vec<u64> = run.summary()["timeseries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["users"].as_u64().unwrap())
        .collect();
    assert_eq!(&users[..3], &[2, 4, 6], "{users:?}");
    assert_eq!(target.stats().0, run.total("requests"));
}

/// `--calibrate` measures service time first and warns when the rate needs
/// more requests in flight than `--max-in-flight` allows.
#[test]
fn calibrate_warns_about_too_few_connections() {
    let _serial = serial();
    let target = TargetProcess::start();
    let url = format!("{}/delay/50", target.url());
    let args = [
        "--host",
        &url,
        "--rate",
        "200",
        "--max-in-flight",
        "4",
        "-t",
        "1s",
        "--calibrate",
        "1s",
        "--threads",
        "1",
    ];
    let run = stampede(&args, LIMIT);
    assert!(
        run.stderr.contains("raise --max-in-flight"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("calibrate:") || run.stderr.contains("calibrate:"));
    // The calibration's requests are not in the run's stats.
    assert!(target.stats().0 > run.total("requests"));
}

/// `[[stages]]` with `mode = "rate"` in a scenario shape the open-loop rate
/// like `--rate-stages`: 100/s for 2 s is 200 arrivals.
#[test]
fn scenario_stages() {
    let _serial = serial();
    let target = TargetProcess::start();
    let text = "mode = \"rate\"\n[[stages]]\nduration = \"0s\"\ntarget = 100\n[[stages]]\nduration = \"2s\"\ntarget = 100\n\
                [[user]]\n[[user.task]]\n[[user.task.step]]\npath = \"/\"\n";
    let file = stampede_tests::temp_file("stages.toml", text);
    let run = stampede(
        &[
            "run",
            "-f",
            file.to_str().unwrap(),
            "--host",
            &target.url(),
            "--threads",
            "1",
        ],
        LIMIT,
    );
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.total("requests"), 200);
    assert_eq!(target.stats().0, 200);
}

/// A shard pinned to its own core, driving a fast target (on the other core)
/// as hard as it can, is reported as CPU-bound; on both drivers. The verdict
/// needs two busy seconds in a row, so the run lasts 5 s (its first second
/// includes start-up). Each request is rendered from templates (uuids, random
/// numbers) and its 64 KiB body captured and searched, while the target sends
/// that body from its cache: the shard does far more per request than the
/// target and is the bottleneck whatever the two builds' relative speed or a
/// busy machine slowing the target's core (with plain GETs and a 2-byte body,
/// a faster client, or a loaded core 0, made the target the limit on some runs).
#[test]
fn cpu_bound_shard_is_reported() {
    let _serial = serial();
    stampede_tests::require!(
        std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2,
        "cpu_bound_shard_is_reported needs two cores (the target takes core 0, the shard core 1)"
    );
    // stampede-target pins its one thread to core 0; taskset gives stampede core 1.
    let target = TargetProcess::start();
    let scenario = stampede_tests::temp_file(
        "cpu-bound.toml",
        r#"[[user]]
[[user.task]]
[[user.task.step]]
path = "/compressed/65536?enc=identity&id=${uuid}&n=${random_int(1,1000000)}"
name = "/"
headers = { x-request-id = "${uuid}", x-trace = "${uuid}-${random_int(1,1000000)}" }
check = { status = 200, body_contains = "song 2600" }
"#,
    );
    for driver in stampede_tests::drivers() {
        let json = stampede_tests::temp_file("cpu-bound.json", "");
        let output = std::process::Command::new("taskset")
            .args(["-c", "1"])
            .arg(stampede_tests::bin("stampede"))
            .args([
                "run",
                "--host",
                &target.url(),
                "-f",
                scenario.to_str().unwrap(),
                "-u",
                "50",
                "--threads",
                "1",
                "-t",
                "5s",
                "--quiet",
            ])
            .args(["--io-driver", driver, "--json", json.to_str().unwrap()])
            .output()
            .expect("run stampede under taskset");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let generator = &summary["generator"];
        assert_eq!(generator["saturated"], true, "{driver}: {generator}");
        assert!(
            generator["saturation"]["busy_max"].as_f64().unwrap() > 0.9,
            "{driver}: {generator}"
        );
        assert!(String::from_utf8_lossy(&output.stderr).contains("generator-bound"));
    }
}
