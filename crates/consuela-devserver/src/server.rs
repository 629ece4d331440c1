//! The network side: accept loop, HTTP/1.1 connections, graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::config::DevServerConfig;
use crate::error::Error;
use crate::state::ServerState;

/// A running dev server. Dropping it without [`DevServer::shutdown`] stops
/// accepting too (the tasks are cancelled), but does not wait for them.
#[derive(Debug)]
pub struct DevServer {
    state: ServerState,
    addr: SocketAddr,
}

impl DevServer {
    /// Serves `config` on an already-bound listener.
    pub async fn start(config: DevServerConfig, listener: TcpListener) -> Result<Self, Error> {
        let config = config.validate()?;
        let addr = listener.local_addr()?;
        let state = ServerState::new(config);
        let task_state = state.clone();
        state
            .shared
            .tracker
            .spawn(accept_loop(task_state, listener));
        Ok(Self { state, addr })
    }

    /// Binds `addr` (port 0 picks a free port) and serves `config` on it.
    pub async fn bind(config: DevServerConfig, addr: SocketAddr) -> Result<Self, Error> {
        let listener = TcpListener::bind(addr).await?;
        Self::start(config, listener).await
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, ready for a client's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.state.shared.shutdown.cancel();
    }
}

async fn accept_loop(state: ServerState, listener: TcpListener) {
    let shutdown = state.shared.shutdown.clone();
    let app = crate::http::router(state.clone());
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => return,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let shutdown = shutdown.clone();
        state.shared.tracker.spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    let mut req = req.map(axum::body::Body::new);
                    req.extensions_mut().insert(crate::http::Peer(peer));
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
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}
