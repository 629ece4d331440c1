use std::time::Duration;

use consuela_devserver::DevServerConfig;

use crate::support::{Http, fast_server, server};

#[tokio::test]
async fn no_leader_and_latency_faults() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    srv.set_no_leader(Some(1));
    let r = h.get("/v1/kv/x").await;
    assert_eq!((r.status, r.text().as_str()), (500, "No cluster leader"));
    assert_eq!(h.get("/v1/kv/x").await.status, 404);
    srv.set_latency(Duration::from_millis(30));
    let t = tokio::time::Instant::now();
    h.get("/v1/kv/x").await;
    assert!(t.elapsed() >= Duration::from_millis(30));
    srv.reset_faults();
    srv.shutdown().await;
}

#[tokio::test]
async fn acl_mode_over_http() {
    let srv = server(DevServerConfig::fast().with_acl_token("s3cr3t")).await;
    let h = Http::new(&srv);
    assert_eq!(h.get("/v1/kv/x").await.status, 403);
    assert_eq!(h.get("/v1/kv/x?token=s3cr3t").await.status, 404);
    assert_eq!(h.get("/v1/status/leader").await.status, 200);
    srv.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_blocking_queries_and_joins() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    h.put("/v1/kv/s", "v").await;
    let idx = h.get("/v1/kv/s").await.index.unwrap();
    let base = h.base.clone();
    let blocked = tokio::spawn(async move {
        reqwest::get(format!("{base}/v1/kv/s?index={idx}&wait=5m"))
            .await
            .map(|r| r.status().as_u16())
    });
    // Let the query reach the server before shutting down.
    crate::support::wait_until(
        "the blocking query is registered",
        crate::support::LONG,
        || async { srv.state().dump()["WatchSlots"].as_u64().unwrap_or(0) > 0 },
    )
    .await;
    let t = tokio::time::Instant::now();
    srv.shutdown().await;
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "shutdown must not wait out the 5 min query"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), blocked)
        .await
        .expect("query ended")
        .unwrap();
    assert_eq!(status.unwrap(), 200);
    assert!(
        reqwest::get(format!("{}/v1/kv/s", h.base)).await.is_err(),
        "no longer accepting"
    );
}
