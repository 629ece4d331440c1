//! Measures the client's overhead per request against bare `reqwest` calls.
//!
//! Three ways make the same HTTP request (`kv get` of one key, or `acquire` of one lock) to the
//! same in-process dev server with the same number of requests in flight, and decode the answer
//! the same way:
//!
//! - `client`: `consuela_client::Client` (its default 10 s request timeout included);
//! - `bare`: a bare `reqwest::Client` with the same pool settings and no timeout;
//! - `bare+timeout`: the same with reqwest's own per-request timeout of 10 s, the closest
//!   production equivalent (a Consul client without timeouts cannot classify a black hole).
//!
//! Rounds rotate the order of the three so that load from other processes affects all alike;
//! besides totals, the median of the per-round ratios is reported.
//! A last section measures the client layer alone, over a canned in-memory transport.
//!
//! Run: `cargo run --release -p consuela-client --example overhead`. With `CI` set the run is
//! short.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use bytes::Bytes;
use consuela_client::wire::{KvEntry, SessionRequest};
use consuela_client::{
    Client, ClientConfig, HttpRequest, HttpResponse, PutOptions, QueryOptions, Transport,
    TransportError,
};
use consuela_devserver::{DevServer, DevServerConfig};
use futures_util::StreamExt as _;
use futures_util::future::{BoxFuture, LocalBoxFuture};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use tokio::time::Instant;

const CONCURRENCY: usize = 32;
const KEY: &str = "bench/key";
const LOCK: &str = "bench/lock";
const TIMEOUT: Duration = Duration::from_secs(10);

type Request<'a> = Box<dyn Fn() -> LocalBoxFuture<'a, ()> + 'a>;

/// Runs `n` requests, `CONCURRENCY` at a time; returns the elapsed time.
async fn batch(n: usize, request: &Request<'_>) -> Duration {
    let started = Instant::now();
    futures_util::stream::iter(0..n)
        .for_each_concurrent(CONCURRENCY, |_| request())
        .await;
    started.elapsed()
}

/// Per-request microseconds of each candidate, and the median per-round ratio of each to the
/// first.
async fn compare(rounds: usize, per_round: usize, candidates: &[Request<'_>]) -> Vec<(f64, f64)> {
    for candidate in candidates {
        batch(per_round, candidate).await; // warm-up
    }
    let k = candidates.len();
    let mut totals = vec![Duration::ZERO; k];
    let mut ratios = vec![Vec::with_capacity(rounds); k];
    for round in 0..rounds {
        let mut times = vec![Duration::ZERO; k];
        for step in 0..k {
            let which = (round + step) % k;
            times[which] = batch(per_round, &candidates[which]).await;
        }
        for which in 0..k {
            totals[which] += times[which];
            ratios[which].push(times[0].as_secs_f64() / times[which].as_secs_f64());
        }
    }
    let requests = (rounds * per_round) as f64;
    (0..k)
        .map(|which| {
            let mut r = ratios[which].clone();
            r.sort_by(f64::total_cmp);
            (totals[which].as_secs_f64() * 1e6 / requests, r[r.len() / 2])
        })
        .collect()
}

fn report(name: &str, figures: &[(f64, f64)]) {
    let (client, _) = figures[0];
    let (bare, bare_ratio) = figures[1];
    let (timed, timed_ratio) = figures[2];
    println!("{name}:");
    println!("  client        {client:7.2} µs/req");
    println!(
        "  bare          {bare:7.2} µs/req   client vs it: total {:+5.1}%, median round {:+5.1}%",
        (client / bare - 1.0) * 100.0,
        (bare_ratio - 1.0) * 100.0
    );
    println!(
        "  bare+timeout  {timed:7.2} µs/req   client vs it: total {:+5.1}%, median round {:+5.1}%",
        (client / timed - 1.0) * 100.0,
        (timed_ratio - 1.0) * 100.0
    );
}

const BODY: &str = r#"[{"LockIndex":0,"Key":"bench/key","Flags":0,"Value":"eHh4eHh4eHh4eHh4","CreateIndex":3,"ModifyIndex":3}]"#;

/// Answers every request at once with one KV entry.
#[derive(Debug)]
struct Canned;

impl Transport for Canned {
    fn send(
        &self,
        _request: HttpRequest,
    ) -> BoxFuture<'static, Result<HttpResponse, TransportError>> {
        Box::pin(async { Ok(canned()) })
    }
}

fn canned() -> HttpResponse {
    let mut headers = HeaderMap::new();
    headers.insert("x-consul-index", HeaderValue::from_static("3"));
    headers.insert("x-consul-knownleader", HeaderValue::from_static("true"));
    headers.insert("x-consul-lastcontact", HeaderValue::from_static("0"));
    HttpResponse::new(StatusCode::OK, headers, Bytes::from_static(BODY.as_bytes()))
}

/// The client layer alone: `kv().get` over [`Canned`] versus building the same response and
/// decoding it by hand.
async fn client_layer(n: u32) -> (f64, f64) {
    let client = Client::with_transport(ClientConfig::default(), Canned).expect("client");
    let started = Instant::now();
    for _ in 0..n {
        let got = client
            .kv()
            .get(KEY, QueryOptions::new())
            .await
            .expect("get");
        assert!(got.value.is_some());
    }
    let layered = started.elapsed();
    let started = Instant::now();
    for _ in 0..n {
        let response = std::hint::black_box(canned());
        let entries: Vec<KvEntry> = serde_json::from_slice(&response.body).expect("json");
        assert_eq!(entries.len(), 1);
    }
    let by_hand = started.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e9 / f64::from(n);
    (per(layered), per(by_hand))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ci = std::env::var_os("CI").is_some();
    let (rounds, per_round) = if ci { (3, 300) } else { (30, 3000) };

    let server = DevServer::bind(DevServerConfig::default(), "127.0.0.1:0".parse()?).await?;
    let mut config = ClientConfig::new(server.url()).request_timeout(TIMEOUT);
    config.pool_max_idle = CONCURRENCY;
    let client = Client::new(config)?;
    // The same settings as the client's own HTTP transport.
    let bare = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(CONCURRENCY)
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .build()?;
    client
        .kv()
        .put(KEY, vec![b'x'; 128], PutOptions::default())
        .await?;
    let session = client
        .session()
        .create(&SessionRequest {
            checks: Some(Vec::new()),
            ..SessionRequest::default()
        })
        .await?;
    let get_url = format!("{}/v1/kv/{KEY}", server.url());
    let acquire_url = format!("{}/v1/kv/{LOCK}?acquire={session}", server.url());

    println!(
        "{rounds} rounds × {per_round} requests per candidate, {CONCURRENCY} in flight, one dev server, 2 runtime threads"
    );

    let bare_get = |timeout: Option<Duration>| {
        let (bare, url) = (&bare, &get_url);
        move || -> LocalBoxFuture<'_, ()> {
            Box::pin(async move {
                let mut request = bare.get(url.as_str());
                if let Some(timeout) = timeout {
                    request = request.timeout(timeout);
                }
                let response = request.send().await.expect("get");
                assert!(response.status().is_success());
                let _index = response.headers().get("x-consul-index").cloned();
                let body = response.bytes().await.expect("body");
                let entries: Vec<KvEntry> = serde_json::from_slice(&body).expect("json");
                assert_eq!(entries.len(), 1);
            })
        }
    };
    let candidates: Vec<Request<'_>> = vec![
        Box::new(|| {
            Box::pin(async {
                let got = client
                    .kv()
                    .get(KEY, QueryOptions::new())
                    .await
                    .expect("get");
                assert!(got.value.is_some());
            })
        }),
        Box::new(bare_get(None)),
        Box::new(bare_get(Some(TIMEOUT))),
    ];
    report("kv get", &compare(rounds, per_round, &candidates).await);

    let bare_acquire = |timeout: Option<Duration>| {
        let (bare, url) = (&bare, &acquire_url);
        move || -> LocalBoxFuture<'_, ()> {
            Box::pin(async move {
                let mut request = bare.put(url.as_str()).body(&b"holder"[..]);
                if let Some(timeout) = timeout {
                    request = request.timeout(timeout);
                }
                let response = request.send().await.expect("acquire");
                assert!(response.status().is_success());
                let body = response.bytes().await.expect("body");
                let acquired: bool = serde_json::from_slice(&body).expect("json");
                assert!(acquired);
            })
        }
    };
    let candidates: Vec<Request<'_>> = vec![
        Box::new(|| {
            Box::pin(async {
                let acquired = client
                    .kv()
                    .acquire(LOCK, &b"holder"[..], &session)
                    .await
                    .expect("acquire");
                assert!(acquired);
            })
        }),
        Box::new(bare_acquire(None)),
        Box::new(bare_acquire(Some(TIMEOUT))),
    ];
    report("acquire", &compare(rounds, per_round, &candidates).await);

    let (layered, by_hand) = client_layer(if ci { 10_000 } else { 200_000 }).await;
    println!(
        "client layer alone (canned transport, kv get): {layered:.0} ns/call vs {by_hand:.0} ns to decode by hand: +{:.0} ns",
        layered - by_hand
    );

    server.shutdown().await;
    Ok(())
}
