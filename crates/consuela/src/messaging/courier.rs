//! [`Courier`]: delivers messages to mailboxes on other members over
//! HTTP(S), finding the owner through the directory (once per owner: it
//! remembers where it delivered).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use consuela_client::{ClientConfig, Consistency, HttpRequest, HttpTransport, Transport};
use hyper::Method;
use url::Url;

use super::options::{Receipt, SendOptions};
use super::refusal::Refusal;
use super::routes::{Route, Routes};
use super::wire::{self, Query};
use crate::config::{ConfigError, MessagingConfig};
use crate::directory::Directory;
use crate::error::{Error, ErrorKind};
use crate::name::Name;
use crate::token::FencingToken;

/// Sends messages to the owners of names, wherever they run: what
/// [`Registry::send`](crate::Registry::send) uses for names held by other
/// members, and what a process without a registry of its own (an operator's
/// `consuela send`) sends with. Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub struct Courier {
    /// The Consul client's HTTP stack, for any host.
    http: HttpTransport,
    request_timeout: Duration,
    send_timeout: Duration,
    routes: Arc<Routes>,
}

/// Why a post did not deliver.
#[derive(Debug)]
enum Failure {
    Refused(Refusal),
    Unreachable { maybe_delivered: bool },
}

impl Courier {
    /// A courier with `config`'s timeouts and TLS (`messaging.tls`: the CA
    /// that signs endpoints, the client certificate for `verify_incoming`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the TLS files cannot be used.
    pub fn new(config: &MessagingConfig) -> Result<Self, Error> {
        let mut http = ClientConfig::default().connect_timeout(config.request_timeout);
        http.tls = config.client_tls();
        let http = HttpTransport::for_any_host(&http)
            .map_err(|e| ConfigError::MessagingTls(e.to_string()))?;
        Ok(Self {
            http,
            request_timeout: config.request_timeout,
            send_timeout: config.send_timeout,
            routes: Arc::default(),
        })
    }

    /// Sends `body`, a JSON message, to the mailbox of `name`'s owner as
    /// `directory` reads it.
    ///
    /// # Errors
    ///
    /// As [`Registry::send`](crate::Registry::send).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a message sent before the cancellation may have been
    /// delivered.
    pub async fn send_json(
        &self,
        directory: &Directory,
        name: impl AsRef<str>,
        body: &[u8],
        options: SendOptions,
    ) -> Result<Receipt, Error> {
        let name = Name::new(name)?;
        let body = Bytes::copy_from_slice(body);
        let (receipt, _) = self.route(directory, &name, body, options, None).await?;
        Ok(receipt)
    }

    /// Calls `name`'s owner with `body`, a JSON message, and returns its
    /// JSON reply.
    ///
    /// # Errors
    ///
    /// As [`Registry::call`](crate::Registry::call).
    ///
    /// # Cancel safety
    ///
    /// As [`send_json`](Self::send_json).
    pub async fn call_json(
        &self,
        directory: &Directory,
        name: impl AsRef<str>,
        body: &[u8],
        timeout: Duration,
        options: SendOptions,
    ) -> Result<(Receipt, Vec<u8>), Error> {
        let name = Name::new(name)?;
        let body = Bytes::copy_from_slice(body);
        let (receipt, reply) = self
            .route(directory, &name, body, options, Some(timeout))
            .await?;
        Ok((receipt, reply.unwrap_or_default()))
    }

    /// Posts to the owner of `name`: the one this courier last delivered
    /// to, or else the one the directory reads. When the name moved under
    /// the post (refused without delivery, or the endpoint refused the
    /// connection), looks it up once more, consistently, and posts to the
    /// new owner. Every post carries the token of the owner addressed, so a
    /// remembered owner that moved on refuses rather than takes it.
    pub(crate) async fn route(
        &self,
        directory: &Directory,
        name: &Name,
        body: Bytes,
        options: SendOptions,
        call: Option<Duration>,
    ) -> Result<(Receipt, Option<Vec<u8>>), Error> {
        let result = self.route_once(directory, name, body, options, call).await;
        if result.is_err() {
            self.routes.forget(name);
        }
        result
    }

    async fn route_once(
        &self,
        directory: &Directory,
        name: &Name,
        body: Bytes,
        options: SendOptions,
        call: Option<Duration>,
    ) -> Result<(Receipt, Option<Vec<u8>>), Error> {
        let mut remembered = self
            .routes
            .get(name)
            .filter(|r| options.expect.is_none_or(|t| t == r.token));
        let mut failed: Option<(FencingToken, Error)> = None;
        for consistency in [Consistency::Default, Consistency::Consistent] {
            let route = match remembered.take() {
                Some(route) if failed.is_none() => route,
                _ => {
                    let holder = directory.holder(name, consistency).await?;
                    let holder = holder.ok_or_else(|| Error::new(ErrorKind::NoOwner))?;
                    Arc::new(Route::new(name, holder))
                }
            };
            let token = route.token;
            if let Some(expect) = options.expect
                && expect != token
            {
                return Err(Error::new(ErrorKind::Stale {
                    current: Some(token),
                }));
            }
            if let Some((tried, error)) = failed.take()
                && tried == token
            {
                // Still the owner that did not take it.
                return Err(error);
            }
            let target = route
                .target
                .as_deref()
                .ok_or_else(|| Error::new(ErrorKind::NoMailbox))?;
            let query = Query {
                token: Some(token),
                wait: options.wait,
                call,
            };
            let moved = match self.post(target, query, body.clone()).await {
                Ok((token, reply)) => {
                    let receipt = Receipt {
                        token,
                        holder: route.id.clone(),
                    };
                    self.routes.remember(name, route);
                    return Ok((receipt, call.map(|_| reply.to_vec())));
                }
                Err(Failure::Refused(refusal))
                    if refusal.is_moved() && options.expect.is_none() =>
                {
                    refusal.into()
                }
                Err(Failure::Unreachable {
                    maybe_delivered: false,
                }) => Error::new(ErrorKind::OwnerUnreachable {
                    maybe_delivered: false,
                }),
                Err(Failure::Refused(refusal)) => return Err(refusal.into()),
                Err(Failure::Unreachable { maybe_delivered }) => {
                    return Err(Error::new(ErrorKind::OwnerUnreachable { maybe_delivered }));
                }
            };
            failed = Some((token, moved));
        }
        Err(failed.map_or_else(|| Error::new(ErrorKind::NoOwner), |(_, e)| e))
    }

    /// One POST to a mailbox's URL.
    async fn post(
        &self,
        mailbox: &str,
        query: Query,
        body: Bytes,
    ) -> Result<(FencingToken, Bytes), Failure> {
        let mut target = String::with_capacity(mailbox.len() + 48);
        target.push_str(mailbox);
        target.push('?');
        query.encode_into(&mut target);
        let waits = query.wait.unwrap_or(self.send_timeout) + query.call.unwrap_or_default();
        // A mailbox URL that does not parse was never sent to.
        let url = Url::parse(&target).map_err(|_| Failure::Unreachable {
            maybe_delivered: false,
        })?;
        let request = HttpRequest::new(Method::POST, url, self.request_timeout + waits)
            .with_body("application/json", body);
        let response = match self.http.send(request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%error, mailbox, "mail delivery failed");
                return Err(Failure::Unreachable {
                    maybe_delivered: !error.kind().nothing_sent(),
                });
            }
        };
        let status = response.status;
        let token = response
            .headers
            .get(wire::TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .map(FencingToken::new);
        let bytes = response.body;
        match (status.as_u16(), token) {
            (200, Some(token)) => Ok((token, bytes)),
            _ => Err(match Refusal::parse(&bytes) {
                Some(refusal) => Failure::Refused(refusal),
                // Not an endpoint's answer (a proxy's, say): it may have
                // reached the owner.
                None => Failure::Unreachable {
                    maybe_delivered: true,
                },
            }),
        }
    }
}
