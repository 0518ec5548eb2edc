//! Tests of `remote_write`, kept apart so the module stays readable.
use super::*;
use crate::web::metrics::{Kind, Sample as MetricSample};
use std::net::TcpListener;

fn families() -> Vec<Family> {
    vec![
        Family {
            name: "stampede_requests",
            kind: Kind::Counter,
            help: "Requests.",
            samples: vec![MetricSample {
                suffix: "_total",
                labels: vec![
                    ("run_id", "r1".into()),
                    ("scenario", "-".into()),
                    ("name", "/a".into()),
                    ("method", "GET".into()),
                ],
                value: 3.0,
            }],
        },
        Family {
            name: "stampede_response_time_seconds",
            kind: Kind::Histogram,
            help: "Latency.",
            samples: vec![
                MetricSample {
                    suffix: "_bucket",
                    labels: vec![
                        ("run_id", "r1".into()),
                        ("method", "".into()),
                        ("le", "+Inf".into()),
                    ],
                    value: 2.0,
                },
                MetricSample {
                    suffix: "_sum",
                    labels: vec![("run_id", "r1".into())],
                    value: 0.125,
                },
            ],
        },
        Family {
            name: "stampede_users",
            kind: Kind::Gauge,
            help: "Users.",
            samples: vec![MetricSample {
                suffix: "",
                labels: vec![("run_id", "r1".into())],
                value: 7.0,
            }],
        },
    ]
}

fn names(series: &TimeSeries) -> Vec<(&str, &str)> {
    series
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect()
}

/// Encoded and decoded with prost: one series per sample, labels sorted
/// with `__name__` first, empty values left out, values and times kept.
#[test]
fn write_request_round_trips_through_prost() {
    let request = write_request(&families(), 1_700_000_000_123);
    let bytes = prost::Message::encode_to_vec(&request);
    let decoded = <WriteRequest as prost::Message>::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded, request);
    assert_eq!(decoded.timeseries.len(), 4);
    assert_eq!(
        names(&decoded.timeseries[0]),
        [
            ("__name__", "stampede_requests_total"),
            ("method", "GET"),
            ("name", "/a"),
            ("run_id", "r1"),
            ("scenario", "-"),
        ]
    );
    assert_eq!(
        names(&decoded.timeseries[1]),
        [
            ("__name__", "stampede_response_time_seconds_bucket"),
            ("le", "+Inf"),
            ("run_id", "r1"),
        ]
    );
    assert_eq!(
        names(&decoded.timeseries[2])[0],
        ("__name__", "stampede_response_time_seconds_sum")
    );
    assert_eq!(
        names(&decoded.timeseries[3])[0],
        ("__name__", "stampede_users")
    );
    for series in &decoded.timeseries {
        let sorted = series.labels.windows(2).all(|w| w[0].name < w[1].name);
        assert!(sorted, "{:?}", series.labels);
        assert_eq!(series.samples.len(), 1);
        assert_eq!(series.samples[0].timestamp, 1_700_000_000_123);
    }
    let values: Vec<f64> = decoded
        .timeseries
        .iter()
        .map(|s| s.samples[0].value)
        .collect();
    assert_eq!(values, [3.0, 2.0, 0.125, 7.0]);
}

/// The body is raw (block) snappy of the protobuf.
#[test]
fn body_is_raw_snappy() {
    let request = write_request(&families(), 42);
    let body = encode_body(&request).unwrap();
    let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
    assert_eq!(raw, prost::Message::encode_to_vec(&request));
    let decoded = <WriteRequest as prost::Message>::decode(raw.as_slice()).unwrap();
    assert_eq!(decoded, request);
}

/// http URLs parse (port 80 by default), https is refused with advice,
/// and credentials stay out of Display and Debug.
#[test]
fn urls_parse() {
    let url = RemoteWriteUrl::parse("http://127.0.0.1:9090/api/v1/write").unwrap();
    assert_eq!(
        (url.host.as_str(), url.port, url.path.as_str()),
        ("127.0.0.1", 9090, "/api/v1/write")
    );
    assert!(!url.has_credentials());
    assert_eq!(url.to_string(), "http://127.0.0.1:9090/api/v1/write");

    let url = RemoteWriteUrl::parse("http://prom.local").unwrap();
    assert_eq!(
        (url.host.as_str(), url.port, url.path.as_str()),
        ("prom.local", 80, "/")
    );
    let url = RemoteWriteUrl::parse("HTTP://[::1]/push?tenant=a#x").unwrap();
    assert_eq!(
        (url.host.as_str(), url.port, url.path.as_str()),
        ("::1", 80, "/push?tenant=a")
    );
    assert_eq!(url.to_string(), "http://[::1]:80/push?tenant=a");

    let https = RemoteWriteUrl::parse("https://prom.example/api/v1/write").unwrap_err();
    assert!(https.contains("--prometheus-remote-write"), "{https}");
    assert!(
        https.contains("https") && https.contains("agent") && https.contains("/metrics"),
        "{https}"
    );
    for bad in [
        "prom:9090/api/v1/write",
        "ftp://h/x",
        "http://:9090/x",
        "http://h:0/x",
        "http://h:99999/x",
        "http://h/a b",
    ] {
        let error = RemoteWriteUrl::parse(bad).unwrap_err();
        assert!(
            error.starts_with("--prometheus-remote-write:"),
            "{bad}: {error}"
        );
    }

    let url = RemoteWriteUrl::parse("http://admin:s%40cret@127.0.0.1:9090/api/v1/write").unwrap();
    assert!(url.has_credentials());
    assert_eq!(url.authorization.as_deref(), Some("Basic YWRtaW46c0BjcmV0"));
    assert_eq!(url.to_string(), "http://127.0.0.1:9090/api/v1/write");
    let debug = format!("{url:?}");
    assert!(
        !debug.contains("admin") && !debug.contains("cret") && !debug.contains("YWRt"),
        "{debug}"
    );
    let error = RemoteWriteUrl::parse("http://admin:secret@h:x/").unwrap_err();
    assert!(!error.contains("secret"), "{error}");

    assert!(RemoteWriteOptions::parse("http://h/x", Duration::ZERO).is_err());
    let options = RemoteWriteOptions::parse("http://h/x", Duration::from_secs(1)).unwrap();
    assert_eq!(options.timeout, DEFAULT_TIMEOUT);
}

#[test]
fn base64_encodes_with_padding() {
    for (plain, encoded) in [
        ("", ""),
        ("a", "YQ=="),
        ("ab", "YWI="),
        ("abc", "YWJj"),
        ("admin:s3cret", "YWRtaW46czNjcmV0"),
    ] {
        assert_eq!(base64_encode(plain.as_bytes()), encoded);
    }
}

/// Waits up to 10 s for `done`.
fn wait_for(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A receiver answering `status` to every request, recording the heads.
fn receiver(status: &'static str, delay: Duration) -> (String, Arc<Mutex<Vec<String>>>) {
    receiver_answering(vec![status], delay)
}

/// A receiver answering `statuses` in turn (the last one from then on).
fn receiver_answering(
    statuses: Vec<&'static str>,
    delay: Duration,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://u:p@{}/api/v1/write", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            let head_end = loop {
                if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    break end + 4;
                }
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                }
            };
            let head = String::from_utf8_lossy(&data[..head_end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(0);
            while data.len() < head_end + length {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                }
            }
            let answered = {
                let mut seen = seen.lock().unwrap();
                seen.push(head);
                seen.len()
            };
            std::thread::sleep(delay);
            let status = statuses[(answered - 1).min(statuses.len() - 1)];
            let _ = stream.write_all(status.as_bytes());
        }
    });
    (url, heads)
}

/// Pushes carry the protocol's headers and basic auth; a busy sender's
/// waiting push is replaced by the newer one; finish sends the last.
#[test]
fn writer_pushes_replaces_and_finishes() {
    let (url, heads) = receiver(
        "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        Duration::from_millis(500),
    );
    let options = RemoteWriteOptions::parse(&url, Duration::from_secs(1)).unwrap();
    let writer = RemoteWriter::start(options);
    writer.push(families(), 1);
    wait_for(|| heads.lock().unwrap().len() == 1);
    // The sender is busy with the first: the second waits, the third replaces it.
    writer.push(families(), 2);
    writer.push(families(), 3);
    let report = writer.finish(families(), 4, Duration::from_secs(5));
    assert_eq!(report.pushes_ok, 2, "{report:?}");
    assert_eq!(report.skipped, 2, "{report:?}");
    assert_eq!(report.pushes_failed, 0);
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 2);
    for head in heads.iter() {
        assert!(
            head.starts_with("POST /api/v1/write HTTP/1.1\r\n"),
            "{head}"
        );
        for header in [
            "Content-Encoding: snappy",
            "Content-Type: application/x-protobuf",
            "X-Prometheus-Remote-Write-Version: 0.1.0",
            "User-Agent: stampede/",
            "Authorization: Basic dTpw",
        ] {
            assert!(head.contains(header), "{header} in {head}");
        }
    }
}

/// The final push is sent again after a 503 (the spec's retry), so the
/// last numbers still arrive.
#[test]
fn final_push_retries_server_errors() {
    let (url, heads) = receiver_answering(
        vec![
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        ],
        Duration::ZERO,
    );
    let writer =
        RemoteWriter::start(RemoteWriteOptions::parse(&url, Duration::from_secs(1)).unwrap());
    let report = writer.finish(families(), 1, Duration::from_secs(5));
    assert_eq!(
        (report.pushes_ok, report.pushes_failed),
        (1, 0),
        "{report:?}"
    );
    assert_eq!(heads.lock().unwrap().len(), 2);
    assert!(retryable("HTTP 429 Too Many Requests") && retryable("connect 127.0.0.1:9: refused"));
    assert!(!retryable("HTTP 400 Bad Request: out of order sample"));
}

/// A refused push is counted with the receiver's reason, never the credentials.
#[test]
fn failures_are_counted_with_the_reason() {
    let (url, _) = receiver(
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 20\r\n\r\nout of order sample\n",
        Duration::ZERO,
    );
    let writer =
        RemoteWriter::start(RemoteWriteOptions::parse(&url, Duration::from_secs(1)).unwrap());
    let report = writer.finish(families(), 1, Duration::from_secs(5));
    assert_eq!((report.pushes_ok, report.pushes_failed), (0, 1));
    let error = report.last_error.unwrap();
    assert!(
        error.contains("HTTP 400 Bad Request: out of order sample"),
        "{error}"
    );
    assert!(!error.contains("u:p@"), "{error}");

    // Nothing listening: a connect error, within the limit.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let writer =
        RemoteWriter::start(RemoteWriteOptions::parse(&url, Duration::from_secs(1)).unwrap());
    writer.push(families(), 1);
    wait_for(|| writer.shared.lock().report.pushes_failed == 1);
    let report = writer.finish(families(), 2, Duration::from_secs(5));
    assert_eq!(
        (report.pushes_ok, report.pushes_failed),
        (0, 2),
        "{report:?}"
    );
    assert!(report.last_error.unwrap().contains("connect"));
}

/// A password with an unencoded '/' or '#' never shows in the error.
#[test]
fn mangled_credentials_stay_out_of_errors() {
    for url in [
        "http://admin:s3cr3t/pw@127.0.0.1:9/api/v1/write",
        "http://admin:s3cr3t#x@127.0.0.1:9/w",
    ] {
        let error = RemoteWriteUrl::parse(url).unwrap_err();
        assert!(!error.contains("s3cr3t"), "{error}");
    }
}
