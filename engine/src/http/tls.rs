//! TLS for `https://` origins: the run's one rustls client configuration and
//! the mapping of rustls errors to counted failures.
//!
//! The configuration is built once at start (roots, `--cacert`, `--insecure`,
//! a client certificate) and shared read-only by every shard; rustls keeps its
//! session-ticket cache inside it, so a reconnect resumes instead of paying a
//! full handshake. Wrapping a socket is `tls_stream`'s job; this module never
//! touches one. The crypto provider is rustls's `ring` (it builds with a plain
//! C compiler, no cmake), offering TLS 1.3 and 1.2 with ALPN `http/1.1`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::failure::Failure;

/// Sessions the client remembers for resumption (per run, over all origins).
const SESSION_CACHE_ENTRIES: usize = 65_536;

/// What the user asked of TLS, as validated paths and switches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Skip certificate verification entirely (`--insecure`).
    pub insecure: bool,
    /// Trust the certificates in this PEM file instead of the Mozilla roots (`--cacert`).
    pub cacert: Option<PathBuf>,
    /// Client certificate chain, PEM (`--cert`); needs `key`.
    pub cert: Option<PathBuf>,
    /// Client private key, PEM (`--key`).
    pub key: Option<PathBuf>,
}

/// Why a TLS configuration could not be built; names the file.
#[derive(Debug)]
pub struct TlsConfigError(pub String);

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Builds the run's client configuration.
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError(format!("TLS setup: {e}")))?;
    let builder = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        match &options.cacert {
            Some(path) => {
                for cert in read_certs(path)? {
                    roots
                        .add(cert)
                        .map_err(|e| TlsConfigError(format!("{}: {e}", path.display())))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match (&options.cert, &options.key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert)?;
            let key_der = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| TlsConfigError(format!("{}: no private key ({e})", key.display())))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| TlsConfigError(format!("{}: {e}", key.display())))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(TlsConfigError(
                "--cert and --key must be given together".into(),
            ))
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::in_memory_sessions(SESSION_CACHE_ENTRIES);
    // After a TLS 1.3 handshake `tls_stream` takes the traffic secrets and
    // protects records itself (`tls_record`), allocation-free.
    config.enable_secret_extraction = true;
    Ok(Arc::new(config))
}

/// Reads every certificate of a PEM file; an empty file is an error.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let bad = |e: &dyn fmt::Display| TlsConfigError(format!("{}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no PEM certificate in the file"));
    }
    Ok(certs)
}

/// The name a certificate must be valid for: the URL's host (DNS name or IP).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|_| format!("'{host}' is not a valid TLS server name"))
}

/// Maps a rustls error from the handshake (or a TLS read) to its failure.
pub fn failure_of(error: &rustls::Error) -> Failure {
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                Failure::TlsUntrusted
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Failure::TlsNameMismatch
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => Failure::TlsExpired,
            _ => Failure::TlsUntrusted,
        },
        rustls::Error::AlertReceived(_) => Failure::TlsAlert,
        _ => Failure::TlsHandshake,
    }
}

/// `--insecure`: accepts any certificate, but still checks the handshake's
/// signatures so the connection is a working TLS session.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Certificate errors map to the fixed TLS failures the reports promise.
    #[test]
    fn certificate_errors_map_to_tls_failures() {
        let untrusted = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(failure_of(&untrusted), Failure::TlsUntrusted);
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert_eq!(failure_of(&name), Failure::TlsNameMismatch);
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert_eq!(failure_of(&expired), Failure::TlsExpired);
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(failure_of(&alert), Failure::TlsAlert);
        let garbage = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert_eq!(failure_of(&garbage), Failure::TlsHandshake);
        assert_eq!(
            Failure::TlsUntrusted.message(&[]),
            "certificate not trusted"
        );
    }

    /// The default, insecure and CA-file configurations build; a missing file names itself.
    #[test]
    fn configurations_build() {
        assert!(client_config(&TlsOptions::default()).is_ok());
        assert!(client_config(&TlsOptions {
            insecure: true,
            ..TlsOptions::default()
        })
        .is_ok());
        let missing = TlsOptions {
            cacert: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        assert!(client_config(&missing)
            .unwrap_err()
            .0
            .contains("/nonexistent/ca.pem"));
        assert!(server_name("127.0.0.1").is_ok() && server_name("example.com").is_ok());
    }
}
