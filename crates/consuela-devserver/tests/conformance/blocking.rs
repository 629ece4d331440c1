//! §7 items 83–91: blocking queries and consistency modes on KV.

use tokio::time::Instant;

use crate::support::{Resp, Target, block_then, secs};

/// Times one request.
async fn timed(t: &Target, path: &str) -> (Resp, std::time::Duration) {
    let t0 = Instant::now();
    let r = t.get(path).await;
    (r, t0.elapsed())
}

/// Item 83 [T]: with no writes the query runs to its wait (plus Consul's
/// jitter of up to wait/16) and answers the same index.
#[tokio::test]
async fn i83_wait_runs_out() {
    let t = Target::new().await;
    t.put(&t.kv("k"), "v").await.assert_bool(true);
    let idx = t.get(&t.kv("k")).await.index();
    let (wait, wait_s) = t.short_wait();
    let (r, took) = timed(&t, &format!("{}?index={idx}&wait={wait_s}", t.kv("k"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.index(), idx);
    assert!(took >= wait, "returned after {took:?}");
    assert!(took <= wait * 17 / 16 + secs(1), "returned after {took:?}");
}

/// Item 84: a write wakes the query at once.
#[tokio::test]
async fn i84_write_wakes() {
    let t = Target::new().await;
    t.put(&t.kv("k"), "v").await.assert_bool(true);
    let idx = t.get(&t.kv("k")).await.index();
    let (r, w, took) = block_then(
        t.get(&format!("{}?index={idx}&wait=30s", t.kv("k"))),
        t.put(&t.kv("k"), "w"),
    )
    .await;
    w.assert_bool(true);
    assert!(took < secs(1), "took {took:?}");
    assert_eq!(r.status, 200);
    assert!(r.index() > idx);
    assert_eq!(r.json()[0]["Value"], "dw==");
}

/// Item 85: `index=0` never blocks.
#[tokio::test]
async fn i85_index_zero() {
    let t = Target::new().await;
    t.put(&t.kv("k"), "v").await.assert_bool(true);
    let (r, took) = timed(&t, &format!("{}?index=0&wait=30s", t.kv("k"))).await;
    assert_eq!(r.status, 200);
    assert!(took < secs(1), "took {took:?}");
}

/// Item 86 [T]: an index from the future blocks for the wait, then answers
/// the real (smaller) index.
#[tokio::test]
async fn i86_index_ahead() {
    let t = Target::new().await;
    t.put(&t.kv("k"), "v").await.assert_bool(true);
    let (wait, wait_s) = t.short_wait();
    let far = u64::from(u32::MAX);
    let (r, took) = timed(&t, &format!("{}?index={far}&wait={wait_s}", t.kv("k"))).await;
    assert_eq!(r.status, 200);
    assert!(took >= wait, "returned after {took:?}");
    assert!(took <= wait * 17 / 16 + secs(1), "returned after {took:?}");
    assert!(r.index() < far);
}

/// Item 87: a query on a missing key wakes when the key is created. Consul
/// 1.0.8 may answer a spurious early 404 with a higher table index under
/// unrelated writes (consul-observed.md): the loop re-blocks then, as a
/// client would.
#[tokio::test]
async fn i87_missing_key_created() {
    let t = Target::new().await;
    let path = t.kv("k");
    let idx = t.get(&path).await.index();
    let block = async {
        let mut idx = idx;
        let deadline = Instant::now() + secs(40);
        loop {
            assert!(Instant::now() < deadline, "the key never showed up");
            let r = t.get(&format!("{path}?index={idx}&wait=30s")).await;
            if r.status != 404 {
                return r;
            }
            assert!(r.index() >= idx, "index went backwards");
            idx = r.index();
        }
    };
    let (r, w, took) = block_then(block, t.put(&path, "v")).await;
    w.assert_bool(true);
    assert!(took < secs(1), "took {took:?}");
    assert_eq!(r.status, 200);
    assert!(r.index() > idx);
}

/// Item 88: deleting the key wakes the query with a 404 and a larger index.
#[tokio::test]
async fn i88_key_deleted() {
    let t = Target::new().await;
    let path = t.kv("k");
    t.put(&path, "v").await.assert_bool(true);
    let idx = t.get(&path).await.index();
    let (r, d, took) = block_then(
        t.get(&format!("{path}?index={idx}&wait=30s")),
        t.delete(&path),
    )
    .await;
    d.assert_bool(true);
    assert!(took < secs(1), "took {took:?}");
    assert_eq!(r.status, 404);
    assert!(r.index() > idx);
}

/// Item 89: a prefix query wakes on a child's deletion, and the index moves
/// up although the deleted key had the highest ModifyIndex (tombstones).
#[tokio::test]
async fn i89_recurse_wakes_on_delete() {
    let t = Target::new().await;
    t.put(&t.kv("p/a"), "a").await.assert_bool(true);
    t.put(&t.kv("p/b"), "b").await.assert_bool(true);
    let list = format!("{}?recurse", t.kv("p/"));
    let idx = t.get(&list).await.index();
    let (r, d, took) = block_then(
        t.get(&format!("{list}&index={idx}&wait=30s")),
        t.delete(&t.kv("p/b")),
    )
    .await;
    d.assert_bool(true);
    assert!(took < secs(1), "took {took:?}");
    assert_eq!(r.status, 200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));
    assert!(r.index() > idx);
}

/// Item 90 [T][opt]: writes outside a non-empty prefix do not end a
/// blocking `?recurse` on it.
#[tokio::test]
async fn i90_unrelated_writes_do_not_wake() {
    let t = Target::new().await;
    t.put(&t.kv("p/a"), "a").await.assert_bool(true);
    let list = format!("{}?recurse", t.kv("p/"));
    let idx = t.get(&list).await.index();
    let (wait, wait_s) = t.short_wait();
    let t0 = Instant::now();
    let (r, w, _) = block_then(
        t.get(&format!("{list}&index={idx}&wait={wait_s}")),
        t.put(&t.kv("q"), "outside"),
    )
    .await;
    w.assert_bool(true);
    let took = t0.elapsed();
    assert!(took >= wait, "woken after {took:?}");
    assert_eq!(r.status, 200);
    assert_eq!(r.index(), idx);
}

/// Item 91: the consistency modes see the same data on one node.
#[tokio::test]
async fn i91_consistency_modes() {
    let t = Target::new().await;
    t.put(&t.kv("p/a"), "a").await.assert_bool(true);
    t.put(&t.kv("p/b"), "b").await.assert_bool(true);
    for path in [t.kv("p/a"), format!("{}?recurse", t.kv("p/"))] {
        let sep = if path.contains('?') { '&' } else { '?' };
        let default = t.get(&path).await;
        let consistent = t.get(&format!("{path}{sep}consistent")).await;
        let stale = t.get(&format!("{path}{sep}stale")).await;
        for r in [&consistent, &stale] {
            assert_eq!(r.status, 200);
            assert_eq!(r.json(), default.json(), "{path}");
            assert_eq!(r.index(), default.index(), "{path}");
        }
    }
}
