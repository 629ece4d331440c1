//! The HTTP seam: [`Transport`] and its default implementation over `reqwest`.
//!
//! The client builds complete requests (URL, headers, body, timeout) and hands them to a
//! `Transport`; everything Consul-specific (status mapping, headers, decoding) stays in the
//! client. Tests can substitute a transport that fails on purpose
//! ([`Client::with_transport`](crate::Client::with_transport)).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};

use crate::config::ClientConfig;
use crate::error::{BoxError, ConfigError, Error, ErrorKind, TlsFailure};
use crate::request::parse_endpoint;
use crate::tls::classify_tls;

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

/// The default transport: a pooled keep-alive `reqwest` client (rustls with the ring provider).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    max_response_size: Option<usize>,
    /// Whether a client certificate is configured (tells a refused one from a missing one).
    client_cert: bool,
    /// Over HTTPS, the TLS configuration: a request canceled unsent is sent
    /// again (see [`send_unsent`]), and if it never goes out, a probe
    /// connection of our own reads why (see [`probe`]).
    tls: Option<Arc<rustls::ClientConfig>>,
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
        let endpoint = parse_endpoint(&config.address)?;
        let rustls_config = crate::tls::client_config(&config.tls)?;
        let tls = endpoint
            .base
            .starts_with("https://")
            .then(|| Arc::new(rustls_config.clone()));
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(config.pool_max_idle)
            .pool_idle_timeout(config.pool_idle_timeout)
            // Consul answers 301 for non-canonical paths; following it would turn a PUT into a
            // GET elsewhere. Surface it as an error instead.
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .use_preconfigured_tls(rustls_config.clone())
            .user_agent(concat!("consuela-client/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = endpoint.unix {
            builder = builder.unix_socket(path);
        }
        let client = builder.build().map_err(ConfigError::Http)?;
        Ok(Self {
            client,
            max_response_size: config.max_response_size,
            client_cert: config.tls.has_client_certificate(),
            tls,
        })
    }
}

impl Transport for HttpTransport {
    fn send(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'static, Result<HttpResponse, TransportError>> {
        let tls = self.tls.clone().map(|config| (config, request.url.clone()));
        let mut builder = self
            .client
            .request(request.method, request.url)
            .headers(request.headers);
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let timeout = request.timeout;
        let limit = self.max_response_size;
        let client_cert = self.client_cert;
        let classify = move |error| classify(error, client_cert);
        Box::pin(async move {
            // One timer around the whole exchange (headers and body) is cheaper than reqwest's
            // per-request timeout, which also boxes and wraps the response body.
            let exchange = async move {
                let sent = match &tls {
                    Some(_) => send_unsent(builder).await,
                    None => builder.send().await,
                };
                let mut response = match (sent, tls) {
                    (Ok(response), _) => response,
                    (Err(error), Some((config, url))) if unsent(&error) => {
                        let kind = match probe(config, &url, client_cert).await {
                            Some(failure) => TransportErrorKind::Tls(failure),
                            None => TransportErrorKind::Connect,
                        };
                        return Err(TransportError::new(kind, error));
                    }
                    (Err(error), _) => return Err(classify(error)),
                };
                let status = response.status();
                let headers = std::mem::take(response.headers_mut());
                let body = match limit {
                    None => response.bytes().await.map_err(classify)?,
                    Some(limit) => read_limited(response, limit, classify).await?,
                };
                Ok(HttpResponse {
                    status,
                    headers,
                    body,
                })
            };
            match tokio::time::timeout(timeout, exchange).await {
                Ok(result) => result,
                Err(elapsed) => Err(TransportError::new(TransportErrorKind::Timeout, elapsed)),
            }
        })
    }
}

/// Sends, and sends again (at most twice more) when the connection closed
/// before the request was written: hyper then cancels it unsent. Only over
/// HTTPS, where it happens on fresh connections; over plain HTTP hyper
/// already retries the reused connections it happens on. A server
/// that hangs up right after the handshake does that, as TLS 1.3 refusing a
/// client certificate does when its alert is not read in time; the next
/// attempt usually reads the alert, which names the cause.
async fn send_unsent(
    mut builder: reqwest::RequestBuilder,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut retries = 2;
    loop {
        let again = if retries > 0 {
            builder.try_clone()
        } else {
            None
        };
        match builder.send().await {
            Err(error) if unsent(&error) && again.is_some() => {
                retries -= 1;
                builder = again.expect("checked");
            }
            result => return result,
        }
    }
}

/// Why an HTTPS server drops fresh connections before a request can be
/// written: one handshake and one read on a connection of our own. hyper's
/// pool reads the alert (TLS 1.3 refuses a client certificate only after
/// the handshake) and only reports the request canceled; here the alert
/// comes back to us. `None` when the probe sees no TLS failure.
async fn probe(
    config: Arc<rustls::ClientConfig>,
    url: &Url,
    client_cert: bool,
) -> Option<TlsFailure> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::timeout;

    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    let name = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let name = rustls::pki_types::ServerName::try_from(name).ok()?;
    let tcp = timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect((host, port)))
        .await
        .ok()?
        .ok()?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut stream = match timeout(PROBE_TIMEOUT, connector.connect(name, tcp))
        .await
        .ok()?
    {
        Ok(stream) => stream,
        Err(error) => return classify_tls(&error, client_cert),
    };
    let request = b"GET /v1/status/leader HTTP/1.1\r\nHost: consul\r\nConnection: close\r\n\r\n";
    if let Err(error) = stream.write_all(request).await {
        return classify_tls(&error, client_cert);
    }
    let mut byte = [0_u8; 1];
    match timeout(PROBE_TIMEOUT, stream.read(&mut byte)).await.ok()? {
        Err(error) => classify_tls(&error, client_cert),
        Ok(_) => None,
    }
}

/// How long the probe of a dropped HTTPS connection may take per step.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the request was never written (hyper canceled it before sending).
fn unsent(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_canceled)
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Reads a body of at most `limit` bytes, refusing a longer one as soon as
/// its length (announced or read so far) says so.
async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
    classify: impl Fn(reqwest::Error) -> TransportError + Copy,
) -> Result<Bytes, TransportError> {
    let too_large = || {
        TransportError::new(
            TransportErrorKind::TooLarge,
            format!("the answer is longer than {limit} bytes"),
        )
    };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn classify(error: reqwest::Error, client_cert: bool) -> TransportError {
    // A TLS failure first: with TLS 1.3 a refused client certificate surfaces only when the
    // answer is read, which would otherwise look like a broken connection (unknown outcome)
    // although the server never read the request. Only causes that belong to the handshake
    // count so on a read: any other TLS error after connecting may follow a processed request.
    let tls = classify_tls(&error, client_cert)
        .filter(|failure| error.is_connect() || *failure != TlsFailure::Handshake);
    let kind = if let Some(failure) = tls {
        TransportErrorKind::Tls(failure)
    } else if error.is_connect() || unsent(&error) {
        // Never written, so certainly not applied.
        TransportErrorKind::Connect
    } else if error.is_timeout() {
        TransportErrorKind::Timeout
    } else {
        TransportErrorKind::Io
    };
    TransportError::new(kind, error)
}
