//! TLS over one TCP socket, on rustls's unbuffered client API, with its
//! ciphertext buffers lent only while the connection exchanges.
//!
//! [`TlsStream`] gives `stream::Stream` the same two operations as plain TCP:
//! read plaintext into the caller's buffer, and write a whole buffer. rustls
//! runs the handshake. Once a TLS 1.3 handshake is done, the session is
//! handed over to `tls_record` (rustls's kernel-connection interface, as
//! kTLS uses): it seals and opens records itself with ring, and rustls keeps
//! only the key schedule and the session-ticket cache. TLS 1.2 sessions stay
//! on rustls's unbuffered API throughout. Either way the session holds only
//! protocol state (keys, sequence numbers, resumption data); the bytes in
//! flight live in three buffers owned here:
//!
//! - *incoming*: ciphertext read from the socket, `[start..]` not yet
//!   processed. Each record is decrypted in place there and the plaintext is
//!   copied into the caller's buffer. It holds at least one record of the
//!   largest size, so a record spanning reads always completes.
//! - *outgoing*: handshake messages encoded and requests encrypted straight
//!   into it, sent whole before the call that made them returns.
//! - *stash*: plaintext that did not fit the caller's buffer (or that arrived
//!   while writing), served first by the next read.
//!
//! All three are borrowed from a per-thread pool (a shard is one thread) when
//! first needed, and given back when a call ends with them empty: incoming
//! once no partial record is pending, outgoing once sent, the stash once
//! read. An idle keep-alive HTTPS connection so holds its socket and its
//! rustls session and no buffer, and a busy shard cycles the same few
//! buffers. On TLS 1.3 a request and its response so allocate nothing (the
//! allocation test counts). On TLS 1.2, rustls 0.23 still allocates one `Vec`
//! per record it encrypts and per application-data record it decrypts.
//!
//! One loop, `TlsStream::advance`, drives every state of the session for the
//! handshake, reads and writes alike: post-handshake messages (TLS 1.3
//! session tickets, which feed resumption through the shared
//! `ClientConfig`, and key updates, ours and the peer's) are processed
//! whenever they arrive.
//! close_notify and a peer that just closes both read as the end (`Ok(0)`);
//! `peer_closed` tells them apart for a body delimited by the close, which
//! is whole only after close_notify. rustls errors map to TLS failures with
//! `tls::failure_of`.

use std::cell::RefCell;
use std::mem::{self, MaybeUninit};
use std::sync::Arc;

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
};
use rustls::{ClientConfig, ProtocolVersion};

use super::failure::Failure;
use super::tls;
use super::tls_record::{
    Opened, RecordLayer, FRAGMENT_BYTES_MAX, KEY_UPDATE_BYTES, SEAL_OVERHEAD_BYTES,
};

/// The largest TLS record on the wire: a 5-byte header, 16 KiB of plaintext
/// and the 2 KiB of expansion the protocol allows. Incoming buffers hold one.
const RECORD_BYTES_MAX: usize = 5 + 16_384 + 2_048;

/// The most incoming may grow to while rustls joins one handshake message
/// (at most 64 KiB, rustls's limit) and a record after it.
const HANDSHAKE_BYTES_MAX: usize = 0xffff + 4 + RECORD_BYTES_MAX;

/// Bytes encryption adds to a record, at most for rustls's suites: header 5,
/// TLS 1.2 explicit nonce 8, tag 16, TLS 1.3 content type 1. Only sizes the
/// first attempt; rustls says exactly when more is needed.
const RECORD_OVERHEAD_BYTES: usize = 5 + 8 + 16 + 1;

/// Initial size of an outgoing buffer: a ClientHello or a typical request fits.
const OUTGOING_BYTES: usize = 4 * 1024;

/// Buffers of each kind a thread keeps for reuse; beyond this they are freed.
const POOLED_BUFFERS_MAX: usize = 4096;

/// A thread's idle buffers, lent to its TLS connections.
#[derive(Default)]
struct Lender {
    /// Empty buffers of at least `RECORD_BYTES_MAX` capacity: incoming and stash.
    records: Vec<Vec<u8>>,
    /// Outgoing buffers, kept at their initialised length so reuse does not
    /// zero them again.
    outgoing: Vec<Vec<u8>>,
}

thread_local! {
    /// The pool of this thread (this shard).
    static LENDER: RefCell<Lender> = RefCell::new(Lender::default());
}

/// An empty buffer that holds a largest record.
fn take_record_buffer() -> Vec<u8> {
    LENDER
        .with(|lender| lender.borrow_mut().records.pop())
        .unwrap_or_else(|| Vec::with_capacity(RECORD_BYTES_MAX))
}

/// Takes back a record buffer; its contents are forgotten.
fn give_record_buffer(mut buf: Vec<u8>) {
    if buf.capacity() < RECORD_BYTES_MAX {
        return;
    }
    buf.clear();
    // One grown to join a large handshake message goes back at the usual size.
    buf.shrink_to(RECORD_BYTES_MAX);
    // During thread exit the pool may be gone; the buffer is then just freed.
    let _ = LENDER.try_with(|lender| {
        let mut lender = lender.borrow_mut();
        if lender.records.len() < POOLED_BUFFERS_MAX {
            lender.records.push(buf);
        }
    });
}

/// An outgoing buffer, initialised (zeroed the first time) to its length.
fn take_outgoing_buffer() -> Vec<u8> {
    LENDER
        .with(|lender| lender.borrow_mut().outgoing.pop())
        .unwrap_or_else(|| vec![0; OUTGOING_BYTES])
}

/// Takes back an outgoing buffer.
fn give_outgoing_buffer(buf: Vec<u8>) {
    if buf.is_empty() {
        return;
    }
    let _ = LENDER.try_with(|lender| {
        let mut lender = lender.borrow_mut();
        if lender.outgoing.len() < POOLED_BUFFERS_MAX {
            lender.outgoing.push(buf);
        }
    });
}

/// Ciphertext received and not yet processed: `buf[start..]`.
#[derive(Default)]
struct Incoming {
    /// Lent from the pool; no capacity while nothing is pending.
    buf: Vec<u8>,
    /// Bytes before this are processed records, to be dropped.
    start: usize,
}

impl Incoming {
    /// Drops `processed` bytes from the front (rustls's `discard`).
    fn consume(&mut self, processed: usize) {
        self.start = (self.start + processed).min(self.buf.len());
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }
}

/// Encoded records waiting to be sent: `buf[..len]`; the rest is room.
#[derive(Default)]
struct Outgoing {
    /// Lent from the pool; empty while nothing waits.
    buf: Vec<u8>,
    /// Bytes to send.
    len: usize,
}

impl Outgoing {
    /// The room after the pending bytes, grown to at least `need` bytes.
    fn room(&mut self, need: usize) -> &mut [u8] {
        if self.buf.is_empty() {
            self.buf = take_outgoing_buffer();
        }
        let end = self.len + need;
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        &mut self.buf[self.len..]
    }
}

/// Plaintext received and not yet read: `buf[start..]`.
#[derive(Default)]
struct Stash {
    /// Lent from the pool while it holds plaintext.
    buf: Vec<u8>,
    /// Bytes before this were read.
    start: usize,
}

impl Stash {
    /// Keeps `data` after what the stash holds.
    fn keep(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if self.buf.capacity() == 0 {
            self.buf = take_record_buffer();
        }
        self.buf.extend_from_slice(data);
    }

    /// Moves as much as fits into `sink`.
    fn drain_into(&mut self, sink: &mut Sink<'_>) {
        self.start += sink.put(&self.buf[self.start..]);
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }
}

/// The caller's read buffer, being filled: plaintext goes to `spare[..filled]`.
struct Sink<'a> {
    /// The buffer's writable region.
    spare: &'a mut [MaybeUninit<u8>],
    /// Bytes written so far.
    filled: usize,
}

impl<'a> Sink<'a> {
    /// No room at all: every plaintext byte goes to the stash.
    fn none() -> Sink<'static> {
        Sink {
            spare: &mut [],
            filled: 0,
        }
    }

    /// The writable region of `buf`, of which `filled` bytes are written.
    fn of<T: IoBufMut>(buf: &'a mut T, filled: usize) -> Sink<'a> {
        let len = buf.bytes_total();
        // SAFETY: an IoBufMut's write_ptr() is valid for bytes_total() bytes
        // of writes while it is borrowed; they are only written through this
        // slice, never read before being written.
        let spare = unsafe { std::slice::from_raw_parts_mut(buf.write_ptr().cast(), len) };
        Sink { spare, filled }
    }

    /// Bytes still free.
    fn room(&self) -> usize {
        self.spare.len() - self.filled
    }

    /// Copies as much of `data` as fits; returns how much.
    fn put(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.room());
        let dst = &mut self.spare[self.filled..self.filled + n];
        // SAFETY: `dst` is n writable bytes of the caller's buffer, which is
        // not `data` (that is rustls's record or our stash).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst.as_mut_ptr().cast(), n) };
        self.filled += n;
        n
    }
}

/// What the session needs next, as `advance` leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Send the outgoing records, then advance again.
    Transmit,
    /// Every complete record is processed; more bytes from the peer are
    /// needed to go on (during the handshake, or to read more).
    Receive,
    /// The handshake is done, every complete record is processed, and the
    /// data given to send (if any) is encrypted into the outgoing buffer.
    Writable,
    /// The caller's buffer has no room for the next record; that record
    /// waits in the session for the next read.
    Full,
    /// The peer sent close_notify: no more data will come (edge: once).
    PeerClosed,
    /// Both sides sent close_notify: nothing more can be sent either.
    Closed,
}

/// Who protects the records of a session.
enum Session {
    /// rustls, for the handshake and for whole TLS 1.2 sessions.
    Rustls(Box<UnbufferedClientConnection>),
    /// Our own record layer, for TLS 1.3 after the handshake.
    Records(Box<RecordLayer>),
    /// Between the two, and for good if the hand-over failed.
    Gone,
}

/// A TLS client connection over TCP; holds buffers only while it exchanges.
pub struct TlsStream {
    /// The socket.
    tcp: TcpStream,
    /// The session: protocol state without byte buffers of its own.
    session: Session,
    /// Ciphertext received and to send, plaintext not yet read.
    buffers: Buffers,
    /// Set once the peer's close_notify was processed: reads then end.
    peer_closed: bool,
}

impl TlsStream {
    /// Runs the client handshake for `name` over `tcp`. A failed handshake
    /// is a TLS failure (an early close too); a socket error keeps its kind.
    pub async fn connect(
        tcp: TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<TlsStream, Failure> {
        let take_over = config.enable_secret_extraction;
        let session =
            UnbufferedClientConnection::new(config, name).map_err(|e| tls::failure_of(&e))?;
        let mut stream = TlsStream {
            tcp,
            session: Session::Rustls(Box::new(session)),
            buffers: Buffers {
                take_over,
                ..Buffers::default()
            },
            peer_closed: false,
        };
        let mut result = stream.handshake().await;
        if result.is_ok() && take_over {
            result = stream.take_over();
        }
        stream.release();
        result.map(|()| stream)
    }

    /// After a TLS 1.3 handshake, moves record protection from rustls to
    /// `tls_record`. rustls is then between records: the handshake ended
    /// in `WriteTraffic`, so it holds nothing unsent and every complete
    /// record is processed; the bytes left in *incoming* are the start of
    /// the next record, protected under the secrets taken here.
    fn take_over(&mut self) -> Result<(), Failure> {
        let Session::Rustls(session) = &self.session else {
            return Ok(());
        };
        if session.protocol_version() != Some(ProtocolVersion::TLSv1_3) {
            return Ok(());
        }
        let Session::Rustls(session) = mem::replace(&mut self.session, Session::Gone) else {
            unreachable!("checked above");
        };
        let (secrets, kernel) = session
            .dangerous_into_kernel_connection()
            .map_err(|e| tls::failure_of(&e))?;
        self.session = Session::Records(Box::new(RecordLayer::new(secrets, kernel)?));
        Ok(())
    }

    /// Exchanges handshake records until application data may be sent.
    async fn handshake(&mut self) -> Result<(), Failure> {
        loop {
            match self.advance(&mut Sink::none(), &[])? {
                Next::Transmit => self.transmit().await?,
                Next::Receive => {
                    if self.receive().await? == 0 {
                        return Err(Failure::TlsHandshake);
                    }
                }
                Next::Writable => return Ok(()),
                Next::Full | Next::PeerClosed | Next::Closed => return Err(Failure::TlsHandshake),
            }
        }
    }

    /// Reads plaintext into `buf`'s spare capacity (from its write pointer);
    /// `Ok(0)` means the peer closed, with close_notify or without.
    pub async fn read<T: IoBufMut>(&mut self, mut buf: T) -> (Result<usize, Failure>, T) {
        let result = self.read_into(&mut buf).await;
        if let Ok(n) = result {
            // SAFETY: `read_into` wrote the first n bytes of the spare region.
            unsafe { buf.set_init(n) };
        }
        self.release();
        (result, buf)
    }

    /// Fills `buf` from the stash, then from records, reading the socket
    /// only while nothing was copied yet; returns the bytes copied.
    async fn read_into<T: IoBufMut>(&mut self, buf: &mut T) -> Result<usize, Failure> {
        let mut filled = 0;
        loop {
            let next = {
                let mut sink = Sink::of(buf, filled);
                self.buffers.stash.drain_into(&mut sink);
                if sink.room() == 0 || self.peer_closed {
                    return Ok(sink.filled);
                }
                let next = self.advance(&mut sink, &[])?;
                filled = sink.filled;
                next
            };
            match next {
                Next::Transmit => self.transmit().await?,
                Next::Receive | Next::Writable if filled == 0 => {
                    if self.receive().await? == 0 {
                        return Ok(0);
                    }
                }
                Next::PeerClosed | Next::Closed => {
                    self.peer_closed = true;
                    return Ok(filled);
                }
                Next::Receive | Next::Writable | Next::Full => return Ok(filled),
            }
        }
    }

    /// True once the peer's close_notify was read: the end of the data is
    /// authenticated. A read that returned 0 without it was a cut.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Encrypts and sends all of `buf`.
    pub async fn write_all<T: IoBuf>(&mut self, buf: T) -> (Result<usize, Failure>, T) {
        // SAFETY: an IoBuf's read_ptr() is valid for bytes_init() bytes while
        // it is alive and unmoved; `buf` stays in this (pinned) future until
        // it is returned below, after the last use of `data`.
        let data = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let result = self.write_data(data).await;
        self.release();
        (result, buf)
    }

    /// Processes what is pending, encrypts `data` and sends it.
    async fn write_data(&mut self, data: &[u8]) -> Result<usize, Failure> {
        loop {
            match self.advance(&mut Sink::none(), data)? {
                Next::Transmit => self.transmit().await?,
                Next::Writable => {
                    if self.buffers.outgoing.len > 0 {
                        self.transmit().await?;
                    }
                    return Ok(data.len());
                }
                // The peer is done sending; it may still read.
                Next::PeerClosed => self.peer_closed = true,
                Next::Closed => return Err(Failure::Reset),
                Next::Receive | Next::Full => return Err(Failure::TlsHandshake),
            }
        }
    }

    /// Processes buffered records until the session needs the socket (or
    /// the caller's buffer is full): encodes handshake messages, copies
    /// plaintext into `sink` (the rest into the stash) and, once the
    /// session may send application data, encrypts `send`.
    fn advance(&mut self, sink: &mut Sink<'_>, send: &[u8]) -> Result<Next, Failure> {
        match &mut self.session {
            Session::Rustls(session) => self.buffers.advance_rustls(session, sink, send),
            Session::Records(records) => {
                self.buffers
                    .advance_records(records, self.peer_closed, sink, send)
            }
            Session::Gone => Err(Failure::TlsHandshake),
        }
    }
}

/// The three buffers of a connection, which both record layers fill and drain.
#[derive(Default)]
struct Buffers {
    /// Ciphertext received, not yet processed.
    incoming: Incoming,
    /// Ciphertext to send.
    outgoing: Outgoing,
    /// Plaintext received, not yet read.
    stash: Stash,
    /// Whether `tls_record` takes over TLS 1.3 sessions after the handshake
    /// (the configuration allows secret extraction).
    take_over: bool,
}

impl Buffers {
    /// `TlsStream::advance` while rustls protects the records.
    fn advance_rustls(
        &mut self,
        session: &mut UnbufferedClientConnection,
        sink: &mut Sink<'_>,
        send: &[u8],
    ) -> Result<Next, Failure> {
        loop {
            // Once a TLS 1.3 handshake that `tls_record` takes over is done,
            // rustls must not process post-handshake records (a KeyUpdate
            // it answered would be queued in rustls and lost at the
            // hand-over): they wait in *incoming* for `tls_record`.
            let stop = self.take_over
                && session.protocol_version() == Some(ProtocolVersion::TLSv1_3)
                && !session.is_handshaking();
            let incoming = if stop {
                &mut []
            } else {
                &mut self.incoming.buf[self.incoming.start..]
            };
            let UnbufferedStatus { mut discard, state } = session.process_tls_records(incoming);
            let next = match state {
                Err(e) => Some(Err(tls::failure_of(&e))),
                Ok(ConnectionState::ReadTraffic(mut traffic)) => loop {
                    if let Some(len) = traffic.peek_len() {
                        if len.get() > sink.room() && sink.filled > 0 {
                            break Some(Ok(Next::Full));
                        }
                    }
                    match traffic.next_record() {
                        None => break None,
                        Some(Err(e)) => break Some(Err(tls::failure_of(&e))),
                        Some(Ok(record)) => {
                            let copied = sink.put(record.payload);
                            self.stash.keep(&record.payload[copied..]);
                            discard += record.discard;
                        }
                    }
                },
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    let encoded = match data.encode(self.outgoing.room(0)) {
                        Err(EncodeError::InsufficientSize(InsufficientSizeError {
                            required_size,
                        })) => data.encode(self.outgoing.room(required_size)),
                        other => other,
                    };
                    match encoded {
                        Ok(n) => {
                            self.outgoing.len += n;
                            None
                        }
                        Err(_) => Some(Err(Failure::TlsHandshake)),
                    }
                }
                Ok(ConnectionState::TransmitTlsData(data)) => {
                    // The bytes go out before the session is asked anything else.
                    data.done();
                    Some(Ok(Next::Transmit))
                }
                Ok(ConnectionState::BlockedHandshake) => Some(Ok(Next::Receive)),
                Ok(ConnectionState::WriteTraffic(mut traffic)) if !send.is_empty() => {
                    let records = send.len().div_ceil(FRAGMENT_BYTES_MAX);
                    let estimate = send.len() + records * RECORD_OVERHEAD_BYTES;
                    let encrypted = match traffic.encrypt(send, self.outgoing.room(estimate)) {
                        Err(EncryptError::InsufficientSize(InsufficientSizeError {
                            required_size,
                        })) => traffic.encrypt(send, self.outgoing.room(required_size)),
                        other => other,
                    };
                    match encrypted {
                        Ok(n) => {
                            self.outgoing.len += n;
                            Some(Ok(Next::Writable))
                        }
                        // Keys used up (TLS 1.2 only; 1.3 updates them) or no room.
                        Err(_) => Some(Err(Failure::Io)),
                    }
                }
                Ok(ConnectionState::WriteTraffic(_)) => Some(Ok(Next::Writable)),
                Ok(ConnectionState::PeerClosed) => Some(Ok(Next::PeerClosed)),
                Ok(ConnectionState::Closed) => Some(Ok(Next::Closed)),
                // Early data is a server's; later states are not expected.
                Ok(_) => Some(Err(Failure::TlsHandshake)),
            };
            self.incoming.consume(discard);
            if let Some(next) = next {
                return next;
            }
        }
    }

    /// `TlsStream::advance` once `tls_record` protects the records (TLS 1.3).
    fn advance_records(
        &mut self,
        records: &mut RecordLayer,
        peer_closed: bool,
        sink: &mut Sink<'_>,
        send: &[u8],
    ) -> Result<Next, Failure> {
        // After close_notify the peer's bytes are ignored.
        if !peer_closed {
            if let Some(next) = self.open_records(records, sink)? {
                return Ok(next);
            }
        }
        if records.tx_key_worn() {
            let room = self.outgoing.room(KEY_UPDATE_BYTES);
            self.outgoing.len += records.seal_key_update(room)?;
        }
        for fragment in send.chunks(FRAGMENT_BYTES_MAX) {
            let room = self.outgoing.room(fragment.len() + SEAL_OVERHEAD_BYTES);
            self.outgoing.len += records.seal_data(fragment, room)?;
        }
        // A key update is sent at once; data only by its writer (which
        // would encrypt `send` again if asked to advance after a transmit).
        if send.is_empty() && self.outgoing.len > 0 {
            return Ok(Next::Transmit);
        }
        Ok(Next::Writable)
    }

    /// Opens every complete record of *incoming* in turn: data to `sink`
    /// (the rest to the stash), post-handshake messages handled, a key
    /// update we are asked for sealed into *outgoing*. Stops early when the
    /// peer closed or the caller's buffer is full.
    fn open_records(
        &mut self,
        records: &mut RecordLayer,
        sink: &mut Sink<'_>,
    ) -> Result<Option<Next>, Failure> {
        loop {
            let pending = &mut self.incoming.buf[self.incoming.start..];
            let Some((len, plaintext_max)) = RecordLayer::peek(pending)? else {
                return Ok(None);
            };
            if plaintext_max > sink.room() && sink.filled > 0 {
                return Ok(Some(Next::Full));
            }
            let record = &mut pending[..len];
            let opened = records.open(record)?;
            match opened {
                Opened::Data(start, end) => {
                    let copied = sink.put(&record[start..end]);
                    self.stash.keep(&record[start + copied..end]);
                }
                Opened::Handled | Opened::CloseNotify => {}
                Opened::KeyUpdateRequested => {
                    let room = self.outgoing.room(KEY_UPDATE_BYTES);
                    self.outgoing.len += records.seal_key_update(room)?;
                }
            }
            self.incoming.consume(len);
            if opened == Opened::CloseNotify {
                return Ok(Some(Next::PeerClosed));
            }
        }
    }
}

impl TlsStream {
    /// Reads more ciphertext after what is pending; 0 means the peer closed.
    async fn receive(&mut self) -> Result<usize, Failure> {
        let mut buf = mem::take(&mut self.buffers.incoming.buf);
        if buf.capacity() == 0 {
            buf = take_record_buffer();
        }
        let start = mem::take(&mut self.buffers.incoming.start);
        if start > 0 {
            buf.copy_within(start.., 0);
            buf.truncate(buf.len() - start);
        }
        let len = buf.len();
        let capacity = buf.capacity();
        if len == capacity {
            // rustls's unbuffered API joins a handshake message that spans
            // records in this buffer (a large certificate chain): let it
            // grow up to the largest handshake message rustls accepts.
            if matches!(self.session, Session::Rustls(_)) && capacity < HANDSHAKE_BYTES_MAX {
                buf.reserve_exact(RECORD_BYTES_MAX.min(HANDSHAKE_BYTES_MAX - capacity));
            } else {
                // A pending record larger than the largest allowed: rustls
                // (or `RecordLayer::peek`) rejects its header first, so this is
                // only a safety net.
                self.buffers.incoming.buf = buf;
                return Err(Failure::TlsHandshake);
            }
        }
        let capacity = buf.capacity();
        let (result, slice) = self.tcp.read(buf.slice_mut(len..capacity)).await;
        self.buffers.incoming.buf = slice.into_inner();
        result.map_err(|e| Failure::from_io_error(&e))
    }

    /// Sends the outgoing records.
    async fn transmit(&mut self) -> Result<(), Failure> {
        let len = mem::take(&mut self.buffers.outgoing.len);
        let buf = mem::take(&mut self.buffers.outgoing.buf);
        let (result, slice) = self.tcp.write_all(buf.slice(..len)).await;
        self.buffers.outgoing.buf = slice.into_inner();
        result.map(drop).map_err(|e| Failure::from_io_error(&e))
    }

    /// Gives back every buffer that holds nothing pending.
    fn release(&mut self) {
        if self.buffers.incoming.buf.capacity() > 0
            && self.buffers.incoming.start == self.buffers.incoming.buf.len()
        {
            self.buffers.incoming.start = 0;
            give_record_buffer(mem::take(&mut self.buffers.incoming.buf));
        }
        if self.buffers.outgoing.len == 0 {
            give_outgoing_buffer(mem::take(&mut self.buffers.outgoing.buf));
        }
        if self.buffers.stash.buf.capacity() > 0
            && self.buffers.stash.start == self.buffers.stash.buf.len()
        {
            self.buffers.stash.start = 0;
            give_record_buffer(mem::take(&mut self.buffers.stash.buf));
        }
    }

    /// The negotiated version, and whether `tls_record` protects the
    /// records (for tests).
    #[cfg(test)]
    fn protocol(&self) -> (Option<ProtocolVersion>, bool) {
        match &self.session {
            Session::Rustls(session) => (session.protocol_version(), false),
            Session::Records(records) => (Some(records.protocol_version()), true),
            Session::Gone => (None, false),
        }
    }

    /// True while any buffer is lent to this connection (for tests).
    #[cfg(test)]
    fn holds_buffers(&self) -> bool {
        self.buffers.incoming.buf.capacity() > 0
            || self.buffers.outgoing.buf.capacity() > 0
            || self.buffers.stash.buf.capacity() > 0
    }
}

impl Drop for TlsStream {
    fn drop(&mut self) {
        give_record_buffer(mem::take(&mut self.buffers.incoming.buf));
        give_outgoing_buffer(mem::take(&mut self.buffers.outgoing.buf));
        give_record_buffer(mem::take(&mut self.buffers.stash.buf));
    }
}

#[cfg(test)]
#[path = "tls_stream_tests.rs"]
mod tests;
