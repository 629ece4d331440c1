//! Query options and read metadata in Consul 1.0.8's order and shape.

use serde_json::json;

use crate::support::{Http, fast_server};

#[tokio::test]
async fn query_options_are_checked_before_names_and_datacenters() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let cases = [
        ("/v1/catalog/service/?index=x", 400, "Invalid index"),
        ("/v1/catalog/service/", 400, "Missing service name"),
        ("/v1/health/state/", 400, "Missing check state"),
        ("/v1/session/info/?wait=soon", 400, "Invalid wait time"),
        (
            "/v1/session/info/not-a-uuid?dc=dc9",
            500,
            "No path to datacenter",
        ),
        ("/v1/kv/k?index=+5", 400, "Invalid index"),
        (
            "/v1/kv/k?max_stale=abc",
            400,
            r#"Invalid max_stale value "abc""#,
        ),
        (
            "/v1/kv/k?max_stale=5s&consistent",
            400,
            "Cannot specify ?stale with ?consistent, conflicting semantics.",
        ),
    ];
    for (path, status, body) in cases {
        let r = h.get(path).await;
        assert_eq!((r.status, r.text().as_str()), (status, body), "{path}");
    }
    srv.shutdown().await;
}

#[tokio::test]
async fn a_failed_blocking_read_still_carries_zero_meta() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    for path in [
        "/v1/catalog/nodes?dc=dc9",
        "/v1/health/state/any?dc=dc9",
        "/v1/session/list?dc=dc9",
    ] {
        let r = h.get(path).await;
        assert_eq!((r.status, r.index), (500, Some(0)), "{path}");
    }
    let kv = h.get("/v1/kv/k?dc=dc9").await;
    assert_eq!(
        (kv.status, kv.index),
        (500, None),
        "KV sets no meta on errors"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn an_unknown_check_state_matches_nothing() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    assert_eq!(h.get("/v1/health/state/Passing").await.json(), json!([]));
    let any = h.get("/v1/health/state/any").await.json();
    assert!(
        !any.as_array().unwrap().is_empty(),
        "serfHealth checks are listed"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn registered_endpoints_say_vary_accept_encoding() {
    let srv = fast_server().await;
    let client = reqwest::Client::new();
    let vary = |path: &'static str| {
        let req = client.get(format!("{}{path}", srv.url()));
        async move {
            let r = req.send().await.unwrap();
            r.headers()
                .get("vary")
                .map(|v| v.to_str().unwrap().to_owned())
        }
    };
    assert_eq!(vary("/v1/kv/k").await.as_deref(), Some("Accept-Encoding"));
    assert_eq!(
        vary("/v1/status/leader").await.as_deref(),
        Some("Accept-Encoding")
    );
    assert_eq!(
        vary("/v1/nope").await,
        None,
        "unknown paths skip the gzip handler"
    );
    srv.shutdown().await;
}
