//! Client overhead: `kv get` and `acquire` through consuela-client versus the same HTTP
//! request made with a bare `reqwest::Client`, on the same in-process dev server, with the
//! same number of requests in flight.
//!
//! Run: `cargo bench -p consuela-client --bench client`. With `CI` set, sizes are reduced.

use std::time::Duration;

use consuela_client::wire::{KvEntry, SessionId, SessionRequest};
use consuela_client::{Client, ClientConfig, PutOptions, QueryOptions};
use consuela_devserver::{DevServer, DevServerConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt as _;
use tokio::runtime::Runtime;

/// Requests in flight at once.
const CONCURRENCY: usize = 32;
const KEY: &str = "bench/key";
const LOCK: &str = "bench/lock";

struct Setup {
    runtime: Runtime,
    server: DevServer,
    client: Client,
    bare: reqwest::Client,
    session: SessionId,
}

fn setup() -> Setup {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (server, client, session) = runtime.block_on(async {
        let server = DevServer::bind(DevServerConfig::default(), ([127, 0, 0, 1], 0).into())
            .await
            .expect("dev server");
        let mut config = ClientConfig::new(server.url());
        config.pool_max_idle = CONCURRENCY;
        let client = Client::new(config).expect("client");
        client
            .kv()
            .put(KEY, vec![b'x'; 128], PutOptions::default())
            .await
            .expect("seed");
        let session = client
            .session()
            .create(&SessionRequest {
                checks: Some(Vec::new()),
                ..SessionRequest::default()
            })
            .await
            .expect("session");
        (server, client, session)
    });
    // The same settings the client's HTTP transport uses.
    let bare = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(CONCURRENCY)
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .build()
        .expect("reqwest");
    Setup {
        runtime,
        server,
        client,
        bare,
        session,
    }
}

/// Runs `iters` requests, `CONCURRENCY` at a time, and returns the elapsed time.
fn run<F, Fut>(setup: &Setup, iters: u64, request: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    setup.runtime.block_on(async {
        let started = tokio::time::Instant::now();
        futures_util::stream::iter(0..iters)
            .for_each_concurrent(CONCURRENCY, |_| request())
            .await;
        started.elapsed()
    })
}

fn bench(c: &mut Criterion) {
    let setup = setup();
    let ci = std::env::var_os("CI").is_some();
    let get_url = format!("{}/v1/kv/{KEY}", setup.server.url());
    let acquire_url = format!(
        "{}/v1/kv/{LOCK}?acquire={}",
        setup.server.url(),
        setup.session
    );

    let mut group = c.benchmark_group("kv_get");
    group.throughput(Throughput::Elements(1));
    if ci {
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(1))
            .warm_up_time(Duration::from_millis(200));
    }
    group.bench_function("consuela_client", |b| {
        b.iter_custom(|iters| {
            run(&setup, iters, || async {
                let got = setup
                    .client
                    .kv()
                    .get(KEY, QueryOptions::new())
                    .await
                    .expect("get");
                assert!(got.value.is_some());
            })
        });
    });
    group.bench_function("bare_reqwest", |b| {
        b.iter_custom(|iters| {
            run(&setup, iters, || async {
                let response = setup.bare.get(&get_url).send().await.expect("get");
                assert!(response.status().is_success());
                let _index = response.headers().get("x-consul-index").cloned();
                let body = response.bytes().await.expect("body");
                let entries: Vec<KvEntry> = serde_json::from_slice(&body).expect("json");
                assert_eq!(entries.len(), 1);
            })
        });
    });
    group.finish();

    let mut group = c.benchmark_group("kv_acquire");
    group.throughput(Throughput::Elements(1));
    if ci {
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(1))
            .warm_up_time(Duration::from_millis(200));
    }
    group.bench_function("consuela_client", |b| {
        b.iter_custom(|iters| {
            run(&setup, iters, || async {
                let acquired = setup
                    .client
                    .kv()
                    .acquire(LOCK, &b"holder"[..], &setup.session)
                    .await
                    .expect("acquire");
                assert!(acquired);
            })
        });
    });
    group.bench_function("bare_reqwest", |b| {
        b.iter_custom(|iters| {
            run(&setup, iters, || async {
                let response = setup
                    .bare
                    .put(&acquire_url)
                    .body(&b"holder"[..])
                    .send()
                    .await
                    .expect("acquire");
                assert!(response.status().is_success());
                let body = response.bytes().await.expect("body");
                let acquired: bool = serde_json::from_slice(&body).expect("json");
                assert!(acquired);
            })
        });
    });
    group.finish();

    let Setup {
        runtime, server, ..
    } = setup;
    runtime.block_on(server.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
