//! stampede-target: a fast thread-per-core HTTP/1.1 server, the neutral system
//! under test for stampede's tests, benchmarks and demo. It depends on no other
//! stampede crate.
//!
//! Map of the modules, in the order a request meets them:
//!
//! - `config`: `TargetConfig`, `IoDriver` and the command-line parser.
//! - `shard`: one pinned thread per core, its accept loop on a shared listener.
//! - `runtime`: builds a shard's monoio runtime (tuned io_uring, else epoll).
//! - `conn`: one connection's read / answer / write loop, pipelining and close.
//! - `request`: parses a request head in place (httparse) into a `RequestHead`.
//! - `routes`: maps method and path to a `Route`.
//! - `response`: renders a route's response into the output buffer.
//! - `counters`: per-shard request and connection counters for `/__stats`.
//!
//! This file holds `Target`, the running server, which binds the socket,
//! starts the shards and reads the counters.
//!
//! Routes (the method only matters for `/__reset` and `HEAD`):
//! `/` 200 `ok`; `/bytes/N` N bytes (Content-Length); `/delay/MS` `ok` after MS
//! ms; `/status/CODE` that status; `/chunked/N` N bytes in 4 KiB chunks;
//! `/close` `ok` then close; `/eof/N` N bytes delimited by close; `/garbage`
//! non-HTTP bytes then close; `/truncated` promises 100 bytes, sends 10,
//! closes; `/bighead` a head over 64 KiB; `/reset` a TCP reset; `GET /__stats`
//! `{"requests": n, "connections": n}`; `POST /__reset` zeroes them; anything
//! else 404. Chunked request bodies are refused with 411.
//!
//! Counting: a request counts when its head is parsed, unless it is a control
//! route (`/__stats`, `/__reset`); a connection counts when its first counted
//! request arrives, so 20 keep-alive users show as exactly 20 connections.
//! Limits: heads up to 64 KiB and 64 headers (else 400 and close); generated
//! bodies up to 64 MiB; delays up to 60 s; request bodies of any Content-Length
//! are read and discarded. No idle timeout.

#![warn(missing_docs)]

pub mod config;
mod conn;
mod counters;
mod request;
mod response;
mod routes;
mod runtime;
mod shard;

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

pub use config::{IoDriver, TargetConfig};
pub use counters::Totals;

use counters::Counters;
use shard::ShardSpec;

/// The listen backlog: enough for a load test opening thousands of connections at once.
const BACKLOG: i32 = 4096;

/// A running server. Dropping it stops accepting; open connections are served
/// until their clients close them, on threads that are not joined.
pub struct Target {
    /// The bound address, with the real port when port 0 was asked for.
    local_addr: SocketAddr,
    /// The original listening socket; shutting it down wakes every shard's accept.
    listener: std::net::TcpListener,
    /// Every shard's counters.
    counters: Arc<Counters>,
    /// Tells shards to stop accepting.
    stop: Arc<AtomicBool>,
    /// The shard threads, joined only by `wait`.
    shards: Vec<JoinHandle<()>>,
    /// The driver the shards run: `Epoll` if any shard fell back to it.
    io_driver: IoDriver,
    /// The number of shards started.
    threads: usize,
}

impl Target {
    /// Binds `config.listen`, starts `config.threads` shards and returns once
    /// all of them accept; connections made before that wait in the backlog.
    pub fn start(config: TargetConfig) -> io::Result<Target> {
        if !(1..=config::THREADS_MAX).contains(&config.threads) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "threads must be 1..={}, not {}",
                    config::THREADS_MAX,
                    config.threads
                ),
            ));
        }
        let listener = bind(config.listen)?;
        let mut target = Target {
            local_addr: listener.local_addr()?,
            listener,
            counters: Arc::new(Counters::new(config.threads)),
            stop: Arc::new(AtomicBool::new(false)),
            shards: Vec::with_capacity(config.threads),
            io_driver: IoDriver::Uring,
            threads: config.threads,
        };
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let (ready_tx, ready_rx) = mpsc::channel();
        for index in 0..config.threads {
            let spec = ShardSpec {
                index,
                listener: target.listener.try_clone()?,
                driver: config.io_driver,
                core: (!cores.is_empty()).then(|| cores[index % cores.len()]),
                counters: Arc::clone(&target.counters),
                stop: Arc::clone(&target.stop),
                ready: ready_tx.clone(),
            };
            // On error, dropping `target` stops the shards already started.
            target.shards.push(shard::spawn(spec)?);
        }
        drop(ready_tx);
        for _ in 0..config.threads {
            match ready_rx.recv() {
                Ok(Ok(IoDriver::Epoll)) => target.io_driver = IoDriver::Epoll,
                Ok(Ok(_)) => {}
                Ok(Err(err)) => return Err(err),
                Err(_) => return Err(io::Error::other("a shard thread exited while starting")),
            }
        }
        Ok(target)
    }

    /// The address the server listens on (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Requests served so far, `/__stats` and `/__reset` excluded.
    pub fn requests(&self) -> u64 {
        self.counters.totals().requests
    }

    /// Connections that carried at least one counted request.
    pub fn connections(&self) -> u64 {
        self.counters.totals().connections
    }

    /// Both counters, read together.
    pub fn totals(&self) -> Totals {
        self.counters.totals()
    }

    /// Zeroes the counters, like `POST /__reset`.
    pub fn reset_counters(&self) {
        self.counters.reset();
    }

    /// The driver the shards run on: `Uring`, or `Epoll` if any shard uses it.
    pub fn io_driver(&self) -> IoDriver {
        self.io_driver
    }

    /// The number of shard threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Blocks until every shard thread has exited, which only happens once
    /// the server is stopped; the binary calls this to serve forever.
    pub fn wait(mut self) {
        for shard in std::mem::take(&mut self.shards) {
            let _ = shard.join();
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Shutting down a listening socket wakes every accept waiting on it
        // (they fail with EINVAL), in all shards, on both drivers.
        let _ = socket2::SockRef::from(&self.listener).shutdown(Shutdown::Read);
    }
}

/// Binds and listens with SO_REUSEADDR, nonblocking (as monoio's epoll driver needs).
fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
