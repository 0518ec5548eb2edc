use std::net::{TcpListener, TcpStream};

use super::*;

/// A stream that keeps a copy of every byte written through it.
struct Recording<S> {
    inner: S,
    written: Vec<u8>,
}

impl<S: Read> Read for Recording<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<S: Write> Write for Recording<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

fn hello() -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        cores: 3,
        hostname: "w".into(),
    }
}

/// A session's outcomes: the worker's, the coordinator's (its hello, its
/// channel and its socket), and the bytes the worker wrote.
type Session = (
    Result<(), ChannelError>,
    Result<(Hello, Channel, TcpStream), String>,
    Vec<u8>,
);

/// Runs a worker's side (`initiate`, then the hello) against a
/// coordinator's (`respond`).
fn session(worker_token: Option<&'static str>, coordinator_token: Option<&'static str>) -> Session {
    let (client, mut server) = pair();
    let worker = std::thread::spawn(move || {
        let mut stream = Recording {
            inner: client,
            written: Vec::new(),
        };
        let outcome = initiate(&mut stream, worker_token).map(|mut channel| {
            channel
                .seal
                .write(&mut stream, &Message::Hello(hello()))
                .unwrap();
        });
        (outcome, stream.written)
    });
    let coordinator = respond(&mut server, coordinator_token).map(|(h, c)| (h, c, server));
    // Refused: dropping the socket closes it, as the coordinator does.
    let coordinator = coordinator.map_err(|e| e.to_string());
    let (worker, written) = worker.join().unwrap();
    (worker, coordinator, written)
}

/// With the same token both sides agree, messages go both ways (one over
/// 64 KiB, so split over several transport messages), and neither the
/// token nor the messages' text is on the wire.
#[test]
fn same_token_talks_sealed_and_the_token_never_travels() {
    let big = "row,".repeat(40_000);
    let (client, mut server) = pair();
    let sent = big.clone();
    let worker = std::thread::spawn(move || {
        let mut stream = Recording {
            inner: client,
            written: Vec::new(),
        };
        let mut channel = initiate(&mut stream, Some("tok-en-7")).unwrap();
        let hello = Message::Hello(hello());
        channel.seal.write(&mut stream, &hello).unwrap();
        let custom = Message::Custom {
            kind: sent,
            data: b"secret-payload".to_vec(),
        };
        channel.seal.write(&mut stream, &custom).unwrap();
        let answer = channel.open.read(&mut stream.inner).unwrap();
        assert_eq!(answer, Message::Welcome { worker_id: 9 });
        stream.written
    });
    let (h, mut channel) = respond(&mut server, Some("tok-en-7")).unwrap();
    assert_eq!(h, hello());
    match channel.open.read(&mut server).unwrap() {
        Message::Custom { kind, data } => {
            assert_eq!((kind, data), (big, b"secret-payload".to_vec()))
        }
        other => panic!("{other:?}"),
    }
    let welcome = Message::Welcome { worker_id: 9 };
    channel.seal.write(&mut server, &welcome).unwrap();
    let written = worker.join().unwrap();
    let contains = |needle: &[u8]| written.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(b"tok-en-7") && !contains(b"secret-payload") && !contains(b"row,row"));
}

/// A wrong token is refused by the coordinator, which says so, and the
/// worker learns the coordinator closed on it.
#[test]
fn a_wrong_token_is_refused_on_both_sides() {
    let (worker, coordinator, _) = session(Some("a"), Some("b"));
    let refused = coordinator.err().unwrap();
    assert!(refused.contains("wrong token"), "{refused}");
    let worker = worker.err().unwrap().to_string();
    assert!(worker.contains("closed the connection"), "{worker}");
}

/// A worker without a token and a coordinator with one (or the other way
/// round) each say what is missing.
#[test]
fn a_token_on_one_side_only_is_named() {
    for (w, c) in [(None, Some("t")), (Some("t"), None)] {
        let (worker, coordinator, _) = session(w, c);
        let worker = worker.err().unwrap().to_string();
        let coordinator = coordinator.err().unwrap();
        assert!(worker.contains("token"), "{worker}");
        assert!(coordinator.contains("token"), "{coordinator}");
    }
}

/// A recorded session replayed to a coordinator is refused at its first
/// sealed message: the new handshake's keys differ.
#[test]
fn a_replayed_session_is_refused() {
    let (worker, coordinator, written) = session(Some("t"), Some("t"));
    worker.unwrap();
    coordinator.unwrap();
    let mut responder = Responder::new(Some(psk_of("t")));
    let mut at = 0;
    let outcome = loop {
        let n = responder.wants();
        assert!(at + n <= written.len(), "the recording ran out");
        let progress = responder.feed(&written[at..at + n]);
        at += n;
        match progress {
            Progress::Partial | Progress::Reply(_) => {}
            other => break other,
        }
    };
    match outcome {
        Progress::Refused { reason, .. } => assert!(reason.contains("replayed"), "{reason}"),
        _ => panic!("the replay was not refused"),
    }
}

/// Without tokens the channel is plain and the hello arrives.
#[test]
fn without_tokens_frames_go_plain() {
    let (worker, coordinator, written) = session(None, None);
    worker.unwrap();
    assert_eq!(coordinator.unwrap().0, hello());
    assert!(written.windows(1).any(|w| w == b"w"));
}

/// Foreign openings and oversized first units are refused on their first
/// bytes, before any buffer grows past them.
#[test]
fn strangers_are_refused_early() {
    let cases: [(&[u8], &str); 4] = [
        (&[0x16, 0x03, 0x01, 0x02, 0, 1, 0xfc, 3], "TLS"),
        (b"GET / HTTP/1.1\r\n", "HTTP"),
        (&(64u32 << 20).to_le_bytes(), "not a stampede peer"),
        (&[], ""),
    ];
    for (opening, says) in cases.iter().take(3) {
        let mut responder = Responder::new(Some(psk_of("t")));
        let n = responder.wants().min(opening.len());
        let progress = if n < PREAMBLE_BYTES {
            let mut padded = opening.to_vec();
            padded.resize(PREAMBLE_BYTES, 0);
            responder.feed(&padded)
        } else {
            responder.feed(&opening[..n])
        };
        match progress {
            Progress::Refused { reason, .. } => assert!(reason.contains(says), "{reason}"),
            _ => panic!("{opening:?} was not refused"),
        }
    }
    let mut responder = Responder::new(Some(psk_of("t")));
    assert!(matches!(
        responder.feed(&Preamble::ours(true).encode()),
        Progress::Reply(_)
    ));
    assert!(matches!(
        responder.feed(&[0xff, 0xff]),
        Progress::Refused { .. }
    ));
    let mut plain = Responder::new(None);
    let _ = plain.feed(&Preamble::ours(false).encode());
    assert!(matches!(
        plain.feed(&(64u32 << 20).to_le_bytes()),
        Progress::Refused { .. }
    ));
}
