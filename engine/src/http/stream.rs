//! The byte stream under a connection, plain TCP or TLS, and how it is dialed.
//!
//! [`Stream`] hides which of the two a connection holds, so `conn`, the pool
//! and users never know. [`Connector`] dials: it picks the next `--source-ips`
//! address (spreading connections over local addresses, since one address
//! has only ~28k ephemeral ports), connects, and runs the TLS handshake for
//! `https` origins. [`BufferPool`] lends read and write buffers to connections
//! only while they exchange, so an idle keep-alive connection holds no buffer
//! (`tls_stream` lends its record buffers the same way), and lends users the
//! buffers of captured bodies only while they judge a response.
//! Timeouts and retries are the client's job.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::Instant;

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::pki_types::ServerName;

use super::dial::DialTiming;
use super::dns::HostAddrs;
use super::failure::Failure;
use super::tls_stream::TlsStream;

/// Buffers a shard keeps for reuse; beyond this, returned buffers are freed.
const POOLED_BUFFERS_MAX: usize = 4096;

/// Capacity of the captured-body buffers a shard keeps for reuse, in all;
/// beyond it, returned ones are freed. It holds the bodies of the requests
/// judged at once on a shard (32 of 1 MiB; thousands of small ones), so a
/// user keeps no body between requests and a shard keeps at most this.
const POOLED_BODY_BYTES_MAX: usize = 32 << 20;

/// How a run makes and uses connections, shared by every shard.
#[derive(Debug, Clone)]
pub struct ConnSettings {
    /// The TLS client configuration for `https` origins.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Local addresses to connect from, in turn (`--source-ips`).
    pub source_ips: Arc<[IpAddr]>,
    /// Requests in flight per connection (`--pipeline`); 1 is none.
    pub pipeline: u32,
    /// Connects in flight per shard at most (`--max-connecting`).
    pub max_connecting: u32,
}

impl Default for ConnSettings {
    fn default() -> Self {
        ConnSettings {
            tls: None,
            source_ips: Arc::from(Vec::new()),
            pipeline: 1,
            max_connecting: super::dial::DEFAULT_MAX_CONNECTING,
        }
    }
}

impl ConnSettings {
    /// The connector of shard `index`; shards start on different source addresses.
    pub fn connector(&self, index: usize) -> Connector {
        let mut connector = Connector::new(self.tls.clone(), self.source_ips.clone(), index);
        connector.pipeline = self.pipeline.max(1);
        connector.max_connecting = self.max_connecting.max(1);
        connector
    }
}

/// Where an origin is and how to talk to it.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The first address the host resolved to at start (identifies the origin).
    pub addr: SocketAddr,
    /// Every address of the host, shared by all shards and refreshed with
    /// `--dns-ttl`; new connections are spread over them.
    pub addrs: Arc<HostAddrs>,
    /// The TLS server name for `https` origins; `None` for plain HTTP.
    pub tls_name: Option<ServerName<'static>>,
}

impl PartialEq for Origin {
    fn eq(&self, other: &Origin) -> bool {
        self.addr == other.addr
            && self.tls_name == other.tls_name
            && (self.addrs.host.as_str(), self.addrs.port)
                == (other.addrs.host.as_str(), other.addrs.port)
    }
}

impl Eq for Origin {}

impl Origin {
    /// A plain-HTTP origin at one fixed address.
    pub fn plain(addr: SocketAddr) -> Self {
        Origin {
            addr,
            addrs: HostAddrs::fixed(&addr.ip().to_string(), addr.port(), vec![addr]),
            tls_name: None,
        }
    }
}

/// A connected byte stream: TCP, or TLS over TCP.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (see `tls_stream`); boxed because the session is large and
    /// connections move around.
    Tls(Box<TlsStream>),
    /// Scripted reads and recorded writes, for unit tests (see `script`).
    #[cfg(test)]
    Scripted(super::script::Script),
}

impl Stream {
    /// Reads into `buf`'s spare capacity; `Ok(0)` means the peer closed
    /// (for TLS also without close_notify, which servers commonly skip;
    /// [`Stream::closed_cleanly`] says which).
    pub async fn read<T: IoBufMut>(&mut self, buf: T) -> (Result<usize, Failure>, T) {
        match self {
            Stream::Plain(tcp) => {
                let (result, buf) = tcp.read(buf).await;
                (result.map_err(|e| Failure::from_io_error(&e)), buf)
            }
            Stream::Tls(tls) => tls.read(buf).await,
            #[cfg(test)]
            Stream::Scripted(script) => script.read_into(buf),
        }
    }

    /// After a read returned 0: whether the peer ended the stream in a way
    /// that proves nothing was cut off. Always for TCP (a FIN is all it
    /// has); for TLS only after close_notify, since anyone on the path can
    /// forge a FIN, and a body delimited by the close is then incomplete.
    pub fn closed_cleanly(&self) -> bool {
        match self {
            Stream::Plain(_) => true,
            Stream::Tls(tls) => tls.peer_closed(),
            #[cfg(test)]
            Stream::Scripted(script) => script.closed_cleanly(),
        }
    }

    /// Writes all of `buf`.
    pub async fn write_all<T: IoBuf>(&mut self, buf: T) -> (Result<usize, Failure>, T) {
        match self {
            Stream::Plain(tcp) => {
                let (result, buf) = tcp.write_all(buf).await;
                (result.map_err(|e| Failure::from_io_error(&e)), buf)
            }
            Stream::Tls(tls) => tls.write_all(buf).await,
            #[cfg(test)]
            Stream::Scripted(script) => script.write_all(buf),
        }
    }
}

/// Dials connections for one shard.
pub struct Connector {
    /// The TLS client configuration, shared by all shards (its session
    /// cache included).
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Local addresses to connect from, used in turn; empty lets the kernel pick.
    source_ips: Arc<[IpAddr]>,
    /// Index of the next source address.
    next_source: Cell<usize>,
    /// Requests each user pipelines on a connection (`--pipeline`); 1 is none.
    pub pipeline: u32,
    /// Connects in flight at most (`--max-connecting`); the client enforces it.
    pub max_connecting: u32,
    /// Where this shard starts in each origin's address list, so shards with
    /// one user each do not all connect to the first address.
    pub first_addr: usize,
    /// In unit tests, the streams dialed in turn instead of sockets; a dial
    /// past the last is refused.
    #[cfg(test)]
    scripts: Option<RefCell<std::collections::VecDeque<super::script::Script>>>,
}

impl Connector {
    /// A connector with this TLS configuration and these source addresses.
    /// `first_source` staggers shards so they do not all start on one address.
    pub fn new(
        tls: Option<Arc<rustls::ClientConfig>>,
        source_ips: Arc<[IpAddr]>,
        first_source: usize,
    ) -> Self {
        Connector {
            tls,
            source_ips,
            next_source: Cell::new(first_source),
            pipeline: 1,
            max_connecting: super::dial::DEFAULT_MAX_CONNECTING,
            first_addr: first_source,
            #[cfg(test)]
            scripts: None,
        }
    }

    /// A connector that dials `scripts` in turn, for unit tests.
    #[cfg(test)]
    pub fn scripted(scripts: Vec<super::script::Script>) -> Self {
        let mut connector = Connector::plain();
        connector.scripts = Some(RefCell::new(scripts.into()));
        connector
    }

    /// A plain connector: no TLS, kernel-chosen source address.
    pub fn plain() -> Self {
        Connector::new(None, Arc::from(Vec::new()), 0)
    }

    /// Connects to `origin` at `addr` (one of its addresses) and, for
    /// https, completes the TLS handshake; says how long each part took.
    pub async fn connect(
        &self,
        origin: &Origin,
        addr: SocketAddr,
    ) -> Result<(Stream, DialTiming), Failure> {
        #[cfg(test)]
        if let Some(scripts) = &self.scripts {
            let script = scripts.borrow_mut().pop_front();
            let timing = DialTiming {
                addr,
                connect: std::time::Duration::ZERO,
                tls: None,
            };
            return script
                .map(|s| (Stream::Scripted(s), timing))
                .ok_or(Failure::ConnectRefused);
        }
        let started = Instant::now();
        let source = (!self.source_ips.is_empty()).then(|| {
            let index = self.next_source.get();
            self.next_source.set(index.wrapping_add(1));
            self.source_ips[index % self.source_ips.len()]
        });
        let tcp = connect_tcp(addr, source)
            .await
            .map_err(|e| Failure::from_connect_error(&e))?;
        let connected = Instant::now();
        let mut timing = DialTiming {
            addr,
            connect: connected - started,
            tls: None,
        };
        // Requests are written whole; Nagle would only delay them.
        let _ = tcp.set_nodelay(true);
        match (&origin.tls_name, &self.tls) {
            (None, _) => Ok((Stream::Plain(tcp), timing)),
            (Some(name), Some(config)) => {
                let tls = TlsStream::connect(tcp, config.clone(), name.clone()).await?;
                timing.tls = Some(connected.elapsed());
                Ok((Stream::Tls(Box::new(tls)), timing))
            }
            (Some(_), None) => Err(Failure::TlsHandshake),
        }
    }
}

/// Connects from `source` (any port) when given, else from the kernel's choice.
async fn connect_tcp(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect_addr(addr).await;
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    // Pick the port at connect time from the whole 4-tuple, not at bind time,
    // so one source address serves many destinations (Linux 4.2+).
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads `on` for its given size; the fd is ours.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.set_nonblocking(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    stream.writable(false).await?;
    // SAFETY: the descriptor belongs to `stream`, which outlives this borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    match socket2::SockRef::from(&fd).take_error()? {
        Some(e) => Err(e),
        None => Ok(stream),
    }
}

/// Read and write buffers lent to connections while they exchange, and
/// body buffers lent to users while they judge a response.
#[derive(Default)]
pub struct BufferPool {
    /// Idle read buffers, all of the configured capacity.
    read: RefCell<Vec<Vec<u8>>>,
    /// Idle write buffers.
    write: RefCell<Vec<Vec<u8>>>,
    /// Idle buffers for captured heads and bodies and decoded bodies, of
    /// any capacity; the most recently returned is lent first.
    bodies: RefCell<Vec<Vec<u8>>>,
    /// The capacity held in `bodies`, at most `POOLED_BODY_BYTES_MAX`.
    body_bytes: Cell<usize>,
}

impl BufferPool {
    /// An empty read buffer of at least `capacity` bytes.
    pub fn take_read(&self, capacity: usize) -> Vec<u8> {
        self.read
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// An empty write buffer.
    pub fn take_write(&self) -> Vec<u8> {
        self.write
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(1024))
    }

    /// Takes back a read buffer (its contents are forgotten).
    pub fn give_read(&self, mut buf: Vec<u8>) {
        let mut pool = self.read.borrow_mut();
        if buf.capacity() > 0 && pool.len() < POOLED_BUFFERS_MAX {
            buf.clear();
            pool.push(buf);
        }
    }

    /// Takes back a write buffer.
    pub fn give_write(&self, mut buf: Vec<u8>) {
        let mut pool = self.write.borrow_mut();
        if buf.capacity() > 0 && pool.len() < POOLED_BUFFERS_MAX {
            buf.clear();
            pool.push(buf);
        }
    }

    /// An empty buffer for a captured or decoded body (no capacity when
    /// none is idle; it grows as it is filled).
    pub fn take_body(&self) -> Vec<u8> {
        let buf = self.bodies.borrow_mut().pop().unwrap_or_default();
        self.body_bytes.set(self.body_bytes.get() - buf.capacity());
        buf
    }

    /// Takes back the buffer in `slot`, leaving it empty without capacity;
    /// freed instead when the pool holds its most already.
    pub fn give_body(&self, slot: &mut Vec<u8>) {
        let mut buf = std::mem::take(slot);
        let held = self.body_bytes.get() + buf.capacity();
        let mut pool = self.bodies.borrow_mut();
        if buf.capacity() > 0 && held <= POOLED_BODY_BYTES_MAX && pool.len() < POOLED_BUFFERS_MAX {
            buf.clear();
            pool.push(buf);
            self.body_bytes.set(held);
        }
    }

    /// Bytes of body buffers idle in the pool (for tests).
    #[cfg(test)]
    pub fn idle_body_bytes(&self) -> usize {
        self.body_bytes.get()
    }
}
