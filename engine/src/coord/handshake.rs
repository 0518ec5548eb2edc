//! The coordinator's door: accepts connections and takes each one through
//! its handshake, on one thread, until it is a worker or refused.
//!
//! Before a peer has proved it knows the token it must cost almost nothing:
//! every connection in handshake is a nonblocking socket polled by this one
//! thread (no thread per stranger), its buffer grows only as its bytes
//! arrive and never past a few KiB, the whole handshake has one deadline,
//! at most [`HANDSHAKES_MAX`] are in progress (the others wait in the
//! kernel's backlog), and failing accepts (out of descriptors) back off
//! instead of spinning. What a worker is once admitted (its link threads,
//! its messages) is `link`'s and `coordinator`'s.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_proto::wire::{Hello, Message, PROTOCOL_VERSION};

use super::channel::{Channel, Progress, Responder};
use super::coordinator::Event;
use super::link::{self, Incoming, Sender};

/// Time from accept to a finished handshake; a peer slower than this is
/// closed, however it trickles its bytes.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(5);
/// Handshakes in progress at once; further connections wait in the backlog.
pub const HANDSHAKES_MAX: usize = 64;
/// First and longest pause after a failed accept (out of descriptors).
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(50);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Longest one poll waits, so a closed cluster is noticed.
const POLL_MAX: Duration = Duration::from_millis(500);

/// What admitting a worker needs: the key derived from the token, whether
/// a run is in progress, where joins go, and the next worker id.
pub(super) struct Admission {
    pub(super) psk: Option<[u8; 32]>,
    pub(super) started: Arc<AtomicBool>,
    pub(super) events: flume::Sender<Event>,
    pub(super) next_id: AtomicU32,
}

/// Starts the door's thread on `listener`.
pub(super) fn spawn(listener: TcpListener, admission: Admission) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("coord-door".into())
        .spawn(move || serve(&listener, &admission))?;
    Ok(())
}

/// One connection in handshake.
struct Pending {
    stream: TcpStream,
    peer: SocketAddr,
    deadline: Instant,
    responder: Responder,
}

/// Pauses accepting after failures, doubling up to a limit.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    /// No accept before this.
    until: Option<Instant>,
    /// The pause after the next failure.
    delay: Duration,
}

impl Backoff {
    /// True when accepting may go on at `now`.
    pub(super) fn ready(&self, now: Instant) -> bool {
        self.until.is_none_or(|until| now >= until)
    }

    /// An accept failed at `now`: pause; returns the pause.
    pub(super) fn failed(&mut self, now: Instant) -> Duration {
        let delay = self.delay.clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX);
        self.until = Some(now + delay);
        self.delay = (delay * 2).min(ACCEPT_BACKOFF_MAX);
        delay
    }

    /// An accept succeeded: the next failure starts from the shortest pause.
    pub(super) fn succeeded(&mut self) {
        self.until = None;
        self.delay = Duration::ZERO;
    }
}

/// The door's loop: poll the listener and every handshake, until the
/// cluster is gone.
fn serve(listener: &TcpListener, admission: &Admission) {
    let mut pending: Vec<Pending> = Vec::new();
    let mut backoff = Backoff::default();
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(HANDSHAKES_MAX + 1);
    while !admission.events.is_disconnected() {
        let now = Instant::now();
        pending.retain(|p| {
            let late = now >= p.deadline;
            if late {
                refused(
                    &p.peer,
                    &format!(
                        "handshake not finished within {} s",
                        HANDSHAKE_DEADLINE.as_secs()
                    ),
                );
            }
            !late
        });
        let accepting = pending.len() < HANDSHAKES_MAX && backoff.ready(now);
        fds.clear();
        fds.push(libc::pollfd {
            // A negative descriptor is skipped by poll: not accepting now.
            fd: if accepting { listener.as_raw_fd() } else { -1 },
            events: libc::POLLIN,
            revents: 0,
        });
        fds.extend(pending.iter().map(|p| libc::pollfd {
            fd: p.stream.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        let wake = pending
            .iter()
            .map(|p| p.deadline)
            .chain(backoff.until)
            .min()
            .map_or(POLL_MAX, |at| {
                at.saturating_duration_since(now).min(POLL_MAX)
            });
        // Round up, so a deadline is not polled for again just before it.
        let timeout_ms = wake.as_millis() as i32 + 1;
        // SAFETY: fds is a live, initialised array of fds.len() pollfd structs.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if ready < 0 {
            // EINTR, or no memory for poll: try again after a breath.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let mut index = 0;
        pending.retain_mut(|p| {
            index += 1;
            fds[index].revents == 0 || advance(p, admission)
        });
        if accepting && fds[0].revents != 0 {
            accept(listener, &mut pending, &mut backoff, admission);
        }
    }
}

/// Accepts the connections waiting, up to the cap; backs off when accept fails.
fn accept(
    listener: &TcpListener,
    pending: &mut Vec<Pending>,
    backoff: &mut Backoff,
    admission: &Admission,
) {
    while pending.len() < HANDSHAKES_MAX {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff.succeeded();
                if let Err(e) = stream.set_nonblocking(true) {
                    refused(&peer, &e.to_string());
                    continue;
                }
                pending.push(Pending {
                    stream,
                    peer,
                    deadline: Instant::now() + HANDSHAKE_DEADLINE,
                    responder: Responder::new(admission.psk),
                });
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // The peer gave up before we took it: nothing to do.
            Err(e) if e.kind() == ErrorKind::ConnectionAborted => {}
            Err(e) => {
                // Out of descriptors (EMFILE, ENFILE) or memory: the
                // connection stays in the backlog; try again after a pause
                // rather than spinning on it.
                let first = backoff.ready(Instant::now()) && backoff.delay.is_zero();
                let pause = backoff.failed(Instant::now());
                if first {
                    eprintln!(
                        "coordinator: cannot accept connections ({e}); retrying every {} ms to {} s",
                        pause.as_millis(),
                        ACCEPT_BACKOFF_MAX.as_secs()
                    );
                }
                return;
            }
        }
    }
}

/// Reads what one peer sent; false once it is done with (admitted or refused).
fn advance(p: &mut Pending, admission: &Admission) -> bool {
    let mut chunk = [0u8; 1024];
    // Bounded: each pass reads at least one byte of a unit of at most
    // MAX_HELLO_BYTES, or ends.
    loop {
        let want = p.responder.wants().min(chunk.len());
        let n = match p.stream.read(&mut chunk[..want]) {
            Ok(0) => {
                refused(&p.peer, "closed during the handshake");
                return false;
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                refused(&p.peer, &e.to_string());
                return false;
            }
        };
        match p.responder.feed(&chunk[..n]) {
            Progress::Partial => {}
            Progress::Reply(bytes) => {
                // A few dozen bytes to a peer that is waiting for them: the
                // socket's buffer takes them at once, or the peer is not
                // reading and is refused.
                if !matches!((&p.stream).write(&bytes), Ok(n) if n == bytes.len()) {
                    refused(&p.peer, "it does not take our answer");
                    return false;
                }
            }
            Progress::Refused { reason, reply } => {
                if let Some(reply) = reply {
                    let _ = (&p.stream).write(&reply);
                }
                refused(&p.peer, &reason);
                return false;
            }
            Progress::Hello(hello, channel) => {
                admit(&p.stream, p.peer, *hello, channel, admission);
                return false;
            }
        }
    }
}

/// Checks a whole hello and admits the worker, or refuses it with a reason.
fn admit(
    stream: &TcpStream,
    peer: SocketAddr,
    hello: Hello,
    mut channel: Channel,
    admission: &Admission,
) {
    let refusal = if hello.version != PROTOCOL_VERSION {
        Some(format!(
            "protocol version {} (coordinator speaks {PROTOCOL_VERSION})",
            hello.version
        ))
    } else if admission.started.load(Ordering::SeqCst) {
        Some("a run is already in progress".to_string())
    } else {
        None
    };
    if let Some(reason) = refusal {
        // Best effort, without blocking: the peer may not be reading.
        if let Ok(frame) = channel.seal.frame(&Message::Reject {
            reason: reason.clone(),
        }) {
            let _ = (&*stream).write(&frame);
        }
        refused(&peer, &reason);
        return;
    }
    if let Err(e) = join(stream, hello, channel, admission) {
        refused(&peer, &format!("cannot take it in: {e}"));
    }
}

/// Hands an admitted worker to its link: the sender (and its heartbeats), the reader.
fn join(
    stream: &TcpStream,
    hello: Hello,
    channel: Channel,
    admission: &Admission,
) -> std::io::Result<()> {
    let stream = stream.try_clone()?;
    stream.set_nonblocking(false)?;
    let sender = Sender::new(&stream, channel.seal)?;
    let id = admission.next_id.fetch_add(1, Ordering::SeqCst);
    sender.send(&Message::Welcome { worker_id: id });
    let events = admission.events.clone();
    let reader_events = events.clone();
    let writer = sender.clone();
    if let Err(e) = link::spawn_reader(stream, channel.open, move |incoming| match incoming {
        Incoming::Message(message) => reader_events.send(Event::Message { id, message }).is_ok(),
        Incoming::Closed(reason) => {
            // A writer that gave up knows better why the link ended.
            let reason = writer.failure().unwrap_or(reason);
            reader_events.send(Event::Lost { id, reason }).is_ok()
        }
    }) {
        sender.abort("no thread for its reader");
        return Err(e);
    }
    let _ = events.send(Event::Joined { id, hello, sender });
    Ok(())
}

fn refused(peer: &SocketAddr, reason: &str) {
    eprintln!("coordinator: refused connection from {peer}: {reason}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accept failures pause 50 ms, then twice as long each time up to 1 s;
    /// a success starts over.
    #[test]
    fn accept_failures_back_off() {
        let mut backoff = Backoff::default();
        let t = Instant::now();
        let pauses: Vec<u128> = (0..7).map(|_| backoff.failed(t).as_millis()).collect();
        assert_eq!(pauses, [50, 100, 200, 400, 800, 1000, 1000]);
        assert!(!backoff.ready(t) && backoff.ready(t + Duration::from_secs(1)));
        backoff.succeeded();
        assert!(backoff.ready(t));
        assert_eq!(backoff.failed(t).as_millis(), 50);
    }
}
