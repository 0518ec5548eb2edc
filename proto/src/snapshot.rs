//! One interval of stats from one source (a shard, or a whole worker).

use rkyv::{Archive, Deserialize, Serialize};

pub use crate::buckets::HistogramBuckets;

/// Version of the [`Snapshot`] wire shape; bumped on any change to it.
pub const SNAPSHOT_VERSION: u16 = 7;

/// Errors met while encoding or decoding wire types.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The bytes are not a valid archived snapshot (corrupt or truncated).
    #[error("invalid snapshot bytes: {0}")]
    Invalid(String),
    /// The snapshot was written by another protocol version.
    #[error("snapshot version {found}, expected {expected}")]
    Version { found: u16, expected: u16 },
    /// A histogram inside the snapshot could not be encoded or decoded.
    #[error("histogram: {0}")]
    Histogram(String),
}

/// Stats of one interval (normally one second) from one source.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Wire version, [`SNAPSHOT_VERSION`] when written by this build.
    pub version: u16,
    /// Which shard (or worker) produced it, for per-source accounting.
    pub source: u32,
    /// Index of the interval: 1 covers the first second after the run started.
    pub interval: u32,
    /// Milliseconds since the run started at the end of this interval.
    pub elapsed_ms: u64,
    /// Users running on the source when the interval ended.
    pub users: u32,
    /// Open-loop arrivals that could not start (in-flight cap reached).
    pub dropped: u64,
    /// CPU time the source's thread used during the interval, in microseconds.
    pub cpu_us: u64,
    /// True for the last snapshot a source sends in a run.
    pub is_final: bool,
    /// Per-endpoint deltas for the interval; endpoints with no traffic are absent.
    pub endpoints: Vec<EndpointSnapshot>,
    /// Wall time the interval covered, in microseconds, so `cpu_us / wall_us`
    /// is the source's CPU share (the final interval is usually shorter).
    pub wall_us: u64,
    /// Time the source's thread was ready to run but waited for a CPU (the
    /// kernel's run-queue delay), in microseconds: `(cpu_us + wait_us) / wall_us`
    /// is how busy it was, counting the CPU it wanted and did not get.
    pub wait_us: u64,
    /// Open loop: how late each arrival was dispatched after its intended
    /// send time, in microseconds (the schedule lag); empty in closed loop.
    pub sched_lag_us: HistogramBuckets,
    /// TCP connect time of the connections opened in the interval, microseconds
    /// (per source, all origins together).
    pub connect_us: HistogramBuckets,
    /// TLS handshake time of the `https` connections opened in the interval,
    /// microseconds; empty for plain HTTP.
    pub tls_handshake_us: HistogramBuckets,
    /// Requests written to each target address in the interval (a name that
    /// resolves to several addresses spreads connections over them).
    pub addresses: Vec<AddressCount>,
    /// Connections the source holds open at the end of the interval, idle in
    /// its pool or busy with a request (all origins together).
    pub open_connections: u32,
    /// Peak resident memory of the worker process that sent the snapshot so
    /// far, in KiB: a worker stamps its own on every snapshot it forwards
    /// (every shard of one worker carries the same figure). 0 from the run's
    /// own shards, whose process reports its memory itself.
    pub max_rss_kb: u64,
}

/// Requests sent to one target address over an interval.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AddressCount {
    /// The socket address, e.g. `127.0.0.1:8080`.
    pub addr: String,
    /// Requests written on connections to it (a retried request counts at each).
    pub requests: u64,
    /// Request bytes written on connections to it (heads and bodies; a
    /// retried request counts at each attempt, like `requests`).
    pub bytes_sent: u64,
}

/// Deltas of one endpoint (method + name) over one interval.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct EndpointSnapshot {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Name the endpoint is reported under (the path, or a scenario-given name).
    pub name: String,
    /// Requests completed (successes and failures).
    pub requests: u64,
    /// Failed requests, one entry per distinct (kind, message).
    pub failures: Vec<FailureCount>,
    /// Response bytes received (head and body).
    pub bytes_received: u64,
    /// Response body bytes as they came (de-chunked, still compressed when
    /// the server compressed them): the "average size" of the reports, as
    /// Locust counts a response's content.
    pub body_bytes: u64,
    /// Bytes of the compressed bodies that were decoded (for a check or an
    /// extractor), after decoding.
    pub decoded_bytes: u64,
    /// Request body bytes sent (the body of each request that got a
    /// response, counted once even when a redirect sent it again): what
    /// an upload (an S3 PUT) moved.
    pub body_bytes_sent: u64,
    /// Redirects followed: each is one more request on the wire than the
    /// `requests` counted (a request is recorded once, with its final
    /// response and the time of all its hops, as Locust does).
    pub redirects: u64,
    /// One example of each (kind, message) of failure in the interval.
    pub samples: Vec<FailureSample>,
    /// Latency in microseconds: from the intended send time in open loop
    /// (coordinated-omission corrected), from the actual send in closed loop.
    pub latency_us: HistogramBuckets,
    /// Service time in microseconds from the actual send; open loop only.
    pub service_us: Option<HistogramBuckets>,
    /// Time to first byte in microseconds: from the same start as `latency_us`
    /// to the first byte of the response; responses only (not failures).
    pub ttfb_us: HistogramBuckets,
}

/// The named kinds a failed request is counted under.
#[derive(
    Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
pub enum FailureKind {
    /// The TCP connection could not be established.
    Connect,
    /// Connect or request did not finish within the timeout.
    Timeout,
    /// The peer reset or closed the connection mid-request.
    Reset,
    /// The response broke HTTP/1.1 or a configured limit.
    Protocol,
    /// The response had an error status (4xx or 5xx).
    Status,
    /// A scenario check on the response failed.
    Check,
    /// A request template used a variable that had no value yet.
    Template,
    /// The TLS handshake failed (untrusted or mismatched certificate, alert).
    Tls,
    /// Redirects could not be followed: too many, or a Location that is
    /// missing or not a usable URL.
    Redirect,
    /// A compressed body could not be decoded: corrupt data, an unknown
    /// coding, or more decoded bytes than allowed (a decompression bomb).
    Decode,
    /// The request was in flight when the run stopped and was cut off.
    CutOff,
    /// S3 answered `SlowDown` (503): the service throttles, counted apart so
    /// a saturation run shows where throttling starts.
    S3SlowDown,
    /// S3 answered `AccessDenied`.
    S3AccessDenied,
    /// S3 answered `NoSuchKey`.
    S3NoSuchKey,
    /// S3 answered `SignatureDoesNotMatch`: the request's SigV4 signature
    /// (keys, scope or signed content) is not what S3 computed.
    S3SignatureMismatch,
    /// S3 answered `RequestTimeTooSkewed`: the generator's clock is too far
    /// from the service's.
    S3TimeSkewed,
    /// S3 answered with another error code (the message names it).
    S3Error,
}

impl FailureKind {
    /// Lower-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect",
            FailureKind::Timeout => "timeout",
            FailureKind::Reset => "reset",
            FailureKind::Protocol => "protocol",
            FailureKind::Status => "status",
            FailureKind::Check => "check",
            FailureKind::Template => "template",
            FailureKind::Tls => "tls",
            FailureKind::Redirect => "redirect",
            FailureKind::Decode => "decode",
            FailureKind::CutOff => "cut_off",
            FailureKind::S3SlowDown => "s3_slow_down",
            FailureKind::S3AccessDenied => "s3_access_denied",
            FailureKind::S3NoSuchKey => "s3_no_such_key",
            FailureKind::S3SignatureMismatch => "s3_signature_mismatch",
            FailureKind::S3TimeSkewed => "s3_time_skewed",
            FailureKind::S3Error => "s3_error",
        }
    }

    /// Every kind, in declaration (and report) order. A new kind goes here
    /// too: a test enumerates the enum's archived tags and compares, and
    /// another checks that each name is documented in docs/json-summary.md.
    pub const ALL: [FailureKind; 17] = [
        FailureKind::Connect,
        FailureKind::Timeout,
        FailureKind::Reset,
        FailureKind::Protocol,
        FailureKind::Status,
        FailureKind::Check,
        FailureKind::Template,
        FailureKind::Tls,
        FailureKind::Redirect,
        FailureKind::Decode,
        FailureKind::CutOff,
        FailureKind::S3SlowDown,
        FailureKind::S3AccessDenied,
        FailureKind::S3NoSuchKey,
        FailureKind::S3SignatureMismatch,
        FailureKind::S3TimeSkewed,
        FailureKind::S3Error,
    ];
}

/// What one failed request looked like: the request it sent and what came back.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FailureSample {
    /// The failure's kind.
    pub kind: FailureKind,
    /// Its message, as in [`FailureCount`].
    pub message: String,
    /// Method and URL of the request (the last hop's, after redirects).
    pub request: String,
    /// Response status; 0 when no response came.
    pub status: u16,
    /// The first bytes of the response body (at most [`SAMPLE_BODY_BYTES`]).
    pub body: Vec<u8>,
}

/// Most body bytes a failure sample keeps.
pub const SAMPLE_BODY_BYTES: usize = 256;

/// How many failures of one kind and message an interval saw.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FailureCount {
    /// The failure's kind.
    pub kind: FailureKind,
    /// A short fixed description, e.g. `HTTP 500` or `connection refused`.
    pub message: String,
    /// Occurrences in the interval.
    pub count: u64,
}

/// Encodes a snapshot with rkyv.
pub fn encode_snapshot(snapshot: &Snapshot) -> Result<Vec<u8>, ProtoError> {
    rkyv::to_bytes::<rkyv::rancor::Error>(snapshot)
        .map(|bytes| bytes.into_vec())
        .map_err(|e| ProtoError::Invalid(e.to_string()))
}

/// Decodes a snapshot, validating the bytes (rkyv's checked access) and the version.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, ProtoError> {
    // rkyv needs aligned input; frames read off a socket carry no such promise.
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    let snapshot = rkyv::from_bytes::<Snapshot, rkyv::rancor::Error>(&aligned)
        .map_err(|e| ProtoError::Invalid(e.to_string()))?;
    if snapshot.version != SNAPSHOT_VERSION {
        return Err(ProtoError::Version {
            found: snapshot.version,
            expected: SNAPSHOT_VERSION,
        });
    }
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;

    fn sample() -> Snapshot {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in [120, 450, 450, 9_000, 1_200_000] {
            histogram.record(v).unwrap();
        }
        Snapshot {
            version: SNAPSHOT_VERSION,
            source: 3,
            interval: 7,
            elapsed_ms: 7_000,
            users: 50,
            dropped: 2,
            cpu_us: 912_000,
            is_final: false,
            wall_us: 1_000_000,
            wait_us: 0,
            sched_lag_us: HistogramBuckets::encode(&histogram).unwrap(),
            endpoints: vec![EndpointSnapshot {
                method: "GET".into(),
                name: "/".into(),
                requests: 5,
                failures: vec![FailureCount {
                    kind: FailureKind::Status,
                    message: "HTTP 500".into(),
                    count: 1,
                }],
                bytes_received: 640,
                body_bytes: 0,
                body_bytes_sent: 4_096,
                decoded_bytes: 0,
                redirects: 0,
                samples: Vec::new(),
                latency_us: HistogramBuckets::encode(&histogram).unwrap(),
                service_us: Some(HistogramBuckets::default()),
                ttfb_us: HistogramBuckets::encode(&histogram).unwrap(),
            }],
            connect_us: HistogramBuckets::encode(&histogram).unwrap(),
            tls_handshake_us: HistogramBuckets::default(),
            addresses: vec![
                AddressCount {
                    addr: "127.0.0.1:8080".into(),
                    requests: 5,
                    bytes_sent: 5 * 78,
                },
                AddressCount {
                    addr: "[::1]:8080".into(),
                    requests: 1,
                    bytes_sent: u64::MAX,
                },
            ],
            open_connections: 42,
            max_rss_kb: 51_200,
        }
    }

    /// A snapshot survives encode and decode unchanged, histogram counts,
    /// per-address bytes sent, request body bytes, open connections and
    /// peak memory included.
    #[test]
    fn snapshot_round_trips() {
        let snapshot = sample();
        let bytes = encode_snapshot(&snapshot).unwrap();
        let back = decode_snapshot(&bytes).unwrap();
        assert_eq!(back, snapshot);
        assert_eq!(back.open_connections, 42);
        assert_eq!(back.endpoints[0].body_bytes_sent, 4_096);
        assert_eq!(back.max_rss_kb, 51_200);
        let sent: Vec<_> = back.addresses.iter().map(|a| a.bytes_sent).collect();
        assert_eq!(sent, [390, u64::MAX]);
        let histogram = back.endpoints[0].latency_us.decode().unwrap().unwrap();
        assert_eq!(histogram.len(), 5);
        assert_eq!(histogram.max(), histogram.highest_equivalent(1_200_000));
        assert_eq!(histogram.count_at(450), 2);
        assert!(back.endpoints[0]
            .service_us
            .as_ref()
            .unwrap()
            .decode()
            .unwrap()
            .is_none());
    }

    /// Corrupt or truncated bytes are rejected with an error, never a panic.
    #[test]
    fn corrupt_bytes_are_rejected() {
        let bytes = encode_snapshot(&sample()).unwrap();
        assert!(decode_snapshot(&bytes[..bytes.len() / 2]).is_err());
        assert!(decode_snapshot(&[]).is_err());
        let mut flipped = bytes.clone();
        for b in flipped.iter_mut().rev().take(24) {
            *b = 0xff;
        }
        assert!(decode_snapshot(&flipped).is_err());
    }

    /// `FailureKind::ALL` is the whole enum, in order, each kind once: the
    /// tags rkyv accepts for an archived kind are exactly ALL's, so a kind
    /// added to the enum but not to ALL fails here.
    #[test]
    fn all_failure_kinds_are_listed() {
        let mut accepted = Vec::new();
        for tag in 0..=u8::MAX {
            let mut bytes = rkyv::util::AlignedVec::<16>::new();
            bytes.push(tag);
            if let Ok(kind) = rkyv::from_bytes::<FailureKind, rkyv::rancor::Error>(&bytes) {
                accepted.push(kind);
            }
        }
        assert_eq!(accepted, FailureKind::ALL);
        let mut names: Vec<&str> = FailureKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FailureKind::ALL.len(), "names are distinct");
    }

    /// A snapshot from another protocol version is refused by name.
    #[test]
    fn other_versions_are_refused() {
        let mut snapshot = sample();
        snapshot.version = SNAPSHOT_VERSION + 1;
        let bytes = encode_snapshot(&snapshot).unwrap();
        assert!(matches!(
            decode_snapshot(&bytes),
            Err(ProtoError::Version { .. })
        ));
    }
}
