//! HTTPS: the server's rustls configuration (a certificate from files, or a
//! self-signed one made at start with rcgen) and the handshake in front of
//! `conn`'s request loop. Full and resumed handshakes are counted so tests can
//! see session resumption work; the HTTP side is the same code as for TCP.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use monoio::net::TcpStream;
use monoio_rustls::TlsAcceptor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerSessionMemoryCache;
use rustls::{HandshakeKind, ServerConfig};

use crate::conn;
use crate::shard::LiveGuard;

/// Session-cache entries for stateful resumption (tickets need none).
const SESSION_CACHE_ENTRIES: usize = 65_536;

/// Where the server's certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsSource {
    /// A self-signed certificate for `localhost` and 127.0.0.1, made at start;
    /// its PEM is written to the path, if one is given (for clients' `--cacert`).
    SelfSigned {
        /// Where to write the generated certificate.
        cert_out: Option<PathBuf>,
    },
    /// A certificate chain and private key in PEM files.
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
    },
}

/// Handshakes the server completed, by kind; read by `/__stats`.
#[derive(Debug, Default)]
pub struct TlsHandshakes {
    /// Full handshakes (a new session).
    full: AtomicU64,
    /// Resumed handshakes (a ticket or cached session).
    resumed: AtomicU64,
}

impl TlsHandshakes {
    /// (full, resumed) so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.full.load(Ordering::Relaxed),
            self.resumed.load(Ordering::Relaxed),
        )
    }

    /// Zeroes both counts.
    pub fn reset(&self) {
        self.full.store(0, Ordering::Relaxed);
        self.resumed.store(0, Ordering::Relaxed);
    }
}

/// Builds the acceptor every shard shares (its ticket keys included, so a
/// session made on one shard resumes on another).
pub(crate) fn acceptor(source: &TlsSource) -> io::Result<TlsAcceptor> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let (chain, key) = match source {
        TlsSource::SelfSigned { cert_out } => {
            let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
            let made = rcgen::generate_simple_self_signed(names)
                .map_err(|e| io::Error::other(format!("self-signed certificate: {e}")))?;
            if let Some(path) = cert_out {
                std::fs::write(path, made.cert.pem())
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            }
            let key = PrivateKeyDer::try_from(made.key_pair.serialize_der())
                .map_err(|e| invalid(e.to_string()))?;
            (vec![made.cert.der().clone()], key)
        }
        TlsSource::Files { cert, key } => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| invalid(format!("{}: {e}", cert.display())))?;
            let key_der = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| invalid(format!("{}: {e}", key.display())))?;
            (chain, key_der)
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid(format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
    config.ticketer =
        rustls::crypto::ring::Ticketer::new().map_err(|e| io::Error::other(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Completes the handshake, counts its kind, then serves HTTP over it. A
/// failed handshake (an untrusting client aborts) just ends the connection.
pub(crate) async fn serve(stream: TcpStream, acceptor: TlsAcceptor, shard: LiveGuard) {
    let _ = stream.set_nodelay(true);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    let Ok(tls) = acceptor.accept(stream).await else {
        return;
    };
    // monoio-rustls exposes the session only through `into_parts`; the
    // handshake has flushed its output and fed all input read so far to
    // the session, so taking the stream apart and back loses nothing.
    let (tcp, session) = tls.into_parts();
    let handshakes = &shard.counters.tls;
    match session.handshake_kind() {
        Some(HandshakeKind::Resumed) => handshakes.resumed.fetch_add(1, Ordering::Relaxed),
        _ => handshakes.full.fetch_add(1, Ordering::Relaxed),
    };
    let tls = monoio_rustls::ServerTlsStream::new(tcp, session);
    conn::serve_stream(tls, fd, shard).await;
}
