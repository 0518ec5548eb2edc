//! Differential fuzz tests of the TLS 1.3 record layer (`tls_record`)
//! against rustls, in memory: a rustls server and our client finish a
//! handshake (rustls's unbuffered client, as `tls_stream` drives it), then
//! the client's record protection moves to a [`RecordLayer`] and a random
//! sequence of operations runs: the server sends data (rustls seals, we
//! open, in reads cut anywhere), we send data (we seal, rustls opens), either
//! side updates its keys, the server sends close_notify. Every byte must
//! arrive unchanged, on each of the three TLS 1.3 suites. A record tampered
//! with in either direction must fail cleanly: an error, or a record still
//! incomplete, never other plaintext.
//!
//! Budgets and the long-run command: `crate::fuzz` and docs/testing.md.

use std::io::{ErrorKind, Read, Write};
use std::sync::{Arc, LazyLock};

use proptest::prelude::*;
use rustls::client::UnbufferedClientConnection;
use rustls::crypto::{ring as provider, CryptoProvider};
use rustls::pki_types::{PrivateKeyDer, ServerName};
use rustls::unbuffered::{ConnectionState, UnbufferedStatus};
use rustls::version::TLS13;
use rustls::{ClientConfig, ProtocolVersion, ServerConfig, ServerConnection};

use super::failure::Failure;
use super::tls_record::{
    Opened, RecordLayer, FRAGMENT_BYTES_MAX, HEADER_BYTES, KEY_UPDATE_BYTES, SEAL_OVERHEAD_BYTES,
};
use crate::fuzz::config;

/// A server and a client configuration for one TLS 1.3 suite, sharing a
/// self-signed certificate for `localhost`.
struct Configs {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

/// The configurations of each TLS 1.3 suite ring offers, made once.
static SUITES: LazyLock<Vec<Configs>> = LazyLock::new(|| {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = made.cert.der().clone();
    let key = PrivateKeyDer::try_from(made.key_pair.serialize_der()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    [
        provider::cipher_suite::TLS13_AES_128_GCM_SHA256,
        provider::cipher_suite::TLS13_AES_256_GCM_SHA384,
        provider::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ]
    .into_iter()
    .map(|suite| {
        let provider = Arc::new(CryptoProvider {
            cipher_suites: vec![suite],
            ..provider::default_provider()
        });
        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key.clone_key())
            .unwrap();
        server.send_tls13_tickets = 2;
        let mut client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&TLS13])
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        client.enable_secret_extraction = true;
        Configs {
            server: Arc::new(server),
            client: Arc::new(client),
        }
    })
    .collect()
});

/// Everything the server has to send.
fn drain_server(server: &mut ServerConnection) -> Vec<u8> {
    let mut wire = Vec::new();
    while server.wants_write() {
        server.write_tls(&mut wire).unwrap();
    }
    wire
}

/// Gives `wire` to the server, has it process every complete record, and
/// returns the plaintext they held (read as it comes: rustls holds at most
/// 16 KiB unread).
fn feed_server(server: &mut ServerConnection, mut wire: &[u8]) -> Result<Vec<u8>, rustls::Error> {
    let mut plain = Vec::new();
    while !wire.is_empty() {
        server.read_tls(&mut wire).unwrap();
        server.process_new_packets()?;
        match server.reader().read_to_end(&mut plain) {
            Ok(_) => {}
            Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}"),
        }
    }
    Ok(plain)
}

/// One side of a session after the handshake: our record layer, and the
/// server's records it has not opened yet.
struct Client {
    records: RecordLayer,
    /// Ciphertext from the server not yet opened (at most a partial record
    /// after each `receive`).
    pending: Vec<u8>,
}

/// Runs a handshake in memory; returns the server and our client with its
/// record layer, holding whatever the server sent after it (its tickets).
fn connect(configs: &Configs) -> (ServerConnection, Client) {
    let mut server = ServerConnection::new(configs.server.clone()).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = UnbufferedClientConnection::new(configs.client.clone(), name).unwrap();
    let mut incoming = Vec::new();
    let mut outgoing = vec![0; 64 * 1024];
    let mut outgoing_len = 0;
    // A TLS 1.3 handshake takes a handful of steps; more is a bug here.
    for _ in 0..64 {
        // As `tls_stream`: once the handshake is done rustls reads no more
        // records; those after it are the record layer's.
        let done =
            client.protocol_version() == Some(ProtocolVersion::TLSv1_3) && !client.is_handshaking();
        let records: &mut [u8] = if done { &mut [] } else { &mut incoming };
        let UnbufferedStatus { discard, state } = client.process_tls_records(records);
        let mut from_server = Vec::new();
        match state.unwrap() {
            ConnectionState::EncodeTlsData(mut data) => {
                outgoing_len += data.encode(&mut outgoing[outgoing_len..]).unwrap();
            }
            ConnectionState::TransmitTlsData(data) => {
                data.done();
                feed_server(&mut server, &outgoing[..outgoing_len]).unwrap();
                outgoing_len = 0;
                from_server = drain_server(&mut server);
            }
            ConnectionState::BlockedHandshake => from_server = drain_server(&mut server),
            // Our Finished is sent: the session is the record layer's.
            ConnectionState::WriteTraffic(_) if done => {
                incoming.drain(..discard);
                let (secrets, kernel) = client.dangerous_into_kernel_connection().unwrap();
                let records = RecordLayer::new(secrets, kernel).unwrap();
                incoming.extend(drain_server(&mut server));
                let pending = incoming;
                return (server, Client { records, pending });
            }
            other => panic!("unexpected handshake state {other:?}"),
        }
        incoming.drain(..discard);
        incoming.extend(from_server);
    }
    panic!("the handshake did not finish");
}

/// What the client got from the records it opened.
#[derive(Debug, Default, PartialEq)]
struct Received {
    /// Application data, in order.
    data: Vec<u8>,
    /// Records the server must receive: key updates it asked for.
    replies: Vec<u8>,
    /// close_notify arrived.
    closed: bool,
}

impl Client {
    /// Adds `wire` to what is pending and opens every complete record.
    fn receive(&mut self, wire: &[u8], into: &mut Received) -> Result<(), Failure> {
        self.pending.extend_from_slice(wire);
        let mut at = 0;
        while let Some((len, plaintext_max)) = RecordLayer::peek(&self.pending[at..])? {
            let record = &mut self.pending[at..at + len];
            match self.records.open(record)? {
                Opened::Data(start, end) => {
                    assert!(start == HEADER_BYTES && end - start <= plaintext_max);
                    into.data.extend_from_slice(&record[start..end]);
                }
                Opened::Handled => {}
                Opened::KeyUpdateRequested => {
                    let mut reply = [0; KEY_UPDATE_BYTES];
                    let n = self.records.seal_key_update(&mut reply)?;
                    into.replies.extend_from_slice(&reply[..n]);
                }
                Opened::CloseNotify => into.closed = true,
            }
            at += len;
        }
        self.pending.drain(..at);
        Ok(())
    }

    /// Seals `data` as `tls_stream` does: one record per fragment.
    fn seal(&mut self, data: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        for fragment in data.chunks(FRAGMENT_BYTES_MAX) {
            let mut out = vec![0; fragment.len() + SEAL_OVERHEAD_BYTES];
            let n = self.records.seal_data(fragment, &mut out).unwrap();
            assert_eq!(n, out.len());
            wire.extend_from_slice(&out);
        }
        wire
    }
}

/// `len` bytes from a seeded generator: cheap to make, different per case.
fn bytes_of(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// One step of a session.
#[derive(Debug, Clone)]
enum Op {
    /// The server sends this many bytes (seeded); we read them in pieces.
    ServerSends(usize, u64),
    /// We send this many bytes (seeded).
    ClientSends(usize, u64),
    /// The server updates its keys and asks us to update ours.
    ServerKeyUpdate,
    /// We update our sending keys.
    ClientKeyUpdate,
}

fn op() -> impl Strategy<Value = Op> {
    let len = prop_oneof![
        3 => 0usize..300,
        1 => 16_000usize..40_000,
    ];
    prop_oneof![
        4 => (len.clone(), any::<u64>()).prop_map(|(n, s)| Op::ServerSends(n, s)),
        4 => (len, any::<u64>()).prop_map(|(n, s)| Op::ClientSends(n, s)),
        1 => Just(Op::ServerKeyUpdate),
        1 => Just(Op::ClientKeyUpdate),
    ]
}

/// Runs `ops` on an open session: every byte arrives unchanged both ways.
fn run_ops(
    server: &mut ServerConnection,
    client: &mut Client,
    ops: &[Op],
    pieces: &[usize],
) -> Result<(), TestCaseError> {
    let mut sizes = pieces.iter().copied().cycle();
    for op in ops {
        match *op {
            Op::ServerSends(len, seed) => {
                let data = bytes_of(len, seed);
                server.writer().write_all(&data).unwrap();
                let wire = drain_server(server);
                let mut received = Received::default();
                let mut at = 0;
                while at < wire.len() {
                    let end = (at + sizes.next().unwrap_or(1)).min(wire.len());
                    client.receive(&wire[at..end], &mut received).unwrap();
                    at = end;
                }
                prop_assert!(
                    received.data == data,
                    "{} bytes sent, {} received",
                    len,
                    received.data.len()
                );
                feed_server(server, &received.replies).unwrap();
            }
            Op::ClientSends(len, seed) => {
                let data = bytes_of(len, seed);
                let wire = client.seal(&data);
                let plain = feed_server(server, &wire).unwrap();
                prop_assert!(
                    plain == data,
                    "{} bytes sent, {} received",
                    len,
                    plain.len()
                );
            }
            Op::ServerKeyUpdate => server.refresh_traffic_keys().unwrap(),
            Op::ClientKeyUpdate => {
                let mut wire = [0; KEY_UPDATE_BYTES];
                let n = client.records.seal_key_update(&mut wire).unwrap();
                feed_server(server, &wire[..n]).unwrap();
            }
        }
    }
    Ok(())
}

/// How a record is damaged on its way.
#[derive(Debug, Clone)]
enum Tamper {
    /// One byte XORed with a non-zero mask (the header's included).
    Flip(usize, u8),
    /// The body replaced by random bytes of the same length.
    Replace(u64),
    /// The record cut short by this many bytes, then more bytes appended.
    Splice(usize, u64),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        4 => (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Tamper::Flip(at, mask)),
        1 => any::<u64>().prop_map(Tamper::Replace),
        1 => (1usize..32, any::<u64>()).prop_map(|(n, seed)| Tamper::Splice(n, seed)),
    ]
}

impl Tamper {
    fn apply(&self, record: &mut Vec<u8>) {
        match *self {
            Tamper::Flip(at, mask) => {
                let at = at % record.len();
                record[at] ^= mask;
            }
            Tamper::Replace(seed) => {
                let body = bytes_of(record.len() - HEADER_BYTES, seed);
                record[HEADER_BYTES..].copy_from_slice(&body);
            }
            Tamper::Splice(cut, seed) => {
                record.truncate(record.len() - cut.min(record.len() - HEADER_BYTES));
                record.extend(bytes_of(cut, seed));
            }
        }
    }
}

proptest! {
    #![proptest_config(config(500))]

    /// Data sealed by rustls opens with ours and the reverse, across key
    /// updates both ways and reads cut anywhere, on every TLS 1.3 suite;
    /// the server's close_notify is seen as such.
    #[test]
    fn fuzz_tls_records_match_rustls(
        suite in 0usize..3,
        ops in prop::collection::vec(op(), 1..8),
        pieces in prop::collection::vec(prop_oneof![1usize..8, 8usize..20_000], 1..6),
    ) {
        let (mut server, mut client) = connect(&SUITES[suite]);
        let mut received = Received::default();
        client.receive(&[], &mut received).unwrap();
        prop_assert_eq!(&received, &Received::default(), "tickets are handled, not data");
        run_ops(&mut server, &mut client, &ops, &pieces)?;
        server.send_close_notify();
        let mut received = Received::default();
        client.receive(&drain_server(&mut server), &mut received).unwrap();
        prop_assert!(received.closed && received.data.is_empty());
    }

    /// After some honest traffic, a record damaged on its way fails
    /// cleanly on either side: an error or a record still incomplete, never
    /// other plaintext (and never a panic). Ours refuses any header but
    /// 23 3 3; rustls ignores the legacy version bytes, as RFC 8446 allows.
    #[test]
    fn fuzz_tls_tampered_records_fail(
        suite in 0usize..3,
        ops in prop::collection::vec(op(), 0..3),
        to_client in any::<bool>(),
        len in 1usize..200,
        tamper in tamper(),
    ) {
        let (mut server, mut client) = connect(&SUITES[suite]);
        run_ops(&mut server, &mut client, &ops, &[usize::MAX])?;
        let data = bytes_of(len, 7);
        if to_client {
            server.writer().write_all(&data).unwrap();
            let mut wire = drain_server(&mut server);
            tamper.apply(&mut wire);
            let mut received = Received::default();
            let outcome = client.receive(&wire, &mut received);
            prop_assert!(received.data.is_empty(), "{:?} gave {:?}", outcome, received);
            prop_assert!(outcome.is_err() || !client.pending.is_empty());
        } else {
            let mut wire = client.seal(&data);
            tamper.apply(&mut wire);
            // rustls ignores the legacy version (RFC 8446 5.1 says it
            // must), so a record changed only there still opens, unchanged.
            let outcome = feed_server(&mut server, &wire);
            let clean = match &outcome {
                Err(_) => true,
                Ok(plain) => plain.is_empty() || *plain == data,
            };
            prop_assert!(clean, "{:?} for {:?}", outcome, tamper);
        }
    }
}

proptest! {
    #![proptest_config(config(10_000))]

    /// Random bytes never panic `peek`: it measures a record, asks for
    /// more, or refuses a header no TLS 1.3 peer sends.
    #[test]
    fn fuzz_tls_peek_random_bytes(
        header in prop_oneof![Just(vec![23u8, 3, 3]), prop::collection::vec(any::<u8>(), 0..3)],
        rest in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let input = [header, rest].concat();
        if let Ok(Some((len, plaintext_max))) = RecordLayer::peek(&input) {
            prop_assert!(len <= input.len() && plaintext_max < len);
        }
    }
}
