//! The shard's HTTP client: pooled connections, timeouts, one transparent retry.
//!
//! `send` takes an idle connection to the origin (or dials one), runs the
//! exchange under the request timeout, and gives the connection back when it
//! may be reused. A keep-alive connection the server closed while idle is
//! retried once on a fresh one, as browsers do; every other failure is
//! returned for counting.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::time::Duration;

use super::conn::{Capture, Conn, Exchange, Limits};
use super::failure::Failure;
use super::pool::ConnPool;

/// One shard's client.
pub struct Client {
    /// Socket address of each origin, by origin index.
    origins: Vec<SocketAddr>,
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
}

impl Client {
    /// A client for the given origins.
    pub fn new(
        origins: Vec<SocketAddr>,
        limits: Limits,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Self {
        let pool = RefCell::new(ConnPool::new(origins.len()));
        Client { origins, pool, limits, connect_timeout, request_timeout, opened: Cell::new(0) }
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
        let timeout = timeout.unwrap_or(self.request_timeout);
        let pooled = self.pool.borrow_mut().take(origin);
        let conn = match pooled {
            Some(conn) => conn,
            None => self.dial(origin).await?,
        };
        let reused = conn.is_reused();
        match self.attempt(origin, conn, request, request_is_head, timeout, capture).await {
            Err(failure) if reused && failure.is_stale_connection() => {
                let fresh = self.dial(origin).await?;
                self.attempt(origin, fresh, request, request_is_head, timeout, capture).await
            }
            outcome => outcome,
        }
    }

    /// Connections opened so far.
    pub fn connections_opened(&self) -> u64 {
        self.opened.get()
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
        request: &[u8],
        request_is_head: bool,
        timeout: Duration,
        capture: &mut Capture,
    ) -> Result<Exchange, Failure> {
        let exchange = conn.exchange(request, request_is_head, &self.limits, capture);
        let exchange = match monoio::time::timeout(timeout, exchange).await {
            Ok(result) => result?,
            Err(_) => return Err(Failure::RequestTimeout),
        };
        if exchange.keep_alive {
            self.pool.borrow_mut().give(origin, conn);
        }
        Ok(exchange)
    }

    /// Opens a new connection to `origin` under the connect timeout.
    async fn dial(&self, origin: usize) -> Result<Conn, Failure> {
        let addr = *self.origins.get(origin).ok_or(Failure::ConnectOther)?;
        let connect = Conn::connect(addr, &self.limits);
        let conn = match monoio::time::timeout(self.connect_timeout, connect).await {
            Ok(result) => result?,
            Err(_) => return Err(Failure::ConnectTimeout),
        };
        self.opened.set(self.opened.get() + 1);
        Ok(conn)
    }
}
