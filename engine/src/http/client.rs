//! The shard's HTTP client: pooled connections, timeouts, one transparent retry.
//!
//! `send` takes an idle connection to the origin (or dials one), runs the
//! exchange under the request timeout, and gives the connection back when it
//! may be reused. A request with an idempotent method that meets a
//! keep-alive connection the server closed while idle is retried once on a
//! fresh one, as browsers do; every other failure (a POST's too, which the
//! server may have acted on) is returned for counting. New connections take
//! a connect slot first (`--max-connecting`, so a fast ramp is no connect
//! storm) and go to the origin's addresses in turn; their setup times and
//! the requests (and request bytes) each address got are counted for the
//! shard's snapshot (`dial`), and so are the connections open now (opened
//! minus closed).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::conn::{Capture, Conn, Exchange, Limits};
use super::dial::{ConnectSlots, DialStats};
use super::dns;
use super::failure::Failure;
use super::pool::ConnPool;
use super::response::HeadCache;
use super::stream::{BufferPool, Connector, Origin};
use crate::shard::runtime;

/// Most origins redirects may add to a shard's client.
const MAX_REDIRECT_ORIGINS: usize = 16;

/// One shard's client.
pub struct Client {
    /// Each origin (address, TLS name), by origin index.
    origins: Vec<Origin>,
    /// Origins that redirects led to, beyond the plan's: index
    /// `origins.len() + i`, with their Host authority.
    redirect_origins: RefCell<Vec<(Origin, String)>>,
    /// Redirect origins that could not be resolved: (https, authority).
    unresolved_redirects: RefCell<Vec<(bool, String)>>,
    /// Dials plain and TLS connections, from the configured source addresses.
    connector: Connector,
    /// Read and write buffers lent to connections while they exchange.
    buffers: BufferPool,
    /// The last response head parsed, to skip parsing identical ones.
    heads: HeadCache,
    /// Idle keep-alive connections.
    pool: RefCell<ConnPool>,
    /// Response size limits.
    limits: Limits,
    /// Limit on establishing a connection.
    connect_timeout: Duration,
    /// Limit on one exchange, from write to the end of the body, unless the
    /// request sets its own.
    request_timeout: Duration,
    /// Connections opened so far, for reports and tests.
    opened: Cell<u64>,
    /// Connections closed so far (dropped, wherever they were); every
    /// connection increments it once, when it drops.
    closed: Rc<Cell<u64>>,
    /// Bounds connects in flight (`--max-connecting`).
    slots: ConnectSlots,
    /// Per origin, how many connections were dialed: the next address's turn.
    turns: Vec<Cell<usize>>,
    /// Connect and TLS times and per-address counts of the current interval.
    dial_stats: RefCell<DialStats>,
}

impl Client {
    /// A client for the given origins.
    pub fn new(
        origins: Vec<Origin>,
        connector: Connector,
        limits: Limits,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Self {
        let pool = RefCell::new(ConnPool::new(origins.len()));
        let buffers = BufferPool::default();
        let slots = ConnectSlots::new(connector.max_connecting as usize);
        let turns = origins
            .iter()
            .map(|_| Cell::new(connector.first_addr))
            .collect();
        Client {
            slots,
            turns,
            dial_stats: RefCell::new(DialStats::default()),
            origins,
            redirect_origins: RefCell::new(Vec::new()),
            unresolved_redirects: RefCell::new(Vec::new()),
            connector,
            buffers,
            heads: HeadCache::default(),
            pool,
            limits,
            connect_timeout,
            request_timeout,
            opened: Cell::new(0),
            closed: Rc::new(Cell::new(0)),
        }
    }

    /// Sends one request to `origin` and reads its response.
    ///
    /// An error status is still an `Ok` exchange here; the recorder decides
    /// what counts as a failure.
    pub async fn send(
        &self,
        origin: usize,
        request: &[u8],
        request_is_head: bool,
        timeout: Option<Duration>,
        capture: &mut Capture,
    ) -> Result<Exchange, Failure> {
        let parts = (request, &[][..]);
        self.send_parts(origin, parts, request_is_head, timeout, capture)
            .await
    }

    /// Like [`Client::send`] for a request in two parts: its head (up to
    /// and with the blank line) and a body slice of the shared body block.
    pub async fn send_parts(
        &self,
        origin: usize,
        parts: (&[u8], &'static [u8]),
        request_is_head: bool,
        timeout: Option<Duration>,
        capture: &mut Capture,
    ) -> Result<Exchange, Failure> {
        let request = parts.0;
        let timeout = timeout.unwrap_or(self.request_timeout);
        let pooled = self.pool.borrow_mut().take(origin);
        let conn = match pooled {
            Some(conn) => conn,
            None => self.dial(origin).await?,
        };
        let reused = conn.is_reused();
        match self
            .attempt(origin, conn, parts, request_is_head, timeout, capture)
            .await
        {
            Err(failure) if reused && may_resend(failure, request) => {
                let fresh = self.dial(origin).await?;
                self.attempt(origin, fresh, parts, request_is_head, timeout, capture)
                    .await
            }
            outcome => outcome,
        }
    }

    /// Sends `copies` copies of `request` on one connection at once
    /// (HTTP/1.1 pipelining) and reads the responses in order, calling
    /// `on_response` with each outcome and when it completed: for a
    /// response, when the read that brought its last byte returned
    /// (`Exchange::done_at`; no clock read per response); for a failure,
    /// when it was noticed. When the server closes mid-pipeline, the
    /// unanswered rest of an idempotent request is sent again on a fresh
    /// connection as long as each attempt makes progress; what still has no response is reported
    /// as failures through `on_response`, so nothing is lost silently.
    pub async fn pipeline(
        &self,
        origin: usize,
        request: &[u8],
        request_is_head: bool,
        copies: usize,
        capture: &mut Capture,
        on_response: &mut dyn FnMut(Result<Exchange, Failure>, Instant),
    ) {
        let mut left = copies;
        let mut fresh_tried = false;
        while left > 0 {
            let pooled = self.pool.borrow_mut().take(origin);
            let mut conn = match pooled {
                Some(conn) => conn,
                None => match self.dial(origin).await {
                    Ok(conn) => conn,
                    Err(failure) => {
                        let now = Instant::now();
                        (0..left).for_each(|_| on_response(Err(failure), now));
                        return;
                    }
                },
            };
            let reused = conn.is_reused();
            let batch = async {
                let mut answered = 0;
                let mut keep_alive = true;
                let mut failure = None;
                // Each attempt writes the unanswered rest again: counted as written.
                self.dial_stats.borrow_mut().record_requests(
                    conn.peer(),
                    left as u64,
                    (left * request.len()) as u64,
                );
                if let Err(f) = conn.write_copies(request, left, &self.buffers).await {
                    return (0, false, Some(f));
                }
                while answered < left {
                    match conn
                        .read_response(
                            request_is_head,
                            &self.limits,
                            capture,
                            &self.buffers,
                            &self.heads,
                        )
                        .await
                    {
                        Ok(exchange) => {
                            answered += 1;
                            keep_alive = exchange.keep_alive;
                            on_response(Ok(exchange), exchange.done_at);
                            if !keep_alive {
                                break;
                            }
                        }
                        Err(f) => {
                            failure = Some(f);
                            keep_alive = false;
                            break;
                        }
                    }
                }
                (answered, keep_alive, failure)
            };
            let (answered, keep_alive, failure) =
                match runtime::timeout(self.request_timeout, batch).await {
                    Some(outcome) => outcome,
                    None => (0, false, Some(Failure::RequestTimeout)),
                };
            left -= answered;
            if left == 0 {
                // Bytes after the last response answer nothing sent: a
                // connection that has them is not trusted again.
                if keep_alive && !conn.has_unread() {
                    conn.release(&self.buffers);
                    self.pool.borrow_mut().give(origin, conn);
                }
                return;
            }
            // Closed (or failed) mid-pipeline: retry the unanswered rest on a
            // fresh connection while attempts make progress.
            let failure = failure.unwrap_or(Failure::ClosedBeforeResponse);
            let retry = may_resend(failure, request);
            let progress = answered > 0 || (reused && !fresh_tried);
            fresh_tried |= !reused;
            if !(retry && progress) {
                let now = Instant::now();
                (0..left).for_each(|_| on_response(Err(failure), now));
                return;
            }
        }
    }

    /// Requests each user keeps in flight on its connection (`--pipeline`).
    pub fn pipeline_depth(&self) -> usize {
        self.connector.pipeline as usize
    }

    /// Connections opened so far.
    pub fn connections_opened(&self) -> u64 {
        self.opened.get()
    }

    /// Connections open now: idle in the pool or carrying a request.
    pub fn connections_open(&self) -> u64 {
        self.opened.get().saturating_sub(self.closed.get())
    }

    /// Most connects that were in flight at once on this shard.
    pub fn connecting_peak(&self) -> usize {
        self.slots.peak()
    }

    /// The interval's dial stats, for the shard's snapshot.
    pub fn dial_stats(&self) -> &RefCell<DialStats> {
        &self.dial_stats
    }

    /// An empty buffer for a body (a decoded one), lent from the shard.
    pub fn take_body_buffer(&self) -> Vec<u8> {
        self.buffers.take_body()
    }

    /// Gives a body buffer back to the shard, leaving `buf` without capacity.
    pub fn give_body_buffer(&self, buf: &mut Vec<u8>) {
        self.buffers.give_body(buf);
    }

    /// Gives a judged response's head and body buffers back to the shard,
    /// so a user holds none between requests.
    pub fn release_capture(&self, capture: &mut Capture) {
        capture.release(&self.buffers);
    }

    /// Closes all idle connections (at the end of a run).
    pub fn close_idle(&self) {
        self.pool.borrow_mut().clear();
    }

    /// One exchange on `conn`; keeps the connection when it may be reused.
    async fn attempt(
        &self,
        origin: usize,
        mut conn: Conn,
        parts: (&[u8], &'static [u8]),
        request_is_head: bool,
        timeout: Duration,
        capture: &mut Capture,
    ) -> Result<Exchange, Failure> {
        // A stale-connection retry comes here again and counts its bytes again.
        let request_bytes = (parts.0.len() + parts.1.len()) as u64;
        self.dial_stats
            .borrow_mut()
            .record_requests(conn.peer(), 1, request_bytes);
        // Only read with --read-timeout, never before `timeout_idle`'s start.
        let activity = conn.activity();
        let exchange = conn.exchange_with_body(
            parts,
            request_is_head,
            &self.limits,
            capture,
            &self.buffers,
            &self.heads,
        );
        let read_timeout = self.limits.read_timeout;
        let exchange = match runtime::timeout_idle(timeout, read_timeout, &activity, exchange).await
        {
            Ok(result) => result?,
            Err(runtime::Expired::Total) => return Err(Failure::RequestTimeout),
            Err(runtime::Expired::Idle) => return Err(Failure::ReadTimeout),
        };
        if exchange.keep_alive {
            self.pool.borrow_mut().give(origin, conn);
        }
        Ok(exchange)
    }

    /// True when `origin` is reached over TLS.
    pub fn is_https(&self, origin: usize) -> bool {
        match self.origins.get(origin) {
            Some(o) => o.tls_name.is_some(),
            None => self
                .redirect_origins
                .borrow()
                .get(origin - self.origins.len())
                .is_some_and(|(o, _)| o.tls_name.is_some()),
        }
    }

    /// The origin index for a redirect to `authority` (`host[:port]`) over
    /// https or http: one of the plan's origins, one a redirect led to
    /// before, or a new one (resolved now, on the shard: a redirect to a
    /// new host name blocks it once). At most `MAX_REDIRECT_ORIGINS` new ones.
    pub fn redirect_origin(&self, https: bool, authority: &str) -> Result<usize, Failure> {
        let (host, port) =
            crate::config::split_authority(authority, https).ok_or(Failure::BadRedirect)?;
        let same = |o: &Origin| {
            o.addrs.host.eq_ignore_ascii_case(host)
                && o.addrs.port == port
                && o.tls_name.is_some() == https
        };
        if let Some(index) = self.origins.iter().position(same) {
            return Ok(index);
        }
        let mut extra = self.redirect_origins.borrow_mut();
        if let Some(i) = extra.iter().position(|(o, _)| same(o)) {
            return Ok(self.origins.len() + i);
        }
        let mut failed = self.unresolved_redirects.borrow_mut();
        if failed
            .iter()
            .any(|(h, a)| *h == https && a.eq_ignore_ascii_case(authority))
        {
            return Err(Failure::BadRedirect);
        }
        if extra.len() + failed.len() >= MAX_REDIRECT_ORIGINS {
            return Err(Failure::BadRedirect);
        }
        let scheme = if https { "https" } else { "http" };
        // A name not seen before is resolved here, on the shard, once: a
        // name that does not resolve is remembered and fails at once after.
        let url = crate::config::parse_url_with(&format!("{scheme}://{authority}/"), None, &[])
            .map_err(|_| {
                failed.push((https, authority.to_string()));
                Failure::BadRedirect
            })?;
        extra.push((url.origin, url.authority));
        self.pool
            .borrow_mut()
            .ensure(self.origins.len() + extra.len());
        Ok(self.origins.len() + extra.len() - 1)
    }

    /// Opens a new connection to `origin`'s next address, after waiting for
    /// a connect slot; the connect timeout covers the connect, not the wait.
    async fn dial(&self, index: usize) -> Result<Conn, Failure> {
        let redirected;
        let origin = match self.origins.get(index) {
            Some(origin) => origin,
            None => {
                let extra = self.redirect_origins.borrow();
                let i = index - self.origins.len();
                redirected = extra.get(i).ok_or(Failure::ConnectOther)?.0.clone();
                &redirected
            }
        };
        let _slot = self.slots.acquire().await;
        let turn = self.turns.get(index).map_or(0, Cell::get);
        if let Some(turns) = self.turns.get(index) {
            turns.set(turn.wrapping_add(1));
        }
        let addr = dns::pick(&origin.addrs.current(), turn).unwrap_or(origin.addr);
        let connect = Conn::connect(&self.connector, origin, addr, self.closed.clone());
        let (conn, timing) = match runtime::timeout(self.connect_timeout, connect).await {
            Some(result) => result?,
            None => return Err(Failure::ConnectTimeout),
        };
        self.dial_stats.borrow_mut().record_dial(timing);
        self.opened.set(self.opened.get() + 1);
        Ok(conn)
    }
}

/// Whether a request that failed this way may be sent again on a fresh
/// connection: only when its connection may just have gone stale while it
/// idled (no byte of a response came), and only for an idempotent method
/// (RFC 9110 9.2.2), since the server may have acted on it before closing
/// (RFC 9112 9.3.1). The one rule for single and pipelined requests.
fn may_resend(failure: Failure, request: &[u8]) -> bool {
    let method = request.split(|&b| b == b' ').next().unwrap_or_default();
    let idempotent = matches!(
        method,
        b"GET" | b"HEAD" | b"PUT" | b"DELETE" | b"OPTIONS" | b"TRACE"
    );
    idempotent && failure.is_stale_connection()
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
