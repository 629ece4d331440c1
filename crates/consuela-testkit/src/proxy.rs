//! A TCP fault-injection proxy, modelled on the Erlang original's `ct_proxy`.
//!
//! Put a [`FaultProxy`] between a client and Consul (or the dev server), point the client at
//! [`FaultProxy::addr`], and switch [`Mode`]s at runtime to model a healthy network, a black
//! hole, a dead agent or a connection reset mid-response.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Forward bytes both ways (with the configured [`Latency`]).
    Pass,
    /// Accept connections and read requests, but never forward or answer: a black hole that
    /// holds connections open. Data arriving from upstream on live connections is dropped too.
    Ignore,
    /// Close live connections at once and close every new connection right after accepting it.
    Stop,
    /// Close the listening socket so new connections are refused (`ECONNREFUSED`); live
    /// connections are closed. Switching to another mode listens again on the same address.
    Refuse,
    /// Forward requests, but when an answer arrives forward only its first `after_bytes` bytes
    /// and then reset the client connection (TCP RST).
    ResetResponse {
        /// How many bytes of the answer reach the client before the reset.
        after_bytes: usize,
    },
}

/// Added delay per forwarded chunk, per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Delay before forwarding each chunk from the client to upstream.
    pub upstream: Duration,
    /// Delay before forwarding each chunk from upstream to the client.
    pub downstream: Duration,
}

impl Latency {
    /// The same delay in both directions.
    pub fn both(delay: Duration) -> Self {
        Self {
            upstream: delay,
            downstream: delay,
        }
    }
}

/// Options for [`FaultProxy::start_with`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct FaultProxyConfig {
    /// Initial mode. Default [`Mode::Pass`].
    pub mode: Mode,
    /// Initial latency. Default none.
    pub latency: Latency,
    /// Reset (TCP RST) every live connection whenever the mode changes, so a keep-alive pool
    /// notices the cut at once. Default `false`.
    pub reset_on_mode_change: bool,
}

impl Default for FaultProxyConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Pass,
            latency: Latency::default(),
            reset_on_mode_change: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    mode: Mode,
    latency: Latency,
    reset_on_mode_change: bool,
    upstream: SocketAddr,
    /// Bumped on every mode or upstream change, so connections can tell a mode change from a latency change.
    generation: u64,
}

#[derive(Debug)]
struct Shared {
    settings: watch::Sender<Settings>,
    accepted: AtomicU64,
    live: AtomicUsize,
}

/// A cloneable handle that switches a running [`FaultProxy`].
#[derive(Debug, Clone)]
pub struct FaultProxyHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl FaultProxyHandle {
    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, for HTTP clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the mode. Takes effect for live connections at their next chunk.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.settings.send_modify(|settings| {
            settings.mode = mode;
            settings.generation += 1;
        });
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.shared.settings.borrow().mode
    }

    /// Points new upstream connections at `upstream` (e.g. another server, to model a
    /// fail-over). Counts as a mode change for [`set_reset_on_mode_change`](Self::set_reset_on_mode_change);
    /// without it, live connections keep their old upstream.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.shared.settings.send_modify(|settings| {
            settings.upstream = upstream;
            settings.generation += 1;
        });
    }

    /// Sets the added latency.
    pub fn set_latency(&self, latency: Latency) {
        self.shared
            .settings
            .send_modify(|settings| settings.latency = latency);
    }

    /// Turns resetting live connections on mode changes on or off.
    pub fn set_reset_on_mode_change(&self, reset: bool) {
        self.shared
            .settings
            .send_modify(|settings| settings.reset_on_mode_change = reset);
    }

    /// Connections accepted since start.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections currently open on the client side.
    pub fn live(&self) -> usize {
        self.shared.live.load(Ordering::Relaxed)
    }
}

/// A running proxy on `127.0.0.1:<random port>` in front of an upstream address.
///
/// Every task it starts is tracked; [`shutdown`](Self::shutdown) closes everything and joins
/// them. Dropping it without `shutdown` cancels the tasks without waiting.
#[derive(Debug)]
pub struct FaultProxy {
    handle: FaultProxyHandle,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl FaultProxy {
    /// Starts a proxy in [`Mode::Pass`] in front of `upstream`.
    ///
    /// # Errors
    ///
    /// When the loopback listener cannot be bound.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        Self::start_with(upstream, FaultProxyConfig::default()).await
    }

    /// Starts a proxy with explicit options.
    ///
    /// # Errors
    ///
    /// When the loopback listener cannot be bound.
    pub async fn start_with(upstream: SocketAddr, config: FaultProxyConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (settings, _) = watch::channel(Settings {
            mode: config.mode,
            latency: config.latency,
            reset_on_mode_change: config.reset_on_mode_change,
            upstream,
            generation: 0,
        });
        let shared = Arc::new(Shared {
            settings,
            accepted: AtomicU64::new(0),
            live: AtomicUsize::new(0),
        });
        let tracker = TaskTracker::new();
        let cancel = CancellationToken::new();
        let acceptor = Acceptor {
            addr,
            shared: shared.clone(),
            tracker: tracker.clone(),
            cancel: cancel.clone(),
        };
        tracker.spawn(acceptor.run(listener));
        Ok(Self {
            handle: FaultProxyHandle { shared, addr },
            tracker,
            cancel,
        })
    }

    /// A cloneable handle for switching modes from elsewhere.
    pub fn handle(&self) -> FaultProxyHandle {
        self.handle.clone()
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.handle.addr
    }

    /// `http://<addr>`, for HTTP clients.
    pub fn url(&self) -> String {
        self.handle.url()
    }

    /// Switches the mode. See [`FaultProxyHandle::set_mode`].
    pub fn set_mode(&self, mode: Mode) {
        self.handle.set_mode(mode);
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.handle.mode()
    }

    /// Points new upstream connections elsewhere. See [`FaultProxyHandle::set_upstream`].
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.handle.set_upstream(upstream);
    }

    /// Sets the added latency.
    pub fn set_latency(&self, latency: Latency) {
        self.handle.set_latency(latency);
    }

    /// Turns resetting live connections on mode changes on or off.
    pub fn set_reset_on_mode_change(&self, reset: bool) {
        self.handle.set_reset_on_mode_change(reset);
    }

    /// Connections accepted since start.
    pub fn accepted(&self) -> u64 {
        self.handle.accepted()
    }

    /// Connections currently open on the client side.
    pub fn live(&self) -> usize {
        self.handle.live()
    }

    /// Stops listening, closes every connection and waits for every task to end.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

struct Acceptor {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Acceptor {
    async fn run(self, listener: TcpListener) {
        let mut settings = self.shared.settings.subscribe();
        let mut listener = Some(listener);
        loop {
            let mode = settings.borrow_and_update().mode;
            if mode == Mode::Refuse {
                // Closing the socket makes the kernel refuse connections.
                listener = None;
            } else if listener.is_none() {
                match self.rebind().await {
                    Some(bound) => listener = Some(bound),
                    None => return,
                }
            }
            tokio::select! {
                () = self.cancel.cancelled() => return,
                changed = settings.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                accepted = accept(listener.as_ref()) => {
                    let Ok((stream, _peer)) = accepted else {
                        // Accept errors (e.g. out of descriptors) are transient; keep serving.
                        continue;
                    };
                    self.shared.accepted.fetch_add(1, Ordering::Relaxed);
                    if mode == Mode::Stop {
                        drop(stream);
                        continue;
                    }
                    let connection = Connection {
                        shared: self.shared.clone(),
                        cancel: self.cancel.clone(),
                    };
                    self.tracker.spawn(connection.run(stream));
                }
            }
        }
    }

    /// Listens again on the same address after [`Mode::Refuse`].
    async fn rebind(&self) -> Option<TcpListener> {
        // The port was ours a moment ago; retry briefly in case the kernel still holds it.
        for _ in 0..100 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => return Some(listener),
                Err(error) => {
                    tracing::debug!(%error, addr = %self.addr, "fault proxy rebind failed, retrying");
                    tokio::select! {
                        () = self.cancel.cancelled() => return None,
                        () = tokio::time::sleep(Duration::from_millis(20)) => {}
                    }
                }
            }
        }
        tracing::error!(addr = %self.addr, "fault proxy could not listen again");
        None
    }
}

async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

struct Connection {
    shared: Arc<Shared>,
    cancel: CancellationToken,
}

/// How a connection ends.
enum End {
    /// Close normally (FIN).
    Close,
    /// Reset (RST).
    Reset,
}

struct LiveGuard<'a>(&'a AtomicUsize);

impl Drop for LiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connection {
    async fn run(self, mut client: TcpStream) {
        self.shared.live.fetch_add(1, Ordering::Relaxed);
        let _live = LiveGuard(&self.shared.live);
        let _ = client.set_nodelay(true);
        let end = self.pump(&mut client).await;
        if let End::Reset = end {
            let _ = client.set_zero_linger();
        }
        drop(client);
    }

    async fn pump(&self, client: &mut TcpStream) -> End {
        let mut settings_rx = self.shared.settings.subscribe();
        let mut settings = *settings_rx.borrow_and_update();
        let mut upstream: Option<TcpStream> = None;
        let mut client_buf = vec![0_u8; 16 * 1024];
        let mut upstream_buf = vec![0_u8; 16 * 1024];
        loop {
            match settings.mode {
                Mode::Stop | Mode::Refuse => {
                    return if settings.reset_on_mode_change {
                        End::Reset
                    } else {
                        End::Close
                    };
                }
                Mode::Pass | Mode::Ignore | Mode::ResetResponse { .. } => {}
            }
            tokio::select! {
                () = self.cancel.cancelled() => return End::Reset,
                changed = settings_rx.changed() => {
                    if changed.is_err() {
                        return End::Close;
                    }
                    let next = *settings_rx.borrow_and_update();
                    if next.generation != settings.generation && next.reset_on_mode_change {
                        return End::Reset;
                    }
                    settings = next;
                }
                read = client.read(&mut client_buf) => {
                    let n = match read {
                        Ok(0) | Err(_) => {
                            if let Some(upstream) = upstream.as_mut() {
                                let _ = upstream.shutdown().await;
                            }
                            return End::Close;
                        }
                        Ok(n) => n,
                    };
                    if settings.mode == Mode::Ignore {
                        continue;
                    }
                    if upstream.is_none() {
                        match TcpStream::connect(settings.upstream).await {
                            Ok(stream) => {
                                let _ = stream.set_nodelay(true);
                                upstream = Some(stream);
                            }
                            Err(error) => {
                                tracing::debug!(%error, "fault proxy cannot reach upstream");
                                return End::Close;
                            }
                        }
                    }
                    if !settings.latency.upstream.is_zero() {
                        tokio::time::sleep(settings.latency.upstream).await;
                    }
                    let Some(stream) = upstream.as_mut() else { return End::Close };
                    if stream.write_all(&client_buf[..n]).await.is_err() {
                        return End::Close;
                    }
                }
                read = read_upstream(upstream.as_mut(), &mut upstream_buf) => {
                    let n = match read {
                        Ok(0) | Err(_) => return End::Close,
                        Ok(n) => n,
                    };
                    match settings.mode {
                        Mode::Ignore => continue,
                        Mode::ResetResponse { after_bytes } => {
                            let _ = client.write_all(&upstream_buf[..n.min(after_bytes)]).await;
                            let _ = client.flush().await;
                            return End::Reset;
                        }
                        Mode::Pass | Mode::Stop | Mode::Refuse => {}
                    }
                    if !settings.latency.downstream.is_zero() {
                        tokio::time::sleep(settings.latency.downstream).await;
                    }
                    if client.write_all(&upstream_buf[..n]).await.is_err() {
                        return End::Close;
                    }
                }
            }
        }
    }
}

async fn read_upstream(upstream: Option<&mut TcpStream>, buf: &mut [u8]) -> io::Result<usize> {
    match upstream {
        Some(stream) => stream.read(buf).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that echoes every chunk back.
    async fn echo_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = [0_u8; 1024];
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if stream.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        (addr, task)
    }

    async fn roundtrip(stream: &mut TcpStream, data: &[u8]) -> io::Result<Vec<u8>> {
        stream.write_all(data).await?;
        let mut buf = vec![0_u8; data.len()];
        stream.read_exact(&mut buf).await?;
        Ok(buf)
    }

    #[tokio::test]
    async fn pass_forwards_and_modes_switch() {
        let (upstream, server) = echo_server().await;
        let proxy = FaultProxy::start(upstream).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut stream, b"ping").await.unwrap(), b"ping");

        // Ignore: the request is swallowed; no answer within a bounded wait.
        proxy.set_mode(Mode::Ignore);
        stream.write_all(b"lost").await.unwrap();
        let mut buf = [0_u8; 4];
        let read = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await;
        assert!(read.is_err(), "ignored traffic was answered: {read:?}");

        // Back to Pass on the same connection.
        proxy.set_mode(Mode::Pass);
        assert_eq!(roundtrip(&mut stream, b"back").await.unwrap(), b"back");

        // Stop: the live connection is closed, and new ones are closed at once.
        proxy.set_mode(Mode::Stop);
        let mut buf = [0_u8; 4];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("closed")
            .unwrap_or(0);
        assert_eq!(n, 0);
        let mut fresh = TcpStream::connect(proxy.addr()).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), fresh.read(&mut buf))
            .await
            .expect("closed")
            .unwrap_or(0);
        assert_eq!(n, 0);

        // Refuse: connecting fails; Pass again listens on the same port.
        proxy.set_mode(Mode::Refuse);
        let addr = proxy.addr();
        let mut refused = false;
        for _ in 0..500 {
            if TcpStream::connect(addr).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(refused, "proxy still accepts in Refuse mode");
        proxy.set_mode(Mode::Pass);
        let mut again = None;
        for _ in 0..500 {
            if let Ok(stream) = TcpStream::connect(addr).await {
                again = Some(stream);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut again = again.expect("proxy listens again after Refuse");
        assert_eq!(roundtrip(&mut again, b"alive").await.unwrap(), b"alive");

        proxy.shutdown().await;
        server.abort();
    }

    #[tokio::test]
    async fn reset_response_and_reset_on_mode_change() {
        let (upstream, server) = echo_server().await;
        let proxy = FaultProxy::start(upstream).await.unwrap();
        proxy.set_mode(Mode::ResetResponse { after_bytes: 2 });
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        stream.write_all(b"abcdef").await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0_u8; 16];
        let error = loop {
            match stream.read(&mut buf).await {
                Ok(0) => panic!("clean close instead of a reset, got {got:?}"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(error) => break error,
            }
        };
        assert_eq!(got, b"ab");
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);

        proxy.set_mode(Mode::Pass);
        proxy.set_reset_on_mode_change(true);
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut stream, b"x").await.unwrap(), b"x");
        assert_eq!(proxy.live(), 1);
        proxy.set_mode(Mode::Ignore);
        let error = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
        proxy.shutdown().await;
        server.abort();
    }

    #[tokio::test]
    async fn latency_delays_but_delivers() {
        let (upstream, server) = echo_server().await;
        let proxy = FaultProxy::start(upstream).await.unwrap();
        proxy.set_latency(Latency::both(Duration::from_millis(50)));
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(roundtrip(&mut stream, b"slow").await.unwrap(), b"slow");
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(proxy.accepted() >= 1);
        proxy.shutdown().await;
        server.abort();
    }
}
