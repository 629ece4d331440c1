//! [`Endpoint`]: the HTTP(S) listener through which other members put
//! messages into this member's mailboxes (the protocol is in [`wire`](super::wire)).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::mailbox::{Responder, await_reply};
use super::office::{PostOffice, deliver};
use super::refusal::Refusal;
use super::tls;
use super::wire::{self, Query};
use crate::config::{ConfigError, MessagingConfig};
use crate::error::Error;
use crate::event::{Event, Pulses};
use crate::name::Name;

/// The longest a sender may ask the endpoint to wait for room or a reply.
const MAX_WAIT: Duration = Duration::from_secs(600);

/// How long a delivery waits for a registration of its name in flight here
/// (the registry's default `registration_timeout`).
const SETTLE: Duration = Duration::from_secs(2);

/// How long a stopping endpoint lets the requests in flight finish.
const DRAIN: Duration = Duration::from_secs(1);

/// A running mail endpoint.
#[derive(Debug)]
pub(crate) struct Endpoint {
    stop: CancellationToken,
    tasks: TaskTracker,
}

/// What each request needs.
struct Context {
    office: Arc<dyn PostOffice>,
    pulses: Pulses,
    send_timeout: Duration,
    max_message_size: usize,
}

/// A bound, not yet serving, endpoint: its URL is known before the
/// registry it serves exists.
pub(crate) struct Bound {
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    url: String,
    send_timeout: Duration,
    max_message_size: usize,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("url", &self.url)
            .field("tls", &self.acceptor.is_some())
            .finish_non_exhaustive()
    }
}

impl Bound {
    /// Binds `config.listen`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Listen`] when the address cannot be bound,
    /// [`ConfigError::MessagingTls`] when the TLS files cannot be used.
    pub(crate) async fn bind(config: &MessagingConfig) -> Result<Self, Error> {
        let acceptor = match &config.tls {
            Some(settings) => Some(TlsAcceptor::from(Arc::new(tls::server_config(settings)?))),
            None => None,
        };
        let listen_error = |e: std::io::Error| ConfigError::Listen {
            listen: config.listen,
            reason: e.to_string(),
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(listen_error)?;
        let local_addr = listener.local_addr().map_err(listen_error)?;
        let url = config
            .advertise
            .clone()
            .unwrap_or_else(|| default_url(local_addr, acceptor.is_some()));
        Ok(Self {
            listener,
            acceptor,
            url,
            send_timeout: config.send_timeout,
            max_message_size: config.max_message_size,
        })
    }

    /// The URL other members will reach the endpoint at.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Serves mail for `office` until [`Endpoint::shutdown`], reporting
    /// to `pulses`.
    pub(crate) fn serve(self, office: Arc<dyn PostOffice>, pulses: Pulses) -> Endpoint {
        pulses.emit(Event::MailEndpointStarted {
            url: self.url.clone(),
        });
        let context = Arc::new(Context {
            office,
            pulses,
            send_timeout: self.send_timeout,
            max_message_size: self.max_message_size,
        });
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(accept_loop(
            self.listener,
            self.acceptor,
            context,
            stop.clone(),
            tasks.clone(),
        ));
        Endpoint { stop, tasks }
    }
}

impl Endpoint {
    /// Stops listening and closes every connection: idle ones at once, busy
    /// ones once their request is answered, within a second (a call still
    /// waiting for its reply then fails on the sender's side as maybe
    /// delivered).
    pub(crate) async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// `http(s)://<address>:<port>`, with this host's name for an unspecified
/// address.
fn default_url(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let host = if addr.ip().is_unspecified() {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    format!("{scheme}://{host}:{}", addr.port())
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    context: Arc<Context>,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors and the like: back off a little.
                    tracing::warn!(%error, "mail endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (acceptor, context, stop) = (acceptor.clone(), context.clone(), stop.clone());
        tasks.spawn(serve(stream, acceptor, context, stop));
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    acceptor: Option<TlsAcceptor>,
    context: Arc<Context>,
    stop: CancellationToken,
) {
    let service = hyper::service::service_fn(move |request| {
        let context = context.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(&context, request).await) }
    });
    let http = hyper::server::conn::http1::Builder::new();
    match acceptor {
        Some(acceptor) => {
            let tls = tokio::select! {
                () = stop.cancelled() => return,
                tls = acceptor.accept(stream) => tls,
            };
            match tls {
                Ok(tls) => drive(http.serve_connection(TokioIo::new(tls), service), &stop).await,
                Err(error) => tracing::debug!(%error, "mail endpoint: TLS handshake failed"),
            }
        }
        None => drive(http.serve_connection(TokioIo::new(stream), service), &stop).await,
    }
}

/// Serves one connection until it ends. At the endpoint's stop an idle
/// connection is closed at once, and one with a request in flight closes
/// after answering it (within [`DRAIN`]): a message the endpoint took is
/// acknowledged, so its sender does not have to think it may be lost.
async fn drive<I, S>(
    connection: hyper::server::conn::http1::Connection<I, S>,
    stop: &CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::HttpService<Incoming, ResBody = Full<Bytes>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut connection = std::pin::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            match tokio::time::timeout(DRAIN, connection.as_mut()).await {
                Ok(ended) => ended,
                Err(_) => return,
            }
        }
    };
    if let Err(error) = ended {
        tracing::debug!(%error, "mail endpoint: connection ended");
    }
}

/// One request, answered.
async fn handle(context: &Context, request: Request<Incoming>) -> Response<Full<Bytes>> {
    match accept(context, request).await {
        Ok((token, reply)) => {
            let mut response = Response::new(Full::new(reply.unwrap_or_default().into()));
            let headers = response.headers_mut();
            headers.insert(wire::TOKEN_HEADER, HeaderValue::from(token.get()));
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(Answer::Refused(refusal)) => {
            let (status, _) = refusal.status();
            json(status, &refusal.body())
        }
        Err(Answer::Invalid(status, detail)) => json(
            status,
            &serde_json::json!({"error": "bad_request", "detail": detail}),
        ),
    }
}

/// Why a request was not delivered.
enum Answer {
    Refused(Refusal),
    /// Not a delivery at all (wrong method, path or query).
    Invalid(u16, String),
}

impl From<Refusal> for Answer {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

/// Delivers the request's message: the owner's token and, for a call, the reply.
async fn accept(
    context: &Context,
    request: Request<Incoming>,
) -> Result<(crate::FencingToken, Option<Vec<u8>>), Answer> {
    let name = match wire::name_of(request.uri().path()) {
        None => return Err(Answer::Invalid(404, "no such path".to_owned())),
        Some(Err(detail)) => return Err(Answer::Invalid(400, detail)),
        Some(Ok(name)) => name,
    };
    if request.method() != Method::POST {
        return Err(Answer::Invalid(405, "mail is POSTed".to_owned()));
    }
    let query = Query::parse(request.uri().query().unwrap_or_default())
        .map_err(|detail| Answer::Invalid(400, detail))?;
    let body = Limited::new(request.into_body(), context.max_message_size)
        .collect()
        .await
        .map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                Refusal::TooLarge(context.max_message_size).into()
            } else {
                Answer::Invalid(400, format!("the body did not arrive: {error}"))
            }
        })?
        .to_bytes();
    let taken = take(context, &name, query, &body).await;
    if let Err(Answer::Refused(refusal)) = &taken {
        context.pulses.emit(Event::MailRefused {
            name,
            reason: refusal.status().1,
        });
    }
    taken
}

/// Puts a request's message into `name`'s mailbox (and waits for the reply
/// of a call).
async fn take(
    context: &Context,
    name: &Name,
    query: Query,
    body: &[u8],
) -> Result<(crate::FencingToken, Option<Vec<u8>>), Answer> {
    let office = &*context.office;
    let found = match office.find(name) {
        // A registration of the name is in flight here, and the sender may
        // have read its record already: wait for it to settle.
        Err(Refusal::Moved) => match office.settling(name) {
            Some(mut settled) => {
                let _ = tokio::time::timeout(SETTLE, settled.changed()).await;
                office.find(name)?
            }
            None => return Err(Refusal::Moved.into()),
        },
        found => found?,
    };
    found.check(query.token)?;
    let message = found.inbox.decode(body)?;
    let wait = query.wait.unwrap_or(context.send_timeout).min(MAX_WAIT);
    let Some(call) = query.call else {
        deliver(office, name, &found, message, None, wait).await?;
        return Ok((found.token, None));
    };
    let (responder, reply) = Responder::new();
    deliver(office, name, &found, message, Some(responder), wait).await?;
    let reply = await_reply(reply, call.min(MAX_WAIT)).await?;
    Ok((found.token, Some(reply)))
}

fn json(status: u16, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
