//! `stampede s3` and the `body_size` step key, end to end: sliced bodies
//! against stampede-target (it counts the body bytes it received), and the
//! object operations, prepare, cleanup and a two-worker put against the
//! in-process fake S3 (`stampede_tests::s3_fake`), whose counts are compared
//! with stampede's JSON summary. The S3 semantics themselves (signatures,
//! real listings) are tested against moto in other tests.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stampede_engine::s3::size::SizeSpec;
use stampede_tests::s3_fake::FakeS3;
use stampede_tests::{bin, serial, stampede, temp_file, wait_stampede, TargetProcess};

const LIMIT: Duration = Duration::from_secs(60);

/// `stampede s3 OP --endpoint FAKE --bucket bench --anonymous --threads 2` plus `extra`.
fn s3_run(fake: &FakeS3, op: &str, extra: &[&str]) -> stampede_tests::Run {
    let url = fake.url();
    let mut args = vec![
        "s3",
        op,
        "--endpoint",
        &url,
        "--bucket",
        "bench",
        "--anonymous",
        "--threads",
        "2",
    ];
    args.extend_from_slice(extra);
    stampede(&args, LIMIT)
}

/// Requests of the endpoints whose name starts with `prefix`.
fn requests_named(run: &stampede_tests::Run, prefix: &str) -> u64 {
    run.summary()["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"].as_str().unwrap().starts_with(prefix))
        .map(|e| e["requests"].as_u64().unwrap())
        .sum()
}

/// PUTs with `body_size` send exactly the bodies asked for: the target
/// receives every request and every body byte stampede reports, for a body
/// written with its head (4 KiB) and one written from the shared block
/// after it (100 KiB), on every I/O driver.
#[test]
fn sliced_bodies_reach_the_target_whole() {
    let _serial = serial();
    let scenario = temp_file(
        "put.toml",
        "[vars]\nbig = \"100KiB\"\n[[user]]\n[[user.task]]\n\
         [[user.task.step]]\nmethod = \"PUT\"\npath = \"/\"\nname = \"small\"\nbody_size = \"4KiB\"\n\
         [[user.task.step]]\nmethod = \"PUT\"\npath = \"/\"\nname = \"big\"\nbody_size = \"${big}\"\n\
         check = { body_bytes = \"2\" }\n",
    );
    for driver in stampede_tests::drivers() {
        let target = TargetProcess::start_with(&["--count-paths"]);
        let url = target.url();
        let run = stampede(
            &stampede_tests::run_args(
                &url,
                driver,
                &["-f", scenario.to_str().unwrap(), "-u", "4", "-n", "300"],
            ),
            LIMIT,
        );
        assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.total("requests"), 600);
        assert_eq!(run.total("failures"), 0);
        let stats = target.stats_json();
        assert_eq!(stats["requests"].as_u64().unwrap(), 600, "{stats}");
        let bodies = stats["body_bytes"].as_u64().unwrap();
        assert_eq!(bodies, 300 * (4096 + 102_400), "{driver}: {stats}");
        // What stampede says it sent is those bodies plus 600 heads of a few dozen bytes.
        let sent = run.total("bytes_sent");
        let heads = sent - bodies;
        assert!(
            (600 * 40..600 * 200).contains(&heads),
            "{driver}: {sent} sent"
        );
    }
}

/// A sliced body goes along a 307 redirect (the method and body are kept)
/// and is dropped on a 303 (the hop is a GET).
#[test]
fn sliced_bodies_follow_redirects_that_keep_them() {
    let _serial = serial();
    let scenario = temp_file(
        "redirect.toml",
        "[[user]]\n[[user.task]]\n\
         [[user.task.step]]\nmethod = \"PUT\"\npath = \"/redirect-to?url=/&status=307\"\n\
         name = \"307\"\nbody_size = \"20000\"\n\
         [[user.task.step]]\nmethod = \"PUT\"\npath = \"/redirect-to?url=/&status=303\"\n\
         name = \"303\"\nbody_size = \"30000\"\n",
    );
    let target = TargetProcess::start();
    let url = target.url();
    let run = stampede(
        &stampede_tests::run_args(
            &url,
            "epoll",
            &["-f", scenario.to_str().unwrap(), "-n", "10"],
        ),
        LIMIT,
    );
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.total("failures"), 0, "{}", run.summary()["failures"]);
    let stats = target.stats_json();
    assert_eq!(stats["requests"].as_u64().unwrap(), 40, "{stats}");
    // 307: the body twice; 303: once, then a GET without it.
    assert_eq!(
        stats["body_bytes"].as_u64().unwrap(),
        10 * (2 * 20_000 + 30_000)
    );
}

/// A `body_size` that renders to no size fails that request (kind
/// `template`) and sends nothing.
#[test]
fn bad_rendered_sizes_fail_the_request() {
    let _serial = serial();
    let scenario = temp_file(
        "bad.toml",
        "[vars]\nsize = \"lots\"\n[[user]]\n[[user.task]]\n\
         [[user.task.step]]\nmethod = \"PUT\"\npath = \"/\"\nbody_size = \"${size}\"\n",
    );
    let target = TargetProcess::start();
    let url = target.url();
    let run = stampede(
        &stampede_tests::run_args(
            &url,
            "epoll",
            &["-f", scenario.to_str().unwrap(), "-n", "20"],
        ),
        LIMIT,
    );
    assert_eq!(run.total("requests"), 20, "{}", run.stderr);
    assert_eq!(run.failures_of_kind("template"), 20);
    assert_eq!(target.stats().0, 0);
}

/// put writes every key exactly once, each with the size its index and
/// the seed give, named by size class; the run ends by itself.
#[test]
fn put_writes_each_key_once_with_its_size() {
    let _serial = serial();
    let fake = FakeS3::start();
    let run = s3_run(
        &fake,
        "put",
        &["--objects", "300", "--size", "1KiB..64KiB", "-u", "8"],
    );
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.total("requests"), 300);
    assert_eq!(run.total("failures"), 0);
    assert_eq!(fake.count("put"), 300);
    let spec = SizeSpec::Uniform(1024, 64 << 10);
    let state = fake.lock();
    assert_eq!(state.objects.len(), 300);
    let mut by_class = std::collections::BTreeMap::<String, u64>::new();
    for i in 0..300u64 {
        let key = format!("stampede/obj-{i:06}");
        let size = spec.size_of(i, 1);
        assert_eq!(state.objects[&key].len() as u64, size, "{key}");
        *by_class.entry(spec.class_of(size)).or_default() += 1;
    }
    assert_eq!(
        state.body_bytes,
        (0..300).map(|i| spec.size_of(i, 1)).sum::<u64>()
    );
    for (class, count) in by_class {
        assert_eq!(
            run.endpoint_requests(&format!("put {class}")),
            count,
            "{class}"
        );
    }
}

/// get uploads the objects first (one summary line, not in the stats), then
/// reads each once and checks its length; bodies one byte short are
/// counted failures of kind check.
#[test]
fn get_reads_each_object_once_and_checks_lengths() {
    let _serial = serial();
    let fake = FakeS3::start();
    let run = s3_run(&fake, "get", &["--objects", "200", "-u", "4"]);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("prepare: 200 objects in"),
        "{}",
        run.stdout
    );
    assert_eq!((fake.count("put"), fake.count("get")), (200, 200));
    assert_eq!(run.total("requests"), 200);
    assert_eq!(run.endpoint_requests("get 4KiB"), 200);
    assert_eq!(run.total("failures"), 0);
    assert_eq!(run.total("body_bytes"), 200 * 4096);

    fake.lock().short_gets = true;
    let run = s3_run(
        &fake,
        "get",
        &["--objects", "200", "--no-prepare", "-n", "50"],
    );
    assert_eq!(fake.count("put"), 200, "--no-prepare uploads nothing");
    assert_eq!(run.total("requests"), 50);
    assert_eq!(
        run.failures_of_kind("check"),
        50,
        "{}",
        run.summary()["failures"]
    );
}

/// A failed upload in prepare aborts before the run: exit 1, the failure
/// named, no GET sent and no report written.
#[test]
fn a_failed_prepare_aborts_the_run() {
    let _serial = serial();
    let fake = FakeS3::start();
    fake.lock().refuse_puts = true;
    let run = s3_run(&fake, "get", &["--objects", "30"]);
    assert_eq!(run.status.code(), Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("prepare: 0 objects in"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("prepare: 30 of 30 requests failed")
            && run
                .stderr
                .contains("PUT put 4KiB: status is not 200, e.g. HTTP 503"),
        "{}",
        run.stderr
    );
    assert_eq!((fake.count("put"), fake.count("get")), (30, 0));
    assert!(run.json.is_none());
}

/// Ranged GETs ask for LEN bytes inside each object and expect 206.
#[test]
fn ranged_gets_read_len_bytes() {
    let _serial = serial();
    let fake = FakeS3::start();
    let run = s3_run(
        &fake,
        "get",
        &[
            "--objects",
            "50",
            "--size",
            "8KiB..16KiB",
            "--range",
            "1KiB",
            "-n",
            "100",
        ],
    );
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.total("requests"), 100);
    assert_eq!(run.total("failures"), 0, "{}", run.summary()["failures"]);
    assert_eq!(run.total("body_bytes"), 100 * 1024);
}

/// delete removes every key once; put --cleanup leaves none behind; list
/// lists once per user without a stop.
#[test]
fn delete_cleanup_and_list() {
    let _serial = serial();
    let fake = FakeS3::start();
    let run = s3_run(&fake, "delete", &["--objects", "120"]);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!((fake.count("put"), fake.count("delete")), (120, 120));
    assert_eq!(run.endpoint_requests("delete"), 120);
    assert!(fake.lock().objects.is_empty());

    let run = s3_run(&fake, "put", &["--objects", "80", "--cleanup"]);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("cleanup: 80 objects in"),
        "{}",
        run.stdout
    );
    assert_eq!(run.total("requests"), 80, "cleanup is not in the stats");
    assert_eq!(fake.count("delete"), 200);
    assert!(fake.lock().objects.is_empty());

    let run = s3_run(&fake, "list", &["--objects", "10", "-u", "3"]);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!((run.endpoint_requests("list"), fake.count("list")), (3, 3));
}

/// mixed runs its weights over the keys until -n; every request reached the fake.
#[test]
fn mixed_follows_the_weights() {
    let _serial = serial();
    let fake = FakeS3::start();
    let run = s3_run(
        &fake,
        "mixed",
        &["--objects", "100", "--mix", "get=3,put=1", "-n", "400"],
    );
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.total("failures"), 0, "{}", run.summary()["failures"]);
    let (gets, puts) = (requests_named(&run, "get"), requests_named(&run, "put"));
    assert_eq!(gets + puts, 400);
    assert_eq!((fake.count("get"), fake.count("put")), (gets, puts + 100));
    assert!((240..360).contains(&gets), "{gets} GETs of 400 at 3:1");
}

/// Signed requests carry SigV4 for the region's s3 scope; the secret is
/// never printed.
#[test]
fn requests_are_signed_for_the_region() {
    let _serial = serial();
    let fake = FakeS3::start();
    let url = fake.url();
    let json = temp_file("signed.json", "");
    let output = Command::new(bin("stampede"))
        .args([
            "s3",
            "put",
            "--endpoint",
            &url,
            "--bucket",
            "bench",
            "--objects",
            "20",
        ])
        .args(["--region", "eu-west-3", "--only-summary", "--json"])
        .arg(&json)
        .env("AWS_ACCESS_KEY_ID", "AKIDS3TEST")
        .env("AWS_SECRET_ACCESS_KEY", "s3-secret-never-printed")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{all}");
    assert!(!all.contains("s3-secret-never-printed"));
    let state = fake.lock();
    assert_eq!(state.objects.len(), 20);
    assert!(!state.authorizations.is_empty());
    for auth in &state.authorizations {
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDS3TEST/")
                && auth.contains("/eu-west-3/s3/aws4_request"),
            "{auth}"
        );
    }
}

/// Bad flags are refused with exit 2, naming the flag; --print-scenario
/// prints a scenario that `stampede run` accepts.
#[test]
fn bad_flags_and_the_printed_scenario() {
    let _serial = serial();
    let fake = FakeS3::start();
    let url = fake.url();
    for (args, expected) in [
        (
            vec!["s3", "put", "--bucket", "bench"],
            "--endpoint URL is required",
        ),
        (
            vec!["s3", "put", "--endpoint", &url],
            "--bucket NAME is required",
        ),
        (
            vec![
                "s3",
                "get",
                "--endpoint",
                &url,
                "--bucket",
                "bench",
                "--anonymous",
                "--web",
                "127.0.0.1:0",
            ],
            "--web: this command runs its test from the command line",
        ),
        (
            vec![
                "s3",
                "put",
                "--endpoint",
                &url,
                "--bucket",
                "bench",
                "--size",
                "4XB",
            ],
            "--size",
        ),
        (
            vec![
                "s3",
                "mixed",
                "--endpoint",
                &url,
                "--bucket",
                "bench",
                "--mix",
                "get=x",
                "-t",
                "1s",
            ],
            "--mix",
        ),
        (
            vec!["s3", "mixed", "--endpoint", &url, "--bucket", "bench"],
            "--run-time or -n",
        ),
        (
            vec![
                "s3",
                "put",
                "--endpoint",
                &url,
                "--bucket",
                "bench",
                "--host",
                &url,
            ],
            "--host",
        ),
    ] {
        let output = Command::new(bin("stampede")).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert_eq!(fake.lock().requests.len(), 0, "nothing was sent");
    let output = Command::new(bin("stampede"))
        .args([
            "s3",
            "get",
            "--endpoint",
            &url,
            "--bucket",
            "bench",
            "--print-scenario",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(text.contains("name = \"get 4KiB\""), "{text}");
    let scenario = temp_file("s3.toml", &text);
    let csv: String = (0..5)
        .map(|i| format!("stampede/obj-{i:06},4096,4KiB\n"))
        .collect();
    std::fs::write(
        scenario.with_file_name("objects.csv"),
        format!("key,size,class\n{csv}"),
    )
    .unwrap();
    // The printed file runs as it is: 5 GETs of objects that do not exist.
    let run = stampede(
        &[
            "run",
            "-f",
            scenario.to_str().unwrap(),
            "--threads",
            "1",
            "-u",
            "1",
        ],
        LIMIT,
    );
    assert_eq!(run.endpoint_requests("get 4KiB"), 5, "{}", run.stderr);
    assert_eq!(fake.count("get"), 5);
}

/// `stampede s3 OP ... --expect-workers 2` with two plain workers of two
/// shards each; `extra` are more flags of the coordinator.
fn s3_on_two_workers(fake: &FakeS3, op: &str, extra: &[&str]) -> stampede_tests::Run {
    s3_on_two_workers_with_ids(fake, op, extra).0
}

/// [`s3_on_two_workers`], also returning the process ids of the
/// coordinator and of the two workers.
fn s3_on_two_workers_with_ids(
    fake: &FakeS3,
    op: &str,
    extra: &[&str],
) -> (stampede_tests::Run, u32, Vec<u32>) {
    let url = fake.url();
    let json = temp_file("coordinator.json", "");
    let _ = std::fs::remove_file(&json);
    let started = Instant::now();
    let mut coordinator = Command::new(bin("stampede"))
        .args([
            "s3",
            op,
            "--endpoint",
            &url,
            "--bucket",
            "bench",
            "--anonymous",
        ])
        .args(["--expect-workers", "2", "--bind", "127.0.0.1:0"])
        .args(["--token", "s3-test-token", "--only-summary", "--json"])
        .arg(&json)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let coordinator_id = coordinator.id();
    let stdout = coordinator.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut before = Vec::new();
    let addr = loop {
        let line = lines.next().expect("coordinator address").unwrap();
        if let Some(rest) = line.strip_prefix("coordinator listening on ") {
            break rest.split(',').next().unwrap().to_string();
        }
        before.push(line);
    };
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let mut workers: Vec<_> = (0..2)
        .map(|_| {
            Command::new(bin("stampede"))
                .args(["worker", "--coordinator", &addr, "--token", "s3-test-token"])
                .args(["--threads", "2"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let worker_ids = workers.iter().map(std::process::Child::id).collect();
    let mut run = wait_stampede(coordinator, json, started, LIMIT);
    for worker in &mut workers {
        let _ = worker.kill();
        let _ = worker.wait();
    }
    before.extend(rest.join().unwrap());
    run.stdout = before.join("\n");
    (run, coordinator_id, worker_ids)
}

/// With --expect-workers the s3 run is a coordinator: two plain workers
/// write exactly the 1000 keys between them, each once; a get prepares
/// on the workers and they read each object once between them; too few
/// users for the cluster's shards are refused.
#[test]
fn two_workers_visit_each_key_once() {
    let _serial = serial();
    let fake = FakeS3::start();
    let run = s3_on_two_workers(&fake, "put", &["--objects", "1000", "-u", "8"]);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.total("requests"), 1000);
    assert_eq!(run.total("failures"), 0);
    assert_eq!(fake.count("put"), 1000, "each key once cluster-wide");
    assert_eq!(fake.lock().objects.len(), 1000);

    let run = s3_on_two_workers(&fake, "get", &["--objects", "200", "-u", "4"]);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("prepare: 200 objects in"),
        "{}",
        run.stdout
    );
    assert_eq!(fake.count("put"), 1200);
    assert_eq!((run.total("requests"), fake.count("get")), (200, 200));
    assert_eq!(run.total("failures"), 0);

    let run = s3_on_two_workers(&fake, "put", &["--objects", "10", "-u", "3"]);
    assert!(!run.status.success());
    assert!(
        run.stderr.contains("give at least 4 users"),
        "{}",
        run.stderr
    );
    assert_eq!(fake.count("put"), 1200, "nothing was sent");
}

/// A distributed get with --cleanup: the workers, not the coordinator,
/// upload every object exactly once (prepare) and delete every key exactly
/// once (cleanup), each sharing the work; the main run's summary counts
/// only the GETs, one per object. The fake tells the processes apart by
/// who holds each connection's socket.
#[test]
fn two_workers_prepare_and_clean_up() {
    let _serial = serial();
    let fake = FakeS3::start();
    let extra = ["--objects", "200", "-u", "4", "--cleanup"];
    let (run, coordinator, workers) = s3_on_two_workers_with_ids(&fake, "get", &extra);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    for phase in ["prepare: 200 objects in", "cleanup: 200 objects in"] {
        assert!(run.stdout.contains(phase), "{phase}: {}", run.stdout);
    }
    assert!(run.stdout.contains(", 0 failures"), "{}", run.stdout);
    // The main run's stats are its GETs only.
    assert_eq!((run.total("requests"), fake.count("get")), (200, 200));
    assert_eq!(run.total("failures"), 0);
    assert_eq!(requests_named(&run, "get"), 200);
    let state = fake.lock();
    for op in ["put", "get", "delete"] {
        let keys: Vec<(&String, u64)> = state
            .by_key
            .iter()
            .filter(|((o, _), _)| *o == op)
            .map(|((_, key), n)| (key, *n))
            .collect();
        assert_eq!(keys.len(), 200, "{op}: distinct keys");
        assert!(keys.iter().all(|&(_, n)| n == 1), "{op}: each key once");
    }
    assert!(state.objects.is_empty(), "cleanup left objects behind");
    drop(state);
    for op in ["put", "get", "delete"] {
        assert_eq!(
            fake.count_from(coordinator, op),
            0,
            "{op} from the coordinator"
        );
        assert_eq!(fake.count_from(0, op), 0, "{op} from an unknown process");
        let by_worker: Vec<u64> = workers.iter().map(|&w| fake.count_from(w, op)).collect();
        assert_eq!(by_worker.iter().sum::<u64>(), 200, "{op}: {by_worker:?}");
        assert!(by_worker.iter().all(|&n| n > 0), "{op}: {by_worker:?}");
    }
}

/// A distributed prepare that fails aborts the run like a local one: the
/// failure is named, no GET is sent and no report written.
#[test]
fn a_failed_distributed_prepare_aborts_the_run() {
    let _serial = serial();
    let fake = FakeS3::start();
    fake.lock().refuse_puts = true;
    let run = s3_on_two_workers(&fake, "get", &["--objects", "30", "-u", "4"]);
    assert_eq!(run.status.code(), Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("prepare: 0 objects in"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("prepare: 30 of 30 requests failed"),
        "{}",
        run.stderr
    );
    assert_eq!((fake.count("put"), fake.count("get")), (30, 0));
    assert!(run.json.is_none());
}

/// Objects of at least --part-size go up in parts: initiate, the parts
/// (the last one what is left), complete; the fake assembles each object
/// only when the part list names every part's ETag, and a get reads them
/// back whole.
#[test]
fn multipart_uploads_assemble_whole_objects() {
    let _serial = serial();
    let fake = FakeS3::start();
    let args = [
        "--objects",
        "3",
        "--size",
        "12MiB",
        "--part-size",
        "5MiB",
        "-u",
        "2",
    ];
    let run = s3_run(&fake, "put", &args);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.total("failures"), 0, "{}", run.summary()["failures"]);
    assert_eq!(run.endpoint_requests("put multipart initiate"), 3);
    assert_eq!(run.endpoint_requests("put part"), 9);
    assert_eq!(run.endpoint_requests("put multipart complete"), 3);
    assert_eq!(
        (
            fake.count("initiate"),
            fake.count("part"),
            fake.count("complete")
        ),
        (3, 9, 3)
    );
    {
        let state = fake.lock();
        assert_eq!(state.objects.len(), 3);
        assert!(state.objects.values().all(|o| o.len() == 12 << 20));
        assert_eq!(state.body_bytes, 3 * (12 << 20));
    }
    let mut get = args.to_vec();
    get.push("--no-prepare");
    let run = s3_run(&fake, "get", &get);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.endpoint_requests("get 12MiB"), 3);
    assert_eq!(run.total("failures"), 0, "{}", run.summary()["failures"]);
}
