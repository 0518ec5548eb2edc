//! One coordinator-worker connection: framed messages over TCP, a writer
//! thread that writes them with a timeout and says the sender is alive
//! when idle, and a reader thread that turns frames into events.
//!
//! Blocking std sockets on threads of their own: this is the control plane
//! (a few messages a second), kept away from the shards' runtimes.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use stampede_proto::wire::{encode_frame, FrameError, Message};

use super::channel::{Open, Seal};

/// How often each side says it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// Silence after which the other side is taken for dead.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(5);

/// Longest a write may go without progress before the other side is taken
/// for one that stopped reading: the link is then closed and reported lost.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages waiting for the writer at most; more means the other side does
/// not keep up, and the link is closed.
const QUEUE_MAX: usize = 1024;

/// What the writer thread is handed.
enum Outgoing {
    /// One message's frame, not yet sealed.
    Frame(Vec<u8>),
    /// Write what came before, then end the link.
    Close,
}

/// The sending half of a connection, shared by the threads that send. A
/// writer thread of its own does the writing (with [`WRITE_TIMEOUT`]) and
/// says it is alive when idle, so no sender ever waits on a peer that stopped reading.
#[derive(Clone)]
pub struct Sender {
    queue: flume::Sender<Outgoing>,
    /// The socket, to shut down without waiting for the writer.
    stream: Arc<TcpStream>,
    /// Set once sending failed or the link was closed.
    closed: Arc<AtomicBool>,
    /// Why the writer gave up, if it did.
    failure: Arc<OnceLock<String>>,
    /// Disconnected once the writer thread ended.
    writer_done: flume::Receiver<()>,
    peer: SocketAddr,
}

impl Sender {
    /// Starts the writer thread of a connected stream, with the channel's
    /// sending half; fails when no thread can be had for it.
    pub fn new(stream: &TcpStream, seal: Seal) -> std::io::Result<Sender> {
        let peer = stream.peer_addr()?;
        let out = stream.try_clone()?;
        out.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let (queue, outgoing) = flume::bounded(QUEUE_MAX);
        let (done, writer_done) = flume::bounded::<()>(0);
        let sender = Sender {
            queue,
            stream: Arc::new(stream.try_clone()?),
            closed: Arc::new(AtomicBool::new(false)),
            failure: Arc::new(OnceLock::new()),
            writer_done,
            peer,
        };
        let (failure, closed) = (sender.failure.clone(), sender.closed.clone());
        std::thread::Builder::new()
            .name("coord-writer".into())
            .spawn(move || {
                if let Err(why) = write_all(out, seal, &outgoing) {
                    let _ = failure.set(why);
                    closed.store(true, Ordering::Relaxed);
                }
                drop(done);
            })?;
        Ok(sender)
    }

    /// Queues one message; false when the link is gone (or its queue is
    /// full, which ends it).
    pub fn send(&self, message: &Message) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        let frame = match encode_frame(message) {
            Ok(frame) => frame,
            Err(e) => {
                eprintln!("cannot send a message to {}: {e}", self.peer);
                return false;
            }
        };
        match self.queue.try_send(Outgoing::Frame(frame)) {
            Ok(()) => true,
            Err(flume::TrySendError::Full(_)) => {
                self.fail(format!(
                    "{QUEUE_MAX} messages wait for it: it does not keep up"
                ));
                false
            }
            Err(flume::TrySendError::Disconnected(_)) => false,
        }
    }

    /// The other side's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Why the writer gave up on the other side, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure.get().cloned()
    }

    /// Ends the link after what was queued is written; returns at once.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        if self.queue.try_send(Outgoing::Close).is_err() {
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Ends the link now, both ways, whatever the writer is doing.
    pub fn abort(&self, why: &str) {
        self.fail(why.to_string());
    }

    /// Ends the link after what was queued is written, waiting for that at
    /// most `limit` (a worker's last words before it exits).
    pub fn finish(&self, limit: Duration) {
        self.close();
        let _ = self.writer_done.recv_timeout(limit);
    }

    fn fail(&self, why: String) {
        let _ = self.failure.set(why);
        self.closed.store(true, Ordering::Relaxed);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// The writer thread: seals and writes each queued frame in order, says it
/// is alive after a second without writing, until closed or a write fails.
fn write_all(
    mut out: TcpStream,
    mut seal: Seal,
    outgoing: &flume::Receiver<Outgoing>,
) -> Result<(), String> {
    let heartbeat = encode_frame(&Message::Heartbeat).map_err(|e| e.to_string())?;
    // Ends when every sender is gone, on Close, or on a failed write.
    loop {
        let frame = match outgoing.recv_timeout(HEARTBEAT_EVERY) {
            Ok(Outgoing::Frame(frame)) => frame,
            Ok(Outgoing::Close) | Err(flume::RecvTimeoutError::Disconnected) => {
                let _ = out.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
            Err(flume::RecvTimeoutError::Timeout) => heartbeat.clone(),
        };
        let written = match seal.write_frame(&mut out, &frame) {
            Ok(()) => Ok(()),
            Err(FrameError::Io(e)) => Err(e),
            Err(e) => return Err(e.to_string()),
        };
        if let Err(e) = written {
            let _ = out.shutdown(std::net::Shutdown::Both);
            return Err(match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => format!(
                    "it stopped reading (no write went through for {} s)",
                    WRITE_TIMEOUT.as_secs()
                ),
                _ => e.to_string(),
            });
        }
    }
}

/// What the reader thread reports.
pub enum Incoming {
    /// A valid message.
    Message(Message),
    /// The connection ended: closed, broken, silent too long or a bad frame.
    Closed(String),
}

/// Reads frames on a thread of its own, handing each to `deliver`, until
/// the connection ends or `deliver` returns false. Heartbeats are consumed
/// here; silence longer than [`SILENCE_LIMIT`] ends the connection. Fails
/// when no thread can be had for it.
pub fn spawn_reader(
    mut stream: TcpStream,
    mut open: Open,
    mut deliver: impl FnMut(Incoming) -> bool + Send + 'static,
) -> std::io::Result<()> {
    let reader = std::thread::Builder::new().name("coord-reader".into());
    reader.spawn(move || {
        let _ = stream.set_read_timeout(Some(SILENCE_LIMIT));
        let mut last_heard = Instant::now();
        loop {
            match open.read(&mut stream) {
                Ok(Message::Heartbeat) => last_heard = Instant::now(),
                Ok(message) => {
                    last_heard = Instant::now();
                    if !deliver(Incoming::Message(message)) {
                        return;
                    }
                }
                Err(FrameError::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    let silent = last_heard.elapsed();
                    let _ = deliver(Incoming::Closed(format!(
                        "no heartbeat for {} s",
                        silent.as_secs()
                    )));
                    return;
                }
                Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    let _ = deliver(Incoming::Closed("connection closed".into()));
                    return;
                }
                Err(e) => {
                    let _ = deliver(Incoming::Closed(e.to_string()));
                    return;
                }
            }
        }
    })?;
    Ok(())
}
