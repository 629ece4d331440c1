//! §7 items 71–82: `?acquire` / `?release` semantics.

use serde_json::json;

use crate::support::{Target, block_then, secs};

/// Items 71–76: acquire, contend, re-acquire, release, hand over.
#[tokio::test]
async fn i71_to_i76_acquire_release_cycle() {
    let t = Target::new().await;
    let k = t.key("k");
    let (s, s2) = (t.session("").await, t.session("").await);

    // 71
    assert!(t.acquire(&k, &s, "v1").await);
    let e = t.entry(&k).await.unwrap();
    assert_eq!(e["Session"], s.as_str());
    assert_eq!(e["LockIndex"], 1);
    assert_eq!(e["Value"], "djE=");

    // 72
    assert!(!t.acquire(&k, &s2, "other").await);
    assert_eq!(t.entry(&k).await.unwrap(), e);

    // 73
    assert!(t.acquire(&k, &s, "v2").await);
    let e = t.entry(&k).await.unwrap();
    assert_eq!(e["Session"], s.as_str());
    assert_eq!(e["LockIndex"], 1);
    assert_eq!(e["Value"], "djI=");

    // 75 (a non-holder cannot release)
    assert!(!t.release(&k, &s2, "").await);
    assert!(!t.release(&t.key("missing"), &s, "").await);
    assert!(t.entry(&t.key("missing")).await.is_none());

    // 74
    assert!(t.release(&k, &s, "").await);
    let e = t.entry(&k).await.unwrap();
    assert!(e.get("Session").is_none(), "{e}");
    assert_eq!(e["LockIndex"], 1);
    assert_eq!(e["Value"], json!(null));

    // 76
    assert!(t.acquire(&k, &s2, "v3").await);
    let e = t.entry(&k).await.unwrap();
    assert_eq!(e["Session"], s2.as_str());
    assert_eq!(e["LockIndex"], 2);
}

/// Item 77: acquire with a session that does not exist.
#[tokio::test]
async fn i77_acquire_unknown_session() {
    let t = Target::new().await;
    let ghost = uuid::Uuid::new_v4();
    t.put(&format!("{}?acquire={ghost}", t.kv("k")), "")
        .await
        .assert_err(500, "invalid session \"");
}

/// Item 78: acquire with an empty session.
#[tokio::test]
async fn i78_acquire_empty_session() {
    let t = Target::new().await;
    t.put(&format!("{}?acquire=", t.kv("k")), "")
        .await
        .assert_err(500, "missing session");
}

/// Item 79: locks are advisory: a plain PUT overwrites a held key and keeps
/// its `Session` (`LockIndex` is not asserted, see consul-api.md §2.3).
#[tokio::test]
async fn i79_plain_put_on_held_key() {
    let t = Target::new().await;
    let k = t.key("k");
    let s = t.session("").await;
    assert!(t.acquire(&k, &s, "v").await);
    t.put(&t.kv("k"), "w").await.assert_bool(true);
    let e = t.entry(&k).await.unwrap();
    assert_eq!(e["Session"], s.as_str());
    assert_eq!(e["Value"], "dw==");
}

/// Item 80: deleting a held key leaves the session alone.
#[tokio::test]
async fn i80_delete_held_key() {
    let t = Target::new().await;
    let k = t.key("k");
    let s = t.session("").await;
    assert!(t.acquire(&k, &s, "v").await);
    t.delete(&t.kv("k")).await.assert_bool(true);
    assert!(t.entry(&k).await.is_none());
    assert!(t.session_alive(&s).await);
}

/// Item 81: a blocking GET on a held key wakes on release.
#[tokio::test]
async fn i81_blocking_get_wakes_on_release() {
    let t = Target::new().await;
    let k = t.key("k");
    let s = t.session("").await;
    assert!(t.acquire(&k, &s, "v").await);
    let idx = t.entry(&k).await.unwrap()["ModifyIndex"].as_u64().unwrap();
    let (r, released, took) = block_then(
        t.get(&format!("/v1/kv/{k}?index={idx}&wait=30s")),
        t.release(&k, &s, "v"),
    )
    .await;
    assert!(released);
    assert!(took < secs(1), "took {took:?}");
    assert_eq!(r.status, 200);
    assert!(r.index() > idx);
    assert!(r.json()[0].get("Session").is_none());
}

/// Item 82: concurrent acquires of a free key: exactly one wins, 50 times.
#[tokio::test]
async fn i82_concurrent_acquires() {
    let t = Target::new().await;
    let k = t.key("k");
    let (s, s2) = (t.session("").await, t.session("").await);
    for round in 0..50 {
        let (a, b) = tokio::join!(t.acquire(&k, &s, "a"), t.acquire(&k, &s2, "b"));
        assert!(a ^ b, "round {round}: {a} {b}");
        let winner = if a { &s } else { &s2 };
        assert_eq!(t.entry(&k).await.unwrap()["Session"], winner.as_str());
        assert!(t.release(&k, winner, "").await);
    }
}
