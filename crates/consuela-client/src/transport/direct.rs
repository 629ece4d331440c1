//! The default backend: hyper-util's pooled HTTP/1.1 client over our
//! [`Connector`].
//!
//! reqwest, which the proxied backend uses, builds on the same client but adds
//! layers a Consul agent never needs (redirects, which the client refuses anyway,
//! proxy matching, a URL parsed again per answer, a boxed body): about 15 µs of
//! CPU per request on a loopback agent, as much as the registry's own work
//! (docs/performance.md).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use reqwest::header::{HeaderValue, USER_AGENT};

use super::connect::Connector;
use super::failure::{classify, probe, tls_for, unsent};
use super::{HttpRequest, HttpResponse, TransportError, TransportErrorKind};

/// `consuela-client/<version>`, on every request.
const AGENT: HeaderValue =
    HeaderValue::from_static(concat!("consuela-client/", env!("CARGO_PKG_VERSION")));

/// A pooled client and the limits it applies to answers. Cheap to clone: each
/// request takes a clone along.
#[derive(Debug, Clone)]
pub(super) struct Direct {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client<Connector, Full<Bytes>>,
    max_response_size: Option<usize>,
    /// Whether a client certificate is configured (tells a refused one from a missing one).
    client_cert: bool,
    /// Over HTTPS, the TLS configuration: a request canceled unsent is sent
    /// again, and if it never goes out, a probe connection of our own reads
    /// why (see [`probe`]).
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// What [`Direct::new`] needs.
#[derive(Debug)]
pub(super) struct Settings {
    pub(super) unix: Option<PathBuf>,
    /// TLS for `https` URIs.
    pub(super) tls: Option<Arc<rustls::ClientConfig>>,
    pub(super) client_cert: bool,
    pub(super) connect_timeout: Duration,
    pub(super) pool_max_idle: usize,
    pub(super) pool_idle_timeout: Duration,
    pub(super) max_response_size: Option<usize>,
}

impl Direct {
    pub(super) fn new(settings: Settings) -> Self {
        let Settings {
            unix,
            tls,
            client_cert,
            connect_timeout,
            pool_max_idle,
            pool_idle_timeout,
            max_response_size,
        } = settings;
        let connector = Connector::new(unix, tls.clone(), connect_timeout);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool_max_idle)
            .pool_idle_timeout(pool_idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(connector);
        let inner = Inner {
            client,
            max_response_size,
            client_cert,
            tls,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Sends `request` and reads the whole answer (no deadline: the caller's).
    pub(super) fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send + 'static {
        let this = self.inner.clone();
        async move {
            let classify = |error: &(dyn std::error::Error + 'static), connect| {
                classify(error, connect, this.client_cert)
            };
            let uri: Uri = request.url.as_str().parse().map_err(|error| {
                TransportError::new(TransportErrorKind::Connect, Box::new(error))
            })?;
            let body = request.body.unwrap_or_default();
            let mut headers = request.headers;
            headers.insert(USER_AGENT, AGENT);
            let tls = tls_for(this.tls.as_ref(), &request.url);
            // Sent again (at most twice more) when the connection closed before the
            // request was written: hyper then cancels it unsent. Only over HTTPS, where it
            // happens on fresh connections; over plain HTTP hyper already retries the
            // reused connections it happens on. A server that hangs up right after the
            // handshake does that, as TLS 1.3 refusing a client certificate does when its
            // alert is not read in time; the next attempt usually reads the alert, which
            // names the cause.
            let mut attempts = if tls.is_some() { 3 } else { 1 };
            let response = loop {
                attempts -= 1;
                let mut outgoing = Request::new(Full::new(body.clone()));
                *outgoing.method_mut() = request.method.clone();
                *outgoing.uri_mut() = uri.clone();
                *outgoing.headers_mut() = if attempts == 0 {
                    std::mem::take(&mut headers)
                } else {
                    headers.clone()
                };
                match this.client.request(outgoing).await {
                    Ok(response) => break response,
                    Err(error) if attempts > 0 && unsent(&error) => {}
                    Err(error) => {
                        let connect = error.is_connect();
                        let mut kind = classify(&error, connect);
                        if let (Some(config), true) = (tls, unsent(&error)) {
                            kind = match probe(config.clone(), &request.url, this.client_cert).await
                            {
                                Some(failure) => TransportErrorKind::Tls(failure),
                                None => TransportErrorKind::Connect,
                            };
                        }
                        return Err(TransportError::new(kind, Box::new(error)));
                    }
                }
            };
            let (parts, body) = response.into_parts();
            let body =
                read(body, this.max_response_size)
                    .await
                    .map_err(|failure| match failure {
                        Unread::TooLarge(limit) => TransportError::too_large(limit),
                        Unread::Failed(error) => {
                            let kind = classify(&error, false);
                            TransportError::new(kind, Box::new(error))
                        }
                    })?;
            Ok(HttpResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        }
    }
}

/// Why an answer's body was not read.
enum Unread {
    TooLarge(usize),
    Failed(hyper::Error),
}

/// Reads the whole body, refusing one longer than `limit` as soon as its
/// announced length or what arrived says so. A body of one frame (the usual
/// answer) is kept as it came, without a copy.
async fn read(body: Incoming, limit: Option<usize>) -> Result<Bytes, Unread> {
    use hyper::body::Body as _;
    let Some(limit) = limit else {
        let collected = body.collect().await.map_err(Unread::Failed)?;
        return Ok(collected.to_bytes());
    };
    // The lower bound is the announced `Content-Length`, when there is one.
    if body.size_hint().lower() > limit as u64 {
        return Err(Unread::TooLarge(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        // Limited's own error is the only other one it returns.
        Err(error) => match error.downcast::<hyper::Error>() {
            Ok(error) => Err(Unread::Failed(*error)),
            Err(_) => Err(Unread::TooLarge(limit)),
        },
    }
}
