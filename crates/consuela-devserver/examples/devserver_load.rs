//! Load figures for the dev server over loopback.
//!
//! ```text
//! cargo run --release -p consuela-devserver --example devserver_load
//! ```
//!
//! Starts a server in-process on 127.0.0.1:0, then, with 32 concurrent
//! keep-alive HTTP/1.1 connections (a minimal client, so the figures measure
//! the server rather than a client library):
//! 1. writes 100,000 keys and reports resident memory (VmRSS);
//! 2. `GET` per second;
//! 3. `PUT ?acquire` per second (each connection its own session and keys,
//!    a new value every time, so every acquire is a real write);
//! 4. wake-up latency of 1,000 blocking queries after one write (p50/p99/max
//!    over several rounds).
//!
//! Durations shrink when `CI` is set; `WATCHERS=N` changes the watcher count.
//! Needs ~2,100 file descriptors.

#![allow(clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use consuela_devserver::{DevServer, DevServerConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    io: BufReader<TcpStream>,
    line: String,
}

struct Resp {
    status: u16,
    index: u64,
    body: Vec<u8>,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> Result<Self, BoxError> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Self {
            io: BufReader::new(s),
            line: String::new(),
        })
    }

    async fn send(&mut self, method: &str, path: &str, body: &[u8]) -> Result<(), BoxError> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: l\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let s = self.io.get_mut();
        if body.is_empty() {
            s.write_all(head.as_bytes()).await?;
        } else {
            let mut buf = head.into_bytes();
            buf.extend_from_slice(body);
            s.write_all(&buf).await?;
        }
        Ok(())
    }

    async fn recv(&mut self) -> Result<Resp, BoxError> {
        self.line.clear();
        self.io.read_line(&mut self.line).await?;
        let status = self
            .line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("bad status line")?;
        let (mut len, mut index) = (0usize, 0u64);
        loop {
            self.line.clear();
            self.io.read_line(&mut self.line).await?;
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse()?;
                } else if k.eq_ignore_ascii_case("x-consul-index") {
                    index = v.trim().parse()?;
                }
            }
        }
        let mut body = vec![0; len];
        self.io.read_exact(&mut body).await?;
        Ok(Resp {
            status,
            index,
            body,
        })
    }

    async fn call(&mut self, method: &str, path: &str, body: &[u8]) -> Result<Resp, BoxError> {
        self.send(method, path, body).await?;
        self.recv().await
    }
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Runs `work(conn, worker)` on 32 connections for `secs`; returns ops/s.
async fn throughput<F, Fut>(
    addr: std::net::SocketAddr,
    secs: Duration,
    work: F,
) -> Result<f64, BoxError>
where
    F: Fn(Conn, usize, Arc<AtomicBool>, Arc<AtomicU64>) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for w in 0..32 {
        let conn = Conn::open(addr).await?;
        set.spawn(work.clone()(conn, w, stop.clone(), count.clone()));
    }
    let t0 = Instant::now();
    tokio::time::sleep(secs).await;
    stop.store(true, Ordering::Relaxed);
    let n = count.load(Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    while let Some(r) = set.join_next().await {
        r??;
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(n as f64 / elapsed)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let ci = std::env::var_os("CI").is_some();
    let phase = if ci {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(3)
    };
    // `ONLY_WAKE=1` skips phases 1-3 (for profiling the wake-up path).
    let only_wake = std::env::var_os("ONLY_WAKE").is_some();
    let keys: usize = if only_wake { 32 } else { 100_000 };
    let server = DevServer::bind(DevServerConfig::default(), "127.0.0.1:0".parse()?).await?;
    let addr = server.local_addr();
    println!("server on {}", server.url());
    let rss0 = vm_rss_kib();

    // 1. 100,000 keys.
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..32usize {
        set.spawn(async move {
            let mut c = Conn::open(addr).await?;
            for i in (w..keys).step_by(32) {
                let r = c
                    .call(
                        "PUT",
                        &format!("/v1/kv/load/key-{i:06}"),
                        b"value-0123456789abcdef",
                    )
                    .await?;
                if r.status != 200 {
                    return Err::<(), BoxError>(format!("PUT status {}", r.status).into());
                }
            }
            Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let fill = t0.elapsed();
    let rss = vm_rss_kib();
    println!(
        "keys: {keys} written in {:.2}s ({:.0} PUT/s); VmRSS {:.1} MiB (baseline {:.1} MiB, delta {:.1} MiB)",
        fill.as_secs_f64(),
        keys as f64 / fill.as_secs_f64(),
        rss as f64 / 1024.0,
        rss0 as f64 / 1024.0,
        (rss - rss0) as f64 / 1024.0
    );

    if !only_wake {
        // 2. GET/s.
        let gets = throughput(addr, phase, move |mut c, w, stop, count| async move {
            let mut i = w * 3079;
            while !stop.load(Ordering::Relaxed) {
                i = (i + 7919) % keys;
                let r = c
                    .call("GET", &format!("/v1/kv/load/key-{i:06}"), b"")
                    .await?;
                if r.status != 200 {
                    return Err(format!("GET status {}", r.status).into());
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .await?;
        println!("GET: {gets:.0} req/s (32 connections)");

        // 3. PUT ?acquire/s.
        let acquires = throughput(addr, phase, move |mut c, w, stop, count| async move {
            let r = c
                .call(
                    "PUT",
                    "/v1/session/create",
                    br#"{"TTL":"60s","LockDelay":"0s"}"#,
                )
                .await?;
            let v: serde_json::Value = serde_json::from_slice(&r.body)?;
            let sid = v["ID"].as_str().ok_or("no session id")?.to_owned();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Worker w owns keys w, w+32, ...; a fresh value makes each a write.
                let i = (w + 32 * (n as usize % 3000)) % keys;
                let r = c
                    .call(
                        "PUT",
                        &format!("/v1/kv/load/key-{i:06}?acquire={sid}"),
                        n.to_string().as_bytes(),
                    )
                    .await?;
                if r.body != b"true\n" {
                    return Err(
                        format!("acquire failed: {}", String::from_utf8_lossy(&r.body)).into(),
                    );
                }
                n += 1;
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .await?;
        println!("PUT ?acquire: {acquires:.0} req/s (32 connections)");
    }

    // 4. Blocking-query wake-up latency with 1,000 watchers.
    let watchers: usize = std::env::var("WATCHERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if ci { 2 } else { 5 });
    let mut writer = Conn::open(addr).await?;
    writer.call("PUT", "/v1/kv/load/watched", b"0").await?;
    let mut conns = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        conns.push(Conn::open(addr).await?);
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(watchers * rounds);
    for round in 0..rounds {
        let idx = writer.call("GET", "/v1/kv/load/watched", b"").await?.index;
        for c in &mut conns {
            c.send(
                "GET",
                &format!("/v1/kv/load/watched?index={idx}&wait=60s"),
                b"",
            )
            .await?;
        }
        // Give every watcher time to be parked on the server before writing.
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Receivers are parked on their sockets before the clock starts, so
        // the figure is write -> response, not task spawning.
        let mut set = tokio::task::JoinSet::new();
        for mut c in conns.drain(..) {
            set.spawn(async move {
                let r = c.recv().await?;
                Ok::<_, BoxError>((c, r.index, Instant::now()))
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let start = Instant::now();
        // A new value each round: an identical write is a no-op and wakes no one.
        writer
            .call(
                "PUT",
                "/v1/kv/load/watched",
                (round + 1).to_string().as_bytes(),
            )
            .await?;
        while let Some(r) = set.join_next().await {
            let (c, index, done) = r??;
            if index <= idx {
                return Err("a watcher returned without a change".into());
            }
            samples.push(done.saturating_duration_since(start));
            conns.push(c);
        }
    }
    samples.sort();
    let pct = |p: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((samples.len() as f64 * p).ceil() as usize).saturating_sub(1);
        samples[i.min(samples.len() - 1)].as_secs_f64() * 1000.0
    };
    println!(
        "wake-up after a write, {watchers} watchers x {rounds} rounds: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    println!("VmRSS at the end: {:.1} MiB", vm_rss_kib() as f64 / 1024.0);
    drop(conns);
    server.shutdown().await;
    Ok(())
}
