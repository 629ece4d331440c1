//! Runners for TCP and HTTP checks: each dials its target every interval,
//! outside the state lock, and reports the status back.

use std::time::Duration;

use consuela_wire::HealthStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::state::ServerState;
use crate::state::catalog::{CheckKind, RunnerSpawn};

/// Starts the runners returned by a registration.
pub(crate) fn spawn_runners(state: &ServerState, spawns: Vec<RunnerSpawn>) {
    for spawn in spawns {
        let st = state.clone();
        state
            .shared
            .tracker
            .spawn(async move { run(st, spawn).await });
    }
}

async fn run(state: ServerState, spawn: RunnerSpawn) {
    let shutdown = state.shared.shutdown.clone();
    let (interval, probe_timeout) = match &spawn.kind {
        CheckKind::Tcp {
            interval, timeout, ..
        }
        | CheckKind::Http {
            interval, timeout, ..
        } => (*interval, *timeout),
        _ => return,
    };
    let interval = interval.max(state.shared.config.check_interval_min);
    loop {
        // Consul staggers the first run randomly within the interval; running
        // it at once makes tests faster and is within what clients may expect.
        let (status, output) = tokio::select! {
            r = probe(&spawn.kind, probe_timeout) => r,
            () = spawn.token.cancelled() => return,
            () = shutdown.cancelled() => return,
        };
        {
            let mut g = state.shared.lock();
            if spawn.token.is_cancelled() {
                return;
            }
            g.set_check_status(
                &spawn.node,
                &spawn.check,
                status,
                &output,
                Instant::now(),
                &state.shared.config,
            );
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = spawn.token.cancelled() => return,
            () = shutdown.cancelled() => return,
        }
    }
}

async fn probe(kind: &CheckKind, limit: Duration) -> (HealthStatus, String) {
    match kind {
        CheckKind::Tcp { addr, .. } => {
            match timeout(limit, TcpStream::connect(addr.as_str())).await {
                Ok(Ok(_)) => (
                    HealthStatus::Passing,
                    format!("TCP connect {addr}: Success"),
                ),
                Ok(Err(e)) => (HealthStatus::Critical, format!("dial tcp {addr}: {e}")),
                Err(_) => (
                    HealthStatus::Critical,
                    format!("dial tcp {addr}: i/o timeout"),
                ),
            }
        }
        CheckKind::Http { url, .. } => match timeout(limit, http_get(url)).await {
            Ok(Ok((code, reason))) => {
                let status = match code {
                    200..=299 => HealthStatus::Passing,
                    429 => HealthStatus::Warning,
                    _ => HealthStatus::Critical,
                };
                (status, format!("HTTP GET {url}: {code} {reason}"))
            }
            Ok(Err(e)) => (HealthStatus::Critical, format!("Get {url}: {e}")),
            Err(_) => (
                HealthStatus::Critical,
                format!("Get {url}: net/http: request canceled (Client.Timeout exceeded)"),
            ),
        },
        _ => (HealthStatus::Critical, String::new()),
    }
}

/// A minimal HTTP/1.0 GET (plain http only): enough to read a status line.
async fn http_get(url: &str) -> std::io::Result<(u16, String)> {
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m.to_owned());
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid("only http:// URLs are supported"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let addr = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:80")
    };
    let mut stream = TcpStream::connect(addr).await?;
    let req =
        format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: Consul Health Check\r\n\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut buf = vec![0u8; 1024];
    let mut n = 0;
    while n < buf.len() {
        let r = stream.read(&mut buf[n..]).await?;
        if r == 0 {
            break;
        }
        n += r;
        if buf[..n].contains(&b'\n') {
            break;
        }
    }
    let line = String::from_utf8_lossy(&buf[..n]);
    let line = line.lines().next().unwrap_or_default();
    let mut parts = line.splitn(3, ' ');
    let _version = parts.next();
    let code = parts
        .next()
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| invalid("malformed HTTP response"))?;
    Ok((code, parts.next().unwrap_or_default().to_owned()))
}
