//! A shard: one thread pinned to a core, its monoio runtime, and the accept
//! loop that spawns a `conn` task per connection. All shards accept on their
//! own duplicate of one listening socket; the kernel hands each connection to
//! one of them. The per-shard `Shard` context is what connection tasks share.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::compress::Bodies;
use crate::config::IoDriver;
use crate::conn;
use crate::counters::{Counters, ShardSlot};
use crate::delay::DelaySampler;
use crate::music::Music;
use crate::runtime;

/// How long to pause after an accept error such as EMFILE before retrying,
/// so a persistent error does not spin the core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// How often a stopping shard checks whether its last connection has ended.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// Everything a shard thread needs, moved into it at spawn.
pub(crate) struct ShardSpec {
    /// This shard's number, which picks its counter slot.
    pub index: usize,
    /// A duplicate of the server's listening socket.
    pub listener: std::net::TcpListener,
    /// The driver to try.
    pub driver: IoDriver,
    /// The core to pin to, if the core list is known.
    pub core: Option<core_affinity::CoreId>,
    /// The server's counters.
    pub counters: Arc<Counters>,
    /// The emulated music API, shared by all shards.
    pub music: Arc<Music>,
    /// The compressed routes' encoded bodies, shared by all shards.
    pub bodies: Arc<Bodies>,
    /// `--max-rps`: the shared service queue, if the server is limited.
    pub limiter: Option<Arc<crate::limiter::Limiter>>,
    /// `--delay`: this shard's draws, if requests wait.
    pub delay: Option<DelaySampler>,
    /// Set when the server stops; checked after each accept wakes up.
    pub stop: Arc<AtomicBool>,
    /// The TLS acceptor when the server speaks HTTPS.
    pub tls: Option<monoio_rustls::TlsAcceptor>,
    /// Where the shard reports the driver it runs, or why it could not start.
    pub ready: mpsc::Sender<io::Result<IoDriver>>,
}

/// The context a shard's connection tasks share.
pub(crate) struct Shard {
    /// The server's counters; this shard writes only its own slot.
    pub counters: Arc<Counters>,
    /// The emulated music API, shared by all shards.
    pub music: Arc<Music>,
    /// The compressed routes' encoded bodies, shared by all shards.
    pub bodies: Arc<Bodies>,
    /// `--max-rps`: the shared service queue, if the server is limited.
    pub limiter: Option<Arc<crate::limiter::Limiter>>,
    /// `--delay`: this shard's draws, if requests wait.
    delay: Option<RefCell<DelaySampler>>,
    /// This shard's slot index.
    index: usize,
    /// Open connections, so a stopping shard can wait for them.
    live: Cell<usize>,
}

impl Shard {
    /// This shard's counter slot.
    pub fn slot(&self) -> &ShardSlot {
        self.counters.slot(self.index)
    }

    /// With `--delay`, the next delay to wait for, in microseconds.
    pub fn draw_delay_us(&self) -> Option<u64> {
        self.delay
            .as_ref()
            .map(|sampler| sampler.borrow_mut().next_us())
    }

    /// Records a timed request's drawn delay and service time (microseconds).
    pub fn record_service(&self, drawn_us: u64, served_us: u64) {
        self.counters
            .service
            .record(self.index, drawn_us, served_us);
    }

    /// Registers a live connection until the returned guard drops.
    pub fn enter(self: &Rc<Self>) -> LiveGuard {
        self.live.set(self.live.get() + 1);
        LiveGuard(Rc::clone(self))
    }
}

/// Counts one open connection for as long as it lives; derefs to its shard.
pub(crate) struct LiveGuard(Rc<Shard>);

impl std::ops::Deref for LiveGuard {
    type Target = Shard;

    fn deref(&self) -> &Shard {
        &self.0
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.set(self.0.live.get() - 1);
    }
}

/// Starts the shard thread.
pub(crate) fn spawn(spec: ShardSpec) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("stampede-target-{}", spec.index))
        .spawn(move || run(spec))
}

fn run(spec: ShardSpec) {
    if let Some(core) = spec.core {
        // Pinning is an optimisation; a container may forbid it.
        let _ = core_affinity::set_for_current(core);
    }
    let ready = spec.ready.clone();
    if let Err(err) = runtime::block_on(spec.driver, |active| accept_loop(spec, active)) {
        let _ = ready.send(Err(err));
    }
}

async fn accept_loop(spec: ShardSpec, active: IoDriver) {
    let listener = match monoio::net::TcpListener::from_std(spec.listener) {
        Ok(listener) => listener,
        Err(err) => {
            let _ = spec.ready.send(Err(err));
            return;
        }
    };
    let _ = spec.ready.send(Ok(active));
    let shard = Rc::new(Shard {
        counters: spec.counters,
        music: spec.music,
        bodies: spec.bodies,
        limiter: spec.limiter,
        delay: spec.delay.map(RefCell::new),
        index: spec.index,
        live: Cell::new(0),
    });
    loop {
        let accepted = listener.accept().await;
        if spec.stop.load(Ordering::Relaxed) {
            break;
        }
        match accepted {
            Ok((stream, _peer)) => {
                // Registered before the task first runs, so draining cannot miss it.
                match &spec.tls {
                    None => drop(monoio::spawn(conn::serve(stream, shard.enter()))),
                    Some(tls) => drop(monoio::spawn(crate::tls::serve(
                        stream,
                        tls.clone(),
                        shard.enter(),
                    ))),
                }
            }
            Err(err) => match err.kind() {
                io::ErrorKind::ConnectionAborted
                | io::ErrorKind::Interrupted
                | io::ErrorKind::WouldBlock => {}
                _ => monoio::time::sleep(ACCEPT_BACKOFF).await,
            },
        }
    }
    drop(listener);
    // Stopped accepting; keep serving the open connections until they end.
    while shard.live.get() > 0 {
        monoio::time::sleep(DRAIN_POLL).await;
    }
}
