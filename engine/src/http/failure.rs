//! Why a request failed, as a small `Copy` value counted on the hot path.
//!
//! Each variant maps to one report kind (connect, timeout, reset, protocol,
//! status, tls) and a fixed message; text is only made when a snapshot is built.

use std::io;

use stampede_proto::FailureKind;

use super::s3_error::S3Error;

/// One reason a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The target refused the connection.
    ConnectRefused,
    /// No local address or port was free for a new connection.
    ConnectNoLocalPort,
    /// The target's network or host was unreachable.
    ConnectUnreachable,
    /// No file descriptor was free for a new socket (the open-file limit).
    ConnectNoFd,
    /// Another error while connecting.
    ConnectOther,
    /// The connection was not established within the timeout.
    ConnectTimeout,
    /// The response did not complete within the timeout.
    RequestTimeout,
    /// The peer reset the connection.
    Reset,
    /// The peer closed the connection before any byte of the response.
    ClosedBeforeResponse,
    /// The peer closed the connection in the middle of the response head.
    TruncatedHead,
    /// The peer closed the connection before the body's announced end.
    TruncatedBody,
    /// The response head exceeded the configured size limit.
    HeadTooLarge,
    /// The response had more headers than the configured limit.
    TooManyHeaders,
    /// The response head is not valid HTTP/1.1.
    MalformedHead,
    /// The chunked body framing is not valid.
    MalformedChunk,
    /// Content-Length is missing a valid value or contradicts itself.
    BadContentLength,
    /// Bytes came after the end of the response that no request asked for
    /// (a body on a 204, 304 or HEAD response, or more than Content-Length).
    BytesAfterResponse,
    /// Another I/O error on an established connection.
    Io,
    /// TLS: the server's certificate does not chain to a trusted root.
    TlsUntrusted,
    /// TLS: the certificate is not valid for the host name.
    TlsNameMismatch,
    /// TLS: the certificate is expired or not yet valid.
    TlsExpired,
    /// TLS: the server sent an alert during the handshake.
    TlsAlert,
    /// TLS: another handshake failure (protocol mismatch, early close).
    TlsHandshake,
    /// The response status was 4xx or 5xx.
    Status(u16),
    /// The response status was 4xx or 5xx and its body an S3 XML error
    /// document with this code (read for S3 requests only, `shard::user`).
    S3 {
        /// The document's code.
        error: S3Error,
        /// The response status.
        status: u16,
    },
    /// A scenario check failed; the id indexes the plan's messages.
    Check(u32),
    /// A body a check needs was larger than the capture limit (`--max-body-capture`).
    BodyTooLarge,
    /// A template variable had no value; the id indexes the plan's messages.
    Template(u32),
    /// The server sent nothing for `--read-timeout` while a response was awaited.
    ReadTimeout,
    /// More redirects in a row than `--max-redirects`.
    TooManyRedirects,
    /// A redirect without a usable Location (missing, not a URL, or an
    /// origin that cannot be resolved or reached by a scheme we speak).
    BadRedirect,
    /// A compressed body is not valid in its coding.
    DecodeCorrupt,
    /// A body in a coding stampede does not decode.
    DecodeUnknown,
    /// A compressed body decoded to more than `--max-body-capture`.
    DecodeTooLarge,
    /// The request was in flight when the run stopped.
    CutOff,
}

impl Failure {
    /// The report kind this failure is counted under.
    pub fn kind(self) -> FailureKind {
        use Failure::*;
        match self {
            ConnectRefused | ConnectNoLocalPort | ConnectUnreachable | ConnectNoFd
            | ConnectOther => FailureKind::Connect,
            ConnectTimeout | RequestTimeout | ReadTimeout => FailureKind::Timeout,
            TooManyRedirects | BadRedirect => FailureKind::Redirect,
            DecodeCorrupt | DecodeUnknown | DecodeTooLarge => FailureKind::Decode,
            CutOff => FailureKind::CutOff,
            Reset | ClosedBeforeResponse | Io => FailureKind::Reset,
            TruncatedHead | TruncatedBody | HeadTooLarge | TooManyHeaders | MalformedHead
            | MalformedChunk | BadContentLength | BytesAfterResponse => FailureKind::Protocol,
            Status(_) => FailureKind::Status,
            S3 { error, .. } => match error {
                S3Error::SlowDown => FailureKind::S3SlowDown,
                S3Error::AccessDenied => FailureKind::S3AccessDenied,
                S3Error::NoSuchKey => FailureKind::S3NoSuchKey,
                S3Error::SignatureDoesNotMatch => FailureKind::S3SignatureMismatch,
                S3Error::RequestTimeTooSkewed => FailureKind::S3TimeSkewed,
                S3Error::Other(_) => FailureKind::S3Error,
            },
            Check(_) | BodyTooLarge => FailureKind::Check,
            Template(_) => FailureKind::Template,
            TlsUntrusted | TlsNameMismatch | TlsExpired | TlsAlert | TlsHandshake => {
                FailureKind::Tls
            }
        }
    }

    /// A short human description; built when reporting, not per request.
    /// `messages` are the plan's texts for check and template failures.
    pub fn message(self, messages: &[String]) -> String {
        use Failure::*;
        let text = match self {
            Status(code) => return format!("HTTP {code}"),
            S3 { error, status } => return format!("S3 error {} ({status})", error.code()),
            Check(id) | Template(id) => {
                return messages
                    .get(id as usize)
                    .cloned()
                    .unwrap_or_else(|| "check failed".into())
            }
            ConnectRefused => "connection refused",
            ConnectNoLocalPort => "no free local address/port",
            ConnectUnreachable => "network unreachable",
            ConnectNoFd => "too many open files (raise ulimit -n)",
            ConnectOther => "connect error",
            ConnectTimeout => "connect timed out",
            RequestTimeout => "request timed out",
            Reset => "connection reset by peer",
            ClosedBeforeResponse => "connection closed before response",
            TruncatedHead => "connection closed inside response head",
            TruncatedBody => "connection closed before end of body",
            HeadTooLarge => "response head too large",
            TooManyHeaders => "too many response headers",
            MalformedHead => "malformed response head",
            MalformedChunk => "malformed chunked body",
            BadContentLength => "invalid Content-Length",
            BytesAfterResponse => {
                "bytes after the end of the response (a body on a 204, 304 or HEAD?)"
            }
            Io => "I/O error",
            TlsUntrusted => "certificate not trusted",
            TlsNameMismatch => "certificate not valid for the host name",
            TlsExpired => "certificate expired or not yet valid",
            TlsAlert => "TLS alert from the server",
            TlsHandshake => "TLS handshake failed",
            BodyTooLarge => "body larger than --max-body-capture (default 1 MiB) for checks",
            ReadTimeout => "no bytes from the server for --read-timeout",
            TooManyRedirects => "more redirects than --max-redirects (default 10)",
            BadRedirect => "redirect without a usable Location",
            DecodeCorrupt => "compressed body is corrupt",
            DecodeUnknown => "body in a Content-Encoding stampede does not decode",
            DecodeTooLarge => {
                "decoded body larger than --max-body-capture (default 1 MiB): a decompression bomb?"
            }
            CutOff => "in flight when the run stopped",
        };
        text.to_string()
    }

    /// Maps an error from connecting to its failure.
    pub fn from_connect_error(error: &io::Error) -> Failure {
        if matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
            return Failure::ConnectNoFd;
        }
        match error.kind() {
            io::ErrorKind::ConnectionRefused => Failure::ConnectRefused,
            io::ErrorKind::AddrNotAvailable | io::ErrorKind::AddrInUse => {
                Failure::ConnectNoLocalPort
            }
            io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => {
                Failure::ConnectUnreachable
            }
            io::ErrorKind::TimedOut => Failure::ConnectTimeout,
            _ => Failure::ConnectOther,
        }
    }

    /// Maps an error on an established connection to its failure.
    pub fn from_io_error(error: &io::Error) -> Failure {
        match error.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Failure::Reset,
            io::ErrorKind::TimedOut => Failure::RequestTimeout,
            _ => Failure::Io,
        }
    }

    /// True when a reused keep-alive connection failing this way may simply
    /// have been closed by the server while idle (nothing of the response
    /// was seen), so an idempotent request may be sent once more on a fresh
    /// connection (`client` decides).
    pub fn is_stale_connection(self) -> bool {
        matches!(self, Failure::Reset | Failure::ClosedBeforeResponse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every failure maps to the kind the reports promise.
    #[test]
    fn kinds_are_as_documented() {
        assert_eq!(Failure::ConnectRefused.kind(), FailureKind::Connect);
        assert_eq!(Failure::RequestTimeout.kind(), FailureKind::Timeout);
        assert_eq!(Failure::Reset.kind(), FailureKind::Reset);
        assert_eq!(Failure::TruncatedBody.kind(), FailureKind::Protocol);
        assert_eq!(Failure::HeadTooLarge.kind(), FailureKind::Protocol);
        assert_eq!(Failure::Status(503).kind(), FailureKind::Status);
        assert_eq!(Failure::Status(503).message(&[]), "HTTP 503");
        assert_eq!(Failure::Check(1).message(&["a".into(), "b".into()]), "b");
        assert_eq!(Failure::Template(0).kind(), FailureKind::Template);
        let slow_down = Failure::S3 {
            error: S3Error::SlowDown,
            status: 503,
        };
        assert_eq!(slow_down.kind(), FailureKind::S3SlowDown);
        assert_eq!(slow_down.message(&[]), "S3 error SlowDown (503)");
        let other = Failure::S3 {
            error: S3Error::from_code(b"InvalidBucketName"),
            status: 400,
        };
        assert_eq!(other.kind(), FailureKind::S3Error);
        assert_eq!(other.message(&[]), "S3 error InvalidBucketName (400)");
    }

    /// I/O errors map by kind, and only stale-connection failures are retried.
    #[test]
    fn io_errors_map_by_kind() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            Failure::from_connect_error(&refused),
            Failure::ConnectRefused
        );
        let pipe = io::Error::from(io::ErrorKind::BrokenPipe);
        assert_eq!(Failure::from_io_error(&pipe), Failure::Reset);
        assert!(Failure::Reset.is_stale_connection());
        assert!(!Failure::TruncatedBody.is_stale_connection());
        assert!(!Failure::Status(500).is_stale_connection());
    }
}
