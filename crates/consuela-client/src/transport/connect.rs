//! Connections for the direct backend: TCP, TLS through tokio-rustls, or a
//! unix socket, as hyper-util's pool asks for them.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use hyper::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Where connections go, and how.
#[derive(Clone)]
pub(super) struct Connector {
    /// The socket of a `unix://` address; TCP to the URI's host otherwise.
    unix: Option<PathBuf>,
    /// TLS for `https` URIs.
    tls: Option<tokio_rustls::TlsConnector>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("unix", &self.unix)
            .field("tls", &self.tls.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl Connector {
    /// Connections to `unix` if set, else over TCP; `tls` for `https` URIs;
    /// each connect (and handshake) within `connect_timeout`.
    pub(super) fn new(
        unix: Option<PathBuf>,
        tls: Option<Arc<rustls::ClientConfig>>,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            unix,
            tls: tls.map(tokio_rustls::TlsConnector::from),
            connect_timeout,
        }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = Io;
    type Error = io::Error;
    type Future = BoxFuture<'static, io::Result<Io>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if let Some(path) = &this.unix {
                let stream = this
                    .within("connecting", tokio::net::UnixStream::connect(path))
                    .await?;
                return Ok(Io::new(stream));
            }
            let https = uri.scheme_str() == Some("https");
            let host = uri
                .host()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no host in the URI"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let tcp = this
                .within("connecting", TcpStream::connect((host.as_str(), port)))
                .await?;
            tcp.set_nodelay(true)?;
            if !https {
                return Ok(Io::new(tcp));
            }
            let tls = this.tls.as_ref().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "https without TLS settings")
            })?;
            let name = rustls::pki_types::ServerName::try_from(host)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
            let stream = this
                .within("the TLS handshake", tls.connect(name, tcp))
                .await?;
            Ok(Io::new(stream))
        })
    }
}

impl Connector {
    /// `step` within the connect timeout; past it, a `TimedOut` error naming `what`.
    async fn within<T>(
        &self,
        what: &str,
        step: impl Future<Output = io::Result<T>>,
    ) -> io::Result<T> {
        tokio::time::timeout(self.connect_timeout, step)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out")))?
    }
}

/// Any connection: TCP, TLS over TCP, or a unix socket. One dynamic call per
/// read or write is nothing next to its system call.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A connection as hyper sees it.
pub(super) struct Io(TokioIo<Box<dyn Stream>>);

impl Io {
    fn new(stream: impl Stream + 'static) -> Self {
        Self(TokioIo::new(Box::new(stream)))
    }
}

impl Connection for Io {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl Read for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl Write for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
