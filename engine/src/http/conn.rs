//! One HTTP/1.1 connection: write a request, read and frame its response.
//!
//! The connection owns its stream (plain TCP or TLS, see `stream`) and
//! borrows two buffers from the shard's [`BufferPool`] while it exchanges:
//! the request is copied into the write buffer and handed to the kernel by
//! ownership (monoio's rent model), the response lands in the read buffer,
//! its head is parsed in place and its body is counted, never kept. Between
//! exchanges an idle connection gives both buffers back, so 50 000 idle
//! keep-alive connections do not hold 50 000 read buffers. Several requests
//! may be written at once and their responses read in order (pipelining).
//! Dialing with timeouts and retries is the client's job; idle keeping is
//! the pool's. Dropping a connection closes it and counts the close in the
//! client's closed counter, so the client knows how many are open.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use monoio::buf::IoBufMut;

use super::chunked::ChunkedDecoder;
use super::dial::DialTiming;
use super::failure::Failure;
use super::response::{BodyFraming, HeadCache, HeadParse};
use super::stream::{BufferPool, Connector, Origin, Stream};

/// Largest shared-block body written together with its request head (one
/// write); larger ones are written from the block itself, after the head.
pub const INLINE_BODY_BYTES: usize = 16 * 1024;

/// Size limits that protect the generator from hostile responses.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest response head accepted, in bytes.
    pub max_head_bytes: usize,
    /// Most response headers accepted.
    pub max_headers: usize,
    /// Size of each connection's read buffer; at least `max_head_bytes`.
    pub read_buffer_bytes: usize,
    /// Longest wait for the server's next bytes while a response is
    /// awaited (`--read-timeout`); `None` for no limit but the request's.
    pub read_timeout: Option<std::time::Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 64 * 1024,
            max_headers: 100,
            read_buffer_bytes: 64 * 1024,
            read_timeout: None,
        }
    }
}

/// What a completed exchange tells the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    /// Response status code.
    pub status: u16,
    /// Response bytes on the wire: head plus body framing and data.
    pub bytes_received: u64,
    /// Body bytes (without chunk framing; still compressed if they were).
    pub body_bytes: u64,
    /// Whether the connection can carry another request.
    pub keep_alive: bool,
    /// When the read that brought the response's first byte returned (time
    /// to first byte). A pipelined response that was already buffered behind
    /// the previous one arrived with that read, so it shares its time.
    pub first_byte_at: Instant,
    /// When the read that brought the response's last byte returned (time
    /// to last byte); the same clock read as `first_byte_at` when the whole
    /// response came in one read.
    pub done_at: Instant,
}

/// What of a response the caller keeps for checks and extractors. With
/// both `want_*` false (the default) nothing is copied.
#[derive(Debug, Default)]
pub struct Capture {
    /// Keep the head bytes (status line and headers).
    pub want_head: bool,
    /// Keep the head of a redirect (3xx) response, for its Location.
    pub want_redirect_head: bool,
    /// Keep the body (de-chunked), up to `body_limit` bytes.
    pub want_body: bool,
    /// Most body bytes kept.
    pub body_limit: usize,
    /// The head of the last response, when wanted.
    pub head: Vec<u8>,
    /// The body of the last response, when wanted.
    pub body: Vec<u8>,
    /// Set when the body was longer than `body_limit` and was cut.
    pub body_truncated: bool,
    /// Keep the head and the first bytes of the body of an error response
    /// (4xx, 5xx) for a failure sample, even when nothing else is kept.
    pub want_error_sample: bool,
    /// Most body bytes kept of the response being read: `body_limit` when
    /// the body is wanted, a sample's worth for an error response, else 0.
    keep_limit: usize,
}

impl Capture {
    /// A capture that keeps at most `body_limit` bytes of a wanted body.
    pub fn with_body_limit(body_limit: usize) -> Self {
        Capture {
            body_limit,
            ..Capture::default()
        }
    }

    /// Forgets the previous response, keeping the buffers.
    pub fn clear(&mut self) {
        self.head.clear();
        self.body.clear();
        self.body_truncated = false;
    }

    /// Gives the head and body buffers back to `buffers`: between requests
    /// a user holds none (a 1 MiB body checked once is not kept per user).
    /// The body goes first, so the next capture, which takes a head buffer
    /// first, gets a head's back as its head and a body's as its body.
    pub fn release(&mut self, buffers: &BufferPool) {
        buffers.give_body(&mut self.body);
        buffers.give_body(&mut self.head);
    }

    /// Decides what of a response with `status` is kept; true to keep its head.
    fn start(&mut self, status: u16) -> bool {
        let error_sample = self.want_error_sample && status >= 400;
        self.keep_limit = if self.want_body {
            self.body_limit
        } else if error_sample {
            stampede_proto::SAMPLE_BODY_BYTES
        } else {
            0
        };
        self.want_head || error_sample || (self.want_redirect_head && (300..400).contains(&status))
    }

    fn keep_body(&mut self, data: &[u8]) {
        if self.keep_limit == 0 {
            return;
        }
        let room = self.keep_limit.saturating_sub(self.body.len());
        if data.len() > room && self.want_body {
            self.body_truncated = true;
        }
        self.body.extend_from_slice(&data[..data.len().min(room)]);
    }
}

/// An open connection; it holds buffers only while it exchanges.
pub struct Conn {
    /// The byte stream, TCP or TLS.
    stream: Stream,
    /// Received bytes; `read_buf[start..]` is not yet consumed. Empty with
    /// no capacity while the connection is idle (lent from the pool).
    read_buf: Vec<u8>,
    /// Start of unconsumed bytes in `read_buf`.
    start: usize,
    /// When the last read that returned bytes completed: the arrival time of
    /// every unconsumed byte, since a read happens only once all buffered
    /// bytes belong to an incomplete response. One clock read per read
    /// syscall serves as first-byte and done time for every response
    /// completed from it (`--pipeline` completes many per read).
    filled_at: Instant,
    /// Exchanges started on this connection, to tell fresh from reused.
    exchanges: u64,
    /// The target address it is connected to, for per-address counts.
    peer: SocketAddr,
    /// The client's count of closed connections, incremented when this one
    /// drops (open = opened - closed).
    closed: Rc<Cell<u64>>,
    /// When the last read brought bytes, shared with the client's timer
    /// for `--read-timeout` (one cell per connection, made when it opens).
    activity: Rc<Cell<Instant>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.closed.set(self.closed.get() + 1);
    }
}

impl Conn {
    /// Opens a connection to `addr`, one of `origin`'s addresses (no
    /// timeout here; the client wraps it), and says how long that took.
    /// `closed` is incremented when the connection is dropped.
    pub async fn connect(
        connector: &Connector,
        origin: &Origin,
        addr: SocketAddr,
        closed: Rc<Cell<u64>>,
    ) -> Result<(Conn, DialTiming), Failure> {
        let (stream, timing) = connector.connect(origin, addr).await?;
        Ok((Conn::over(stream, addr, closed), timing))
    }

    /// A connection over an established `stream` to `peer`.
    pub(crate) fn over(stream: Stream, peer: SocketAddr, closed: Rc<Cell<u64>>) -> Conn {
        Conn {
            stream,
            read_buf: Vec::new(),
            start: 0,
            filled_at: Instant::now(),
            exchanges: 0,
            peer,
            closed,
            activity: Rc::new(Cell::new(Instant::now())),
        }
    }

    /// Swaps in a scripted stream, as if the peer changed its behaviour.
    #[cfg(test)]
    pub(crate) fn replace_stream(&mut self, script: super::script::Script) {
        self.stream = Stream::Scripted(script);
    }

    /// The target address this connection goes to.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// When a read last brought bytes (for `--read-timeout`).
    pub fn activity(&self) -> Rc<Cell<Instant>> {
        self.activity.clone()
    }

    /// True once the connection has carried an exchange before.
    pub fn is_reused(&self) -> bool {
        self.exchanges > 0
    }

    /// Sends `request` and reads its whole response.
    ///
    /// If this future is dropped midway (a timeout), the connection is in an
    /// unknown state and must be dropped too.
    pub async fn exchange(
        &mut self,
        request: &[u8],
        request_is_head: bool,
        limits: &Limits,
        capture: &mut Capture,
        buffers: &BufferPool,
        heads: &HeadCache,
    ) -> Result<Exchange, Failure> {
        let parts = (request, &[][..]);
        self.exchange_with_body(parts, request_is_head, limits, capture, buffers, heads)
            .await
    }

    /// Like [`Conn::exchange`] for a request whose body is a slice of the
    /// shared body block (see `body_block`): `parts` is the head (ending in
    /// its blank line) and that body.
    pub async fn exchange_with_body(
        &mut self,
        parts: (&[u8], &'static [u8]),
        request_is_head: bool,
        limits: &Limits,
        capture: &mut Capture,
        buffers: &BufferPool,
        heads: &HeadCache,
    ) -> Result<Exchange, Failure> {
        self.write_request(parts.0, parts.1, buffers).await?;
        let exchange = self
            .read_response(request_is_head, limits, capture, buffers, heads)
            .await;
        // One request was sent, so bytes after its response answer nothing:
        // a body on a bodyless response, or more than Content-Length. Taken
        // as the next response they would shift every answer after them.
        // After a 101 they are the new protocol's, and the connection closes.
        let exchange = match exchange {
            Ok(done) if done.status != 101 && self.has_unread() => Err(Failure::BytesAfterResponse),
            outcome => outcome,
        };
        self.release(buffers);
        exchange
    }

    /// True while received bytes wait unconsumed: the start of a response
    /// that was not asked for yet (pipelining) or of one never asked for.
    pub fn has_unread(&self) -> bool {
        self.start < self.read_buf.len()
    }

    /// Writes one request: `head` through the write buffer, then `body`
    /// (a slice of the shared body block) as it is, so a large body is
    /// never copied in user space. A body of at most
    /// [`INLINE_BODY_BYTES`] joins the head instead: one write costs less
    /// than a second system call for a small body.
    async fn write_request(
        &mut self,
        head: &[u8],
        body: &'static [u8],
        buffers: &BufferPool,
    ) -> Result<(), Failure> {
        self.exchanges += 1;
        let inline = body.len() <= INLINE_BODY_BYTES;
        let mut out = buffers.take_write();
        out.extend_from_slice(head);
        if inline {
            out.extend_from_slice(body);
        }
        let (written, out) = self.stream.write_all(out).await;
        buffers.give_write(out);
        written?;
        if !inline {
            let (written, _) = self.stream.write_all(body).await;
            written?;
        }
        Ok(())
    }

    /// Writes `copies` copies of `request` back to back in one write
    /// (pipelining); the responses are then read with [`Conn::read_response`].
    pub async fn write_copies(
        &mut self,
        request: &[u8],
        copies: usize,
        buffers: &BufferPool,
    ) -> Result<(), Failure> {
        self.exchanges += copies as u64;
        let mut out = buffers.take_write();
        for _ in 0..copies {
            out.extend_from_slice(request);
        }
        let (written, out) = self.stream.write_all(out).await;
        buffers.give_write(out);
        written.map(drop)
    }

    /// Gives the read buffer back to the pool when nothing unconsumed is in
    /// it (an idle connection then holds no buffer).
    pub fn release(&mut self, buffers: &BufferPool) {
        if self.start >= self.read_buf.len() {
            self.start = 0;
            buffers.give_read(std::mem::take(&mut self.read_buf));
        }
    }

    /// Reads the next response, in order, after its request was written;
    /// `heads` is the shard's cache of the last head parsed.
    pub async fn read_response(
        &mut self,
        request_is_head: bool,
        limits: &Limits,
        capture: &mut Capture,
        buffers: &BufferPool,
        heads: &HeadCache,
    ) -> Result<Exchange, Failure> {
        capture.clear();
        if self.read_buf.capacity() == 0 {
            self.read_buf = buffers.take_read(limits.read_buffer_bytes.max(limits.max_head_bytes));
            self.start = 0;
        }
        let (head, interim_bytes, first_byte_at) =
            self.read_head(request_is_head, limits, heads).await?;
        if capture.start(head.status) {
            if capture.head.capacity() == 0 {
                capture.head = buffers.take_body();
            }
            capture
                .head
                .extend_from_slice(&self.read_buf[self.start..self.start + head.head_len]);
        }
        if capture.keep_limit > 0 && capture.body.capacity() == 0 {
            capture.body = buffers.take_body();
        }
        if let BodyFraming::Length(length) = head.framing {
            // The whole kept body in one allocation, not a doubling series.
            let kept = length.min(capture.keep_limit as u64) as usize;
            capture
                .body
                .reserve_exact(kept.saturating_sub(capture.body.len()));
        }
        self.start += head.head_len;
        let (wire_bytes, body_bytes) = match head.framing {
            BodyFraming::None => (0, 0),
            BodyFraming::Length(length) => {
                let n = self.skip_length(length, capture).await?;
                (n, n)
            }
            BodyFraming::Chunked => self.skip_chunked(capture).await?,
            BodyFraming::UntilClose => {
                let n = self.skip_until_close(capture).await?;
                (n, n)
            }
        };
        if self.start == self.read_buf.len() {
            self.start = 0;
            self.read_buf.clear();
        }
        Ok(Exchange {
            status: head.status,
            bytes_received: interim_bytes + head.head_len as u64 + wire_bytes,
            body_bytes,
            keep_alive: head.keep_alive,
            first_byte_at,
            done_at: self.filled_at,
        })
    }

    /// Reads until a final (non-1xx) response head is complete; also says
    /// how many bytes of interim responses came before it, and when the read
    /// that brought its first byte (or an interim response's) returned.
    async fn read_head(
        &mut self,
        request_is_head: bool,
        limits: &Limits,
        heads: &HeadCache,
    ) -> Result<(super::response::Head, u64, Instant), Failure> {
        let mut received_any = self.start < self.read_buf.len();
        let mut first_byte_at = received_any.then_some(self.filled_at);
        let mut interim_bytes = 0u64;
        loop {
            let pending = &self.read_buf[self.start..];
            match heads.parse(pending, limits.max_headers, request_is_head)? {
                HeadParse::Complete(head)
                    if (100..200).contains(&head.status) && head.status != 101 =>
                {
                    // An interim response (100 Continue, 103 Early Hints): skip it.
                    self.start += head.head_len;
                    interim_bytes += head.head_len as u64;
                }
                HeadParse::Complete(head) => {
                    let first_byte_at = first_byte_at.unwrap_or(self.filled_at);
                    return Ok((head, interim_bytes, first_byte_at));
                }
                HeadParse::Partial if pending.len() >= limits.max_head_bytes => {
                    return Err(Failure::HeadTooLarge)
                }
                HeadParse::Partial => {
                    if self.fill().await? == 0 {
                        return Err(if received_any {
                            Failure::TruncatedHead
                        } else {
                            Failure::ClosedBeforeResponse
                        });
                    }
                    received_any = true;
                    first_byte_at.get_or_insert(self.filled_at);
                }
            }
        }
    }

    /// Consumes a body of `length` bytes; returns the byte count.
    async fn skip_length(&mut self, length: u64, capture: &mut Capture) -> Result<u64, Failure> {
        let mut left = length;
        loop {
            let buffered = (self.read_buf.len() - self.start) as u64;
            let take = buffered.min(left);
            capture.keep_body(&self.read_buf[self.start..self.start + take as usize]);
            self.start += take as usize;
            left -= take;
            if left == 0 {
                return Ok(length);
            }
            self.discard_consumed();
            if self.fill().await? == 0 {
                return Err(Failure::TruncatedBody);
            }
        }
    }

    /// Consumes a chunked body; returns its bytes on the wire and its data bytes.
    async fn skip_chunked(&mut self, capture: &mut Capture) -> Result<(u64, u64), Failure> {
        let mut decoder = ChunkedDecoder::new();
        let mut total = 0u64;
        let mut data = 0u64;
        loop {
            let fed = decoder.feed_with(&self.read_buf[self.start..], |d| {
                data += d.len() as u64;
                capture.keep_body(d)
            })?;
            self.start += fed.consumed;
            total += fed.consumed as u64;
            if fed.done {
                return Ok((total, data));
            }
            self.discard_consumed();
            if self.fill().await? == 0 {
                return Err(Failure::TruncatedBody);
            }
        }
    }

    /// Consumes everything until the server closes; returns the byte count.
    /// Over TLS only a close_notify ends such a body: without it the close
    /// may be forged, and the body is counted as cut.
    async fn skip_until_close(&mut self, capture: &mut Capture) -> Result<u64, Failure> {
        let mut total = 0u64;
        loop {
            total += (self.read_buf.len() - self.start) as u64;
            capture.keep_body(&self.read_buf[self.start..]);
            self.start = self.read_buf.len();
            self.discard_consumed();
            if self.fill().await? == 0 {
                return match self.stream.closed_cleanly() {
                    true => Ok(total),
                    false => Err(Failure::TruncatedBody),
                };
            }
        }
    }

    /// Forgets consumed bytes so the next read can use the whole buffer.
    fn discard_consumed(&mut self) {
        if self.start == self.read_buf.len() {
            self.read_buf.clear();
            self.start = 0;
        }
    }

    /// Reads more bytes after the unconsumed ones and notes when they came
    /// (`filled_at`); 0 means the peer closed.
    async fn fill(&mut self) -> Result<usize, Failure> {
        let mut buf = std::mem::take(&mut self.read_buf);
        if self.start > 0 {
            buf.copy_within(self.start.., 0);
            buf.truncate(buf.len() - self.start);
            self.start = 0;
        }
        let (len, cap) = (buf.len(), buf.capacity());
        if len == cap {
            self.read_buf = buf;
            return Err(Failure::HeadTooLarge);
        }
        let (result, slice) = self.stream.read(buf.slice_mut(len..cap)).await;
        self.read_buf = slice.into_inner();
        if matches!(result, Ok(n) if n > 0) {
            self.filled_at = Instant::now();
            self.activity.set(self.filled_at);
        }
        result
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
pub(crate) mod tests;
