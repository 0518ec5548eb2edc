//! The TLS 1.3 record layer after the handshake: application data (and the
//! few post-handshake messages) sealed and opened in place, in the caller's
//! buffers, with ring's AEAD, so no record allocates.
//!
//! rustls runs the handshake; then `tls_stream` turns the session into a
//! `KernelConnection` (rustls's kTLS interface) and its traffic secrets into
//! a [`RecordLayer`]. This module owns record protection (RFC 8446 section
//! 5.2 and 5.3): the 5-byte header, the per-direction sequence number and
//! nonce, the inner content type. rustls keeps what needs the key schedule or
//! the session cache: a NewSessionTicket is handed to it (so reconnects
//! resume) and a KeyUpdate asks it for the next secret. Buffers, sockets and
//! the caller's reads are `tls_stream`'s.
//!
//! Limits: a post-handshake handshake message must fit in one record (a
//! ticket spanning records fails the connection as a TLS failure, which no
//! common server causes); TLS 1.2 never gets here.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use rustls::client::ClientConnectionData;
use rustls::kernel::KernelConnection;
use rustls::{ConnectionTrafficSecrets, ExtractedSecrets, SupportedCipherSuite};

use super::failure::Failure;
use super::tls;

/// Bytes of a record header: type, legacy version, length.
pub const HEADER_BYTES: usize = 5;

/// Bytes of an AEAD tag (all three TLS 1.3 suites).
const TAG_BYTES: usize = 16;

/// The most plaintext one record carries.
pub const FRAGMENT_BYTES_MAX: usize = 16_384;

/// The most a protected record's body may exceed its plaintext (RFC 8446 5.2).
const EXPANSION_BYTES_MAX: usize = 256;

/// Bytes sealing adds to `n` bytes of plaintext: header, content type, tag.
pub const SEAL_OVERHEAD_BYTES: usize = HEADER_BYTES + 1 + TAG_BYTES;

/// Outer content type of every protected record; inner type of data.
const APPLICATION_DATA: u8 = 23;
/// Inner content type of handshake messages.
const HANDSHAKE: u8 = 22;
/// Inner content type of alerts.
const ALERT: u8 = 21;

/// Handshake message types seen after the handshake.
const NEW_SESSION_TICKET: u8 = 4;
const KEY_UPDATE: u8 = 24;

/// Alert descriptions that do not fail the connection.
const CLOSE_NOTIFY: u8 = 0;
const USER_CANCELED: u8 = 90;

/// Our KeyUpdate message, not asking the peer to update in turn.
const KEY_UPDATE_NOT_REQUESTED: [u8; 5] = [KEY_UPDATE, 0, 0, 1, 0];

/// One direction's key, static IV and next sequence number.
struct Keys {
    /// The AEAD key.
    key: LessSafeKey,
    /// XORed with the sequence number to make each record's nonce.
    iv: [u8; NONCE_LEN],
    /// The next record's sequence number.
    seq: u64,
}

impl Keys {
    /// Keys from rustls's secrets and the sequence number to go on from.
    fn new((seq, secrets): (u64, ConnectionTrafficSecrets)) -> Result<Keys, Failure> {
        let (algorithm, key, iv) = match &secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (&aead::CHACHA20_POLY1305, key, iv)
            }
            _ => return Err(Failure::TlsHandshake),
        };
        let key = UnboundKey::new(algorithm, key.as_ref()).map_err(|_| Failure::TlsHandshake)?;
        let iv = iv.as_ref().try_into().map_err(|_| Failure::TlsHandshake)?;
        Ok(Keys {
            key: LessSafeKey::new(key),
            iv,
            seq,
        })
    }

    /// The nonce of the next record (RFC 8446 5.3); the sequence moves on.
    fn next_nonce(&mut self) -> Result<Nonce, Failure> {
        let mut nonce = self.iv;
        for (byte, seq) in nonce[NONCE_LEN - 8..]
            .iter_mut()
            .zip(self.seq.to_be_bytes())
        {
            *byte ^= seq;
        }
        // Wrapping is forbidden; key updates come long before.
        self.seq = self.seq.checked_add(1).ok_or(Failure::TlsHandshake)?;
        Ok(Nonce::assume_unique_for_key(nonce))
    }
}

/// What one opened record held, once processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// Application data: its plaintext is at this range of the buffer.
    Data(usize, usize),
    /// A post-handshake message, handled; nothing for the caller.
    Handled,
    /// The peer asked us to update our keys too: send [`RecordLayer::seal_key_update`].
    KeyUpdateRequested,
    /// close_notify: the peer sends nothing more.
    CloseNotify,
}

/// Record protection of a TLS 1.3 session after its handshake.
pub struct RecordLayer {
    /// rustls's remainder of the session: the key schedule and ticket handling.
    kernel: KernelConnection<ClientConnectionData>,
    /// Sealing our records.
    tx: Keys,
    /// Opening the peer's records.
    rx: Keys,
    /// Records sealed under one key before we update it (the suite's
    /// confidentiality limit, with a margin).
    tx_records_max: u64,
}

impl RecordLayer {
    /// Takes over from rustls once the handshake is done.
    pub fn new(
        secrets: ExtractedSecrets,
        kernel: KernelConnection<ClientConnectionData>,
    ) -> Result<RecordLayer, Failure> {
        let limit = match kernel.negotiated_cipher_suite() {
            SupportedCipherSuite::Tls13(suite) => suite.common.confidentiality_limit,
            _ => return Err(Failure::TlsHandshake),
        };
        Ok(RecordLayer {
            tx: Keys::new(secrets.tx)?,
            rx: Keys::new(secrets.rx)?,
            kernel,
            tx_records_max: limit - limit / 16,
        })
    }

    /// The length of the record `pending` starts with once it is all there,
    /// and an upper bound of its plaintext; `None` while incomplete. A
    /// header no TLS 1.3 peer sends is a TLS failure.
    pub fn peek(pending: &[u8]) -> Result<Option<(usize, usize)>, Failure> {
        let Some(header) = pending.get(..HEADER_BYTES) else {
            return Ok(None);
        };
        let body = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let body_allowed = TAG_BYTES + 1..=FRAGMENT_BYTES_MAX + EXPANSION_BYTES_MAX;
        if header[..3] != [APPLICATION_DATA, 3, 3] || !body_allowed.contains(&body) {
            return Err(Failure::TlsHandshake);
        }
        let len = HEADER_BYTES + body;
        Ok((pending.len() >= len).then_some((len, body - TAG_BYTES - 1)))
    }

    /// Opens the complete record at the start of `record` (exactly one, as
    /// `peek` measured it) in place and processes what it holds.
    pub fn open(&mut self, record: &mut [u8]) -> Result<Opened, Failure> {
        let (header, body) = record.split_at_mut(HEADER_BYTES);
        let aad = Aad::from([header[0], header[1], header[2], header[3], header[4]]);
        let nonce = self.rx.next_nonce()?;
        let inner = self
            .rx
            .key
            .open_in_place(nonce, aad, body)
            .map_err(|_| Failure::TlsHandshake)?;
        // The content type is the last non-zero byte; zeros after it are padding.
        let Some(type_at) = inner.iter().rposition(|&b| b != 0) else {
            return Err(Failure::TlsHandshake);
        };
        let content = &inner[..type_at];
        match inner[type_at] {
            APPLICATION_DATA => Ok(Opened::Data(HEADER_BYTES, HEADER_BYTES + type_at)),
            HANDSHAKE => self.handshake(content),
            ALERT => match content {
                [_, CLOSE_NOTIFY] => Ok(Opened::CloseNotify),
                [_, USER_CANCELED] => Ok(Opened::Handled),
                _ => Err(Failure::TlsAlert),
            },
            _ => Err(Failure::TlsHandshake),
        }
    }

    /// Processes the handshake messages of one record: session tickets go
    /// to rustls's cache, a key update renews the receiving key.
    fn handshake(&mut self, mut messages: &[u8]) -> Result<Opened, Failure> {
        let mut opened = Opened::Handled;
        while let [kind, a, b, c, rest @ ..] = messages {
            let len = u32::from_be_bytes([0, *a, *b, *c]) as usize;
            if rest.len() < len {
                return Err(Failure::TlsHandshake);
            }
            let (body, rest) = rest.split_at(len);
            messages = rest;
            match (*kind, body) {
                (NEW_SESSION_TICKET, _) => self
                    .kernel
                    .handle_new_session_ticket(body)
                    .map_err(|e| tls::failure_of(&e))?,
                (KEY_UPDATE, [request @ (0 | 1)]) => {
                    let next = self
                        .kernel
                        .update_rx_secret()
                        .map_err(|e| tls::failure_of(&e))?;
                    self.rx = Keys::new(next)?;
                    if *request == 1 {
                        opened = Opened::KeyUpdateRequested;
                    }
                }
                _ => return Err(Failure::TlsHandshake),
            }
        }
        if messages.is_empty() {
            Ok(opened)
        } else {
            Err(Failure::TlsHandshake)
        }
    }

    /// True once our sending key has sealed as many records as it safely may.
    pub fn tx_key_worn(&self) -> bool {
        self.tx.seq >= self.tx_records_max
    }

    /// Seals a KeyUpdate into `out` (at least `KEY_UPDATE_BYTES` long) and
    /// switches to the next sending key; returns the bytes written.
    pub fn seal_key_update(&mut self, out: &mut [u8]) -> Result<usize, Failure> {
        let n = self.seal(HANDSHAKE, &KEY_UPDATE_NOT_REQUESTED, out)?;
        let next = self
            .kernel
            .update_tx_secret()
            .map_err(|e| tls::failure_of(&e))?;
        self.tx = Keys::new(next)?;
        Ok(n)
    }

    /// Seals `data` (at most `FRAGMENT_BYTES_MAX`) as one application-data
    /// record into `out`, which holds at least `data.len() +
    /// SEAL_OVERHEAD_BYTES`; returns the bytes written.
    pub fn seal_data(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, Failure> {
        self.seal(APPLICATION_DATA, data, out)
    }

    /// Writes header, `data` and the content type into `out`, seals them
    /// in place and appends the tag.
    fn seal(&mut self, content_type: u8, data: &[u8], out: &mut [u8]) -> Result<usize, Failure> {
        let inner = data.len() + 1;
        let total = HEADER_BYTES + inner + TAG_BYTES;
        if data.len() > FRAGMENT_BYTES_MAX || out.len() < total {
            return Err(Failure::Io);
        }
        let body = (inner + TAG_BYTES) as u16;
        let [hi, lo] = body.to_be_bytes();
        let header = [APPLICATION_DATA, 3, 3, hi, lo];
        out[..HEADER_BYTES].copy_from_slice(&header);
        out[HEADER_BYTES..HEADER_BYTES + data.len()].copy_from_slice(data);
        out[HEADER_BYTES + data.len()] = content_type;
        let nonce = self.tx.next_nonce()?;
        let tag = self
            .tx
            .key
            .seal_in_place_separate_tag(
                nonce,
                Aad::from(header),
                &mut out[HEADER_BYTES..HEADER_BYTES + inner],
            )
            .map_err(|_| Failure::Io)?;
        out[HEADER_BYTES + inner..total].copy_from_slice(tag.as_ref());
        Ok(total)
    }

    /// The version the session negotiated (always TLS 1.3 here).
    pub fn protocol_version(&self) -> rustls::ProtocolVersion {
        self.kernel.protocol_version()
    }
}

/// Bytes of a sealed KeyUpdate record.
pub const KEY_UPDATE_BYTES: usize = KEY_UPDATE_NOT_REQUESTED.len() + SEAL_OVERHEAD_BYTES;
