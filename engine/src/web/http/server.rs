//! The server as a whole: starting it, admitting connections, stopping it.
//!
//! It owns [`serve`], [`ServerOptions`] and their check, the [`Handler`]
//! trait the routes implement, the accept thread, the connection limit
//! (a slot per served connection, a bounded number of 503 refusals), and
//! [`ServerHandle`] with its shutdown. What happens on a connection once
//! admitted is `conn`'s job.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::conn::{linger, serve_connection};
use super::request::Request;
use super::response::{write_response, Response};

/// Refused connections answered 503 at the same time; beyond this they are
/// closed unanswered, so a connection flood cannot spawn threads without end.
const REJECTING_MAX: usize = 16;
/// Pause after a failed accept (out of file descriptors, say), so the accept
/// loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How long `shutdown` waits to connect to its own listener to wake the
/// accept thread.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// Answers requests; called from connection threads, several at once.
pub trait Handler: Send + Sync + 'static {
    /// The response to one request that passed the auth and origin checks.
    fn handle(&self, request: &Request) -> Response;
}

/// The server's limits and credentials.
#[derive(Clone)]
pub struct ServerOptions {
    /// HTTP basic auth (user, password) required on every request, if set.
    pub auth: Option<(String, String)>,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Largest request body in bytes; larger is answered 413.
    pub max_body: usize,
    /// Largest request head in bytes; larger is answered 431.
    pub max_head: usize,
    /// Limit on one request's arrival (idle keep-alive wait included) and on
    /// each blocked write.
    pub read_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            auth: None,
            max_connections: 64,
            max_body: 1 << 20,
            max_head: 16 << 10,
            read_timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for ServerOptions {
    // The password stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("auth_user", &self.auth.as_ref().map(|(user, _)| user))
            .field("max_connections", &self.max_connections)
            .field("max_body", &self.max_body)
            .field("max_head", &self.max_head)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

/// A running server; dropping it shuts the server down.
#[must_use = "dropping the handle shuts the server down"]
pub struct ServerHandle {
    /// The address the server listens on.
    pub local_addr: SocketAddr,
    /// State shared with the accept and connection threads.
    shared: Arc<Shared>,
    /// The accept thread, until `shutdown` joins it.
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl ServerHandle {
    /// Stops accepting and closes every open connection's socket, so blocked
    /// reads end and stream producers' next write fails. Idempotent.
    pub fn shutdown(&self) {
        if self.shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        let accept = lock(&self.accept).take();
        // The accept thread sleeps in accept(): one connection wakes it to see
        // the flag. If that connect fails, the thread ends at the next accept.
        let woken =
            TcpStream::connect_timeout(&wake_address(self.local_addr), WAKE_TIMEOUT).is_ok();
        if let (true, Some(thread)) = (woken, accept) {
            let _ = thread.join();
        }
        for stream in lock(&self.shared.open).streams.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// True once `shutdown` was called; stream producers may poll it.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }

    /// The flag behind `is_stopping`, for producers that outlive a borrow of
    /// the handle.
    pub fn stopping(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.shared.stopping)
    }

    /// Connections being served now.
    pub fn open_connections(&self) -> usize {
        lock(&self.shared.open).streams.len()
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts serving `listener` on a new accept thread; fails on options that
/// break a limit (zero connections, head size or timeout; a user with `:`).
pub fn serve(
    listener: TcpListener,
    options: ServerOptions,
    handler: Arc<dyn Handler>,
) -> io::Result<ServerHandle> {
    check_options(&options)?;
    listener.set_nonblocking(false)?;
    let local_addr = listener.local_addr()?;
    let credentials = options
        .auth
        .as_ref()
        .map(|(user, password)| format!("{user}:{password}").into_bytes());
    let shared = Arc::new(Shared {
        options,
        credentials,
        handler,
        stopping: Arc::new(AtomicBool::new(false)),
        open: Mutex::new(OpenConns::default()),
        rejecting: AtomicUsize::new(0),
    });
    let for_thread = Arc::clone(&shared);
    let accept = thread::Builder::new()
        .name("web-accept".to_string())
        .spawn(move || accept_loop(listener, for_thread))?;
    Ok(ServerHandle {
        local_addr,
        shared,
        accept: Mutex::new(Some(accept)),
    })
}

/// Refuses options under which the server could not serve anything.
fn check_options(options: &ServerOptions) -> io::Result<()> {
    let invalid = |why: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, why.to_string()));
    if options.max_connections == 0 {
        return invalid("web server: max_connections must be at least 1");
    }
    if options.max_head == 0 {
        return invalid("web server: max_head must be at least 1");
    }
    if options.read_timeout.is_zero() {
        return invalid("web server: read_timeout must be above zero");
    }
    if options
        .auth
        .as_ref()
        .is_some_and(|(user, _)| user.contains(':'))
    {
        return invalid("web server: a basic-auth user name cannot contain ':'");
    }
    Ok(())
}

/// What the accept thread and the connection threads share.
pub(super) struct Shared {
    /// Limits and credentials.
    pub(super) options: ServerOptions,
    /// `user:password` as basic auth carries it, when auth is on.
    pub(super) credentials: Option<Vec<u8>>,
    /// The routes.
    pub(super) handler: Arc<dyn Handler>,
    /// Set by `shutdown`.
    pub(super) stopping: Arc<AtomicBool>,
    /// Connections being served, so `shutdown` can close their sockets.
    open: Mutex<OpenConns>,
    /// Refused connections being answered 503.
    rejecting: AtomicUsize,
}

/// The sockets of the connections being served, by connection number.
#[derive(Default)]
struct OpenConns {
    /// The next connection's number.
    next_id: u64,
    /// A clone of each served connection's socket.
    streams: HashMap<u64, TcpStream>,
}

/// A served connection's place in `OpenConns`, given back when dropped.
struct Slot {
    /// Where the place is kept.
    shared: Arc<Shared>,
    /// The connection's number.
    id: u64,
}

impl Slot {
    /// A place for `stream`, or None when `max_connections` are open.
    fn take(shared: &Arc<Shared>, stream: &TcpStream) -> Option<Slot> {
        let mut open = lock(&shared.open);
        if open.streams.len() >= shared.options.max_connections {
            return None;
        }
        let clone = stream.try_clone().ok()?;
        let id = open.next_id;
        open.next_id += 1;
        open.streams.insert(id, clone);
        Some(Slot {
            shared: Arc::clone(shared),
            id,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.shared.open).streams.remove(&self.id);
    }
}

/// A place among the connections being refused, given back when dropped.
struct RejectSlot(Arc<Shared>);

impl RejectSlot {
    /// A place, or None when `REJECTING_MAX` refusals are under way.
    fn take(shared: &Arc<Shared>) -> Option<RejectSlot> {
        let slot = RejectSlot(Arc::clone(shared));
        (shared.rejecting.fetch_add(1, Ordering::SeqCst) < REJECTING_MAX).then_some(slot)
    }
}

impl Drop for RejectSlot {
    fn drop(&mut self) {
        self.0.rejecting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Locks a mutex; a thread that panicked holding it left nothing half-done
/// that matters here, so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where `shutdown` connects to wake the accept thread: the listening
/// address, with a wildcard address replaced by loopback.
fn wake_address(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Accepts until shutdown, handing each connection to its own thread.
fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for incoming in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        match incoming {
            Ok(stream) => admit(stream, &shared),
            Err(_) => thread::sleep(ACCEPT_BACKOFF),
        }
    }
}

/// Serves `stream` on a new thread, or refuses it when the server is full.
fn admit(stream: TcpStream, shared: &Arc<Shared>) {
    let Ok(peer) = stream.peer_addr() else { return };
    let Some(slot) = Slot::take(shared, &stream) else {
        return refuse_busy(stream, shared);
    };
    let shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("web-conn".to_string())
        .spawn(move || {
            let _slot = slot;
            serve_connection(stream, peer, &shared);
        });
    // A failed spawn drops the closure, its slot and the stream: a plain close.
    drop(spawned);
}

/// Answers 503 on a short-lived thread, or just closes when too many
/// refusals are under way already.
fn refuse_busy(stream: TcpStream, shared: &Arc<Shared>) {
    let Some(slot) = RejectSlot::take(shared) else {
        return;
    };
    let write_timeout = shared.options.read_timeout;
    let _ = thread::Builder::new()
        .name("web-refuse".to_string())
        .spawn(move || {
            let _slot = slot;
            let mut stream = stream;
            let _ = stream.set_write_timeout(Some(write_timeout));
            let busy = Response::error(503, "too many connections").with_header("Retry-After", "1");
            let _ = write_response(&mut stream, busy, false, false);
            linger(&mut stream);
        });
}
