//! The registry's in-memory costs, through its public API: name validation,
//! contact (value) encoding and decoding, local `whereis`, and event handlers.
//!
//! `cargo bench -p consuela --bench registry`. Sizes shrink when `CI` is set.
//! Consul round trips are measured by the `consuela-bench` binary instead, and the dev
//! server's KV operations by `cargo bench -p consuela-devserver --bench kv`.

#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use consuela::event::{self, Event, Pulse, TracingPulse};
use consuela::{Config, Contact, Name, RegistrationId, Registry};
use consuela_devserver::{DevServer, DevServerConfig};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

fn ci() -> bool {
    std::env::var_os("CI").is_some()
}

fn quick(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    if ci() {
        group
            .sample_size(10)
            .measurement_time(Duration::from_millis(300))
            .warm_up_time(Duration::from_millis(100));
    }
}

fn bench_names(c: &mut Criterion) {
    let mut group = c.benchmark_group("name");
    quick(&mut group);
    let short = "space/acceptor-10";
    let long =
        "tenant-0042/region-eu-west/cluster-07/service-billing/shard-0013/worker-acceptor-000017";
    group.bench_function("new_short", |b| b.iter(|| Name::new(black_box(short))));
    group.bench_function("new_long", |b| b.iter(|| Name::new(black_box(long))));
    group.bench_function("reject_dot_segment", |b| {
        b.iter(|| Name::new(black_box("space/../acceptor")))
    });
    group.finish();
}

/// The stored value's contact part (`address` + typed `meta`). The full record
/// codec (`v`, `member`, `rid`, `since`) is crate-private.
fn bench_values(c: &mut Criterion) {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Meta {
        role: String,
        shard: u32,
        zone: String,
    }
    let meta = Meta {
        role: "acceptor".into(),
        shard: 13,
        zone: "eu-west-1a".into(),
    };
    let contact = Contact::at("10.0.0.5:7000")
        .with_meta(&meta)
        .expect("meta serializes");
    let bytes = serde_json::to_vec(&contact).expect("contact serializes");
    let id = RegistrationId {
        member: "api-7f3c".into(),
        rid: 42,
    };
    let id_bytes = serde_json::to_vec(&id).expect("id serializes");

    let mut group = c.benchmark_group("value");
    quick(&mut group);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("contact_with_meta", |b| {
        b.iter(|| Contact::at("10.0.0.5:7000").with_meta(black_box(&meta)))
    });
    group.bench_function("contact_encode", |b| {
        b.iter(|| serde_json::to_vec(black_box(&contact)))
    });
    group.bench_function("contact_decode", |b| {
        b.iter(|| serde_json::from_slice::<Contact>(black_box(&bytes)))
    });
    group.bench_function("contact_meta_typed", |b| {
        b.iter(|| black_box(&contact).meta::<Meta>())
    });
    group.bench_function("registration_id_decode", |b| {
        b.iter(|| serde_json::from_slice::<RegistrationId>(black_box(&id_bytes)))
    });
    group.finish();
}

/// `whereis_local` with many names held by a registry on an in-process dev server.
fn bench_whereis_local(c: &mut Criterion) {
    let held: usize = if ci() { 1_000 } else { 100_000 };
    let rt = Runtime::new().expect("runtime");
    let (server, registry, guards) = rt.block_on(async {
        let server = DevServer::bind(DevServerConfig::default(), ([127, 0, 0, 1], 0).into())
            .await
            .expect("dev server");
        let mut config = Config::new("consuela-dev", "bench");
        config.consul.url = Some(server.url());
        let registry = Registry::start(config).await.expect("registry");
        let mut guards = Vec::with_capacity(held);
        let mut pending = tokio::task::JoinSet::new();
        for i in 0..held {
            let r = registry.clone();
            pending.spawn(async move {
                r.register(format!("w/{i}"), Contact::at("127.0.0.1:7000"))
                    .await
            });
            if pending.len() >= 64 {
                let joined = pending.join_next().await.expect("task");
                guards.push(joined.expect("join").expect("register"));
            }
        }
        while let Some(joined) = pending.join_next().await {
            guards.push(joined.expect("join").expect("register"));
        }
        (server, registry, guards)
    });
    let names: Vec<Name> = (0..held)
        .map(|i| Name::new(format!("w/{i}")).expect("name"))
        .collect();
    let missing = Name::new("w/missing").expect("name");

    let mut group = c.benchmark_group("whereis_local");
    quick(&mut group);
    let mut i = 0usize;
    group.bench_function(BenchmarkId::new("held", held), |b| {
        b.iter(|| {
            i = (i + 7919) % held;
            registry.whereis_local(black_box(&names[i]))
        })
    });
    group.bench_function(BenchmarkId::new("missing", held), |b| {
        b.iter(|| registry.whereis_local(black_box(&missing)))
    });
    group.finish();

    rt.block_on(async {
        registry.shutdown().await.expect("shutdown");
        drop(guards);
        server.shutdown().await;
    });
}

/// What a component pays per event for the public handlers. (The fan-out to
/// several handlers with panic isolation is crate-private.)
fn bench_events(c: &mut Criterion) {
    let event = Event::Registered {
        name: Name::new("space/acceptor-10").expect("name"),
        id: RegistrationId {
            member: "api-7f3c".into(),
            rid: 42,
        },
        fencing_token: 1234.into(),
        latency: Duration::from_micros(250),
    };
    let mut group = c.benchmark_group("event");
    quick(&mut group);
    let count = Arc::new(AtomicU64::new(0));
    let counter = {
        let count = count.clone();
        move |_: &Event| {
            count.fetch_add(1, Ordering::Relaxed);
        }
    };
    group.bench_function("closure_pulse", |b| {
        b.iter(|| counter.handle(black_box(&event)))
    });
    group.bench_function("tracing_pulse_filtered", |b| {
        b.iter(|| TracingPulse.handle(black_box(&event)))
    });
    let (pulse, mut rx) = event::channel(1024);
    group.bench_function("channel_pulse_send_recv", |b| {
        b.iter(|| {
            pulse.handle(black_box(&event));
            rx.try_recv()
        })
    });
    group.bench_function("component", |b| b.iter(|| black_box(&event).component()));
    group.finish();
    black_box(count.load(Ordering::Relaxed));
}

criterion_group!(
    benches,
    bench_names,
    bench_values,
    bench_whereis_local,
    bench_events
);
criterion_main!(benches);
