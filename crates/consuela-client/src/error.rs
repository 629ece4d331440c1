//! The client's single error type and the outcome model.
//!
//! Every Consul call either returns a value or an [`Error`].
//! The error answers the question a distributed caller cares about first:
//! *could the request have been applied?*
//! That is [`Error::outcome`]:
//!
//! - [`Outcome::Failed`]: certainly not applied (connection refused, DNS failure, 501, 503, 429,
//!   invalid input caught before sending).
//! - [`Outcome::Unknown`]: maybe applied (timeout after sending, connection reset, other 5xx,
//!   a 2xx answer the client could not decode).
//! - [`Outcome::Done`]: Consul answered definitely and refused (400, 401, 403, 404, 409, other 4xx).
//!
//! The finer reason is [`Error::kind`].
//!
//! [`TlsFailure`], the cause of an [`ErrorKind::Tls`] error, and [`ConfigError`], the
//! structured source of configuration errors, live here too: the
//! configuration, URL building and the transport all raise it, and none of them should depend
//! on another for it.

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;

use reqwest::StatusCode;

/// Boxed error source kept by [`Error`].
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Whether a request may have taken effect on the server.
///
/// This is the classification the registry uses to decide between reporting an error and handing
/// the operation to its reaper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Consul processed the request and gave a definite answer.
    ///
    /// For a successful call this is the only outcome.
    /// For an error it means a definite refusal: nothing was applied.
    Done,
    /// The request certainly did not take effect: it never reached Consul, or Consul said it did
    /// not process it (501, 503, 429).
    Failed,
    /// The request may or may not have taken effect: it was (possibly) sent, and no definite
    /// answer came back.
    Unknown,
}

impl Outcome {
    /// A short lowercase name (`done`, `failed`, `unknown`), stable for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reason a call failed.
///
/// Each variant documents its [`Outcome`] and whether [`Error::is_retryable`] is true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The connection could not be established (refused, DNS failure, connect timeout, TLS
    /// handshake failure). Outcome `Failed`; retryable.
    Connect,
    /// The request was sent (or may have been) but no complete answer arrived before the request
    /// timeout. Outcome `Unknown`; retryable (re-read state before repeating a write).
    Timeout,
    /// The connection broke after the request may have been sent (reset, closed mid-response).
    /// Outcome `Unknown`; retryable (re-read state before repeating a write).
    Transport,
    /// Consul answered 501 or 503: the request was not processed. Outcome `Failed`; retryable.
    Unavailable,
    /// Consul answered 429 (RPC rate limit). Outcome `Failed`; retryable after a back-off.
    RateLimited,
    /// Consul answered 500 `No cluster leader`: an election is in progress.
    /// Outcome `Unknown` (like every 500, Consul cannot prove nothing was applied); retryable.
    NoLeader,
    /// Any other 5xx answer, e.g. 500 `invalid session "…"` or `Missing check … registration`.
    /// The text is in [`Error::consul_message`]. Outcome `Unknown`; not retryable as such.
    Server,
    /// Consul answered 401. Outcome `Done`; not retryable.
    Unauthorized,
    /// Consul answered 403 (`Permission denied…`, `ACL not found`). Outcome `Done`; not retryable.
    Forbidden,
    /// Consul answered 404 where the endpoint does not use 404 as a normal answer
    /// (for example an unknown check ID). Outcome `Done`; not retryable.
    NotFound,
    /// Consul answered 409 outside of `/v1/txn` (whose 409 is a [`crate::TxnOutcome::RolledBack`]).
    /// Outcome `Done`; not retryable.
    Conflict,
    /// Consul rejected the request as malformed (400, 405, 413, 414, 415). Outcome `Done`; not
    /// retryable: this is a caller bug.
    BadRequest,
    /// Any other status the endpoint does not define (3xx redirects, unusual 4xx).
    /// Outcome `Done`; not retryable.
    UnexpectedStatus,
    /// Consul answered with a success status but the body could not be decoded.
    /// Outcome `Unknown` (a write may have been applied); not retryable.
    Decode,
    /// The request was refused by the client before sending (bad key, conflicting options).
    /// Outcome `Failed`; not retryable.
    InvalidInput,
    /// The client configuration is invalid (bad address, unreadable CA or token file).
    /// Outcome `Failed`; not retryable.
    Config,
    /// Every slot of `max_connections` stayed taken for the request timeout: the request was
    /// not sent. Outcome `Failed`; retryable.
    Busy,
    /// The answer's body is longer than `max_response_size`. Outcome `Unknown` (a write was
    /// applied); not retryable as such.
    TooLarge,
    /// The TLS handshake failed; [`Error::tls_failure`] names the cause (a client certificate
    /// required or refused, an unknown issuer, a name mismatch, an expired certificate).
    /// Outcome `Failed` (Consul never reads a request before the handshake succeeded); not
    /// retryable: the configuration or a certificate must change.
    Tls,
}

impl ErrorKind {
    /// The outcome every error of this kind has.
    pub fn outcome(self) -> Outcome {
        match self {
            Self::Connect
            | Self::Unavailable
            | Self::RateLimited
            | Self::InvalidInput
            | Self::Config
            | Self::Busy
            | Self::Tls => Outcome::Failed,
            Self::Timeout
            | Self::Transport
            | Self::NoLeader
            | Self::Server
            | Self::Decode
            | Self::TooLarge => Outcome::Unknown,
            Self::Unauthorized
            | Self::Forbidden
            | Self::NotFound
            | Self::Conflict
            | Self::BadRequest
            | Self::UnexpectedStatus => Outcome::Done,
        }
    }

    /// Whether repeating the request later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::Connect
                | Self::Timeout
                | Self::Transport
                | Self::Unavailable
                | Self::RateLimited
                | Self::NoLeader
                | Self::Busy
        )
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Connect => "connection failed",
            Self::Timeout => "request timed out",
            Self::Transport => "connection broken",
            Self::Unavailable => "Consul unavailable",
            Self::RateLimited => "rate limited by Consul",
            Self::NoLeader => "no cluster leader",
            Self::Server => "Consul server error",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not found",
            Self::Conflict => "conflict",
            Self::BadRequest => "bad request",
            Self::UnexpectedStatus => "unexpected response status",
            Self::Decode => "cannot decode Consul's answer",
            Self::InvalidInput => "invalid input",
            Self::Config => "invalid client configuration",
            Self::Busy => "no connection slot became free in time",
            Self::TooLarge => "Consul's answer exceeds max_response_size",
            Self::Tls => "TLS handshake failed",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// An error from a Consul call.
///
/// Opaque: inspect it with [`kind`](Self::kind), [`outcome`](Self::outcome),
/// [`status`](Self::status), [`consul_message`](Self::consul_message) and
/// [`source`](std::error::Error::source).
/// It never contains the ACL token.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    /// `METHOD /path` of the request, without the query string.
    request: Option<String>,
    status: Option<StatusCode>,
    message: Option<String>,
    tls: Option<TlsFailure>,
    source: Option<BoxError>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                request: None,
                status: None,
                message: None,
                tls: None,
                source: None,
            }),
        }
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    pub(crate) fn with_tls(mut self, failure: TlsFailure) -> Self {
        self.inner.tls = Some(failure);
        self
    }

    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Self {
        self.inner.message = Some(message.into());
        self
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.inner.status = Some(status);
        self
    }

    pub(crate) fn with_request(mut self, method: &str, path: &str) -> Self {
        self.inner.request = Some(format!("{method} {path}"));
        self
    }

    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput).with_message(message)
    }

    pub(crate) fn config(source: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Config).with_source(source)
    }

    /// Builds the error for a non-success HTTP answer.
    pub(crate) fn from_status(status: StatusCode, body: &[u8]) -> Self {
        let message = String::from_utf8_lossy(body).trim().to_owned();
        let kind = match status.as_u16() {
            400 | 405 | 413 | 414 | 415 | 422 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            429 => ErrorKind::RateLimited,
            501 | 503 => ErrorKind::Unavailable,
            // Client agents prefix forwarded errors (`rpc error making call: `): match substrings.
            500 if message.contains("No cluster leader") => ErrorKind::NoLeader,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::UnexpectedStatus,
        };
        let mut error = Self::new(kind).with_status(status);
        if !message.is_empty() {
            error = error.with_message(message);
        }
        error
    }

    /// The reason for the failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Whether the request may have been applied. See [`Outcome`].
    pub fn outcome(&self) -> Outcome {
        self.inner.kind.outcome()
    }

    /// Whether repeating the request later may succeed (connection problems, timeouts, 501/503,
    /// 429 and `No cluster leader`).
    ///
    /// For writes whose outcome is [`Outcome::Unknown`], re-read the state before repeating
    /// anything that is not idempotent.
    pub fn is_retryable(&self) -> bool {
        self.inner.kind.is_retryable()
    }

    /// Whether Consul answered 409 (outside `/v1/txn`, whose 409 is a value).
    pub fn is_conflict(&self) -> bool {
        self.inner.kind == ErrorKind::Conflict
    }

    /// Whether Consul answered 404 where 404 is not a normal answer (e.g. an unknown check).
    pub fn is_not_found(&self) -> bool {
        self.inner.kind == ErrorKind::NotFound
    }

    /// The HTTP status Consul answered with, if an answer arrived.
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// Consul's error text (the trimmed plain-text body), if it sent one; or the client's own
    /// explanation for [`ErrorKind::InvalidInput`].
    pub fn consul_message(&self) -> Option<&str> {
        self.inner.message.as_deref()
    }

    /// Whether Consul's text contains `needle`.
    ///
    /// Consul's texts vary by version and by agent role (client agents add prefixes), so match
    /// on stable substrings such as `invalid session` or `Missing check`.
    pub fn message_contains(&self, needle: &str) -> bool {
        self.inner
            .message
            .as_deref()
            .is_some_and(|message| message.contains(needle))
    }

    /// The cause of a [`ErrorKind::Tls`] error.
    pub fn tls_failure(&self) -> Option<TlsFailure> {
        self.inner.tls
    }

    /// `METHOD /path` of the failed request, without query string or token.
    pub fn request(&self) -> Option<&str> {
        self.inner.request.as_deref()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("outcome", &self.outcome());
        if let Some(request) = &self.inner.request {
            d.field("request", request);
        }
        if let Some(status) = &self.inner.status {
            d.field("status", &status.as_u16());
        }
        if let Some(message) = &self.inner.message {
            d.field("message", message);
        }
        if let Some(tls) = &self.inner.tls {
            d.field("tls", tls);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(request) = &self.inner.request {
            write!(f, "{request}: ")?;
        }
        f.write_str(self.inner.kind.describe())?;
        if let Some(status) = self.inner.status {
            write!(f, " ({})", status.as_u16())?;
        }
        if let Some(tls) = self.inner.tls {
            // The cause alone: the source chain below it is transport detail.
            write!(f, ": {tls}")?;
        } else if let Some(message) = &self.inner.message {
            write!(f, ": {message}")?;
        } else if let Some(source) = &self.inner.source {
            write!(f, ": {source}")?;
        }
        write!(f, " [{}]", self.outcome())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

/// Why a TLS handshake failed, in the words an operator needs.
///
/// Found through [`Error::tls_failure`](crate::Error::tls_failure) on errors of kind
/// [`ErrorKind::Tls`](crate::ErrorKind::Tls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The server asks for a client certificate and none was configured
    /// (`verify_incoming`): set `CONSUL_CLIENT_CERT` and `CONSUL_CLIENT_KEY`.
    CertificateRequired,
    /// The server refused the client certificate that was presented (signed by a CA it does
    /// not trust, expired, or not meant for client authentication).
    CertificateRejected,
    /// The server's certificate is not signed by a trusted CA (`CONSUL_CACERT`,
    /// `CONSUL_CAPATH`).
    UnknownIssuer,
    /// The server's certificate is not valid for the name it was checked against (the
    /// address's host, or `CONSUL_TLS_SERVER_NAME`).
    NameMismatch,
    /// The server's certificate has expired.
    Expired,
    /// The server's certificate is not valid yet.
    NotYetValid,
    /// The server's certificate is invalid for another reason (bad signature, revoked,
    /// malformed).
    BadServerCertificate,
    /// The server answered the handshake with something that is not TLS: an `https://`
    /// address (or `CONSUL_HTTP_SSL=true`) pointing at a plain HTTP port.
    NotTls,
    /// Any other TLS failure (no protocol version or cipher in common, a malformed message).
    Handshake,
}

impl TlsFailure {
    fn describe(self) -> &'static str {
        match self {
            Self::CertificateRequired => "the server requires a client certificate",
            Self::CertificateRejected => "the server refused the client certificate",
            Self::UnknownIssuer => "the server's certificate is signed by an unknown CA",
            Self::NameMismatch => "the server's certificate does not match the server name",
            Self::Expired => "the server's certificate has expired",
            Self::NotYetValid => "the server's certificate is not valid yet",
            Self::BadServerCertificate => "the server's certificate is invalid",
            Self::NotTls => "the server does not speak TLS (a plain http:// port?)",
            Self::Handshake => "the TLS handshake failed",
        }
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Structured reasons for [`ErrorKind::Config`](crate::ErrorKind::Config) errors (found as the error's `source`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The address is not a usable `http`/`https` URL.
    #[error("invalid Consul address {address:?}: {reason}")]
    Address {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An environment variable holds a value of the wrong shape.
    #[error("invalid value for {name}: {value:?}")]
    Env {
        /// The variable name.
        name: String,
        /// The value found.
        value: String,
    },
    /// A token, CA, certificate or key file (or the CA directory) could not be read.
    #[error("cannot read {path:?}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A CA, client certificate or client key is not usable PEM. The reason never quotes
    /// the text (it may be a private key).
    #[error("invalid {what}{}: {reason}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Pem {
        /// `CA file`, `CA path`, `CA PEM`, `client certificate` or `client key`.
        what: &'static str,
        /// The file, when it came from one.
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// Only one of the client certificate and its key is configured.
    #[error("both the client certificate and the client key must be given")]
    ClientCertificate,
    /// The TLS server name is not a DNS name or IP address.
    #[error("invalid TLS server name {name:?}")]
    ServerName {
        /// The name as given.
        name: String,
    },
    /// The TLS configuration was refused (for example a key that does not match its
    /// certificate, or a key type rustls cannot sign with).
    #[error("invalid TLS configuration: {0}")]
    Tls(#[source] Box<dyn StdError + Send + Sync + 'static>),
    /// The token contains characters that cannot go into an HTTP header.
    #[error("the ACL token is not a valid header value")]
    Token,
    /// The basic-auth username or password cannot go into an HTTP header.
    #[error("the HTTP basic-auth credentials are not a valid header value")]
    HttpAuth,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Http(#[source] reqwest::Error),
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Self {
        Error::config(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds_and_outcomes() {
        let cases = [
            (400, "", ErrorKind::BadRequest, Outcome::Done),
            (403, "ACL not found", ErrorKind::Forbidden, Outcome::Done),
            (404, "", ErrorKind::NotFound, Outcome::Done),
            (
                405,
                "method GET not allowed",
                ErrorKind::BadRequest,
                Outcome::Done,
            ),
            (409, "", ErrorKind::Conflict, Outcome::Done),
            (418, "", ErrorKind::UnexpectedStatus, Outcome::Done),
            (301, "", ErrorKind::UnexpectedStatus, Outcome::Done),
            (429, "", ErrorKind::RateLimited, Outcome::Failed),
            (
                500,
                "No cluster leader",
                ErrorKind::NoLeader,
                Outcome::Unknown,
            ),
            (
                500,
                "rpc error making call: No cluster leader",
                ErrorKind::NoLeader,
                Outcome::Unknown,
            ),
            (
                500,
                "invalid session \"x\"",
                ErrorKind::Server,
                Outcome::Unknown,
            ),
            (501, "", ErrorKind::Unavailable, Outcome::Failed),
            (502, "", ErrorKind::Server, Outcome::Unknown),
            (503, "", ErrorKind::Unavailable, Outcome::Failed),
        ];
        for (status, body, kind, outcome) in cases {
            let error = Error::from_status(StatusCode::from_u16(status).unwrap(), body.as_bytes());
            assert_eq!(error.kind(), kind, "{status} {body}");
            assert_eq!(error.outcome(), outcome, "{status} {body}");
            assert_eq!(error.status().map(|s| s.as_u16()), Some(status));
        }
    }

    #[test]
    fn retryable_kinds() {
        assert!(
            Error::from_status(StatusCode::INTERNAL_SERVER_ERROR, b"No cluster leader")
                .is_retryable()
        );
        assert!(
            !Error::from_status(StatusCode::INTERNAL_SERVER_ERROR, b"invalid session")
                .is_retryable()
        );
        assert!(Error::new(ErrorKind::Connect).is_retryable());
        assert!(Error::from_status(StatusCode::CONFLICT, b"").is_conflict());
        assert!(Error::from_status(StatusCode::NOT_FOUND, b"").is_not_found());
        assert!(!Error::new(ErrorKind::Forbidden).is_retryable());
    }

    #[test]
    fn display_includes_request_status_message_and_outcome() {
        let error = Error::from_status(StatusCode::FORBIDDEN, b"ACL not found\n")
            .with_request("GET", "/v1/kv/a");
        assert_eq!(error.consul_message(), Some("ACL not found"));
        assert_eq!(
            error.to_string(),
            "GET /v1/kv/a: forbidden (403): ACL not found [done]"
        );
    }

    #[test]
    fn empty_body_has_no_message() {
        let error = Error::from_status(StatusCode::NOT_FOUND, b"");
        assert_eq!(error.consul_message(), None);
        assert!(!error.message_contains(""));
    }
}
