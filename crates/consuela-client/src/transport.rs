//! The HTTP seam: [`Transport`] and its default implementation, [`HttpTransport`]:
//! hyper-util's pooled client directly ([`direct`]), or `reqwest` when the environment
//! names a proxy ([`proxied`]).
//!
//! The client builds complete requests (URL, headers, body, timeout) and hands them to a
//! `Transport`; everything Consul-specific (status mapping, headers, decoding) stays in the
//! client. Tests can substitute a transport that fails on purpose
//! ([`Client::with_transport`](crate::Client::with_transport)).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{BoxFuture, Either};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};

use crate::config::ClientConfig;
use crate::error::{BoxError, Error, ErrorKind, TlsFailure};
use crate::request::parse_endpoint;

mod connect;
mod direct;
mod failure;
mod proxied;

/// A complete HTTP request, as built by the client.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Full URL including the query string (never the token).
    pub url: Url,
    /// Headers, including `X-Consul-Token` (marked sensitive) when a token is configured.
    pub headers: HeaderMap,
    /// Body, sent with a `Content-Length`.
    pub body: Option<Bytes>,
    /// Deadline for the whole exchange, from sending to the last body byte.
    pub timeout: Duration,
}

impl HttpRequest {
    /// A request with no headers, no body and `timeout` as its deadline.
    pub fn new(method: Method, url: Url, timeout: Duration) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            timeout,
        }
    }

    /// The request with `body`, sent with a `Content-Length`, and `content_type`.
    #[must_use]
    pub fn with_body(mut self, content_type: &'static str, body: Bytes) -> Self {
        self.headers.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static(content_type),
        );
        self.body = Some(body);
        self
    }
}

/// A complete HTTP response with its body read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl HttpResponse {
    /// Builds a response (for custom transports).
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        Self {
            status,
            headers,
            body,
        }
    }
}

/// How a transport failed: decides the [`Outcome`](crate::Outcome) of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Nothing was sent: connect refused, DNS failure, connect timeout, TLS handshake failure.
    Connect,
    /// The deadline passed after the request may have been sent.
    Timeout,
    /// The connection broke after the request may have been sent.
    Io,
    /// The answer's body is longer than the configured limit.
    TooLarge,
    /// No connection slot (`max_connections`) became free in time; nothing was sent.
    Busy,
    /// The TLS handshake failed, for this reason; Consul read nothing.
    Tls(TlsFailure),
}

impl TransportErrorKind {
    /// Whether the request certainly never reached the server ([`Connect`](Self::Connect),
    /// [`Busy`](Self::Busy), [`Tls`](Self::Tls)): what the client reports as
    /// [`Outcome::Failed`](crate::Outcome::Failed).
    pub fn nothing_sent(self) -> bool {
        matches!(self, Self::Connect | Self::Busy | Self::Tls(_))
    }
}

/// A transport failure. Its source is kept.
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    source: BoxError,
}

impl TransportError {
    /// Builds a transport error.
    pub fn new(kind: TransportErrorKind, source: impl Into<BoxError>) -> Self {
        Self {
            kind,
            source: source.into(),
        }
    }

    /// An answer longer than `limit` bytes.
    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            TransportErrorKind::TooLarge,
            format!("the answer is longer than {limit} bytes"),
        )
    }

    /// The failure class.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    pub(crate) fn into_error(self) -> Error {
        let kind = match self.kind {
            TransportErrorKind::Connect => ErrorKind::Connect,
            TransportErrorKind::Timeout => ErrorKind::Timeout,
            TransportErrorKind::Io => ErrorKind::Transport,
            TransportErrorKind::TooLarge => ErrorKind::TooLarge,
            TransportErrorKind::Busy => ErrorKind::Busy,
            TransportErrorKind::Tls(failure) => {
                return Error::new(ErrorKind::Tls)
                    .with_tls(failure)
                    .with_source(self.source);
            }
        };
        Error::new(kind).with_source(self.source)
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} error: {}", self.kind, self.source)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// Sends one HTTP request and reads the whole response.
///
/// Implementations must be cancel safe: dropping the returned future abandons the request.
pub trait Transport: Send + Sync + fmt::Debug + 'static {
    /// Sends `request`.
    fn send(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'static, Result<HttpResponse, TransportError>>;
}

/// The default transport: pooled keep-alive HTTP/1.1 connections (rustls with the ring
/// provider over HTTPS, or a unix socket).
///
/// Requests go through hyper-util's client directly, unless `HTTP_PROXY`, `HTTPS_PROXY` or
/// `ALL_PROXY` (or their lower-case forms) is set: then through `reqwest`, which applies them
/// and `NO_PROXY` as Consul's Go client does.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Direct(direct::Direct),
    Proxied(proxied::Proxied),
}

impl HttpTransport {
    /// Builds the transport from the address (a `unix://` socket), TLS, timeout and pool
    /// settings of `config`. Reads the CA, certificate and key files now.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for an invalid address, an unreadable or malformed CA,
    /// certificate or key, a certificate without its key, or an invalid server name.
    pub fn new(config: &ClientConfig) -> Result<Self, Error> {
        Self::with_backend(config, proxy_in_env())
    }

    /// A transport for requests to any host, not only to Consul: `config`'s TLS (used for
    /// every `https` URL), timeout, pool and size settings; its address is not read. What
    /// consuela's messaging courier posts to other members' mailboxes with.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for an unreadable or malformed CA, certificate or key, a
    /// certificate without its key, or an invalid server name.
    pub fn for_any_host(config: &ClientConfig) -> Result<Self, Error> {
        Self::build(config, None, true, proxy_in_env())
    }

    /// [`new`](Self::new), through `reqwest` if `proxied` (never for a unix socket, which
    /// no proxy reaches).
    fn with_backend(config: &ClientConfig, proxied: bool) -> Result<Self, Error> {
        let endpoint = parse_endpoint(&config.address)?;
        let https = endpoint.base.starts_with("https://");
        Self::build(config, endpoint.unix, https, proxied)
    }

    /// A transport connecting to `unix` if set, with TLS for `https` URLs if `https`.
    fn build(
        config: &ClientConfig,
        unix: Option<PathBuf>,
        https: bool,
        proxied: bool,
    ) -> Result<Self, Error> {
        let proxied = proxied && unix.is_none();
        let rustls_config = crate::tls::client_config(&config.tls)?;
        let client_cert = config.tls.has_client_certificate();
        let tls = https.then(|| Arc::new(rustls_config.clone()));
        let backend = if proxied {
            Backend::Proxied(proxied::Proxied::new(config, rustls_config, tls)?)
        } else {
            Backend::Direct(direct::Direct::new(direct::Settings {
                unix,
                tls,
                client_cert,
                connect_timeout: config.connect_timeout,
                pool_max_idle: config.pool_max_idle,
                pool_idle_timeout: config.pool_idle_timeout,
                max_response_size: config.max_response_size,
            }))
        };
        Ok(Self { backend })
    }
}

/// Whether the environment names an HTTP proxy (only `reqwest` applies one).
fn proxy_in_env() -> bool {
    [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

impl Transport for HttpTransport {
    fn send(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'static, Result<HttpResponse, TransportError>> {
        let timeout = request.timeout;
        let exchange = match &self.backend {
            Backend::Direct(direct) => Either::Left(direct.send(request)),
            // Boxed: reqwest's future is several times the size of the direct one, which
            // would otherwise be moved around at that size.
            Backend::Proxied(proxied) => Either::Right(Box::pin(proxied.send(request))),
        };
        // One timer around the whole exchange (headers and body).
        Box::pin(async move {
            match tokio::time::timeout(timeout, exchange).await {
                Ok(result) => result,
                Err(elapsed) => Err(TransportError::new(TransportErrorKind::Timeout, elapsed)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use consuela_devserver::{DevServer, DevServerConfig};

    use super::*;

    fn get(url: &str) -> HttpRequest {
        HttpRequest {
            method: Method::GET,
            url: Url::parse(url).unwrap(),
            headers: HeaderMap::new(),
            body: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// Both backends: the direct one, and the proxied one an environment naming a proxy
    /// selects (built here without touching the process environment).
    #[tokio::test]
    async fn both_backends_answer_refuse_long_answers_and_tell_unsent_failures() {
        let server = DevServer::bind(DevServerConfig::default(), ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let leader = format!("{}/v1/status/leader", server.url());
        let put = HttpRequest {
            method: Method::PUT,
            body: Some(Bytes::from(vec![b'x'; 2048])),
            ..get(&format!("{}/v1/kv/transport/long", server.url()))
        };
        let long = format!("{}/v1/kv/transport/long?raw", server.url());
        // Bound and closed at once: nothing listens there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let refused = format!("http://{}/v1/status/leader", closed.local_addr().unwrap());
        drop(closed);
        for proxied in [false, true] {
            let mut config = ClientConfig::new(server.url());
            let transport = HttpTransport::with_backend(&config, proxied).unwrap();
            let answer = transport.send(get(&leader)).await.unwrap();
            assert_eq!(answer.status, StatusCode::OK, "proxied: {proxied}");
            assert!(answer.body.starts_with(b"\""), "{:?}", answer.body);
            let answer = transport.send(put.clone()).await.unwrap();
            assert_eq!(answer.body.trim_ascii(), b"true", "proxied: {proxied}");
            let answer = transport.send(get(&long)).await.unwrap();
            assert_eq!(answer.body.len(), 2048, "proxied: {proxied}");

            config.max_response_size = Some(1024);
            let transport = HttpTransport::with_backend(&config, proxied).unwrap();
            let error = transport.send(get(&long)).await.unwrap_err();
            assert_eq!(error.kind(), TransportErrorKind::TooLarge, "{error}");
            let answer = transport.send(get(&leader)).await.unwrap();
            assert_eq!(answer.status, StatusCode::OK, "a short answer still passes");

            let error = transport.send(get(&refused)).await.unwrap_err();
            assert_eq!(error.kind(), TransportErrorKind::Connect, "{error}");
        }
        server.shutdown().await;
    }

    /// `nothing_sent` says what the client's outcome says: certainly not applied.
    #[test]
    fn nothing_sent_is_what_the_client_reports_as_failed() {
        use crate::error::Outcome;
        for kind in [
            TransportErrorKind::Connect,
            TransportErrorKind::Timeout,
            TransportErrorKind::Io,
            TransportErrorKind::TooLarge,
            TransportErrorKind::Busy,
            TransportErrorKind::Tls(TlsFailure::UnknownIssuer),
        ] {
            let outcome = TransportError::new(kind, "x").into_error().outcome();
            assert_eq!(kind.nothing_sent(), outcome == Outcome::Failed, "{kind:?}");
        }
    }

    /// A transport for any host keeps TLS for `https` URLs: plain HTTP ones are sent in
    /// the clear, once, and their failures are never probed as TLS failures.
    #[tokio::test]
    async fn a_transport_for_any_host_speaks_plain_http_to_http_urls() {
        let server = DevServer::bind(DevServerConfig::default(), ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let leader = format!("{}/v1/status/leader", server.url());
        // Counts every connection and hangs up at once.
        let rude = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hangs_up = format!("http://{}/v1/mail/x", rude.local_addr().unwrap());
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        let rude = tokio::spawn(async move {
            while let Ok((stream, _)) = rude.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(stream);
            }
        });
        for proxied in [false, true] {
            let config = ClientConfig::default();
            let transport = HttpTransport::build(&config, None, true, proxied).unwrap();
            let answer = transport.send(get(&leader)).await.unwrap();
            assert_eq!(answer.status, StatusCode::OK, "proxied: {proxied}");
            let error = transport.send(get(&hangs_up)).await.unwrap_err();
            assert!(
                matches!(
                    error.kind(),
                    TransportErrorKind::Connect | TransportErrorKind::Io
                ),
                "proxied: {proxied}: {:?} {error}",
                error.kind()
            );
            // One attempt: neither the HTTPS-only resend nor a TLS probe for plain HTTP.
            let seen = connections.swap(0, std::sync::atomic::Ordering::SeqCst);
            assert_eq!(seen, 1, "proxied: {proxied}");
        }
        rude.abort();
        server.shutdown().await;
    }
}
