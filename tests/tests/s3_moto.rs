//! stampede against a real S3 server: moto's, on 127.0.0.1 with request
//! authentication on (tests/src/moto.rs). What stampede reports is compared
//! with what the server holds (boto3 lists it) and with the server's own
//! access log, exactly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stampede_tests::moto::{MotoS3, PresignedS3, REGION};
use stampede_tests::{bin, serial, stampede_env, temp_file, wait_stampede, Run};

/// The scope stampede signs moto's requests for.
fn scope() -> String {
    format!("aws:amz:{REGION}:s3")
}

/// The failure kind of a refused signature: S3's `SignatureDoesNotMatch`
/// document, read whether or not the step checks the status.
const SIGNATURE_MISMATCH: &str = "s3_signature_mismatch";

/// `stampede run` of `count` GETs of one object of moto's bucket, signed
/// with `secret` (or unsigned when `None`), one user, one thread.
fn get_object(moto: &MotoS3, key: &str, count: u32, secret: Option<&str>, extra: &[&str]) -> Run {
    let path = format!("/{}/{key}", moto.bucket);
    let count = count.to_string();
    let scope = scope();
    let mut args = vec![
        "run",
        "--host",
        &moto.endpoint,
        "--path",
        &path,
        "--threads",
        "1",
        "-u",
        "1",
        "-n",
        &count,
    ];
    if secret.is_some() {
        args.extend_from_slice(&["--aws-sigv4", &scope]);
    }
    args.extend_from_slice(extra);
    let env = moto.env_with_secret(secret.unwrap_or("unused"));
    let env: &[(&str, &str)] = if secret.is_some() { &env } else { &[] };
    stampede_env(&args, env, Duration::from_secs(60))
}

/// moto really checks signatures: a correctly signed GET is served, the
/// same GET with a wrong secret is refused with 403 SignatureDoesNotMatch,
/// and an unsigned one is refused too; stampede counts each refusal, and
/// moto's own log counts the same requests with the same statuses.
#[test]
fn moto_checks_every_signature() {
    let _serial = serial();
    let Some(moto) = MotoS3::start("stampede-auth") else {
        return;
    };
    moto.put("probe.bin", 100);
    let get = |status: u16| moto.logged_requests("GET", "probe.bin", status);

    let signed = get_object(&moto, "probe.bin", 20, Some(&moto.secret_key), &[]);
    assert_eq!(signed.total("requests"), 20, "{}", signed.stderr);
    assert_eq!(signed.total("failures"), 0, "{}", signed.stderr);
    assert_eq!(get(200), 20, "{}", moto.log_text());

    let wrong = format!("{}x", moto.secret_key);
    let refused = get_object(&moto, "probe.bin", 20, Some(&wrong), &[]);
    assert_eq!(refused.total("requests"), 20, "{}", refused.stderr);
    assert_eq!(refused.total("failures"), 20);
    assert_eq!(refused.failures_of_kind(SIGNATURE_MISMATCH), 20);
    assert_eq!(get(403), 20, "{}", moto.log_text());

    // Unsigned: moto refuses it with 403 and an empty body.
    let unsigned = get_object(&moto, "probe.bin", 20, None, &[]);
    assert_eq!(unsigned.total("requests"), 20, "{}", unsigned.stderr);
    assert_eq!(unsigned.total("failures"), 20);
    assert_eq!(get(403), 40, "{}", moto.log_text());
    assert_eq!(get(200), 20, "no refused request was served");
}

/// `--aws-sigv4-mode query` sends presigned URLs a botocore-based checker
/// accepts, every one of them, and with a wrong secret it refuses every
/// one; stampede's counts equal the checker's. (moto 5.2.5 cannot check
/// presigned URLs with authentication on: it answers them with 500.)
#[test]
fn presigned_urls_are_accepted() {
    let _serial = serial();
    let Some(checker) = PresignedS3::start("AKIDPRESIGN", "presign-secret/+=", 64) else {
        return;
    };
    let scope = scope();
    let run = |secret: &str, count: &str| {
        let args = [
            "run",
            "--host",
            &checker.endpoint,
            "--path",
            "/bucket/dir/a%20b.bin",
            "--threads",
            "1",
            "-u",
            "2",
            "-n",
            count,
            "--aws-sigv4",
            &scope,
            "--aws-sigv4-mode",
            "query",
            "--aws-sigv4-expires",
            "300",
        ];
        let env = [
            ("AWS_ACCESS_KEY_ID", "AKIDPRESIGN"),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ];
        stampede_env(&args, &env, Duration::from_secs(60))
    };
    let good = run("presign-secret/+=", "50");
    assert_eq!(good.total("requests"), 50, "{}", good.stderr);
    assert_eq!(good.total("failures"), 0, "{}", good.stdout);
    assert_eq!(checker.counts(), (50, 0));
    let bad = run("another-secret", "20");
    assert_eq!(bad.total("requests"), 20, "{}", bad.stderr);
    assert_eq!(bad.total("failures"), 20);
    assert_eq!(checker.counts(), (50, 20));
}

/// `stampede s3 OP` against moto with this user's keys (`secret` replaces
/// the secret when given), one thread, 8 users, at most 90 s.
fn s3(moto: &MotoS3, op: &str, extra: &[&str], secret: Option<&str>) -> Run {
    let mut args = vec![
        "s3",
        op,
        "--endpoint",
        &moto.endpoint,
        "--bucket",
        &moto.bucket,
        "--region",
        REGION,
        "--threads",
        "1",
        "-u",
        "8",
    ];
    args.extend_from_slice(extra);
    let env = moto.env_with_secret(secret.unwrap_or(&moto.secret_key));
    stampede_env(&args, &env, Duration::from_secs(90))
}

/// The keys `stampede s3` writes for `--objects n` under the default prefix.
fn expected_keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("stampede/obj-{i:06}")).collect()
}

/// put, get and delete of 500 objects against a real S3 server: put leaves
/// exactly the 500 keys, sized 1 to 8 KiB; get reads each once with its
/// size checked, and the body bytes stampede counts are the bytes the
/// server holds; delete leaves none. moto's log counts the same requests.
#[test]
fn put_get_delete_500_objects() {
    let _serial = serial();
    let Some(moto) = MotoS3::start("stampede-objects") else {
        return;
    };
    let shape = ["--objects", "500", "--size", "1KiB..8KiB"];

    let put = s3(&moto, "put", &shape, None);
    assert_eq!(put.total("requests"), 500, "{}", put.stderr);
    assert_eq!(put.total("failures"), 0, "{}", put.stdout);
    let listing = moto.list("stampede/");
    let keys: Vec<String> = listing.keys.keys().cloned().collect();
    assert_eq!(keys, expected_keys(500));
    assert!(
        listing.keys.values().all(|s| (1024..=8192).contains(s)),
        "sizes outside 1KiB..8KiB: {:?}",
        listing.keys
    );
    assert_eq!(moto.logged_requests("PUT", "stampede/", 200), 500);

    let mut no_prepare = shape.to_vec();
    no_prepare.push("--no-prepare");
    let get = s3(&moto, "get", &no_prepare, None);
    assert_eq!(get.total("requests"), 500, "{}", get.stderr);
    assert_eq!(get.total("failures"), 0, "{}", get.stdout);
    assert_eq!(get.total("body_bytes"), listing.bytes());
    assert_eq!(moto.logged_requests("GET", "stampede/", 200), 500);
    assert_eq!(
        moto.logged_requests("PUT", "stampede/", 200),
        500,
        "get prepared nothing"
    );

    let delete = s3(&moto, "delete", &no_prepare, None);
    assert_eq!(delete.total("requests"), 500, "{}", delete.stderr);
    assert_eq!(delete.total("failures"), 0, "{}", delete.stdout);
    assert_eq!(moto.list("stampede/").keys.len(), 0);
    assert_eq!(moto.logged_requests("DELETE", "stampede/", 204), 500);
}

/// With a wrong secret every PUT is refused with SignatureDoesNotMatch:
/// stampede counts each one, of the signature-mismatch kind, moto logs
/// each 403, and the bucket stays empty.
#[test]
fn wrong_secret_fails_every_request() {
    let _serial = serial();
    let Some(moto) = MotoS3::start("stampede-wrong-secret") else {
        return;
    };
    let wrong = format!("{}x", moto.secret_key);
    let put = s3(
        &moto,
        "put",
        &["--objects", "50", "--size", "1KiB"],
        Some(&wrong),
    );
    assert_eq!(put.total("requests"), 50, "{}", put.stderr);
    assert_eq!(put.total("failures"), 50);
    assert_eq!(
        put.failures_of_kind(SIGNATURE_MISMATCH),
        50,
        "{}",
        put.stdout
    );
    assert_eq!(moto.logged_requests("PUT", "stampede/", 403), 50);
    assert_eq!(moto.list("stampede/").keys.len(), 0);
}

/// Distributed: a coordinator `stampede s3 put --objects 1000
/// --expect-workers 2` and two plain workers, each signing with its own
/// environment's keys, leave exactly the 1000 distinct keys on the server,
/// and moto logged exactly 1000 successful PUTs (no key written twice).
#[test]
fn two_workers_put_1000_distinct_keys() {
    let _serial = serial();
    let Some(moto) = MotoS3::start("stampede-workers") else {
        return;
    };
    let token = "s3-moto-test-token";
    let json = temp_file("coordinator.json", "");
    let _ = std::fs::remove_file(&json);
    let started = Instant::now();
    let mut coordinator = Command::new(bin("stampede"))
        .args(["s3", "put", "--endpoint", &moto.endpoint])
        .args(["--bucket", &moto.bucket, "--region", REGION])
        .args(["--objects", "1000", "--size", "1KiB", "-u", "8"])
        .args(["--expect-workers", "2", "--bind", "127.0.0.1:0"])
        .args(["--token", token, "--only-summary", "--json"])
        .arg(&json)
        .envs(moto.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the coordinator");
    let stdout = coordinator.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the coordinator's address")
            .expect("a line");
        if let Some(rest) = line.strip_prefix("coordinator listening on ") {
            break rest.split(',').next().expect("address").to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let mut workers: Vec<_> = (0..2)
        .map(|_| {
            Command::new(bin("stampede"))
                .args(["worker", "--coordinator", &addr, "--token", token])
                .args(["--threads", "1"])
                .envs(moto.env())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start a worker")
        })
        .collect();
    let run = wait_stampede(coordinator, json, started, Duration::from_secs(120));
    for worker in &mut workers {
        let _ = worker.kill();
        let _ = worker.wait();
    }
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.total("requests"), 1000);
    assert_eq!(run.total("failures"), 0);
    let keys: Vec<String> = moto.list("stampede/").keys.into_keys().collect();
    assert_eq!(keys, expected_keys(1000));
    assert_eq!(
        moto.logged_requests("PUT", "stampede/", 200),
        1000,
        "each key once"
    );
}

/// `stampede s3 get --aws-sigv4-mode query` reads objects through presigned
/// URLs: each of the 20 GETs is accepted by the botocore-based checker and
/// passes its size check.
#[test]
fn s3_get_through_presigned_urls() {
    let _serial = serial();
    let Some(checker) = PresignedS3::start("AKIDPRESIGNS3", "presign-s3-secret", 64) else {
        return;
    };
    let args = [
        "s3",
        "get",
        "--endpoint",
        &checker.endpoint,
        "--bucket",
        "presigned-bucket",
        "--objects",
        "20",
        "--size",
        "64B",
        "--no-prepare",
        "--aws-sigv4-mode",
        "query",
        "--threads",
        "1",
        "-u",
        "4",
    ];
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDPRESIGNS3"),
        ("AWS_SECRET_ACCESS_KEY", "presign-s3-secret"),
    ];
    let run = stampede_env(&args, &env, Duration::from_secs(60));
    assert_eq!(run.total("requests"), 20, "{}", run.stderr);
    assert_eq!(run.total("failures"), 0, "{}", run.stdout);
    assert_eq!(run.total("body_bytes"), 20 * 64);
    assert_eq!(checker.counts(), (20, 0));
}
