//! stampede against a real S3 server: moto's, on 127.0.0.1 with request
//! authentication on (tests/src/moto.rs). What stampede reports is compared
//! with what the server holds (boto3 lists it) and with the server's own
//! access log, exactly.

use std::time::Duration;

use stampede_proto::FailureKind;
use stampede_tests::moto::{MotoS3, PresignedS3, REGION};
use stampede_tests::{serial, stampede_env, Run};

/// The scope stampede signs moto's requests for.
fn scope() -> String {
    format!("aws:amz:{REGION}:s3")
}

/// The failure kind of a refused signature: `s3_signature_mismatch` where
/// the engine reads S3's XML error codes, else the plain `status` kind.
/// Either way every refused request must be of that one kind.
fn signature_mismatch_kind() -> &'static str {
    const S3_KIND: &str = "s3_signature_mismatch";
    if FailureKind::ALL.iter().any(|k| k.as_str() == S3_KIND) {
        S3_KIND
    } else {
        FailureKind::Status.as_str()
    }
}

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
    let get = |status: u16| moto.logged_requests("GET", status);

    let signed = get_object(&moto, "probe.bin", 20, Some(&moto.secret_key), &[]);
    assert_eq!(signed.total("requests"), 20, "{}", signed.stderr);
    assert_eq!(signed.total("failures"), 0, "{}", signed.stderr);
    assert_eq!(get(200), 20, "{}", moto.log_text());

    let wrong = format!("{}x", moto.secret_key);
    let refused = get_object(&moto, "probe.bin", 20, Some(&wrong), &[]);
    assert_eq!(refused.total("requests"), 20, "{}", refused.stderr);
    assert_eq!(refused.total("failures"), 20);
    assert_eq!(refused.failures_of_kind(signature_mismatch_kind()), 20);
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
