//! `TlsStream` against an in-process rustls server on a plain thread, which
//! decides how the response is cut into records and TCP segments.

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rustls::pki_types::PrivateKeyDer;
use rustls::version::{TLS12, TLS13};
use rustls::{HandshakeKind, ProtocolVersion, ServerConfig, ServerConnection};

use super::*;

/// A server configuration for `localhost` and a client configuration that
/// trusts it, both limited to `versions`.
fn configs(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let (server, client) = configs_for(
        vec!["localhost".into()],
        versions,
        rustls::crypto::ring::default_provider(),
    );
    (Arc::new(server), client)
}

/// A server configuration with a certificate naming `names`, and a client
/// configuration that trusts it, both limited to `versions` and `provider`'s
/// suites; the server's is left open to changes.
fn configs_for(
    names: Vec<String>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    provider: rustls::crypto::CryptoProvider,
) -> (ServerConfig, Arc<ClientConfig>) {
    let made = rcgen::generate_simple_self_signed(names).unwrap();
    let cert = made.cert.der().clone();
    let key = PrivateKeyDer::try_from(made.key_pair.serialize_der()).unwrap();
    let provider = Arc::new(provider);
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // As `tls::client_config`: TLS 1.3 records are then `tls_record`'s.
    client.enable_secret_extraction = true;
    (server, Arc::new(client))
}

/// Runs `serve` on a thread with a listener on 127.0.0.1; returns its address.
fn spawn_server<R: Send + 'static>(
    serve: impl FnOnce(TcpListener) -> R + Send + 'static,
) -> (SocketAddr, JoinHandle<R>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, thread::spawn(move || serve(listener)))
}

/// The server's side of one connection.
struct Peer {
    /// The session.
    tls: ServerConnection,
    /// The socket.
    tcp: std::net::TcpStream,
}

impl Peer {
    /// Accepts one connection and completes the handshake.
    fn accept(listener: &TcpListener, config: &Arc<ServerConfig>) -> Peer {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_nodelay(true).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut tls = ServerConnection::new(config.clone()).unwrap();
        // `seal` encrypts whole bodies before sending them.
        tls.set_buffer_limit(None);
        while tls.is_handshaking() {
            tls.complete_io(&mut tcp).unwrap();
        }
        Peer { tls, tcp }
    }

    /// Reads until `len` plaintext bytes arrived; returns them.
    fn read_request(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        let mut got = 0;
        while got < len {
            match self.tls.reader().read(&mut out[got..]) {
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(
                        self.tls.read_tls(&mut self.tcp).unwrap() > 0,
                        "client closed"
                    );
                    self.tls.process_new_packets().unwrap();
                }
                Err(e) => panic!("server read: {e}"),
            }
        }
        out
    }

    /// Encrypts each of `records` (at most 16 KiB each: one record; more:
    /// several) and returns the ciphertext, pending tickets first, unsent.
    fn seal(&mut self, records: &[&[u8]]) -> Vec<u8> {
        for record in records {
            self.tls.writer().write_all(record).unwrap();
        }
        let mut wire = Vec::new();
        while self.tls.wants_write() {
            self.tls.write_tls(&mut wire).unwrap();
        }
        wire
    }

    /// Sends `wire` in pieces of `piece` bytes with pauses between, so the
    /// client reads records in parts.
    fn send_in_pieces(&mut self, wire: &[u8], piece: usize) {
        for part in wire.chunks(piece) {
            self.tcp.write_all(part).unwrap();
            thread::sleep(Duration::from_micros(300));
        }
    }

    /// Waits until the client closes the connection.
    fn wait_for_close(mut self) {
        let mut byte = [0; 64];
        while matches!(self.tcp.read(&mut byte), Ok(n) if n > 0) {}
    }
}

/// Runs a client future on a monoio runtime, failing after 20 s.
fn run<F: Future>(future: F) -> F::Output {
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    rt.block_on(async {
        monoio::time::timeout(Duration::from_secs(20), future)
            .await
            .expect("test timed out")
    })
}

/// Connects and runs the handshake for `localhost`.
async fn dial(addr: SocketAddr, config: &Arc<ClientConfig>) -> Result<TlsStream, Failure> {
    dial_name(addr, config, "localhost").await
}

/// Connects and runs the handshake for `name`.
async fn dial_name(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    name: &str,
) -> Result<TlsStream, Failure> {
    let tcp = TcpStream::connect_addr(addr).await.unwrap();
    let name = ServerName::try_from(name.to_string()).unwrap();
    TlsStream::connect(tcp, config.clone(), name).await
}

/// Writes `request` whole.
async fn send(stream: &mut TlsStream, request: &'static [u8]) {
    let (result, _) = stream.write_all(request).await;
    assert_eq!(result.unwrap(), request.len());
}

/// Reads until `len` bytes arrived or the stream ends, with `room` bytes of
/// room per read.
async fn read_len(stream: &mut TlsStream, len: usize, room: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < len {
        let (result, buf) = stream.read(Vec::with_capacity(room)).await;
        if result.unwrap() == 0 {
            break;
        }
        assert!(buf.len() <= room);
        out.extend_from_slice(&buf);
    }
    out
}

/// Records cut into 7-byte TCP segments, read 5 bytes at a time, arrive
/// whole and in order, and leave no buffer lent once read.
#[test]
fn records_split_across_reads() {
    let (server, client) = configs(&[&TLS13]);
    let records: Vec<Vec<u8>> = (0..10)
        .map(|i| format!("record {i} of ten;").into())
        .collect();
    let expected = records.concat();
    let (addr, done) = spawn_server(move |listener| {
        let mut peer = Peer::accept(&listener, &server);
        assert_eq!(peer.read_request(4), b"GET\n");
        let slices: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let wire = peer.seal(&slices);
        peer.send_in_pieces(&wire, 7);
        peer.wait_for_close();
    });
    run(async {
        let mut stream = dial(addr, &client).await.unwrap();
        assert!(!stream.holds_buffers());
        send(&mut stream, b"GET\n").await;
        assert_eq!(read_len(&mut stream, expected.len(), 5).await, expected);
        assert!(!stream.holds_buffers());
    });
    done.join().unwrap();
}

/// Several responses in one record, and several records in one segment,
/// read through a small buffer: the leftover plaintext waits for the next read.
#[test]
fn several_responses_in_one_record() {
    let (server, client) = configs(&[&TLS13]);
    let (addr, done) = spawn_server(move |listener| {
        let mut peer = Peer::accept(&listener, &server);
        peer.read_request(4);
        let wire = peer.seal(&[b"HTTP-A|HTTP-B|HTTP-C|", b"second|", b"third|"]);
        peer.tcp.write_all(&wire).unwrap();
        peer.wait_for_close();
    });
    run(async {
        let mut stream = dial(addr, &client).await.unwrap();
        send(&mut stream, b"GET\n").await;
        let expected = b"HTTP-A|HTTP-B|HTTP-C|second|third|";
        assert_eq!(read_len(&mut stream, expected.len(), 6).await, expected);
        assert!(!stream.holds_buffers());
    });
    done.join().unwrap();
}

/// A 300 kB body spans many full-size records and reads; every byte arrives
/// in order.
#[test]
fn large_body_spans_many_records() {
    let (server, client) = configs(&[&TLS13]);
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let expected = body.clone();
    let (addr, done) = spawn_server(move |listener| {
        let mut peer = Peer::accept(&listener, &server);
        peer.read_request(4);
        let wire = peer.seal(&[&body]);
        peer.tcp.write_all(&wire).unwrap();
        peer.wait_for_close();
    });
    run(async {
        let mut stream = dial(addr, &client).await.unwrap();
        send(&mut stream, b"GET\n").await;
        let got = read_len(&mut stream, expected.len(), 64 * 1024).await;
        assert!(got == expected, "the body differs");
        assert!(!stream.holds_buffers());
    });
    done.join().unwrap();
}

/// Records that arrived but were not read when the next request is written
/// are kept, in order, for the next read.
#[test]
fn records_pending_when_writing_are_kept() {
    let (server, client) = configs(&[&TLS13]);
    let (addr, done) = spawn_server(move |listener| {
        let mut peer = Peer::accept(&listener, &server);
        peer.read_request(4);
        let wire = peer.seal(&[b"first", b"second", b"third"]);
        peer.tcp.write_all(&wire).unwrap();
        assert_eq!(peer.read_request(5), b"NEXT\n");
        let wire = peer.seal(&[b"fourth"]);
        peer.tcp.write_all(&wire).unwrap();
        peer.wait_for_close();
    });
    run(async {
        let mut stream = dial(addr, &client).await.unwrap();
        send(&mut stream, b"GET\n").await;
        monoio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(read_len(&mut stream, 5, 5).await, b"first");
        send(&mut stream, b"NEXT\n").await;
        assert_eq!(read_len(&mut stream, 17, 64).await, b"secondthirdfourth");
        assert!(!stream.holds_buffers());
    });
    done.join().unwrap();
}

/// A peer that closes the socket without close_notify reads as the end,
/// and as a cut (`peer_closed` stays false).
#[test]
fn close_without_close_notify_reads_as_end() {
    let (server, client) = configs(&[&TLS13]);
    let (addr, done) = spawn_server(move |listener| {
        let mut peer = Peer::accept(&listener, &server);
        peer.read_request(4);
        let wire = peer.seal(&[b"bye"]);
        peer.tcp.write_all(&wire).unwrap();
        peer.tcp.shutdown(Shutdown::Both).unwrap();
    });
    run(async {
        let mut stream = dial(addr, &client).await.unwrap();
        send(&mut stream, b"GET\n").await;
        assert_eq!(read_len(&mut stream, 100, 64).await, b"bye");
        let (result, _) = stream.read(Vec::with_capacity(64)).await;
        assert_eq!(result, Ok(0));
        assert!(!stream.peer_closed(), "a cut, not a close");
    });
    done.join().unwrap();
}

/// close_notify reads as the end while the socket is still open, and
/// every later read too.
#[test]
fn close_notify_reads_as_end() {
    let (server, client) = configs(&[&TLS13]);
    let (addr, done) = spawn_server(move |listener| {
        let mut peer = Peer::accept(&listener, &server);
        peer.read_request(4);
        peer.tls.writer().write_all(b"done").unwrap();
        peer.tls.send_close_notify();
        let wire = peer.seal(&[]);
        peer.tcp.write_all(&wire).unwrap();
        peer.wait_for_close();
    });
    run(async {
        let mut stream = dial(addr, &client).await.unwrap();
        send(&mut stream, b"GET\n").await;
        assert_eq!(read_len(&mut stream, 100, 64).await, b"done");
        for _ in 0..2 {
            let (result, _) = stream.read(Vec::with_capacity(64)).await;
            assert_eq!(result, Ok(0));
            assert!(stream.peer_closed());
        }
    });
    done.join().unwrap();
}

/// A server that answers the ClientHello with plain HTTP, or closes at
/// once, fails the handshake as a counted TLS failure.
#[test]
fn garbage_instead_of_tls_is_a_handshake_failure() {
    let (_, client) = configs(&[&TLS13, &TLS12]);
    let (addr, done) = spawn_server(|listener| {
        for answer in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"[..],
            b"",
        ] {
            let (mut tcp, _) = listener.accept().unwrap();
            let mut hello = [0; 512];
            let _ = tcp.read(&mut hello).unwrap();
            tcp.write_all(answer).unwrap();
            tcp.shutdown(Shutdown::Write).unwrap();
            let _ = tcp.read(&mut hello);
        }
    });
    run(async {
        for _ in 0..2 {
            assert_eq!(dial(addr, &client).await.err(), Some(Failure::TlsHandshake));
        }
    });
    done.join().unwrap();
}

/// Bytes that are not valid records after the handshake fail the read
/// as a TLS failure, not a panic.
#[test]
fn garbage_after_handshake_fails_the_read() {
    let (server, client) = configs(&[&TLS13]);
    let (addr, done) = spawn_server(move |listener| {
        let mut peer = Peer::accept(&listener, &server);
        peer.read_request(4);
        let mut wire = peer.seal(&[]);
        // An application-data record whose 16 bytes fail authentication.
        wire.extend_from_slice(&[0x17, 0x03, 0x03, 0x00, 0x10]);
        wire.extend_from_slice(&[0xab; 16]);
        peer.tcp.write_all(&wire).unwrap();
        peer.wait_for_close();
    });
    run(async {
        let mut stream = dial(addr, &client).await.unwrap();
        send(&mut stream, b"GET\n").await;
        let (result, _) = stream.read(Vec::with_capacity(64)).await;
        assert_eq!(result, Err(Failure::TlsHandshake));
    });
    done.join().unwrap();
}

/// An untrusted certificate and a wrong name map to their TLS failures.
#[test]
fn certificate_failures_are_named() {
    let (server, client) = configs(&[&TLS13]);
    // Trusts another self-signed certificate, not the server's.
    let (_, stranger) = configs(&[&TLS13]);
    let (addr, done) = spawn_server(move |listener| {
        for _ in 0..2 {
            let (mut tcp, _) = listener.accept().unwrap();
            let mut tls = ServerConnection::new(server.clone()).unwrap();
            while tls.is_handshaking() && tls.complete_io(&mut tcp).is_ok() {}
        }
    });
    run(async {
        let untrusted = dial(addr, &stranger).await.err();
        assert_eq!(untrusted, Some(Failure::TlsUntrusted));
        let mismatch = dial_name(addr, &client, "example.com").await.err();
        assert_eq!(mismatch, Some(Failure::TlsNameMismatch));
    });
    done.join().unwrap();
}

/// With TLS 1.3 and with 1.2, an exchange works and the second connection
/// resumes the first's session: TLS 1.3 tickets arrive with the first
/// response and must be processed on the read path to be stored.
#[test]
fn exchanges_and_resumes_on_tls13_and_tls12() {
    for (version, wire_version) in [
        (&TLS13, ProtocolVersion::TLSv1_3),
        (&TLS12, ProtocolVersion::TLSv1_2),
    ] {
        let (server, client) = configs(&[version]);
        let (addr, done) = spawn_server(move |listener| {
            let mut kinds = Vec::new();
            for _ in 0..2 {
                let mut peer = Peer::accept(&listener, &server);
                kinds.push(peer.tls.handshake_kind());
                assert_eq!(peer.read_request(4), b"GET\n");
                let wire = peer.seal(&[b"HTTP/1.1 200 OK\r\n\r\n"]);
                peer.tcp.write_all(&wire).unwrap();
                peer.wait_for_close();
            }
            kinds
        });
        run(async {
            for _ in 0..2 {
                let mut stream = dial(addr, &client).await.unwrap();
                let own_records = wire_version == ProtocolVersion::TLSv1_3;
                assert_eq!(stream.protocol(), (Some(wire_version), own_records));
                send(&mut stream, b"GET\n").await;
                assert_eq!(
                    read_len(&mut stream, 19, 1024).await,
                    b"HTTP/1.1 200 OK\r\n\r\n"
                );
                assert!(!stream.holds_buffers());
            }
        });
        let kinds = done.join().unwrap();
        assert_eq!(
            kinds,
            [Some(HandshakeKind::Full), Some(HandshakeKind::Resumed)],
            "{wire_version:?}"
        );
    }
}

/// A real record with one ciphertext byte flipped, after the handshake,
/// fails the read as a TLS failure, not a panic, on our own record layer.
#[test]
fn tampered_record_fails_the_read() {
    let (server, client) = configs(&[&TLS13]);
    let (addr, done) = spawn_server(move |listener| {
        let mut peer = Peer::accept(&listener, &server);
        peer.read_request(4);
        let mut wire = peer.seal(&[b"HTTP/1.1 200 OK\r\n\r\n"]);
        // The last byte is in the tag of the response's record.
        *wire.last_mut().unwrap() ^= 0x01;
        peer.tcp.write_all(&wire).unwrap();
        peer.wait_for_close();
    });
    run(async {
        let mut stream = dial(addr, &client).await.unwrap();
        assert_eq!(stream.protocol(), (Some(ProtocolVersion::TLSv1_3), true));
        send(&mut stream, b"GET\n").await;
        let (result, _) = stream.read(Vec::with_capacity(64)).await;
        assert_eq!(result, Err(Failure::TlsHandshake));
    });
    done.join().unwrap();
}

/// Four session tickets in a row after the hand-over all go to rustls's
/// cache: the next three connections each resume.
#[test]
fn several_tickets_feed_resumption() {
    let (server, client) = configs(&[&TLS13]);
    let mut server = Arc::unwrap_or_clone(server);
    server.send_tls13_tickets = 4;
    let server = Arc::new(server);
    let (addr, done) = spawn_server(move |listener| {
        let mut kinds = Vec::new();
        for _ in 0..4 {
            let mut peer = Peer::accept(&listener, &server);
            kinds.push(peer.tls.handshake_kind());
            peer.read_request(4);
            let wire = peer.seal(&[b"ok"]);
            peer.tcp.write_all(&wire).unwrap();
            peer.wait_for_close();
        }
        kinds
    });
    run(async {
        for _ in 0..4 {
            let mut stream = dial(addr, &client).await.unwrap();
            assert_eq!(stream.protocol(), (Some(ProtocolVersion::TLSv1_3), true));
            send(&mut stream, b"GET\n").await;
            assert_eq!(read_len(&mut stream, 2, 64).await, b"ok");
        }
    });
    let kinds = done.join().unwrap();
    assert_eq!(kinds[0], Some(HandshakeKind::Full));
    assert!(kinds[1..]
        .iter()
        .all(|k| *k == Some(HandshakeKind::Resumed)));
}

/// A 100 kB write is cut into full-size records the rustls server opens
/// intact, and the exchange goes on after it.
#[test]
fn large_write_spans_several_records() {
    let (server, client) = configs(&[&TLS13]);
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let expected = body.clone();
    let (addr, done) = spawn_server(move |listener| {
        let mut peer = Peer::accept(&listener, &server);
        let got = peer.read_request(expected.len());
        assert!(got == expected, "the request body differs");
        let wire = peer.seal(&[b"done"]);
        peer.tcp.write_all(&wire).unwrap();
        peer.wait_for_close();
    });
    run(async {
        let mut stream = dial(addr, &client).await.unwrap();
        let (result, _) = stream.write_all(body).await;
        assert_eq!(result, Ok(100_000));
        assert_eq!(read_len(&mut stream, 4, 64).await, b"done");
        assert!(!stream.holds_buffers());
    });
    done.join().unwrap();
}

/// A server's KeyUpdate that requests ours renews both directions: the
/// data after it opens, and our next request (after our KeyUpdate) opens
/// at the server.
#[test]
fn key_update_renews_both_directions() {
    let (server, client) = configs(&[&TLS13]);
    let (addr, done) = spawn_server(move |listener| {
        let mut peer = Peer::accept(&listener, &server);
        peer.read_request(4);
        peer.tls.refresh_traffic_keys().unwrap();
        let wire = peer.seal(&[b"after update"]);
        peer.tcp.write_all(&wire).unwrap();
        assert_eq!(peer.read_request(5), b"NEXT\n");
        let wire = peer.seal(&[b"second"]);
        peer.tcp.write_all(&wire).unwrap();
        peer.wait_for_close();
    });
    run(async {
        let mut stream = dial(addr, &client).await.unwrap();
        send(&mut stream, b"GET\n").await;
        assert_eq!(read_len(&mut stream, 12, 64).await, b"after update");
        send(&mut stream, b"NEXT\n").await;
        assert_eq!(read_len(&mut stream, 6, 64).await, b"second");
        assert!(!stream.holds_buffers());
    });
    done.join().unwrap();
}

/// A certificate (chain) larger than one record buffer (~18 KiB) still
/// completes the handshake, on TLS 1.3 and 1.2: rustls's unbuffered API
/// joins the whole handshake message in *incoming*, which grows for it.
#[test]
fn large_certificate_handshake_completes() {
    for version in [&TLS13, &TLS12] {
        let mut names = vec!["localhost".to_string()];
        names.extend((0..1000).map(|i| format!("host-{i:05}.example.test")));
        let (server, client) =
            configs_for(names, &[version], rustls::crypto::ring::default_provider());
        let server = Arc::new(server);
        let (addr, done) = spawn_server(move |listener| {
            let mut peer = Peer::accept(&listener, &server);
            peer.read_request(4);
            let wire = peer.seal(&[b"ok"]);
            peer.tcp.write_all(&wire).unwrap();
            peer.wait_for_close();
        });
        run(async {
            let mut stream = dial(addr, &client)
                .await
                .expect("handshake with a large certificate");
            send(&mut stream, b"GET\n").await;
            assert_eq!(read_len(&mut stream, 2, 64).await, b"ok");
        });
        done.join().unwrap();
    }
}

/// 0.5-RTT data sent with the server's first flight survives the hand-over
/// to our record layer.
#[test]
fn half_rtt_data_survives_take_over() {
    let (server, client) = configs_for(
        vec!["localhost".into()],
        &[&TLS13],
        rustls::crypto::ring::default_provider(),
    );
    let mut server = server;
    server.send_half_rtt_data = true;
    let server = Arc::new(server);
    let (addr, done) = spawn_server(move |listener| {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_nodelay(true).unwrap();
        let mut tls = ServerConnection::new(server.clone()).unwrap();
        tls.writer().write_all(b"early-").unwrap();
        while tls.is_handshaking() {
            tls.complete_io(&mut tcp).unwrap();
        }
        let mut peer = Peer { tls, tcp };
        peer.read_request(4);
        let wire = peer.seal(&[b"late"]);
        peer.tcp.write_all(&wire).unwrap();
        peer.wait_for_close();
    });
    run(async {
        let mut stream = dial(addr, &client).await.unwrap();
        assert_eq!(stream.protocol(), (Some(ProtocolVersion::TLSv1_3), true));
        send(&mut stream, b"GET\n").await;
        assert_eq!(read_len(&mut stream, 10, 3).await, b"early-late");
    });
    done.join().unwrap();
}

/// Captures the server's first application traffic secret.
#[derive(Debug, Default)]
struct ServerSecret(std::sync::Mutex<Option<Vec<u8>>>);

impl rustls::KeyLog for ServerSecret {
    fn log(&self, label: &str, _: &[u8], secret: &[u8]) {
        if label == "SERVER_TRAFFIC_SECRET_0" {
            *self.0.lock().unwrap() = Some(secret.to_vec());
        }
    }
    fn will_log(&self, _: &str) -> bool {
        true
    }
}

/// HKDF-Expand-Label with SHA-256 and an empty context.
fn expand_label(secret: &[u8], label: &[u8], len: usize) -> Vec<u8> {
    struct Len(usize);
    impl ring::hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let prk = ring::hkdf::Prk::new_less_safe(ring::hkdf::HKDF_SHA256, secret);
    let full = [b"tls13 ".as_slice(), label].concat();
    let info = [
        &(len as u16).to_be_bytes()[..],
        &[full.len() as u8],
        &full,
        &[0u8],
    ]
    .concat();
    let infos = [info.as_slice()];
    let okm = prk.expand(&infos, Len(len)).unwrap();
    let mut out = vec![0; len];
    okm.fill(&mut out).unwrap();
    out
}

/// A KeyUpdate(update_requested) in the server's first flight, right after
/// its Finished, is answered by our record layer, not by rustls: rustls
/// would switch our sending key and queue its answer where
/// `dangerous_into_kernel_connection` drops it, and the server could not
/// read our requests. The server here reads the request.
#[test]
fn key_update_in_first_flight_is_answered() {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256];
    // Both ends on AES-128-GCM: the test seals the server's KeyUpdate itself.
    let (mut server, client) = configs_for(vec!["localhost".into()], &[&TLS13], provider);
    let log = Arc::new(ServerSecret::default());
    server.key_log = log.clone();
    server.send_tls13_tickets = 0;
    let server = Arc::new(server);
    let (addr, done) = spawn_server(move |listener| -> Result<Vec<u8>, String> {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut tls = ServerConnection::new(server).unwrap();
        while !tls.wants_write() {
            tls.read_tls(&mut tcp).unwrap();
            tls.process_new_packets().unwrap();
        }
        let mut flight = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut flight).unwrap();
        }
        // KeyUpdate(update_requested), sealed under the server's first
        // application key, sequence 0, in the same segment as the flight.
        let secret = log.0.lock().unwrap().clone().unwrap();
        let k = expand_label(&secret, b"key", 16);
        let iv: [u8; 12] = expand_label(&secret, b"iv", 12).try_into().unwrap();
        let key = ring::aead::LessSafeKey::new(
            ring::aead::UnboundKey::new(&ring::aead::AES_128_GCM, &k).unwrap(),
        );
        let header = [23u8, 3, 3, 0, 6 + 16];
        let mut body = vec![24u8, 0, 0, 1, 1, 22];
        key.seal_in_place_append_tag(
            ring::aead::Nonce::assume_unique_for_key(iv),
            ring::aead::Aad::from(header),
            &mut body,
        )
        .unwrap();
        flight.extend_from_slice(&header);
        flight.extend_from_slice(&body);
        tcp.write_all(&flight).unwrap();
        while tls.is_handshaking() {
            tls.complete_io(&mut tcp).map_err(|e| e.to_string())?;
        }
        let mut out = vec![0; 4];
        let mut got = 0;
        while got < 4 {
            match tls.reader().read(&mut out[got..]) {
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if tls.read_tls(&mut tcp).map_err(|e| e.to_string())? == 0 {
                        return Err("client closed".into());
                    }
                    tls.process_new_packets().map_err(|e| e.to_string())?;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(out)
    });
    run(async {
        let mut stream = dial(addr, &client).await.unwrap();
        send(&mut stream, b"GET\n").await;
        monoio::time::sleep(Duration::from_millis(200)).await;
    });
    assert_eq!(done.join().unwrap(), Ok(b"GET\n".to_vec()));
}
