//! Messages between a coordinator and its workers, and how they are framed.
//!
//! A frame is a 4-byte little-endian length followed by that many bytes of
//! an rkyv-archived [`Message`]. Every frame read from the network is checked
//! against [`MAX_FRAME_BYTES`] and validated (rkyv's checked access) before
//! use; anything else is a [`ProtoError`], never a panic. The handshake
//! carries [`PROTOCOL_VERSION`]. Sockets belong to the engine's `coord`.

use std::io::{self, Read, Write};

use rkyv::{Archive, Deserialize, Serialize};

use crate::snapshot::Snapshot;
use crate::ProtoError;

/// Version of the coordinator/worker protocol, checked in the handshake.
pub const PROTOCOL_VERSION: u16 = 2;
/// Largest frame accepted (feeder rows in `Prepare` can be large).
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;
/// Largest first frame (the hello) accepted from a peer not yet
/// authenticated: a stranger may cost the coordinator this much, no more.
pub const MAX_HELLO_BYTES: usize = 4 * 1024;

/// The first bytes either side sends: [`PREAMBLE_MAGIC`], the protocol
/// version (u16, little-endian), whether the channel will be encrypted
/// (1) or plain (0), and a zero byte. Fixed-size and read before anything
/// else, so a stranger (a TLS ClientHello, an HTTP request) is told apart
/// on 8 bytes, and each side can say why it refuses the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preamble {
    /// The sender's [`PROTOCOL_VERSION`].
    pub version: u16,
    /// The sender has a token: a Noise handshake follows, then only
    /// encrypted messages.
    pub encrypted: bool,
}

/// The preamble's first four bytes.
pub const PREAMBLE_MAGIC: [u8; 4] = *b"STPD";
/// Length of a [`Preamble`] on the wire.
pub const PREAMBLE_BYTES: usize = 8;

impl Preamble {
    /// This build's preamble.
    pub fn ours(encrypted: bool) -> Preamble {
        Preamble {
            version: PROTOCOL_VERSION,
            encrypted,
        }
    }

    /// The preamble's bytes.
    pub fn encode(&self) -> [u8; PREAMBLE_BYTES] {
        let v = self.version.to_le_bytes();
        let m = &PREAMBLE_MAGIC;
        [
            m[0],
            m[1],
            m[2],
            m[3],
            v[0],
            v[1],
            u8::from(self.encrypted),
            0,
        ]
    }

    /// Reads a preamble; an error says what the bytes look like instead.
    pub fn decode(bytes: &[u8; PREAMBLE_BYTES]) -> Result<Preamble, ProtoError> {
        if bytes[..4] != PREAMBLE_MAGIC {
            let looks_like = match bytes[0] {
                0x16 => " (a TLS handshake?)",
                b'A'..=b'Z' => " (an HTTP request?)",
                _ => "",
            };
            return Err(ProtoError::Invalid(format!(
                "not a stampede peer: it opened with {:02x?}{looks_like}",
                &bytes[..4]
            )));
        }
        let encrypted = match bytes[6] {
            0 => false,
            1 => true,
            other => {
                return Err(ProtoError::Invalid(format!(
                    "unknown channel mode {other} in the preamble"
                )))
            }
        };
        Ok(Preamble {
            version: u16::from_le_bytes([bytes[4], bytes[5]]),
            encrypted,
        })
    }
}

/// Everything a coordinator and a worker say to each other.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum Message {
    /// Worker -> coordinator, first: who it is and its credentials.
    Hello(Hello),
    /// Coordinator -> worker: accepted, with its id.
    Welcome {
        /// The worker's id in this run.
        worker_id: u32,
    },
    /// Coordinator -> worker: refused, and why; the connection then closes.
    Reject {
        /// The reason, for the worker's log.
        reason: String,
    },
    /// Coordinator -> worker: what to run.
    Prepare(Box<Prepare>),
    /// Worker -> coordinator: prepared and waiting for the start.
    Ready,
    /// Coordinator -> worker: start this long after the message arrives
    /// (relative, so a worker's clock need not agree with the coordinator's).
    Start {
        /// Milliseconds from receipt to the start.
        after_ms: u64,
    },
    /// Worker -> coordinator: one interval of one shard.
    Snapshot(Box<Snapshot>),
    /// Coordinator -> worker: change the load while running.
    SetLoad {
        /// New user count for this worker (closed loop).
        users: Option<u32>,
        /// New rate for this worker (open loop).
        rate_per_s: Option<f64>,
    },
    /// Coordinator -> worker: stop gracefully.
    Stop,
    /// Worker -> coordinator: finished; every snapshot was sent before this.
    Done {
        /// Warnings the worker's run produced.
        warnings: Vec<String>,
    },
    /// Either way, every second: the sender is alive (separate from snapshots,
    /// so a worker busy generating load is never taken for dead).
    Heartbeat,
    /// Either way: an application message, like Locust's send_message.
    Custom {
        /// What kind of message; handlers are registered per kind.
        kind: String,
        /// The payload.
        data: Vec<u8>,
    },
}

/// A worker introducing itself (the token never travels: the channel's
/// handshake proves it).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Hello {
    /// The worker's [`PROTOCOL_VERSION`].
    pub version: u16,
    /// Cores (shards) the worker runs; load is split in proportion.
    pub cores: u32,
    /// Host name, for reports.
    pub hostname: String,
}

/// A worker's share of the run.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Prepare {
    /// Run settings as config keys and text values (this worker's share of
    /// users, rate and iterations already applied).
    pub settings: Vec<(String, String)>,
    /// The scenario file's name and text, when the run has one.
    pub scenario: Option<(String, String)>,
    /// Rows of each feeder this worker may use: (name, columns, rows).
    pub feeders: Vec<FeederRows>,
    /// Values extracted by the coordinator's setup phase, by variable name.
    pub setup_values: Vec<(String, Vec<u8>)>,
    /// Global number of this worker's first user, so class weights and
    /// `${user_id}` hold across the cluster.
    pub user_base: u64,
    /// The coordinator's values of the `${env.NAME}` the run uses: a worker
    /// reads these, never its own environment.
    pub env: Vec<(String, String)>,
}

/// One feeder's rows for one worker.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FeederRows {
    /// Feeder name in the scenario.
    pub name: String,
    /// Column names.
    pub columns: Vec<String>,
    /// The rows this worker gets.
    pub rows: Vec<Vec<String>>,
}

/// Encodes a message as one frame.
pub fn encode_frame(message: &Message) -> Result<Vec<u8>, ProtoError> {
    let body = rkyv::to_bytes::<rkyv::rancor::Error>(message)
        .map_err(|e| ProtoError::Invalid(e.to_string()))?;
    if body.len() > MAX_FRAME_BYTES {
        return Err(ProtoError::Invalid(format!(
            "frame of {} bytes exceeds the limit",
            body.len()
        )));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Writes one message as a frame.
pub fn write_frame(out: &mut impl Write, message: &Message) -> Result<(), FrameError> {
    let frame = encode_frame(message).map_err(FrameError::Proto)?;
    out.write_all(&frame).map_err(FrameError::Io)?;
    Ok(())
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed or closed.
    #[error("{0}")]
    Io(io::Error),
    /// The frame is larger than the limit ([`MAX_FRAME_BYTES`], or
    /// [`MAX_HELLO_BYTES`] before authentication).
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The bytes are not a valid message.
    #[error("{0}")]
    Proto(ProtoError),
}

/// Reads and validates one frame.
pub fn read_frame(input: &mut impl Read) -> Result<Message, FrameError> {
    read_frame_within(input, MAX_FRAME_BYTES)
}

/// Reads and validates one frame of at most `limit` bytes. The body's buffer
/// grows as its bytes arrive, never ahead of them: a peer that announces a
/// large frame and sends little costs little.
pub fn read_frame_within(input: &mut impl Read, limit: usize) -> Result<Message, FrameError> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len).map_err(FrameError::Io)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > limit.min(MAX_FRAME_BYTES) {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = Vec::new();
    input
        .take(len as u64)
        .read_to_end(&mut body)
        .map_err(FrameError::Io)?;
    if body.len() < len {
        return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    decode_message(&body).map_err(FrameError::Proto)
}

/// Decodes a frame body, validating it.
pub fn decode_message(body: &[u8]) -> Result<Message, ProtoError> {
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(body.len());
    aligned.extend_from_slice(body);
    rkyv::from_bytes::<Message, rkyv::rancor::Error>(&aligned)
        .map_err(|e| ProtoError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HistogramBuckets, SNAPSHOT_VERSION};

    fn samples() -> Vec<Message> {
        vec![
            Message::Hello(Hello {
                version: PROTOCOL_VERSION,
                cores: 2,
                hostname: "w1".into(),
            }),
            Message::Welcome { worker_id: 3 },
            Message::Reject {
                reason: "bad token".into(),
            },
            Message::Prepare(Box::new(Prepare {
                settings: vec![("users".into(), "10".into())],
                scenario: Some(("music.toml".into(), "[[user]]".into())),
                feeders: vec![FeederRows {
                    name: "a".into(),
                    columns: vec!["u".into()],
                    rows: vec![vec!["x".into()]],
                }],
                setup_values: vec![("admin_token".into(), b"t".to_vec())],
                user_base: 25,
                env: vec![("REGION".into(), "eu".into())],
            })),
            Message::Ready,
            Message::Start { after_ms: 300 },
            Message::Snapshot(Box::new(Snapshot {
                version: SNAPSHOT_VERSION,
                source: 7,
                interval: 2,
                elapsed_ms: 2000,
                users: 5,
                dropped: 0,
                cpu_us: 10,
                is_final: false,
                wall_us: 1_000_000,
                wait_us: 0,
                sched_lag_us: HistogramBuckets::default(),
                endpoints: vec![crate::EndpointSnapshot {
                    method: "GET".into(),
                    name: "/".into(),
                    requests: 0,
                    failures: vec![],
                    bytes_received: 0,
                    body_bytes: 0,
                    body_bytes_sent: 0,
                    decoded_bytes: 0,
                    redirects: 0,
                    samples: Vec::new(),
                    latency_us: HistogramBuckets::default(),
                    service_us: None,
                    ttfb_us: HistogramBuckets::default(),
                }],
                connect_us: HistogramBuckets::default(),
                tls_handshake_us: HistogramBuckets::default(),
                addresses: vec![],
                open_connections: 0,
                max_rss_kb: 0,
            })),
            Message::SetLoad {
                users: Some(4),
                rate_per_s: None,
            },
            Message::Stop,
            Message::Done {
                warnings: vec!["w".into()],
            },
            Message::Heartbeat,
            Message::Custom {
                kind: "ping".into(),
                data: vec![1, 2, 3],
            },
        ]
    }

    /// Every message survives framing, writing and reading unchanged.
    #[test]
    fn every_message_round_trips() {
        for message in samples() {
            let mut wire = Vec::new();
            write_frame(&mut wire, &message).unwrap();
            let back = read_frame(&mut wire.as_slice()).unwrap();
            assert_eq!(back, message);
        }
    }

    /// Preambles round-trip; foreign openings (TLS, HTTP, a frame length)
    /// are refused and say what they look like.
    #[test]
    fn preambles_round_trip_and_strangers_are_named() {
        for encrypted in [false, true] {
            let ours = Preamble::ours(encrypted);
            assert_eq!(Preamble::decode(&ours.encode()).unwrap(), ours);
        }
        let tls = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0xfc, 0x03];
        let err = Preamble::decode(&tls).unwrap_err().to_string();
        assert!(err.contains("TLS"), "{err}");
        let http = *b"GET / HT";
        assert!(Preamble::decode(&http)
            .unwrap_err()
            .to_string()
            .contains("HTTP"));
        let mut bad_mode = Preamble::ours(true).encode();
        bad_mode[6] = 7;
        assert!(Preamble::decode(&bad_mode).is_err());
    }

    /// A frame announced larger than it is ends as a truncated read (the
    /// buffer grows only with what arrived); one over the limit is refused
    /// on its length.
    #[test]
    fn announced_lengths_are_not_trusted() {
        let mut short = (64u32 << 20).to_le_bytes().to_vec();
        short.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(
            read_frame(&mut short.as_slice()),
            Err(FrameError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof
        ));
        let hello = encode_frame(&samples()[0]).unwrap();
        assert!(read_frame_within(&mut hello.as_slice(), MAX_HELLO_BYTES).is_ok());
        assert!(matches!(
            read_frame_within(&mut hello.as_slice(), 8),
            Err(FrameError::TooLarge(_))
        ));
    }

    /// Corrupt, truncated, oversized and random frames are errors, never panics.
    #[test]
    fn bad_frames_are_refused() {
        for message in samples() {
            let frame = encode_frame(&message).unwrap();
            assert!(
                read_frame(&mut &frame[..frame.len() - 1]).is_err(),
                "truncated {message:?}"
            );
            let mut corrupt = frame.clone();
            let len = corrupt.len();
            for b in &mut corrupt[len.saturating_sub(8)..] {
                *b ^= 0xA5;
            }
            let _ = read_frame(&mut corrupt.as_slice());
        }
        let huge = ((MAX_FRAME_BYTES + 1) as u32).to_le_bytes();
        assert!(matches!(
            read_frame(&mut &huge[..]),
            Err(FrameError::TooLarge(_))
        ));
        // Random bytes: a unit variant may happen to validate, so count instead.
        let mut refused = 0;
        let mut state = 0x1234_5678u32;
        for _ in 0..200 {
            let junk: Vec<u8> = (0..64)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect();
            let mut frame = (junk.len() as u32).to_le_bytes().to_vec();
            frame.extend_from_slice(&junk);
            refused += usize::from(read_frame(&mut frame.as_slice()).is_err());
        }
        assert!(
            refused >= 180,
            "only {refused} of 200 random frames refused"
        );
    }
}
