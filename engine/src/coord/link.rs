//! One coordinator-worker connection: framed messages over TCP, a reader
//! thread that turns frames into events, and heartbeats both ways.
//!
//! Blocking std sockets on threads of their own: this is the control plane
//! (a few messages a second), kept away from the shards' runtimes.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stampede_proto::wire::{FrameError, Message};

use super::channel::{Open, Seal};

/// How often each side says it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// Silence after which the other side is taken for dead.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(5);

/// The sending half of a connection, shared by the threads that send.
#[derive(Clone)]
pub struct Sender {
    /// The socket and the channel's sending half, used by one sender at a time.
    stream: Arc<Mutex<(TcpStream, Seal)>>,
    /// Set once sending failed or the link was closed.
    closed: Arc<AtomicBool>,
    peer: SocketAddr,
}

impl Sender {
    /// Wraps a connected stream and its channel's sending half.
    pub fn new(stream: &TcpStream, seal: Seal) -> std::io::Result<Sender> {
        let peer = stream.peer_addr()?;
        let writer = stream.try_clone()?;
        Ok(Sender {
            stream: Arc::new(Mutex::new((writer, seal))),
            closed: Arc::new(AtomicBool::new(false)),
            peer,
        })
    }

    /// Sends one message; false when the connection is gone.
    pub fn send(&self, message: &Message) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        let mut stream = match self.stream.lock() {
            Ok(stream) => stream,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (out, seal) = &mut *stream;
        let sent = seal.write(out, message).is_ok();
        if !sent {
            self.closed.store(true, Ordering::Relaxed);
        }
        sent
    }

    /// The other side's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Shuts the connection down both ways.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        if let Ok(stream) = self.stream.lock() {
            let _ = stream.0.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Sends a heartbeat every second until the link closes; fails when
    /// no thread can be had for it.
    pub fn start_heartbeats(&self) -> std::io::Result<()> {
        let sender = self.clone();
        std::thread::Builder::new()
            .name("coord-heartbeat".into())
            .spawn(move || {
                while sender.send(&Message::Heartbeat) {
                    std::thread::sleep(HEARTBEAT_EVERY);
                }
            })?;
        Ok(())
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
