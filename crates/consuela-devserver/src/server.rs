//! The network side: TCP (plain or TLS) and unix-socket listeners, the accept loop,
//! HTTP/1.1 connections, graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::config::DevServerConfig;
use crate::error::Error;
use crate::state::ServerState;
use crate::tls::DevServerTls;

/// Where a dev server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Listen {
    /// Plain HTTP on a TCP address.
    Http(SocketAddr),
    /// HTTPS on a TCP address.
    Https(SocketAddr),
    /// Plain HTTP on a unix socket (`unix:///path`).
    Unix(PathBuf),
}

/// A running dev server. Dropping it without [`DevServer::shutdown`] stops
/// accepting too (the tasks are cancelled), but does not wait for them.
#[derive(Debug)]
pub struct DevServer {
    state: ServerState,
    listen: Listen,
}

impl DevServer {
    /// Serves `config` on an already-bound listener.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid configuration, [`Error::Io`] when the
    /// listener's address cannot be read.
    pub async fn start(config: DevServerConfig, listener: TcpListener) -> Result<Self, Error> {
        let addr = listener.local_addr()?;
        Self::serve(config, Listener::Tcp(listener, None), Listen::Http(addr))
    }

    /// Binds `addr` (port 0 picks a free port) and serves `config` on it.
    ///
    /// # Errors
    ///
    /// As [`DevServer::start`], and [`Error::Io`] when the address cannot be bound.
    pub async fn bind(config: DevServerConfig, addr: SocketAddr) -> Result<Self, Error> {
        let listener = TcpListener::bind(addr).await?;
        Self::start(config, listener).await
    }

    /// Serves `config` over HTTPS on an already-bound listener.
    ///
    /// # Errors
    ///
    /// As [`DevServer::start`], and [`Error::Tls`] for unusable TLS settings.
    pub async fn start_tls(
        config: DevServerConfig,
        listener: TcpListener,
        tls: &DevServerTls,
    ) -> Result<Self, Error> {
        let acceptor = TlsAcceptor::from(Arc::new(tls.server_config()?));
        let addr = listener.local_addr()?;
        Self::serve(
            config,
            Listener::Tcp(listener, Some(acceptor)),
            Listen::Https(addr),
        )
    }

    /// Binds `addr` and serves `config` over HTTPS on it.
    ///
    /// # Errors
    ///
    /// As [`DevServer::start_tls`], and [`Error::Io`] when the address cannot be bound.
    pub async fn bind_tls(
        config: DevServerConfig,
        addr: SocketAddr,
        tls: &DevServerTls,
    ) -> Result<Self, Error> {
        // Check the TLS settings before taking the port.
        tls.server_config()?;
        let listener = TcpListener::bind(addr).await?;
        Self::start_tls(config, listener, tls).await
    }

    /// Listens on a unix socket at `path` (a stale socket file there is replaced, as a Consul
    /// agent does; any other file is an error) and serves `config` on it. The socket file is
    /// removed on [`DevServer::shutdown`].
    ///
    /// # Errors
    ///
    /// As [`DevServer::start`], and [`Error::Io`] when the socket cannot be bound.
    pub async fn bind_unix(config: DevServerConfig, path: &Path) -> Result<Self, Error> {
        use std::os::unix::fs::FileTypeExt as _;
        if let Ok(meta) = std::fs::symlink_metadata(path)
            && meta.file_type().is_socket()
        {
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        Self::serve(
            config,
            Listener::Unix(listener),
            Listen::Unix(path.to_owned()),
        )
    }

    fn serve(config: DevServerConfig, listener: Listener, listen: Listen) -> Result<Self, Error> {
        let config = config.validate()?;
        let state = ServerState::new(config);
        let task_state = state.clone();
        state
            .shared
            .tracker
            .spawn(accept_loop(task_state, listener));
        Ok(Self { state, listen })
    }

    /// Where the server listens.
    pub fn listen(&self) -> &Listen {
        &self.listen
    }

    /// The bound TCP address; `0.0.0.0:0` for a unix socket (see [`DevServer::listen`]).
    pub fn local_addr(&self) -> SocketAddr {
        match &self.listen {
            Listen::Http(addr) | Listen::Https(addr) => *addr,
            Listen::Unix(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    /// The address for a client: `http://IP:PORT`, `https://IP:PORT` or
    /// `unix:///path`, as `CONSUL_HTTP_ADDR` takes it.
    pub fn url(&self) -> String {
        match &self.listen {
            Listen::Http(addr) => format!("http://{addr}"),
            Listen::Https(addr) => format!("https://{addr}"),
            Listen::Unix(path) => format!("unix://{}", path.display()),
        }
    }

    /// The state handle: fault injection and inspection without HTTP.
    pub fn state(&self) -> &ServerState {
        &self.state
    }

    /// Resolves once the server has begun shutting down, by
    /// [`DevServer::shutdown`] or because a client asked the agent to leave
    /// (`PUT /v1/agent/leave`, after which Consul's agent exits too).
    pub async fn stopped(&self) {
        self.state.stopped().await;
    }

    /// See [`ServerState::invalidate_session`].
    pub fn invalidate_session(&self, id: &consuela_wire::SessionId) -> bool {
        self.state.invalidate_session(id)
    }

    /// See [`ServerState::set_no_leader`].
    pub fn set_no_leader(&self, count: Option<u32>) {
        self.state.set_no_leader(count);
    }

    /// See [`ServerState::clear_no_leader`].
    pub fn clear_no_leader(&self) {
        self.state.clear_no_leader();
    }

    /// See [`ServerState::set_latency`].
    pub fn set_latency(&self, latency: Duration) {
        self.state.set_latency(latency);
    }

    /// See [`ServerState::hold_election`].
    pub fn hold_election(&self, length: Duration) {
        self.state.hold_election(length);
    }

    /// See [`ServerState::restart_agent`].
    pub fn restart_agent(&self, down: Duration) {
        self.state.restart_agent(down);
    }

    /// See [`ServerState::pause_ttl`].
    pub fn pause_ttl(&self, paused: bool) {
        self.state.pause_ttl(paused);
    }

    /// See [`ServerState::reset_faults`].
    pub fn reset_faults(&self) {
        self.state.reset_faults();
    }

    /// Stops accepting, ends blocking queries (they answer with their current
    /// result), lets in-flight requests finish, and joins every task.
    pub async fn shutdown(self) {
        self.state.shutdown().await;
        if let Listen::Unix(path) = &self.listen {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.state.shared.shutdown.cancel();
    }
}

/// A bound listener: TCP (with TLS when it has an acceptor) or a unix socket.
enum Listener {
    Tcp(TcpListener, Option<TlsAcceptor>),
    Unix(UnixListener),
}

/// How long a client may take over its TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn accept_loop(state: ServerState, mut listener: Listener) {
    let shutdown = state.shared.shutdown.clone();
    let app = crate::http::router(state.clone());
    let mut restarts = state.shared.faults.restarts.subscribe();
    loop {
        let accepted = tokio::select! {
            r = accept(&listener) => r,
            () = shutdown.cancelled() => return,
            Ok(()) = restarts.changed() => {
                let back = *restarts.borrow_and_update();
                match restart(listener, back, &shutdown).await {
                    Some(again) => listener = again,
                    None => return,
                }
                continue;
            }
        };
        let connection = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let app = app.clone();
        let cut = Cut {
            shutdown: shutdown.clone(),
            restarts: state.shared.faults.restarts.subscribe(),
        };
        match connection {
            Accepted::Tcp(stream, peer, None) => {
                state
                    .shared
                    .tracker
                    .spawn(serve_connection(stream, Some(peer), app, cut));
            }
            Accepted::Tcp(stream, peer, Some(acceptor)) => {
                state.shared.tracker.spawn(async move {
                    // The handshake runs on the connection's own task, so a slow client
                    // never holds up the accept loop.
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    let stream = tokio::select! {
                        r = handshake => match r {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        },
                        () = cut.shutdown.cancelled() => return,
                    };
                    serve_connection(stream, Some(peer), app, cut).await;
                });
            }
            Accepted::Unix(stream) => {
                state
                    .shared
                    .tracker
                    .spawn(serve_connection(stream, None, app, cut));
            }
        }
    }
}

/// An agent restart: closes the listener until `back`, then binds the same
/// address again. `None` when the server shut down meanwhile or the address
/// cannot be bound again.
async fn restart(
    listener: Listener,
    back: Option<tokio::time::Instant>,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Option<Listener> {
    let (addr, acceptor) = match &listener {
        Listener::Tcp(l, acceptor) => (Ok(l.local_addr().ok()?), acceptor.clone()),
        Listener::Unix(l) => (Err(l.local_addr().ok()?.as_pathname()?.to_path_buf()), None),
    };
    drop(listener);
    if let Err(path) = &addr {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("agent restarting");
    tokio::select! {
        () = tokio::time::sleep_until(back.unwrap_or_else(tokio::time::Instant::now)) => {}
        () = shutdown.cancelled() => return None,
    }
    let bound = match addr {
        Ok(addr) => TcpListener::bind(addr)
            .await
            .map(|l| Listener::Tcp(l, acceptor)),
        Err(path) => UnixListener::bind(path).map(Listener::Unix),
    };
    match bound {
        Ok(listener) => {
            tracing::info!("agent back");
            Some(listener)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot listen again after the agent restart");
            None
        }
    }
}

/// What ends a connection: the server's shutdown (gracefully) or an agent
/// restart (abruptly, as a killed process would).
struct Cut {
    shutdown: tokio_util::sync::CancellationToken,
    restarts: tokio::sync::watch::Receiver<Option<tokio::time::Instant>>,
}

enum Accepted {
    Tcp(TcpStream, SocketAddr, Option<TlsAcceptor>),
    Unix(UnixStream),
}

async fn accept(listener: &Listener) -> std::io::Result<Accepted> {
    match listener {
        Listener::Tcp(listener, acceptor) => {
            let (stream, peer) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok(Accepted::Tcp(stream, peer, acceptor.clone()))
        }
        Listener::Unix(listener) => Ok(Accepted::Unix(listener.accept().await?.0)),
    }
}

async fn serve_connection<S>(stream: S, peer: Option<SocketAddr>, app: axum::Router, mut cut: Cut)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let app = app.clone();
        let mut req = req.map(axum::body::Body::new);
        if let Some(peer) = peer {
            req.extensions_mut().insert(crate::http::Peer(peer));
        }
        async move {
            let resp = app.oneshot(req).await;
            Ok::<_, Infallible>(resp.unwrap_or_else(|e| match e {}))
        }
    });
    // Go canonicalises header names (X-Consul-Knownleader); hyper's
    // title-case mode writes exactly that.
    let conn = http1::Builder::new()
        .title_case_headers(true)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        () = cut.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
        // Dropped mid-request: the client sees the connection reset.
        Ok(()) = cut.restarts.changed() => {}
    }
}
