//! One accepted connection: reads requests into a fixed 64 KiB buffer, answers
//! every complete request in it in order (so pipelining works) into one reused
//! output buffer written once per batch, discards request bodies (or keeps
//! them, for the dynamic routes), counts what it serves in its shard's slot
//! (and by path, with `--count-paths`),
//! and closes the way the last response asks. Parsing is `request`'s job and
//! rendering `response`'s (or `app`'s); this module only moves bytes and waits.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use monoio::buf::{IoBufMut, SliceMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::app::{self, AppState, Exchange};
use crate::request::{self, ParseError, Parsed, RequestHead, HEAD_BYTES_MAX};
use crate::response::{self, After, Body};
use crate::routes::Route;
use crate::shard::{LiveGuard, Shard};

/// Pending output is written once it reaches this size, even mid-batch, so a
/// large body or a deep pipeline never needs more than about this much memory.
const FLUSH_BYTES: usize = 64 * 1024;

/// The output buffer's starting capacity; it grows (and stays grown) on demand.
const OUT_BYTES_INITIAL: usize = 4 * 1024;

/// How long a graceful close keeps reading what the client still sends.
const LINGER: Duration = Duration::from_secs(2);

/// How much a graceful close reads before giving up and closing anyway.
const LINGER_BYTES_MAX: usize = 1 << 20;

/// How a connection's request loop ended.
enum End {
    /// The client closed, or the socket failed: nothing more to send.
    Gone,
    /// Flush, send FIN, drain briefly, close.
    Close,
    /// Flush, then close with a TCP reset.
    Reset,
}

/// Serves one connection until it ends; never panics on network input.
pub(crate) async fn serve(stream: TcpStream, shard: LiveGuard) {
    // Responses are written whole, so Nagle would only add latency.
    let _ = stream.set_nodelay(true);
    let fd = stream.as_raw_fd();
    serve_stream(stream, fd, shard).await;
}

/// Serves one connection over any byte stream (TCP, or TLS from `tls`);
/// `fd` is the socket under it, for the reset route.
pub(crate) async fn serve_stream<S: AsyncReadRent + AsyncWriteRent>(
    stream: S,
    fd: RawFd,
    shard: LiveGuard,
) {
    let mut conn = Conn {
        stream,
        fd,
        input: Input::new(),
        out: Vec::with_capacity(OUT_BYTES_INITIAL),
        counted: false,
        exchange: Exchange::default(),
    };
    match conn.run(&shard).await {
        End::Gone => {}
        End::Close => conn.close_gracefully().await,
        End::Reset => conn.reset().await,
    }
}

/// The state of one connection.
struct Conn<S> {
    /// The socket (or TLS over it), owned here until the task ends.
    stream: S,
    /// The socket's descriptor, to close with a reset.
    fd: RawFd,
    /// Bytes read but not yet consumed as a request head or body.
    input: Input,
    /// Responses rendered but not yet written; kept between batches for its capacity.
    out: Vec<u8>,
    /// Whether this connection has been counted (on its first counted request).
    counted: bool,
    /// The head and body of a dynamic route's request; unallocated until one arrives.
    exchange: Exchange,
}

impl<S: AsyncReadRent + AsyncWriteRent> Conn<S> {
    async fn run(&mut self, shard: &Shard) -> End {
        loop {
            loop {
                let head = match request::parse(self.input.data()) {
                    Ok(Parsed::Complete(head)) => head,
                    Ok(Parsed::Partial) if self.input.data().len() < HEAD_BYTES_MAX => break,
                    Ok(Parsed::Partial) => return self.refuse(ParseError::HeadTooLarge, shard),
                    Err(err) => return self.refuse(err, shard),
                };
                if head.route.needs_request() {
                    self.exchange.begin(&self.input.data()[..head.head_len]);
                }
                let paths = &shard.counters.paths;
                if paths.enabled() && !head.route.is_control() {
                    paths.add(request::path_of(self.input.data()));
                }
                self.input.consume(head.head_len);
                match self.answer(head, shard).await {
                    Ok(After::KeepAlive) => {}
                    Ok(After::Close) => return End::Close,
                    Ok(After::Reset) => return End::Reset,
                    Ok(After::Silence) => {
                        self.wait_silently().await;
                        return End::Gone;
                    }
                    Err(_) => return End::Gone,
                }
            }
            // Every buffered request is answered: write the batch, then wait for more.
            if self.flush().await.is_err() {
                return End::Gone;
            }
            match self.input.fill(&mut self.stream).await {
                Ok(0) | Err(_) => return End::Gone,
                Ok(_) => {}
            }
        }
    }

    /// Counts, reads past the body, waits if asked, and renders one response;
    /// with `--delay`, waits the drawn delay first and records how long the
    /// request took from here (its head just parsed) to its response written.
    async fn answer(&mut self, head: RequestHead, shard: &Shard) -> io::Result<After> {
        let counted = !head.route.is_control();
        // With `--delay`: the delay drawn, and when the head was parsed.
        let timed = if counted {
            shard.draw_delay_us().map(|us| (us, Instant::now()))
        } else {
            None
        };
        if counted {
            let slot = shard.slot();
            slot.add_request();
            if !self.counted {
                self.counted = true;
                slot.add_connection();
            }
        }
        if head.body_len > 0 {
            self.take_body(&head, app::keeps_body(&head)).await?;
            if counted {
                shard.slot().add_body_bytes(head.body_len);
            }
        }
        if let Some(limiter) = shard.limiter.as_ref().filter(|_| counted) {
            // `--max-rps`: wait for this request's turn in the shared queue.
            let wait = limiter.admit();
            if !wait.is_zero() {
                self.flush().await?;
                monoio::time::sleep(wait).await;
            }
        }
        if let Some((us, _)) = timed {
            // Earlier pipelined responses should not wait for this one.
            self.flush().await?;
            monoio::time::sleep(Duration::from_micros(us)).await;
        }
        match head.route {
            Route::Delay(ms) => {
                // Earlier pipelined responses should not wait for this one.
                self.flush().await?;
                monoio::time::sleep(Duration::from_millis(ms)).await;
            }
            Route::ResetCounters => {
                shard.counters.reset();
                shard.music.reset_counters();
            }
            Route::Stall { per_million, ms } if shard.counters.stalls.next(per_million) => {
                self.flush().await?;
                monoio::time::sleep(Duration::from_millis(ms)).await;
            }
            _ => {}
        }
        let reply = if head.route.is_dynamic() {
            let state = AppState {
                counters: &shard.counters,
                music: &shard.music,
                bodies: &shard.bodies,
            };
            app::answer(&head, &mut self.exchange, &state, &mut self.out)
        } else {
            response::respond(&head, &mut self.out)
        };
        if counted {
            shard.slot().add_status(reply.status);
        }
        let mut body = reply.body;
        while body != Body::Done {
            if self.out.len() >= FLUSH_BYTES {
                self.flush().await?;
            }
            let budget = FLUSH_BYTES - self.out.len();
            response::fill_body(&mut body, &mut self.out, budget);
        }
        if let Some((drawn_us, started)) = timed {
            // Written before the clock stops, so the time is the client's.
            self.flush().await?;
            let served_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            shard.record_service(drawn_us, served_us);
        } else if self.out.len() >= FLUSH_BYTES {
            self.flush().await?;
        }
        if let Route::Drip { bytes, every_ms } = head.route {
            if !head.head_only {
                self.drip(bytes, every_ms).await?;
            }
        }
        Ok(reply.after)
    }

    /// `/drip/N`: sends the head now, then each body byte after a pause.
    async fn drip(&mut self, bytes: u64, every_ms: u64) -> io::Result<()> {
        self.flush().await?;
        // At most `chaos::DRIP_BYTES_MAX` turns, each one write.
        for _ in 0..bytes {
            monoio::time::sleep(Duration::from_millis(every_ms)).await;
            self.out.push(b'x');
            self.flush().await?;
        }
        Ok(())
    }

    /// `/silence`: sends what earlier requests are owed, then reads and
    /// drops whatever the client sends, answering nothing, until it closes
    /// (or `chaos::SILENCE_MS_MAX` passes).
    async fn wait_silently(&mut self) {
        if self.flush().await.is_err() {
            return;
        }
        let deadline =
            monoio::time::Instant::now() + Duration::from_millis(crate::chaos::SILENCE_MS_MAX);
        // Each turn reads at least one byte (or ends), and the deadline bounds them.
        loop {
            self.input.buf.clear();
            self.input.start = 0;
            let read = monoio::time::timeout_at(deadline, self.input.fill(&mut self.stream)).await;
            if !matches!(read, Ok(Ok(n)) if n > 0) {
                return;
            }
        }
    }

    /// Consumes `head.body_len` body bytes, reading more as needed; with
    /// `keep`, appends them to the exchange's body (the caller bounds its size).
    async fn take_body(&mut self, head: &RequestHead, keep: bool) -> io::Result<()> {
        let mut remaining = head.body_len;
        if head.expect_continue && (self.input.data().len() as u64) < remaining {
            self.out.extend_from_slice(response::CONTINUE);
        }
        loop {
            let take = remaining.min(self.input.data().len() as u64);
            // `take` is at most the buffered length, so it fits in usize.
            if keep {
                let bytes = &self.input.data()[..take as usize];
                self.exchange.body_mut().extend_from_slice(bytes);
            }
            self.input.consume(take as usize);
            remaining -= take;
            if remaining == 0 {
                return Ok(());
            }
            self.flush().await?;
            if self.input.fill(&mut self.stream).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Renders the answer to a bad request head; the connection then closes.
    fn refuse(&mut self, err: ParseError, shard: &Shard) -> End {
        let reply = response::refuse(err, &mut self.out);
        shard.slot().add_status(reply.status);
        End::Close
    }

    /// Writes all pending output.
    async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let (result, mut out) = self.stream.write_all(out).await;
        out.clear();
        self.out = out;
        result.map(drop)
    }

    /// Writes what is pending, sends FIN, then reads and drops whatever the
    /// client still sends until it closes (bounded in time and bytes): closing
    /// with unread input would send a reset that can destroy the response
    /// before the client reads it.
    async fn close_gracefully(mut self) {
        if self.flush().await.is_err() {
            return;
        }
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let deadline = monoio::time::Instant::now() + LINGER;
        let mut buf = std::mem::take(&mut self.input.buf);
        let mut drained = 0;
        while drained <= LINGER_BYTES_MAX {
            buf.clear();
            let read = monoio::time::timeout_at(deadline, self.stream.read(buf)).await;
            match read {
                Ok((Ok(n), returned)) if n > 0 => {
                    drained += n;
                    buf = returned;
                }
                _ => return,
            }
        }
    }

    /// Writes what is pending, then closes with SO_LINGER 0 so the peer gets a reset.
    async fn reset(mut self) {
        let _ = self.flush().await;
        // SAFETY: the descriptor belongs to `self.stream`, which outlives this borrow.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO));
    }
}

/// The read buffer: a fixed-capacity Vec whose bytes `start..len` are unconsumed.
struct Input {
    /// Capacity `HEAD_BYTES_MAX`; the kernel writes after `len` (monoio reads
    /// into the spare capacity of a `SliceMut`).
    buf: Vec<u8>,
    /// Where the unconsumed bytes begin.
    start: usize,
}

impl Input {
    fn new() -> Self {
        Input {
            buf: Vec::with_capacity(HEAD_BYTES_MAX),
            start: 0,
        }
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Reads more bytes after the unconsumed ones; returns 0 at EOF. Callers
    /// keep fewer than `HEAD_BYTES_MAX` bytes unconsumed, so there is room.
    async fn fill<S: AsyncReadRent>(&mut self, stream: &mut S) -> io::Result<usize> {
        if self.start > 0 {
            // A partial request is left after earlier ones: move it to the front.
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(self.buf.len() - self.start);
            self.start = 0;
        }
        let buf = std::mem::take(&mut self.buf);
        let len = buf.len();
        let spare: SliceMut<Vec<u8>> = buf.slice_mut(len..);
        let (result, spare) = stream.read(spare).await;
        self.buf = spare.into_inner();
        result
    }
}
