//! The backend for an environment that names a proxy: `reqwest`, which applies
//! `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`.

use std::sync::Arc;

use bytes::Bytes;

use super::failure::{classify, probe, tls_for, unsent};
use super::{HttpRequest, HttpResponse, TransportError, TransportErrorKind};
use crate::config::ClientConfig;
use crate::error::{ConfigError, Error};

/// A pooled `reqwest` client and the limits it applies to answers.
#[derive(Debug, Clone)]
pub(super) struct Proxied {
    client: reqwest::Client,
    max_response_size: Option<usize>,
    /// Whether a client certificate is configured (tells a refused one from a missing one).
    client_cert: bool,
    /// Over HTTPS, the TLS configuration: a request canceled unsent is sent
    /// again (see [`send_unsent`]), and if it never goes out, a probe
    /// connection of our own reads why (see [`probe`]).
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Proxied {
    /// A client with the timeout and pool settings of `config`, and `rustls_config`.
    pub(super) fn new(
        config: &ClientConfig,
        rustls_config: rustls::ClientConfig,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(config.pool_max_idle)
            .pool_idle_timeout(config.pool_idle_timeout)
            // Consul answers 301 for non-canonical paths; following it would turn a PUT into a
            // GET elsewhere. Surface it as an error instead.
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .use_preconfigured_tls(rustls_config)
            .user_agent(concat!("consuela-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ConfigError::Http)?;
        Ok(Self {
            client,
            max_response_size: config.max_response_size,
            client_cert: config.tls.has_client_certificate(),
            tls,
        })
    }

    /// Sends `request` and reads the whole answer (no deadline: the caller's).
    pub(super) fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send + 'static {
        let tls = tls_for(self.tls.as_ref(), &request.url)
            .map(|config| (config.clone(), request.url.clone()));
        let mut builder = self
            .client
            .request(request.method, request.url)
            .headers(request.headers);
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let limit = self.max_response_size;
        let client_cert = self.client_cert;
        let fail = move |error: reqwest::Error| {
            let kind = match classify(&error, error.is_connect(), client_cert) {
                TransportErrorKind::Io if error.is_timeout() => TransportErrorKind::Timeout,
                kind => kind,
            };
            TransportError::new(kind, error)
        };
        async move {
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
                (Err(error), _) => return Err(fail(error)),
            };
            let status = response.status();
            let headers = std::mem::take(response.headers_mut());
            let body = match limit {
                None => response.bytes().await.map_err(fail)?,
                Some(limit) => read_limited(response, limit, fail).await?,
            };
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        }
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

/// Reads a body of at most `limit` bytes, refusing a longer one as soon as
/// its length (announced or read so far) says so.
async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
    fail: impl Fn(reqwest::Error) -> TransportError + Copy,
) -> Result<Bytes, TransportError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(TransportError::too_large(limit));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(fail)? {
        if body.len() + chunk.len() > limit {
            return Err(TransportError::too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
