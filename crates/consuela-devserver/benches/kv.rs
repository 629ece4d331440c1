//! In-process KV operations through the router (no socket): the cost of the
//! server itself, without HTTP parsing. Sizes shrink when `CI` is set.
//!
//! `cargo bench -p consuela-devserver --bench kv`

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use axum::body::Body;
use consuela_devserver::{DevServerConfig, ServerState, router};
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use tower::ServiceExt as _;

fn ci() -> bool {
    std::env::var_os("CI").is_some()
}

async fn call(app: &axum::Router, method: &str, uri: &str, body: &'static str) -> http::StatusCode {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let _ = axum::body::to_bytes(resp.into_body(), usize::MAX).await;
    status
}

fn bench_kv(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let keys: usize = if ci() { 100 } else { 10_000 };
    let (app, session) = rt.block_on(async {
        let state = ServerState::new(DevServerConfig::default());
        let app = router(state);
        for i in 0..keys {
            call(&app, "PUT", &format!("/v1/kv/bench/{i}"), "value").await;
        }
        let req = Request::builder()
            .method("PUT")
            .uri("/v1/session/create")
            .body(Body::empty())
            .expect("req");
        let resp = app.clone().oneshot(req).await.expect("infallible");
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        (app, v["ID"].as_str().expect("ID").to_owned())
    });
    let mut group = c.benchmark_group("kv");
    if ci() {
        group
            .sample_size(10)
            .measurement_time(Duration::from_millis(500))
            .warm_up_time(Duration::from_millis(100));
    }
    let mut i = 0usize;
    group.bench_function("get", |b| {
        b.iter(|| {
            i = (i + 7919) % keys;
            black_box(rt.block_on(call(&app, "GET", &format!("/v1/kv/bench/{i}"), "")))
        });
    });
    group.bench_function("put", |b| {
        b.iter(|| {
            i = (i + 7919) % keys;
            black_box(rt.block_on(call(
                &app,
                "PUT",
                &format!("/v1/kv/bench/{i}?flags={i}"),
                "new value",
            )))
        });
    });
    group.bench_function("acquire_release", |b| {
        b.iter(|| {
            i = (i + 7919) % keys;
            rt.block_on(call(
                &app,
                "PUT",
                &format!("/v1/kv/bench/{i}?acquire={session}"),
                "held",
            ));
            black_box(rt.block_on(call(
                &app,
                "PUT",
                &format!("/v1/kv/bench/{i}?release={session}"),
                "free",
            )))
        });
    });
    group.bench_function("keys_under_prefix", |b| {
        b.iter(|| black_box(rt.block_on(call(&app, "GET", "/v1/kv/bench/1?keys", ""))));
    });
    group.bench_function("txn_lock", |b| {
        let body: &'static str = Box::leak(
            format!(r#"[{{"KV":{{"Verb":"lock","Key":"bench/txn","Value":"dg==","Session":"{session}"}}}}]"#)
                .into_boxed_str(),
        );
        b.iter(|| black_box(rt.block_on(call(&app, "PUT", "/v1/txn", body))));
    });
    group.finish();
}

criterion_group!(benches, bench_kv);
criterion_main!(benches);
