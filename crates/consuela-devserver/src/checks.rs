//! Runners for TCP and HTTP checks: each dials its target every interval,
//! outside the state lock, and reports the status back.

use std::time::Duration;

use consuela_wire::HealthStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::state::{CheckKind, RunnerSpawn, ServerState};

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
    let Some((interval, probe_timeout)) = spawn.kind.schedule() else {
        return;
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
            Ok(Ok(r)) => {
                let status = match r.code {
                    200..=299 => HealthStatus::Passing,
                    429 => HealthStatus::Warning,
                    _ => HealthStatus::Critical,
                };
                (
                    status,
                    format!("HTTP GET {url}: {} {} Output: {}", r.code, r.reason, r.body),
                )
            }
            Ok(Err(e)) => (HealthStatus::Critical, format!("Get {url}: {e}")),
            Err(_) => (
                HealthStatus::Critical,
                format!("Get {url}: net/http: request canceled (Client.Timeout exceeded)"),
            ),
        },
        CheckKind::Script { args, .. } => script(args, limit).await,
        CheckKind::Serf | CheckKind::Static | CheckKind::Ttl(_) => {
            (HealthStatus::Critical, String::new())
        }
    }
}

/// Runs a script check: exit 0 passing, 1 warning, anything else (or a
/// timeout) critical; the output is stdout then stderr, cut to 4 KiB.
async fn script(args: &[String], limit: Duration) -> (HealthStatus, String) {
    let Some((program, rest)) = args.split_first() else {
        return (HealthStatus::Critical, String::new());
    };
    let child = tokio::process::Command::new(program)
        .args(rest)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match timeout(limit, child).await {
        Err(_) => (
            HealthStatus::Critical,
            format!("Timed out ({limit:?}) running check"),
        ),
        Ok(Err(e)) => (
            HealthStatus::Critical,
            format!("Check failed to start: {e}"),
        ),
        Ok(Ok(out)) => {
            let mut text = out.stdout;
            text.extend_from_slice(&out.stderr);
            let total = text.len();
            text.truncate(OUTPUT_MAX);
            let mut output = String::from_utf8_lossy(&text).into_owned();
            if total > OUTPUT_MAX {
                output = format!("Captured {OUTPUT_MAX} of {total} bytes\n...\n{output}");
            }
            let status = match out.status.code() {
                Some(0) => HealthStatus::Passing,
                Some(1) => HealthStatus::Warning,
                _ => HealthStatus::Critical,
            };
            (status, output)
        }
    }
}

/// Output bytes a check keeps (Consul's `BufSize`).
const OUTPUT_MAX: usize = 4096;
/// Redirects an HTTP check follows, as Go's default client does.
const MAX_REDIRECTS: usize = 10;

/// What an HTTP check saw at the end of its redirects.
struct HttpResult {
    code: u16,
    reason: String,
    body: String,
}

/// An HTTP check's GET (plain `http://` only), following redirects as Go's
/// client does.
async fn http_get(url: &str) -> std::io::Result<HttpResult> {
    let mut url = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let r = http_get_once(&url).await?;
        match (r.code, r.location) {
            (301 | 302 | 303 | 307 | 308, Some(loc)) => url = resolve(&url, &loc),
            (code, _) => {
                return Ok(HttpResult {
                    code,
                    reason: r.reason,
                    body: r.body,
                });
            }
        }
    }
    Err(std::io::Error::other(format!(
        "stopped after {MAX_REDIRECTS} redirects"
    )))
}

/// `loc` relative to `base` (an absolute URL, or a path on the same host).
fn resolve(base: &str, loc: &str) -> String {
    if loc.contains("://") {
        return loc.to_owned();
    }
    let rest = base.strip_prefix("http://").unwrap_or(base);
    let host = &rest[..rest.find('/').unwrap_or(rest.len())];
    if loc.starts_with('/') {
        format!("http://{host}{loc}")
    } else {
        format!("http://{host}/{loc}")
    }
}

struct Once {
    code: u16,
    reason: String,
    location: Option<String>,
    body: String,
}

/// One HTTP/1.0 GET: the status line, `Location`, and up to 4 KiB of body.
async fn http_get_once(url: &str) -> std::io::Result<Once> {
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
    // An HTTP/1.0 answer ends when the server closes the connection.
    let mut buf = Vec::new();
    let cap = 64 * 1024 + OUTPUT_MAX;
    let mut chunk = [0u8; 4096];
    while buf.len() < cap {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let mut parts = lines.next().unwrap_or_default().splitn(3, ' ');
    let _version = parts.next();
    let code = parts
        .next()
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| invalid("malformed HTTP response"))?;
    let reason = parts.next().unwrap_or_default().to_owned();
    let location = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.trim().to_owned());
    let mut end = body.len().min(OUTPUT_MAX);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    Ok(Once {
        code,
        reason,
        location,
        body: body[..end].to_owned(),
    })
}
