use std::time::Duration;

use crate::support::{Http, fast_server};

#[tokio::test]
async fn a_write_wakes_a_blocking_read() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    h.put("/v1/kv/b/k", "v1").await;
    let idx = h.get("/v1/kv/b/k").await.index.unwrap();
    let started = tokio::time::Instant::now();
    let (woken, _) = tokio::join!(h.get(&format!("/v1/kv/b/k?index={idx}&wait=30s")), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        h.put("/v1/kv/b/k", "v2").await
    });
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woken early, not at the wait"
    );
    assert!(woken.index.unwrap() > idx);
    assert_eq!(woken.json()[0]["Value"], "djI=");
    srv.shutdown().await;
}

#[tokio::test]
async fn prefix_watch_wakes_on_delete_but_not_on_other_prefixes() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    h.put("/v1/kv/p/a", "1").await;
    h.put("/v1/kv/p/b", "2").await;
    let idx = h.get("/v1/kv/p/?recurse").await.index.unwrap();
    // A write elsewhere does not end the wait early; the wait (200ms) does.
    let (r, _) = tokio::join!(
        h.get(&format!("/v1/kv/p/?recurse&index={idx}&wait=200ms")),
        h.put("/v1/kv/q/x", "1")
    );
    assert_eq!(r.index, Some(idx));
    let (r, _) = tokio::join!(
        h.get(&format!("/v1/kv/p/?keys&index={idx}&wait=30s")),
        async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            h.call("DELETE", "/v1/kv/p/b", "").await
        }
    );
    assert!(
        r.index.unwrap() > idx,
        "the tombstone moves the prefix index"
    );
    assert_eq!(r.json(), serde_json::json!(["p/a"]));
    srv.shutdown().await;
}

#[tokio::test]
async fn session_list_blocks_until_a_create() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let idx = h.get("/v1/session/list").await.index.unwrap();
    let (r, id) = tokio::join!(
        h.get(&format!("/v1/session/list?index={idx}&wait=30s")),
        async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            h.session("{}").await
        }
    );
    assert!(r.index.unwrap() > idx);
    assert_eq!(r.json()[0]["ID"], id.as_str());
    srv.shutdown().await;
}

#[tokio::test]
async fn a_read_whose_index_predates_a_delete_answers_at_once() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    h.put("/v1/kv/gone/k", "v").await;
    let idx = h.get("/v1/kv/gone/k").await.index.unwrap();
    h.call("DELETE", "/v1/kv/gone/k", "").await;
    // The client has not seen the delete: its blocking read must not wait
    // for the key to come back.
    let started = tokio::time::Instant::now();
    let r = h.get(&format!("/v1/kv/gone/k?index={idx}&wait=30s")).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered at once"
    );
    assert_eq!(r.status, 404);
    assert!(r.index.unwrap() > idx);
    // Same for a session destroyed before the read arrives.
    let id = h.session("").await;
    let idx = h
        .get(&format!("/v1/session/info/{id}"))
        .await
        .index
        .unwrap();
    h.put(&format!("/v1/session/destroy/{id}"), "").await;
    let started = tokio::time::Instant::now();
    let r = h
        .get(&format!("/v1/session/info/{id}?index={idx}&wait=30s"))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered at once"
    );
    assert_eq!(r.json(), serde_json::json!([]));
    srv.shutdown().await;
}
