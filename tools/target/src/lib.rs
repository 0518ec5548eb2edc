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
//! - `chaos`: what the chaos routes send (drip, bad chunk, cut, silence,
//!   seeded stalls); `conn` does their waiting.
//! - `app`: answers the dynamic routes from a copy of the request: the music
//!   API (`music`, with `accounts`), the echo routes, `/redirect-to` (its
//!   query read with `query`), the compressed routes (`compress`), the auth
//!   routes (`auth`) and `/__stats` (`stats`).
//! - `counters`: per-shard request, connection and status counters, and the
//!   per-path counts of `--count-paths` (`paths`).
//! - `tls`: HTTPS (`--tls-self-signed` or `--tls-cert/--tls-key`): the rustls
//!   acceptor and handshake counts (`/__stats` adds `"tls": {"full", "resumed"}`).
//! - `limiter`: `--max-rps K`, a first-come, first-served queue served at K/s.
//! - `delay`: `--delay SPEC`, the distribution of a wait added to every
//!   counted request, drawn per shard from a seeded generator.
//! - `service`: with `--delay`, every counted request's service time (head
//!   parsed to response written) and drawn delay, in per-shard HDR
//!   histograms merged for `/__stats`'s `"service_ms"`.
//!
//! This file holds `Target`, the running server, which binds the socket,
//! starts the shards and reads the counters.
//!
//! Routes (the method only matters for `/__reset`, `HEAD` and the music API):
//! `/` 200 `ok`; `/bytes/N` N bytes (Content-Length); `/delay/MS` (or
//! `/slow/MS`) `ok` after MS ms; `/status/CODE` that status; `/chunked/N` N
//! bytes in 4 KiB chunks; `/close` `ok` then close; `/eof/N` N bytes delimited
//! by close; `/garbage` non-HTTP bytes then close; `/truncated` promises 100
//! bytes, sends 10, closes; `/bighead` a head over 64 KiB; `/reset` a TCP
//! reset; the chaos routes `/drip/N?ms=M`, `/badchunk`, `/cut/N`, `/silence`
//! and `/stall?p=P&ms=M` (see `chaos`; `/__stats` adds `"stalls":
//! {"requests", "stalled"}` once `/stall` was asked for); `/echo/headers` the request headers as a JSON object (lower-cased
//! names); `/echo/body` the request body with its Content-Type;
//! `/echo/request` the request's exact bytes (head and body) as
//! `application/octet-stream`; `/cookies/new?path=P` sets a cookie of a new
//! name each time (`c0`, `c1`, ..., with `Path=P`, `/` by default) and answers
//! `{"set":"c7","received":N,"cookie_bytes":B}` (the cookies the request
//! carried); `GET /__stats` `{"requests": n, "connections":
//! n, "statuses": {"404": n, ...}, "logins": {"alice": n, ...}}` (non-2xx
//! responses and logins, non-zero counts only), plus `"paths": {"/a": n, ...,
//! "__other__": n}` (requests by path, query left off; at most 10,000 paths,
//! the rest under `__other__`) with `--count-paths`, plus `"service_ms":
//! {"delay": SPEC, "count", "min", "mean", "p50", "p90", "p95", "p99",
//! "p999", "max", "drawn": {...}}` (milliseconds) with `--delay`, and
//! `"body_bytes": n` (request body bytes received with counted requests); `POST
//! /__reset` zeroes all of them; anything else 404. Chunked request bodies
//! are refused with 411.
//!
//! Routes for testing clients (any method). Redirects carry the 8-byte body
//! `redirect`: `/redirect/N` (N <= 100) 302 with `Location: /redirect/N-1`,
//! and `/redirect/0` 200 `ok`; `/redirect-to?url=URL&status=CODE` CODE (301,
//! 302, 303, 307 or 308; 302 by default) with `Location:` the percent-decoded
//! URL. Compressed bodies (`enc=` gzip, deflate (zlib), br, zstd or identity;
//! without it the first of zstd, br, gzip, deflate that `Accept-Encoding`
//! lists, else identity) come with `Content-Encoding`, `X-Decoded-Length` and
//! `Vary: Accept-Encoding`: `/compressed/N?enc=` (N <= 64 MiB) N bytes of
//! JSON lines `{"i":0,"name":"song 0"}`...; `/compressed-json?enc=`
//! `{"ok":true,"encoding":"gzip"}`; `/bomb?enc=` (not identity; gzip when
//! nothing is negotiated) at most about 0.5 MiB that decode to 512 MiB of
//! zeros. Encoded bodies are cached (256 MiB in all). `/basic-auth/USER/PASS`
//! 200 `{"authenticated":true,"user":"USER"}` with `Authorization: Basic
//! base64(USER:PASS)` (segments percent-decoded), else 401 with
//! `WWW-Authenticate: Basic realm="stampede-target"`; `/bearer` 200
//! `{"token":"TOKEN"}` with `Authorization: Bearer TOKEN`, else 401. A bad
//! parameter is 400 `bad parameter`.
//!
//! The music API (JSON in and out; see `music`): `POST /auth/login` with
//! `{"username", "password"}` answers `{"token", "id", "name"}` and the cookie
//! `nd_session=TOKEN`, or 401; with `x-nd-authorization: Bearer TOKEN` or that
//! cookie, `GET /api/song?_start=N&_end=M` lists songs, `GET /api/album`
//! albums, `POST /api/playlist` answers `{"id"}`, `DELETE /api/playlist/ID`
//! answers `{}`, or 404 for an unknown id; without a session, 401.
//!
//! Counting: a request counts when its head is parsed, unless it is a control
//! route (`/__stats`, `/__reset`); a connection counts when its first counted
//! request arrives, so 20 keep-alive users show as exactly 20 connections.
//! A non-2xx response counts under its status, refused heads included.
//! Limits: heads up to 64 KiB and 64 headers (else 400 and close); generated
//! bodies up to 64 MiB; delays up to 60 s; redirect chains up to 100 hops;
//! request bodies of any Content-Length are read and discarded, except on the
//! dynamic routes, which read up to 1 MiB (else 413). No idle timeout.

#![warn(missing_docs)]

pub mod accounts;
mod app;
mod auth;
mod chaos;
mod compress;
pub mod config;
mod conn;
mod cookies;
mod counters;
pub mod delay;
pub mod limiter;
mod music;
mod paths;
mod query;
mod request;
mod response;
mod routes;
mod runtime;
pub mod service;
mod shard;
mod stats;
pub mod tls;

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

pub use config::{IoDriver, TargetConfig};
pub use counters::Totals;

use counters::Counters;
use music::Music;
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
    /// The music API's accounts, logins and playlists, shared by the shards.
    music: Arc<Music>,
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
    /// Fails with `InvalidInput` on a bad thread count or account list.
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
        let music = Music::new(&config.accounts).map_err(|err| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("accounts: {err}"))
        })?;
        let listener = bind(config.listen)?;
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let limiter = config.max_rps.map(|k| Arc::new(limiter::Limiter::new(k)));
        let bodies = Arc::new(compress::Bodies::default());
        let mut counters = Counters::new(config.threads);
        counters.paths = paths::PathCounts::new(config.count_paths);
        counters.stalls.set_seed(config.chaos_seed);
        counters.service = service::ServiceTimes::new(config.threads, config.delay);
        let mut target = Target {
            local_addr: listener.local_addr()?,
            listener,
            counters: Arc::new(counters),
            music: Arc::new(music),
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
                music: Arc::clone(&target.music),
                bodies: Arc::clone(&bodies),
                limiter: limiter.clone(),
                delay: config
                    .delay
                    .map(|delay| delay::DelaySampler::new(delay, config.delay_seed, index)),
                stop: Arc::clone(&target.stop),
                tls: tls.clone(),
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

    /// TLS handshakes served: (full, resumed).
    pub fn tls_handshakes(&self) -> (u64, u64) {
        self.counters.tls.get()
    }

    /// Connections that carried at least one counted request.
    pub fn connections(&self) -> u64 {
        self.counters.totals().connections
    }

    /// Both counters, read together.
    pub fn totals(&self) -> Totals {
        self.counters.totals()
    }

    /// Request body bytes received with counted requests.
    pub fn body_bytes(&self) -> u64 {
        self.counters.body_bytes()
    }

    /// Responses sent with this non-2xx status (2xx are not counted: 0).
    pub fn status_count(&self, code: u16) -> u64 {
        self.counters.status_count(code)
    }

    /// Requests for `path` (query left off) with `--count-paths`, else 0;
    /// `"__other__"` reads the requests past the table's bounds.
    pub fn path_count(&self, path: &str) -> u64 {
        self.counters.paths.count(path)
    }

    /// Successful `POST /auth/login`s of `username` (0 for an unknown name).
    pub fn logins(&self, username: &str) -> u64 {
        self.music.logins_of(username)
    }

    /// With `--delay`, the service times recorded since the start or the
    /// last reset (merged over the shards); `None` without a delay.
    pub fn service_times(&self) -> Option<service::ServiceSnapshot> {
        self.counters.service.snapshot()
    }

    /// Playlists created and not yet deleted.
    pub fn playlists(&self) -> usize {
        self.music.playlists()
    }

    /// Zeroes the counters (statuses, logins, paths and service times
    /// included), like `POST /__reset`.
    pub fn reset_counters(&self) {
        self.counters.reset();
        self.music.reset_counters();
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

#[cfg(test)]
mod tests {
    //! A server started with `--delay` answers no sooner than the delay and
    //! records each counted request's service time, and only those.
    use super::*;
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    /// Sends `GET path` on `stream` and reads the whole response (whose body
    /// is framed by Content-Length); returns its bytes.
    fn get(stream: &mut std::net::TcpStream, path: &str) -> Vec<u8> {
        write!(stream, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "closed mid-response");
            response.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&response);
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap();
                if response.len() >= end + 4 + len {
                    return response;
                }
            }
        }
    }

    #[test]
    fn delayed_requests_are_timed_by_the_server() {
        let delay_us = 20_000;
        let target = Target::start(TargetConfig {
            delay: Some(delay::Delay::Fixed { us: delay_us }),
            ..TargetConfig::loopback(1)
        })
        .unwrap();
        let mut stream = std::net::TcpStream::connect(target.local_addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        for _ in 0..10 {
            let sent = Instant::now();
            let response = get(&mut stream, "/");
            assert!(response.ends_with(b"\r\n\r\nok"));
            assert!(sent.elapsed() >= Duration::from_micros(delay_us));
        }
        let stats = get(&mut stream, "/__stats");
        let body = &stats[stats.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        let service = &json["service_ms"];
        assert_eq!(service["delay"], "fixed:20ms");
        assert_eq!(
            (service["count"].as_u64(), json["requests"].as_u64()),
            (Some(10), Some(10))
        );
        assert!(service["min"].as_f64().unwrap() >= 20.0, "{service}");
        // HDR reports the top of a value's bucket: within 0.1%.
        let drawn_max = service["drawn"]["max"].as_f64().unwrap();
        assert!((20.0..=20.02).contains(&drawn_max), "{service}");

        let snap = target.service_times().unwrap();
        assert_eq!(snap.served.count, 10);
        assert!(snap.served.min_us >= delay_us);
        // Loose: a loaded test machine may be slow to wake the shard.
        assert!(snap.served.max_us < delay_us + 500_000, "{snap:?}");
        target.reset_counters();
        assert_eq!(target.service_times().unwrap().served.count, 0);
        assert!(Target::start(TargetConfig::loopback(1))
            .unwrap()
            .service_times()
            .is_none());
    }
}
