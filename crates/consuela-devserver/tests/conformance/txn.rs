//! §7 items 92–103: `PUT /v1/txn` with KV operations.

use serde_json::{Value, json};

use crate::support::{Resp, Target};

async fn txn(t: &Target, ops: &Value) -> Resp {
    t.put("/v1/txn", ops.to_string()).await
}

/// A 409 with `Results: null` and exactly one error at `op` containing `what`.
#[track_caller]
fn assert_failed(r: &Resp, op: u64, what: &str) {
    assert_eq!(r.status, 409, "{}", r.text());
    let v = r.json();
    assert_eq!(v["Results"], Value::Null, "{v}");
    let errors = v["Errors"].as_array().expect("Errors");
    assert_eq!(errors.len(), 1, "{v}");
    assert_eq!(errors[0]["OpIndex"], op, "{v}");
    let text = errors[0]["What"].as_str().unwrap();
    assert!(text.contains(what), "expected {what:?} in {text:?}");
}

fn modify_index(e: &Value) -> u64 {
    e["ModifyIndex"].as_u64().expect("ModifyIndex")
}

/// Item 92: two sets, one index.
#[tokio::test]
async fn i92_sets() {
    let t = Target::new().await;
    let (a, b) = (t.key("a"), t.key("b"));
    let r = txn(
        &t,
        &json!([
            {"KV": {"Verb": "set", "Key": a, "Value": "YQ=="}},
            {"KV": {"Verb": "set", "Key": b, "Value": "Yg=="}},
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["Errors"], Value::Null);
    let results = v["Results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for (res, key) in results.iter().zip([&a, &b]) {
        assert_eq!(res["KV"]["Key"], key.as_str());
        assert_eq!(res["KV"]["Value"], Value::Null);
    }
    let (ea, eb) = (t.entry(&a).await.unwrap(), t.entry(&b).await.unwrap());
    assert_eq!(ea["ModifyIndex"], eb["ModifyIndex"]);
    assert_eq!(
        (ea["Value"].clone(), eb["Value"].clone()),
        (json!("YQ=="), json!("Yg=="))
    );
}

/// Item 93: a stale cas fails the whole transaction.
#[tokio::test]
async fn i93_stale_cas() {
    let t = Target::new().await;
    let (a, c) = (t.key("a"), t.key("c"));
    t.put(&t.kv("a"), "1").await.assert_bool(true);
    let stale = modify_index(&t.entry(&a).await.unwrap());
    t.put(&t.kv("a"), "2").await.assert_bool(true);
    let r = txn(
        &t,
        &json!([
            {"KV": {"Verb": "cas", "Key": a, "Index": stale, "Value": "Mw=="}},
            {"KV": {"Verb": "set", "Key": c, "Value": "Yw=="}},
        ]),
    )
    .await;
    assert_failed(&r, 0, &format!("failed to set key \"{a}\", index is stale"));
    assert!(t.entry(&c).await.is_none());
    assert_eq!(t.entry(&a).await.unwrap()["Value"], "Mg==");
}

/// Item 94: a read-only txn reading a missing key fails, with the read meta
/// headers.
#[tokio::test]
async fn i94_get_missing() {
    let t = Target::new().await;
    let k = t.key("missing");
    let r = txn(&t, &json!([{"KV": {"Verb": "get", "Key": k}}])).await;
    assert_failed(&r, 0, &format!("key \"{k}\" doesn't exist"));
    assert!(r.header("x-consul-knownleader").is_some(), "{r:?}");
}

/// Items 95 and 96: `lock` acquires, refuses a held key and refuses during
/// a lock-delay.
#[tokio::test]
async fn i95_i96_lock() {
    let t = Target::new().await;
    let (k, kd) = (t.key("k"), t.key("delayed"));
    let s = t.session(r#"{"LockDelay":"10s"}"#).await;
    let s2 = t.session("").await;
    let lock = |key: &str, session: &str| json!([{"KV": {"Verb": "lock", "Key": key, "Session": session, "Value": "dg=="}}]);
    let r = txn(&t, &lock(&k, &s)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let kv = &r.json()["Results"][0]["KV"];
    assert_eq!(kv["Session"], s.as_str());
    assert_eq!(kv["LockIndex"], 1);
    let r = txn(&t, &lock(&k, &s2)).await;
    assert_failed(
        &r,
        0,
        &format!("failed to lock key \"{k}\", lock is already held"),
    );

    // 96
    assert!(t.acquire(&kd, &s, "v").await);
    t.destroy(&s).await;
    let r = txn(&t, &lock(&kd, &s2)).await;
    assert_failed(
        &r,
        0,
        &format!("failed to lock key \"{kd}\" due to lock delay"),
    );
}

/// Item 97: the check verbs.
#[tokio::test]
async fn i97_checks() {
    let t = Target::new().await;
    let k = t.key("k");
    let s = t.session("").await;
    assert!(t.acquire(&k, &s, "v").await);
    let idx = modify_index(&t.entry(&k).await.unwrap());
    let r = txn(
        &t,
        &json!([{"KV": {"Verb": "check-index", "Key": k, "Index": idx}}]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = txn(
        &t,
        &json!([{"KV": {"Verb": "check-index", "Key": k, "Index": idx + 1000}}]),
    )
    .await;
    assert_failed(&r, 0, &format!("failed index check for key \"{k}\""));
    let r = txn(
        &t,
        &json!([{"KV": {"Verb": "check-session", "Key": k, "Session": s}}]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let other = uuid::Uuid::new_v4().to_string();
    let r = txn(
        &t,
        &json!([{"KV": {"Verb": "check-session", "Key": k, "Session": other}}]),
    )
    .await;
    assert_failed(&r, 0, &format!("failed session check for key \"{k}\""));
    let r = txn(&t, &json!([{"KV": {"Verb": "check-not-exists", "Key": k}}])).await;
    assert_failed(&r, 0, &format!("key \"{k}\" exists"));
}

/// Item 98: `get-tree` returns every key under the prefix, with values.
#[tokio::test]
async fn i98_get_tree() {
    let t = Target::new().await;
    for name in ["p/a", "p/b", "q"] {
        t.put(&t.kv(name), name).await.assert_bool(true);
    }
    let r = txn(
        &t,
        &json!([{"KV": {"Verb": "get-tree", "Key": t.key("p/")}}]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let results = r.json()["Results"].as_array().cloned().unwrap();
    let got: Vec<_> = results
        .iter()
        .map(|r| (r["KV"]["Key"].clone(), r["KV"]["Value"].clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (json!(t.key("p/a")), json!("cC9h")),
            (json!(t.key("p/b")), json!("cC9i")),
        ]
    );
}

/// Item 99: deletes produce no result entry.
#[tokio::test]
async fn i99_delete_has_no_result() {
    let t = Target::new().await;
    t.put(&t.kv("a"), "a").await.assert_bool(true);
    t.put(&t.kv("b"), "b").await.assert_bool(true);
    let r = txn(
        &t,
        &json!([
            {"KV": {"Verb": "delete", "Key": t.key("a")}},
            {"KV": {"Verb": "get", "Key": t.key("b")}},
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let results = r.json()["Results"].as_array().cloned().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["KV"]["Key"], t.key("b"));
    assert!(t.entry(&t.key("a")).await.is_none());
}

/// Item 100: the operation limit is 64 before Consul 1.14 (1.0.8, the dev
/// server) and 128 since; 64 ops always pass, 129 always fail.
#[tokio::test]
async fn i100_too_many_ops() {
    let t = Target::new().await;
    let ops = |n: usize| {
        Value::Array(
            (0..n)
                .map(|i| json!({"KV": {"Verb": "set", "Key": t.key(&format!("o/{i}"))}}))
                .collect(),
        )
    };
    let r = txn(&t, &ops(64)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = txn(&t, &ops(129)).await;
    assert_eq!(r.status, 413, "{}", r.text());
    let text = r.text();
    assert!(
        text.contains("Transaction contains too many operations (129 > 128)")
            || text.contains("Transaction contains too many operations (129 > 64)"),
        "{text:?}"
    );
}

/// Item 101: bad base64.
#[tokio::test]
async fn i101_bad_base64() {
    let t = Target::new().await;
    let r = txn(
        &t,
        &json!([{"KV": {"Verb": "set", "Key": t.key("a"), "Value": "!!"}}]),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.text().starts_with("Failed to parse body:"),
        "{}",
        r.text()
    );
}

/// Item 102: an unknown verb fails the txn; a non-array body is a 400.
#[tokio::test]
async fn i102_unknown_verb_and_bad_body() {
    let t = Target::new().await;
    let r = txn(&t, &json!([{"KV": {"Verb": "bogus", "Key": t.key("a")}}])).await;
    assert_failed(&r, 0, "unknown KV verb \"bogus\"");
    let r = txn(&t, &json!({"KV": {"Verb": "get", "Key": t.key("a")}})).await;
    assert_eq!(r.status, 400, "{}", r.text());
}

/// Item 103: a later failure rolls back earlier writes.
#[tokio::test]
async fn i103_rollback() {
    let t = Target::new().await;
    let (a, b) = (t.key("a"), t.key("b"));
    t.put(&t.kv("b"), "b").await.assert_bool(true);
    let before = t.entry(&b).await.unwrap();
    let r = txn(
        &t,
        &json!([
            {"KV": {"Verb": "set", "Key": a, "Value": "YQ=="}},
            {"KV": {"Verb": "delete", "Key": b}},
            {"KV": {"Verb": "check-not-exists", "Key": b}},
            {"KV": {"Verb": "cas", "Key": b, "Index": 1, "Value": "eA=="}},
        ]),
    )
    .await;
    assert_failed(&r, 3, &format!("failed to set key \"{b}\""));
    assert!(t.entry(&a).await.is_none());
    assert_eq!(t.entry(&b).await.unwrap(), before);
}
