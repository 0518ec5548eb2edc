//! The channel between a coordinator and a worker: who speaks first, how
//! both prove they know the token without sending it, and how every frame
//! after that is sealed.
//!
//! Both sides open with a [`Preamble`] (version, encrypted or plain). With
//! a token, a Noise `NNpsk0` handshake follows (X25519, ChaChaPoly,
//! SHA-256), keyed by a pre-shared key derived from the token
//! ([`psk_of`]); from then on every frame travels as Noise transport
//! messages, a frame longer than one message split over several. Each side
//! contributes a fresh ephemeral key, so a recorded session replayed to
//! either side fails: its messages do not decrypt under the new keys.
//! Without a token (loopback only, enforced by the config) frames go plain.
//!
//! This module owns the bytes and the cryptography, not the sockets'
//! threads (`link`), nor the coordinator's polling of handshakes
//! (`handshake`), which feeds [`Responder`] as bytes arrive.

use std::io::{self, Read, Write};
use std::sync::Arc;

use snow::{HandshakeState, StatelessTransportState};
use stampede_proto::wire::{
    decode_message, encode_frame, read_frame, FrameError, Hello, Message, Preamble,
    MAX_HELLO_BYTES, PREAMBLE_BYTES, PROTOCOL_VERSION,
};

/// The Noise protocol both sides run.
pub const NOISE_PARAMS: &str = "Noise_NNpsk0_25519_ChaChaPoly_SHA256";
/// Bound into the handshake: a peer of another protocol or version fails it.
const PROLOGUE: &[u8] = b"stampede coordinator/worker v2";
/// Salt of the token's key derivation: a fixed label, so the key is
/// stampede's own and not another use of the same secret.
const PSK_SALT: &[u8] = b"stampede token -> noise psk0, v2";
/// PBKDF2 rounds: once per process, and each offline guess of a recorded
/// handshake's token costs as much.
const PSK_ROUNDS: u32 = 20_000;
/// Longest handshake message accepted (the real ones are 48 bytes).
pub const HANDSHAKE_MESSAGE_MAX: usize = 256;
/// Noise's limit on one message, and its tag.
const NOISE_MESSAGE_MAX: usize = 65_535;
const TAG_BYTES: usize = 16;
/// Most plaintext one transport message carries.
const CHUNK_PLAIN_MAX: usize = NOISE_MESSAGE_MAX - TAG_BYTES;

/// Why a channel could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The socket failed or closed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The other side refused, or is not what it should be.
    #[error("{0}")]
    Refused(String),
}

/// The pre-shared key both sides derive from the token:
/// PBKDF2-HMAC-SHA256 with a fixed salt.
pub fn psk_of(token: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let rounds = std::num::NonZeroU32::new(PSK_ROUNDS).unwrap_or(std::num::NonZeroU32::MIN);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        PSK_SALT,
        token.as_bytes(),
        &mut key,
    );
    key
}

fn noise(psk: &[u8; 32], initiator: bool) -> Result<HandshakeState, ChannelError> {
    let params = NOISE_PARAMS
        .parse()
        .map_err(|e| ChannelError::Refused(format!("noise parameters: {e:?}")))?;
    let builder = snow::Builder::new(params)
        .prologue(PROLOGUE)
        .and_then(|b| b.psk(0, psk))
        .map_err(|e| ChannelError::Refused(format!("noise setup: {e:?}")))?;
    let state = if initiator {
        builder.build_initiator()
    } else {
        builder.build_responder()
    };
    state.map_err(|e| ChannelError::Refused(format!("noise setup: {e:?}")))
}

/// The sending half of a channel: plain, or sealing with the next nonce.
pub struct Seal {
    noise: Option<(Arc<StatelessTransportState>, u64)>,
}

/// The receiving half of a channel: plain, or opening with the next nonce
/// and holding plaintext not yet read.
pub struct Open {
    noise: Option<(Arc<StatelessTransportState>, u64)>,
    /// Decrypted bytes not yet consumed, and how far they are.
    plain: Vec<u8>,
    at: usize,
    /// One received transport message.
    sealed: Vec<u8>,
}

/// Both halves of a channel, ready for frames.
pub struct Channel {
    /// Sends.
    pub seal: Seal,
    /// Receives.
    pub open: Open,
}

impl Channel {
    /// A channel whose frames go in clear.
    pub fn plain() -> Channel {
        Channel {
            seal: Seal { noise: None },
            open: Open::new(None),
        }
    }

    fn sealed(state: StatelessTransportState) -> Channel {
        let state = Arc::new(state);
        Channel {
            seal: Seal {
                noise: Some((state.clone(), 0)),
            },
            open: Open::new(Some((state, 0))),
        }
    }
}

impl Seal {
    /// The bytes to write for `message`: its frame, sealed when the channel is.
    pub fn frame(&mut self, message: &Message) -> Result<Vec<u8>, FrameError> {
        let frame = encode_frame(message).map_err(FrameError::Proto)?;
        self.seal(frame)
    }

    /// The bytes to write for an encoded frame: itself on a plain channel,
    /// else sealed, split over transport messages of at most 64 KiB.
    pub fn seal(&mut self, frame: Vec<u8>) -> Result<Vec<u8>, FrameError> {
        let Some((state, nonce)) = &mut self.noise else {
            return Ok(frame);
        };
        let chunks = frame.len().div_ceil(CHUNK_PLAIN_MAX);
        let mut out = Vec::with_capacity(frame.len() + chunks * (2 + TAG_BYTES));
        for chunk in frame.chunks(CHUNK_PLAIN_MAX) {
            let at = out.len();
            out.resize(at + 2 + chunk.len() + TAG_BYTES, 0);
            let n = state
                .write_message(*nonce, chunk, &mut out[at + 2..])
                .map_err(|e| FrameError::Io(io::Error::other(format!("cannot seal: {e:?}"))))?;
            *nonce += 1;
            out[at..at + 2].copy_from_slice(&(n as u16).to_be_bytes());
            out.truncate(at + 2 + n);
        }
        Ok(out)
    }

    /// Writes one message.
    pub fn write(&mut self, out: &mut impl Write, message: &Message) -> Result<(), FrameError> {
        let frame = encode_frame(message).map_err(FrameError::Proto)?;
        self.write_frame(out, &frame)
    }

    /// Writes an encoded frame, sealing and writing one transport message
    /// at a time: a large frame flows as it is sealed, so the other side
    /// hears from us all along.
    pub fn write_frame(&mut self, out: &mut impl Write, frame: &[u8]) -> Result<(), FrameError> {
        if self.noise.is_none() {
            return out.write_all(frame).map_err(FrameError::Io);
        }
        for chunk in frame.chunks(CHUNK_PLAIN_MAX) {
            let sealed = self.seal(chunk.to_vec())?;
            out.write_all(&sealed).map_err(FrameError::Io)?;
        }
        Ok(())
    }
}

impl Open {
    fn new(noise: Option<(Arc<StatelessTransportState>, u64)>) -> Open {
        Open {
            noise,
            plain: Vec::new(),
            at: 0,
            sealed: Vec::new(),
        }
    }

    /// Reads and validates one message from `input`.
    pub fn read(&mut self, input: &mut impl Read) -> Result<Message, FrameError> {
        if self.noise.is_none() {
            return read_frame(input);
        }
        read_frame(&mut Opening { open: self, input })
    }

    /// Opens one transport message into the plaintext buffer.
    fn fill(&mut self, input: &mut impl Read) -> io::Result<()> {
        let Some((state, nonce)) = &mut self.noise else {
            return Ok(());
        };
        let mut len = [0u8; 2];
        input.read_exact(&mut len)?;
        let len = usize::from(u16::from_be_bytes(len));
        self.sealed.resize(len, 0);
        input.read_exact(&mut self.sealed)?;
        self.plain.resize(len, 0);
        let n = state
            .read_message(*nonce, &self.sealed, &mut self.plain)
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a message does not decrypt (corrupt, replayed or forged)",
                )
            })?;
        *nonce += 1;
        self.plain.truncate(n);
        self.at = 0;
        Ok(())
    }
}

/// An [`Open`] over an input, read as the plaintext stream of frames.
struct Opening<'a, R> {
    open: &'a mut Open,
    input: &'a mut R,
}

impl<R: Read> Read for Opening<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Bounded: an empty transport message is refused below, so each
        // pass either returns bytes or fails.
        while self.open.at == self.open.plain.len() {
            self.open.fill(self.input)?;
            if self.open.plain.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "an empty transport message",
                ));
            }
        }
        let rest = &self.open.plain[self.open.at..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.open.at += n;
        Ok(n)
    }
}

/// The worker's side of the handshake, blocking: preambles, then (with a
/// token) the Noise handshake. The hello and the answer to it go over the
/// channel this returns.
pub fn initiate(
    stream: &mut (impl Read + Write),
    token: Option<&str>,
) -> Result<Channel, ChannelError> {
    stream.write_all(&Preamble::ours(token.is_some()).encode())?;
    let mut theirs = [0u8; PREAMBLE_BYTES];
    stream
        .read_exact(&mut theirs)
        .map_err(|e| closed(e, "preamble"))?;
    let theirs = Preamble::decode(&theirs).map_err(|e| ChannelError::Refused(e.to_string()))?;
    if let Some(mismatch) = mismatch(&theirs, token.is_some(), "the coordinator", "this worker") {
        return Err(ChannelError::Refused(mismatch));
    }
    let Some(token) = token else {
        return Ok(Channel::plain());
    };
    let mut noise = noise(&psk_of(token), true)?;
    let mut message = [0u8; HANDSHAKE_MESSAGE_MAX];
    let n = noise
        .write_message(&[], &mut message)
        .map_err(|e| ChannelError::Refused(format!("noise: {e:?}")))?;
    write_handshake_message(stream, &message[..n])?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .map_err(|e| closed(e, "handshake"))?;
    let len = usize::from(u16::from_be_bytes(len));
    if len > HANDSHAKE_MESSAGE_MAX {
        return Err(ChannelError::Refused(format!(
            "a handshake message of {len} bytes"
        )));
    }
    stream
        .read_exact(&mut message[..len])
        .map_err(|e| closed(e, "handshake"))?;
    noise.read_message(&message[..len], &mut []).map_err(|_| {
        ChannelError::Refused(
            "the coordinator did not prove it knows the token (a different token, or not our coordinator)"
                .into(),
        )
    })?;
    let transport = noise
        .into_stateless_transport_mode()
        .map_err(|e| ChannelError::Refused(format!("noise: {e:?}")))?;
    Ok(Channel::sealed(transport))
}

fn write_handshake_message(out: &mut impl Write, message: &[u8]) -> io::Result<()> {
    let mut framed = Vec::with_capacity(2 + message.len());
    framed.extend_from_slice(&(message.len() as u16).to_be_bytes());
    framed.extend_from_slice(message);
    out.write_all(&framed)
}

/// A closed socket during the handshake: the coordinator refused without a
/// word (it cannot answer a peer whose key it does not share).
fn closed(e: io::Error, during: &str) -> ChannelError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        ChannelError::Refused(format!(
            "the coordinator closed the connection during the {during} \
             (is the token the same on both sides? its log says why)"
        ))
    } else {
        ChannelError::Io(e)
    }
}

/// Why two preambles cannot talk, if they cannot.
fn mismatch(theirs: &Preamble, ours_encrypted: bool, they: &str, we: &str) -> Option<String> {
    if theirs.version != PROTOCOL_VERSION {
        return Some(format!(
            "{they} speaks protocol version {} and {we} {PROTOCOL_VERSION}: run the same stampede release on both",
            theirs.version
        ));
    }
    match (theirs.encrypted, ours_encrypted) {
        (true, false) => Some(format!(
            "{they} has a token and {we} none: give both the same --token (or STAMPEDE_TOKEN)"
        )),
        (false, true) => Some(format!(
            "{they} has no token and {we} one: give both the same --token (or STAMPEDE_TOKEN)"
        )),
        _ => None,
    }
}

/// How far a peer's handshake has come, as the coordinator sees it.
pub enum Progress {
    /// More bytes are needed ([`Responder::wants`] says how many at most).
    Partial,
    /// Write these bytes to the peer, then read on.
    Reply(Vec<u8>),
    /// The peer proved the token (or none is needed) and said hello.
    Hello(Box<Hello>, Channel),
    /// The peer is refused, and why; `reply` is written first if there is one.
    Refused {
        /// For the coordinator's log.
        reason: String,
        /// Our preamble, so a real worker can say why it was refused.
        reply: Option<Vec<u8>>,
    },
}

/// What the responder reads next.
enum Phase {
    Preamble,
    /// A handshake or transport message's 2-byte length, then its body.
    NoiseLength {
        first: bool,
    },
    NoiseBody {
        first: bool,
        len: usize,
    },
    /// A plain hello frame's 4-byte length, then its body.
    PlainLength,
    PlainBody(usize),
}

/// The coordinator's side of one handshake, without I/O: fed the bytes as
/// they arrive, it never asks for more than the unit it reads, and no unit
/// before the hello is over a few KiB.
pub struct Responder {
    psk: Option<[u8; 32]>,
    phase: Phase,
    /// The current unit's bytes so far.
    buf: Vec<u8>,
    noise: Option<HandshakeState>,
    transport: Option<StatelessTransportState>,
}

impl Responder {
    /// A responder for a coordinator with this pre-shared key ([`psk_of`]), or none.
    pub fn new(psk: Option<[u8; 32]>) -> Responder {
        Responder {
            psk,
            phase: Phase::Preamble,
            buf: Vec::new(),
            noise: None,
            transport: None,
        }
    }

    /// Bytes the current unit still needs (read no more than this).
    pub fn wants(&self) -> usize {
        let unit = match self.phase {
            Phase::Preamble => PREAMBLE_BYTES,
            Phase::NoiseLength { .. } => 2,
            Phase::PlainLength => 4,
            Phase::NoiseBody { len, .. } | Phase::PlainBody(len) => len,
        };
        unit - self.buf.len()
    }

    /// Takes in bytes (at most [`wants`](Self::wants)).
    pub fn feed(&mut self, bytes: &[u8]) -> Progress {
        self.buf.extend_from_slice(bytes);
        if self.wants() > 0 {
            return Progress::Partial;
        }
        let unit = std::mem::take(&mut self.buf);
        match self.phase {
            Phase::Preamble => self.preamble(&unit),
            Phase::NoiseLength { first } => {
                let len = usize::from(u16::from_be_bytes([unit[0], unit[1]]));
                let limit = if first {
                    HANDSHAKE_MESSAGE_MAX
                } else {
                    MAX_HELLO_BYTES + TAG_BYTES
                };
                if len == 0 || len > limit {
                    return refuse(format!(
                        "a {} message of {len} bytes (1 to {limit} before authentication)",
                        if first { "handshake" } else { "first" }
                    ));
                }
                self.phase = Phase::NoiseBody { first, len };
                Progress::Partial
            }
            Phase::NoiseBody { first: true, .. } => self.handshake(&unit),
            Phase::NoiseBody { first: false, .. } => self.sealed_hello(&unit),
            Phase::PlainLength => {
                let len = u32::from_le_bytes([unit[0], unit[1], unit[2], unit[3]]) as usize;
                if len == 0 || len > MAX_HELLO_BYTES {
                    return refuse(format!(
                        "a first frame of {len} bytes (1 to {MAX_HELLO_BYTES} before authentication)"
                    ));
                }
                self.phase = Phase::PlainBody(len);
                Progress::Partial
            }
            Phase::PlainBody(_) => hello(&unit, Channel::plain()),
        }
    }

    fn preamble(&mut self, unit: &[u8]) -> Progress {
        let mut bytes = [0u8; PREAMBLE_BYTES];
        bytes.copy_from_slice(unit);
        let theirs = match Preamble::decode(&bytes) {
            Ok(theirs) => theirs,
            Err(e) => return refuse(e.to_string()),
        };
        let ours = Preamble::ours(self.psk.is_some()).encode().to_vec();
        if let Some(reason) = mismatch(&theirs, self.psk.is_some(), "the worker", "the coordinator")
        {
            return Progress::Refused {
                reason,
                reply: Some(ours),
            };
        }
        self.phase = match self.psk {
            Some(psk) => match noise(&psk, false) {
                Ok(state) => {
                    self.noise = Some(state);
                    Phase::NoiseLength { first: true }
                }
                Err(e) => return refuse(e.to_string()),
            },
            None => Phase::PlainLength,
        };
        Progress::Reply(ours)
    }

    /// The initiator's handshake message: it decrypts only under the token's key.
    fn handshake(&mut self, unit: &[u8]) -> Progress {
        let Some(mut noise) = self.noise.take() else {
            return refuse("handshake out of order".into());
        };
        if noise.read_message(unit, &mut []).is_err() {
            return refuse(
                "wrong token (its handshake does not decrypt under ours), or not a stampede worker"
                    .into(),
            );
        }
        let mut reply = vec![0u8; 2 + HANDSHAKE_MESSAGE_MAX];
        let n = match noise.write_message(&[], &mut reply[2..]) {
            Ok(n) => n,
            Err(e) => return refuse(format!("noise: {e:?}")),
        };
        reply[..2].copy_from_slice(&(n as u16).to_be_bytes());
        reply.truncate(2 + n);
        match noise.into_stateless_transport_mode() {
            Ok(transport) => self.transport = Some(transport),
            Err(e) => return refuse(format!("noise: {e:?}")),
        }
        self.phase = Phase::NoiseLength { first: false };
        Progress::Reply(reply)
    }

    /// The first transport message, the hello: only the peer that made the
    /// handshake's ephemeral key can seal it, so a replay stops here.
    fn sealed_hello(&mut self, unit: &[u8]) -> Progress {
        let Some(transport) = self.transport.take() else {
            return refuse("hello out of order".into());
        };
        let mut plain = vec![0u8; unit.len()];
        let n = match transport.read_message(0, unit, &mut plain) {
            Ok(n) => n,
            Err(_) => {
                return refuse(
                    "its first message does not decrypt: a replayed or forged session".into(),
                )
            }
        };
        plain.truncate(n);
        // The hello is one whole frame in one transport message.
        let whole = plain.len() >= 4
            && u32::from_le_bytes([plain[0], plain[1], plain[2], plain[3]]) as usize
                == plain.len() - 4;
        if !whole {
            return refuse("the first message is not one whole frame".into());
        }
        let mut channel = Channel::sealed(transport);
        if let Some((_, nonce)) = &mut channel.open.noise {
            *nonce = 1;
        }
        hello(&plain[4..], channel)
    }
}

fn refuse(reason: String) -> Progress {
    Progress::Refused {
        reason,
        reply: None,
    }
}

fn hello(body: &[u8], channel: Channel) -> Progress {
    match decode_message(body) {
        Ok(Message::Hello(hello)) => Progress::Hello(Box::new(hello), channel),
        Ok(_) => refuse("first message is not a hello".into()),
        Err(e) => refuse(format!("invalid first frame: {e}")),
    }
}

/// The coordinator's side of a handshake on a blocking stream (a test's
/// stand-in coordinator; the real one polls, see `handshake`).
pub fn respond(
    stream: &mut (impl Read + Write),
    token: Option<&str>,
) -> Result<(Hello, Channel), ChannelError> {
    let mut responder = Responder::new(token.map(psk_of));
    let mut chunk = [0u8; 1024];
    // Bounded: every pass reads at least a byte of a bounded unit, or ends.
    loop {
        let want = responder.wants().min(chunk.len());
        stream.read_exact(&mut chunk[..want])?;
        match responder.feed(&chunk[..want]) {
            Progress::Partial => {}
            Progress::Reply(bytes) => stream.write_all(&bytes)?,
            Progress::Hello(hello, channel) => return Ok((*hello, channel)),
            Progress::Refused { reason, reply } => {
                if let Some(reply) = reply {
                    let _ = stream.write_all(&reply);
                }
                return Err(ChannelError::Refused(reason));
            }
        }
    }
}

#[cfg(test)]
mod tests;
