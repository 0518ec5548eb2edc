//! A saved run (`--save-run`): every snapshot the aggregator merged, in merge
//! order, plus the facts the reports need that no snapshot carries, so any
//! report can be rendered again later with the same numbers.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! 0   8 bytes  magic "STAMPRUN"
//! 8   u16      format version (RUN_FILE_VERSION)
//! 10  6 bytes  reserved, zero
//! 16  frames   u32 length N, then N bytes of rkyv:
//!              the first frame is the RunFacts, each further one a Snapshot
//! end u64      FNV-1a 64 checksum of every byte before it
//! ```
//!
//! Snapshot frames are the very bytes `encode_snapshot` makes, and carry
//! their own version. This module owns the layout and its validation; reading
//! and writing files (atomically) is the engine's `report::runfile`.

use rkyv::{Archive, Deserialize, Serialize};

use crate::snapshot::{decode_snapshot, encode_snapshot, Snapshot};

/// The first bytes of every run file.
pub const RUN_FILE_MAGIC: [u8; 8] = *b"STAMPRUN";
/// Version of the run-file layout and of [`RunFacts`]; bumped on any change to either.
pub const RUN_FILE_VERSION: u16 = 1;
/// Bytes before the first frame: magic, version, reserved.
const HEADER_LEN: usize = 16;
/// Bytes of the trailing checksum.
const CHECKSUM_LEN: usize = 8;
/// Bytes of a frame's length prefix.
const FRAME_PREFIX_LEN: usize = 4;

/// Errors met while encoding or decoding a run file; each reads as one line.
#[derive(Debug, thiserror::Error)]
pub enum RunFileError {
    /// The bytes do not start with [`RUN_FILE_MAGIC`].
    #[error("not a stampede run file (it does not start with STAMPRUN)")]
    NotARunFile,
    /// The file was written in another layout version.
    #[error("run file format version {found}; this stampede reads version {expected}")]
    Version {
        /// Version in the file.
        found: u16,
        /// Version this build reads and writes.
        expected: u16,
    },
    /// The checksum does not match: the file is truncated or damaged.
    #[error("corrupt run file: checksum mismatch (truncated or damaged)")]
    Checksum,
    /// The checksum matches but a frame is malformed (or could not be encoded).
    #[error("corrupt run file: {0}")]
    Invalid(String),
}

/// What the reports need about a run besides its snapshots.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RunFacts {
    /// Wall-clock length of the run in seconds (the exact f64 the live reports used).
    pub duration_s: f64,
    /// When the run started, in milliseconds since the Unix epoch (UTC).
    pub started_unix_ms: u64,
    /// Shard threads the generator ran.
    pub threads: u64,
    /// I/O driver(s) the shards used, e.g. `io_uring`.
    pub io_driver: String,
    /// CPU time the generator process used, in seconds.
    pub cpu_seconds: f64,
    /// Peak resident memory of the generator, in KiB.
    pub max_rss_kb: u64,
    /// Open-file limit the run had.
    pub fd_limit: u64,
    /// Connections opened over all shards.
    pub connections_opened: u64,
    /// Why the run ended, by its report name (`run_time`, `completed`, ...).
    pub stop_reason: String,
    /// Warnings the run gave about its measurement, as printed.
    pub warnings: Vec<String>,
    /// The run's configuration as the JSON text the reports show.
    pub config_json: String,
}

/// A decoded run file: the facts and every snapshot, in merge order.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// Facts about the run.
    pub facts: RunFacts,
    /// Every snapshot the run's aggregator merged, in the order it merged them.
    pub snapshots: Vec<Snapshot>,
}

/// Encodes a run file: header, a facts frame, a frame per snapshot, checksum.
pub fn encode_run(facts: &RunFacts, snapshots: &[Snapshot]) -> Result<Vec<u8>, RunFileError> {
    let mut out = Vec::with_capacity(HEADER_LEN + 256 * (snapshots.len() + 1));
    out.extend_from_slice(&RUN_FILE_MAGIC);
    out.extend_from_slice(&RUN_FILE_VERSION.to_le_bytes());
    out.extend_from_slice(&[0; HEADER_LEN - 10]);
    let facts_bytes = rkyv::to_bytes::<rkyv::rancor::Error>(facts)
        .map_err(|e| RunFileError::Invalid(format!("run facts: {e}")))?;
    push_frame(&mut out, &facts_bytes)?;
    for snapshot in snapshots {
        let bytes = encode_snapshot(snapshot).map_err(|e| RunFileError::Invalid(e.to_string()))?;
        push_frame(&mut out, &bytes)?;
    }
    let checksum = fnv1a_64(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    Ok(out)
}

/// Appends one frame (length prefix and bytes) to `out`: how a spool of
/// snapshot frames is written during a run, ready for [`RunFileWriter`].
pub fn append_frame(out: &mut Vec<u8>, frame: &[u8]) -> Result<(), RunFileError> {
    push_frame(out, frame)
}

/// Writes a run file as a stream, so a long run's snapshots never need to be
/// in memory at once: the header and facts first, then frames already
/// encoded by [`append_frame`] (spooled to disk during the run), then the
/// checksum, computed as the bytes pass.
pub struct RunFileWriter<W: std::io::Write> {
    out: W,
    hash: u64,
}

impl<W: std::io::Write> RunFileWriter<W> {
    /// Starts a run file on `out` with its header and facts frame.
    pub fn start(out: W, facts: &RunFacts) -> std::io::Result<Self> {
        let mut head = Vec::with_capacity(HEADER_LEN + 512);
        head.extend_from_slice(&RUN_FILE_MAGIC);
        head.extend_from_slice(&RUN_FILE_VERSION.to_le_bytes());
        head.extend_from_slice(&[0; HEADER_LEN - 10]);
        let facts_bytes = rkyv::to_bytes::<rkyv::rancor::Error>(facts)
            .map_err(|e| std::io::Error::other(format!("run facts: {e}")))?;
        push_frame(&mut head, &facts_bytes).map_err(std::io::Error::other)?;
        let mut writer = RunFileWriter {
            out,
            hash: FNV_OFFSET_BASIS,
        };
        writer.write_framed(&head)?;
        Ok(writer)
    }

    /// Writes bytes that are whole frames (as `append_frame` made them).
    pub fn write_framed(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash = fnv1a_64_from(self.hash, bytes);
        self.out.write_all(bytes)
    }

    /// Writes the checksum and gives the writer back.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.write_all(&self.hash.to_le_bytes())?;
        Ok(self.out)
    }
}

/// Decodes and validates a run file: magic, version, checksum, then every frame.
pub fn decode_run(bytes: &[u8]) -> Result<RunRecord, RunFileError> {
    if bytes.len() < RUN_FILE_MAGIC.len() || bytes[..RUN_FILE_MAGIC.len()] != RUN_FILE_MAGIC {
        return Err(RunFileError::NotARunFile);
    }
    if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
        return Err(RunFileError::Checksum);
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != RUN_FILE_VERSION {
        return Err(RunFileError::Version {
            found: version,
            expected: RUN_FILE_VERSION,
        });
    }
    let (body, trailer) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    let stored = u64::from_le_bytes(trailer.try_into().expect("8-byte trailer"));
    if fnv1a_64(body) != stored {
        return Err(RunFileError::Checksum);
    }
    let mut frames = Frames {
        rest: &body[HEADER_LEN..],
    };
    let facts_bytes = frames
        .next()
        .ok_or_else(|| RunFileError::Invalid("no run facts".into()))??;
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(facts_bytes.len());
    aligned.extend_from_slice(facts_bytes);
    let facts = rkyv::from_bytes::<RunFacts, rkyv::rancor::Error>(&aligned)
        .map_err(|e| RunFileError::Invalid(format!("run facts: {e}")))?;
    let mut snapshots = Vec::new();
    for frame in frames {
        let index = snapshots.len();
        let snapshot = decode_snapshot(frame?)
            .map_err(|e| RunFileError::Invalid(format!("snapshot {index}: {e}")))?;
        snapshots.push(snapshot);
    }
    Ok(RunRecord { facts, snapshots })
}

/// Whether `bytes` start like a run file (whatever its version or state).
pub fn is_run_file(bytes: &[u8]) -> bool {
    bytes.starts_with(&RUN_FILE_MAGIC)
}

/// Appends one frame: its length as u32, then its bytes.
fn push_frame(out: &mut Vec<u8>, frame: &[u8]) -> Result<(), RunFileError> {
    let len = u32::try_from(frame.len()).map_err(|_| {
        RunFileError::Invalid(format!("a frame of {} bytes is too long", frame.len()))
    })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(frame);
    Ok(())
}

/// The frames between the header and the checksum, one at a time.
struct Frames<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8], RunFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        if self.rest.len() < FRAME_PREFIX_LEN {
            self.rest = &[];
            return Some(Err(RunFileError::Invalid(
                "a frame's length is cut off".into(),
            )));
        }
        let (prefix, tail) = self.rest.split_at(FRAME_PREFIX_LEN);
        let len = u32::from_le_bytes(prefix.try_into().expect("4-byte prefix")) as usize;
        if len > tail.len() {
            self.rest = &[];
            let message = format!("a frame of {len} bytes overruns the file");
            return Some(Err(RunFileError::Invalid(message)));
        }
        let (frame, rest) = tail.split_at(len);
        self.rest = rest;
        Some(Ok(frame))
    }
}

/// FNV-1a's starting value.
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits: a checksum against truncation and damage, not tampering.
pub(crate) fn fnv1a_64(bytes: &[u8]) -> u64 {
    fnv1a_64_from(FNV_OFFSET_BASIS, bytes)
}

/// FNV-1a continued from `hash` over more bytes.
fn fnv1a_64_from(hash: u64, bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(hash, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run file written as a stream is byte for byte the one `encode_run` makes.
    #[test]
    fn streamed_files_equal_encoded_ones() {
        let snapshots = vec![
            snapshot(0, 1, &[10, 20]),
            snapshot(1, 1, &[30]),
            snapshot(0, 2, &[40]),
        ];
        let whole = encode_run(&facts(), &snapshots).unwrap();
        let mut spool = Vec::new();
        for s in &snapshots {
            append_frame(&mut spool, &encode_snapshot(s).unwrap()).unwrap();
        }
        let mut writer = RunFileWriter::start(Vec::new(), &facts()).unwrap();
        writer.write_framed(&spool[..7]).unwrap();
        writer.write_framed(&spool[7..]).unwrap();
        assert_eq!(writer.finish().unwrap(), whole);
        assert_eq!(decode_run(&whole).unwrap().snapshots, snapshots);
    }
    use crate::snapshot::{EndpointSnapshot, HistogramBuckets, SNAPSHOT_VERSION};
    use hdrhistogram::Histogram;

    fn facts() -> RunFacts {
        RunFacts {
            duration_s: 5.000_123_456_789,
            started_unix_ms: 1_700_000_000_123,
            threads: 2,
            io_driver: "epoll".into(),
            cpu_seconds: 0.1 + 0.2,
            max_rss_kb: 12_345,
            fd_limit: 1_024,
            connections_opened: 7,
            stop_reason: "run_time".into(),
            warnings: vec!["open-file limit 64 is below the 200 this run may need".into()],
            config_json: r#"{"users":5,"rate":null}"#.into(),
        }
    }

    fn snapshot(source: u32, interval: u32, latencies_us: &[u64]) -> Snapshot {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for &v in latencies_us {
            histogram.record(v).unwrap();
        }
        Snapshot {
            version: SNAPSHOT_VERSION,
            source,
            interval,
            elapsed_ms: u64::from(interval) * 1_000,
            users: 5,
            dropped: 0,
            cpu_us: 1_000,
            is_final: false,
            wall_us: 1_000_000,
            wait_us: 0,
            sched_lag_us: HistogramBuckets::default(),
            endpoints: vec![EndpointSnapshot {
                method: "GET".into(),
                name: "/".into(),
                requests: latencies_us.len() as u64,
                failures: vec![],
                bytes_received: 100,
                body_bytes: 0,
                body_bytes_sent: 0,
                decoded_bytes: 0,
                redirects: 0,
                samples: Vec::new(),
                latency_us: HistogramBuckets::encode(&histogram).unwrap(),
                service_us: None,
                ttfb_us: HistogramBuckets::default(),
            }],
            connect_us: HistogramBuckets::default(),
            tls_handshake_us: HistogramBuckets::default(),
            addresses: vec![],
            open_connections: 0,
            max_rss_kb: 0,
        }
    }

    fn record() -> RunRecord {
        RunRecord {
            facts: facts(),
            snapshots: vec![
                snapshot(0, 1, &[120, 450, 9_000]),
                snapshot(1, 1, &[1_200_000]),
                snapshot(0, 2, &[]),
            ],
        }
    }

    /// Facts (floats bit for bit) and every snapshot, histograms included, survive a round trip in order.
    #[test]
    fn run_file_round_trips() {
        let record = record();
        let bytes = encode_run(&record.facts, &record.snapshots).unwrap();
        assert!(bytes.starts_with(b"STAMPRUN\x01\x00"));
        assert!(is_run_file(&bytes));
        let back = decode_run(&bytes).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.facts.cpu_seconds.to_bits(), (0.1f64 + 0.2).to_bits());
        let histogram = back.snapshots[0].endpoints[0]
            .latency_us
            .decode()
            .unwrap()
            .unwrap();
        assert_eq!((histogram.len(), histogram.count_at(450)), (3, 1));
        let empty = encode_run(&facts(), &[]).unwrap();
        assert!(decode_run(&empty).unwrap().snapshots.is_empty());
    }

    /// Wrong magic, another version, truncation, a flipped byte and a bad frame are each refused by name.
    #[test]
    fn corrupt_run_files_are_refused() {
        let record = record();
        let bytes = encode_run(&record.facts, &record.snapshots).unwrap();
        assert!(matches!(
            decode_run(b"{\"schema\": 1}"),
            Err(RunFileError::NotARunFile)
        ));
        assert!(matches!(decode_run(&[]), Err(RunFileError::NotARunFile)));
        assert!(!is_run_file(b"STAMP"));
        let mut other = bytes.clone();
        other[8] = 2;
        let err = decode_run(&other).unwrap_err();
        assert!(
            matches!(
                err,
                RunFileError::Version {
                    found: 2,
                    expected: 1
                }
            ),
            "{err}"
        );
        for len in [
            10,
            HEADER_LEN + CHECKSUM_LEN,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            let err = decode_run(&bytes[..len]).unwrap_err();
            assert!(matches!(err, RunFileError::Checksum), "length {len}: {err}");
        }
        for at in [
            HEADER_LEN + 2,
            bytes.len() / 2,
            bytes.len() - CHECKSUM_LEN - 1,
        ] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x40;
            assert!(
                matches!(decode_run(&flipped), Err(RunFileError::Checksum)),
                "byte {at}"
            );
        }
        // A well-checksummed file whose frame lies about its length.
        let mut body = bytes[..bytes.len() - CHECKSUM_LEN].to_vec();
        body[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let checksum = fnv1a_64(&body);
        body.extend_from_slice(&checksum.to_le_bytes());
        let err = decode_run(&body).unwrap_err();
        assert!(err.to_string().contains("overruns the file"), "{err}");
        // A well-checksummed file whose snapshot frame holds garbage.
        let mut garbage = RUN_FILE_MAGIC.to_vec();
        garbage.extend_from_slice(&RUN_FILE_VERSION.to_le_bytes());
        garbage.extend_from_slice(&[0; 6]);
        let facts_bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&facts()).unwrap();
        push_frame(&mut garbage, &facts_bytes).unwrap();
        push_frame(&mut garbage, &[0xff; 40]).unwrap();
        let checksum = fnv1a_64(&garbage);
        garbage.extend_from_slice(&checksum.to_le_bytes());
        let err = decode_run(&garbage).unwrap_err().to_string();
        assert!(err.starts_with("corrupt run file: snapshot 0:"), "{err}");
        assert_eq!(err.lines().count(), 1);
    }
}
