//! Why an exchange failed: whether the request certainly never went out, and
//! which TLS failure, if any, stopped it.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use super::TransportErrorKind;
use crate::error::TlsFailure;
use crate::tls::classify_tls;

/// How a failed exchange ends: a TLS failure first, then whether the request was certainly
/// never written (`connect`: the connection was not made; or hyper canceled it unsent).
///
/// With TLS 1.3 a refused client certificate surfaces only when the answer is read, which
/// would otherwise look like a broken connection (unknown outcome) although the server never
/// read the request. Only causes that belong to the handshake count so on a read: any other
/// TLS error after connecting may follow a processed request.
pub(super) fn classify(
    error: &(dyn std::error::Error + 'static),
    connect: bool,
    client_cert: bool,
) -> TransportErrorKind {
    let tls = classify_tls(error, client_cert)
        .filter(|failure| connect || *failure != TlsFailure::Handshake);
    if let Some(failure) = tls {
        TransportErrorKind::Tls(failure)
    } else if connect || unsent(error) {
        // Never written, so certainly not applied.
        TransportErrorKind::Connect
    } else {
        TransportErrorKind::Io
    }
}

/// Whether the request was never written (hyper canceled it before sending).
pub(super) fn unsent(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(cause) = next {
        if cause
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_canceled)
        {
            return true;
        }
        next = cause.source();
    }
    false
}

/// The TLS settings that apply to a request for `url`: none for plain HTTP, even in a
/// transport that has them (one for any host sends both).
pub(super) fn tls_for<'a>(
    tls: Option<&'a Arc<rustls::ClientConfig>>,
    url: &Url,
) -> Option<&'a Arc<rustls::ClientConfig>> {
    tls.filter(|_| url.scheme() == "https")
}

/// Why an HTTPS server drops fresh connections before a request can be
/// written: one handshake and one read on a connection of our own. hyper's
/// pool reads the alert (TLS 1.3 refuses a client certificate only after
/// the handshake) and only reports the request canceled; here the alert
/// comes back to us. `None` when the probe sees no TLS failure.
pub(super) async fn probe(
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
