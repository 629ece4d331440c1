//! §7 items 116–120: the Go client's `api.Lock` and `api.Semaphore`
//! algorithms (consul-api.md §6) replayed over raw HTTP, so the server is
//! checked against what the reference client relies on.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::support::{LOCK_FLAG, SEMAPHORE_FLAG, Target, ms, secs};

/// Sleep after a refused acquire of a free key (the Go client's
/// `DefaultLockRetryTime` is 5 s; shortened to keep the suite fast).
const LOCK_RETRY: Duration = Duration::from_millis(250);

/// What a `Lock()` call did.
#[derive(Debug, Default)]
struct LockRun {
    acquires: u32,
}

/// `api.Lock.Lock` (§6.2 steps 3–6) for `key` with an existing session.
/// `waiting` is notified each time it starts a long-poll on a held key.
async fn lock(
    t: &Target,
    key: &str,
    session: &str,
    value: &str,
    waiting: &Notify,
) -> Result<LockRun, &'static str> {
    let mut run = LockRun::default();
    let mut index = 0u64;
    let deadline = Instant::now() + secs(40);
    loop {
        assert!(Instant::now() < deadline, "lock never acquired");
        let r = t.get(&format!("/v1/kv/{key}?index={index}&wait=15s")).await;
        if r.status == 200 {
            let e = &r.json()[0];
            if e["Flags"].as_u64() != Some(LOCK_FLAG) {
                return Err("Existing key does not match lock use");
            }
            match e["Session"].as_str() {
                Some(s) if s == session => return Ok(run),
                Some(_) => {
                    index = r.index();
                    waiting.notify_one();
                    continue;
                }
                None => {}
            }
        } else {
            assert_eq!(r.status, 404, "{}", r.text());
        }
        run.acquires += 1;
        let r = t
            .put(
                &format!("/v1/kv/{key}?acquire={session}&flags={LOCK_FLAG}"),
                value,
            )
            .await;
        assert_eq!(r.status, 200, "failed to acquire lock: {}", r.text());
        if r.json() == json!(true) {
            return Ok(run);
        }
        let r = t.get(&format!("/v1/kv/{key}")).await;
        if r.status == 200 && r.json()[0].get("Session").is_some() {
            index = r.index();
            waiting.notify_one();
        } else {
            // Free but refused: a lock-delay. Back off by time.
            index = 0;
            tokio::time::sleep(LOCK_RETRY).await;
        }
    }
}

/// `api.Lock.Unlock`: release with the lock flags and value (no lock-delay
/// is left behind), then destroy the session as the renewer's stop does.
async fn unlock(t: &Target, key: &str, session: &str, value: &str) {
    let r = t
        .put(
            &format!("/v1/kv/{key}?release={session}&flags={LOCK_FLAG}"),
            value,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    t.destroy(session).await;
}

/// The lock monitor (§6.3): long-polls with `?consistent` until the key is
/// gone or held by someone else; returns when the lock is lost.
async fn monitor(t: &Target, key: &str, session: &str) -> Instant {
    let mut index = 0u64;
    let deadline = Instant::now() + secs(40);
    loop {
        assert!(Instant::now() < deadline, "the lock was never lost");
        let r = t
            .get(&format!("/v1/kv/{key}?consistent&index={index}&wait=30s"))
            .await;
        if r.status != 200 || r.json()[0]["Session"] != session {
            return Instant::now();
        }
        index = r.index();
    }
}

async fn lock_session(t: &Target, lock_delay: &str) -> String {
    t.session(
        &json!({"Name": "Consul API Lock", "TTL": "15s", "LockDelay": lock_delay}).to_string(),
    )
    .await
}

/// Item 116: a free key is locked in one acquire, with the lock flags.
#[tokio::test]
async fn i116_lock_free_key() {
    let t = Target::new().await;
    let key = t.key("lock");
    let s = lock_session(&t, "15s").await;
    let run = lock(&t, &key, &s, "me", &Notify::new()).await.unwrap();
    assert_eq!(run.acquires, 1);
    let e = t.entry(&key).await.unwrap();
    assert_eq!(e["Flags"].as_u64(), Some(LOCK_FLAG));
    assert_eq!(e["Session"], s.as_str());
    unlock(&t, &key, &s, "me").await;
    let e = t.entry(&key).await.unwrap();
    assert!(e.get("Session").is_none());
    assert_eq!(e["Value"], "bWU=");
}

/// Item 117: a contender waits, then gets the lock within 1 s of unlock.
#[tokio::test]
async fn i117_contender_after_unlock() {
    let t = Target::new().await;
    let key = t.key("lock");
    let (a, b) = (lock_session(&t, "15s").await, lock_session(&t, "15s").await);
    lock(&t, &key, &a, "a", &Notify::new()).await.unwrap();
    let waiting = Notify::new();
    let contender = async {
        let r = lock(&t, &key, &b, "b", &waiting).await;
        (r, Instant::now())
    };
    let holder = async {
        waiting.notified().await;
        let start = Instant::now();
        unlock(&t, &key, &a, "a").await;
        start
    };
    let ((r, acquired), unlocked) = tokio::join!(contender, holder);
    r.unwrap();
    assert!(acquired > unlocked, "acquired before the unlock");
    assert!(acquired - unlocked < secs(1), "{:?}", acquired - unlocked);
    assert_eq!(t.entry(&key).await.unwrap()["Session"], b.as_str());
}

/// Item 118: destroying the holder's session closes its monitor within 1 s;
/// the contender gets the lock after the lock-delay (plus at most a retry).
#[tokio::test]
async fn i118_session_destroyed_under_holder() {
    let t = Target::new().await;
    let key = t.key("lock");
    let (a, b) = (lock_session(&t, "1s").await, lock_session(&t, "15s").await);
    lock(&t, &key, &a, "a", &Notify::new()).await.unwrap();
    let waiting = Notify::new();
    let contender = async {
        let r = lock(&t, &key, &b, "b", &waiting).await;
        (r, Instant::now())
    };
    let killer = async {
        waiting.notified().await;
        let start = Instant::now();
        t.destroy(&a).await;
        start
    };
    let (lost, (r, acquired), destroyed) = tokio::join!(monitor(&t, &key, &a), contender, killer);
    let run = r.unwrap();
    assert!(
        lost > destroyed && lost - destroyed < secs(1),
        "{:?}",
        lost - destroyed
    );
    let after = acquired - destroyed;
    assert!(
        after >= ms(990),
        "acquired {after:?} after destroy, inside the 1 s lock-delay"
    );
    assert!(after < secs(1) + secs(5) + LOCK_RETRY, "{after:?}");
    assert!(
        run.acquires >= 2,
        "the first acquire must have been refused"
    );
}

/// Item 119: a key with other flags is not a lock.
#[tokio::test]
async fn i119_flags_conflict() {
    let t = Target::new().await;
    let key = t.key("lock");
    t.put(&format!("/v1/kv/{key}?flags=42"), "x")
        .await
        .assert_bool(true);
    let s = lock_session(&t, "15s").await;
    let err = lock(&t, &key, &s, "me", &Notify::new()).await.unwrap_err();
    assert_eq!(err, "Existing key does not match lock use");
    assert_eq!(t.entry(&key).await.unwrap()["Flags"], 42);
}

/// The `.lock` document of a semaphore.
fn parse_lock(entry: Option<&Value>, limit: u64) -> (u64, BTreeMap<String, bool>) {
    let Some(e) = entry else {
        return (0, BTreeMap::new());
    };
    assert_eq!(
        e["Flags"].as_u64(),
        Some(SEMAPHORE_FLAG),
        "Existing key does not match semaphore use"
    );
    let raw = B64.decode(e["Value"].as_str().unwrap()).unwrap();
    let doc: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(doc["Limit"], limit, "semaphore limit conflict");
    let holders = serde_json::from_value(doc["Holders"].clone()).unwrap_or_default();
    (e["ModifyIndex"].as_u64().unwrap(), holders)
}

fn lock_doc(limit: u64, holders: &BTreeMap<String, bool>) -> String {
    json!({"Limit": limit, "Holders": holders}).to_string()
}

/// `api.Semaphore.Acquire` (§6.6).
async fn sem_acquire(t: &Target, prefix: &str, session: &str, limit: u64, waiting: &Notify) {
    let r = t
        .put(
            &format!("/v1/kv/{prefix}{session}?acquire={session}&flags={SEMAPHORE_FLAG}"),
            "",
        )
        .await;
    r.assert_bool(true);
    let lock_key = format!("{prefix}.lock");
    let mut index = 0u64;
    let deadline = Instant::now() + secs(40);
    loop {
        assert!(Instant::now() < deadline, "semaphore never acquired");
        let r = t
            .get(&format!("/v1/kv/{prefix}?recurse&index={index}&wait=15s"))
            .await;
        let pairs = if r.status == 200 { r.json() } else { json!([]) };
        let pairs = pairs.as_array().unwrap();
        let (cas, mut holders) =
            parse_lock(pairs.iter().find(|p| p["Key"] == lock_key.as_str()), limit);
        // Prune holders without a live contender key.
        holders.retain(|h, _| pairs.iter().any(|p| p["Session"] == h.as_str()));
        if holders.len() as u64 >= limit {
            index = r.index();
            waiting.notify_one();
            continue;
        }
        holders.insert(session.to_owned(), true);
        let r = t
            .put(
                &format!("/v1/kv/{lock_key}?cas={cas}&flags={SEMAPHORE_FLAG}"),
                lock_doc(limit, &holders),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        if r.json() == json!(true) {
            return;
        }
    }
}

/// `api.Semaphore.Release`: leave `Holders` by CAS, then drop the contender
/// key.
async fn sem_release(t: &Target, prefix: &str, session: &str, limit: u64) {
    let lock_key = format!("{prefix}.lock");
    for attempt in 0.. {
        assert!(attempt < 100, "semaphore release kept conflicting");
        let e = t.entry(&lock_key).await;
        let (cas, mut holders) = parse_lock(e.as_ref(), limit);
        holders.remove(session);
        let r = t
            .put(
                &format!("/v1/kv/{lock_key}?cas={cas}&flags={SEMAPHORE_FLAG}"),
                lock_doc(limit, &holders),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        if r.json() == json!(true) {
            break;
        }
    }
    t.delete(&format!("/v1/kv/{prefix}{session}"))
        .await
        .assert_bool(true);
}

/// Item 120: with limit 2 the third contender waits and gets in within 1 s
/// of a release.
#[tokio::test]
async fn i120_semaphore() {
    let t = Target::new().await;
    let prefix = t.key("sem/");
    let body =
        json!({"Name": "Consul API Semaphore", "TTL": "15s", "Behavior": "delete"}).to_string();
    let (a, b, c) = (
        t.session(&body).await,
        t.session(&body).await,
        t.session(&body).await,
    );
    let idle = Notify::new();
    sem_acquire(&t, &prefix, &a, 2, &idle).await;
    sem_acquire(&t, &prefix, &b, 2, &idle).await;
    let waiting = Notify::new();
    let third = async {
        sem_acquire(&t, &prefix, &c, 2, &waiting).await;
        Instant::now()
    };
    let releaser = async {
        waiting.notified().await;
        let start = Instant::now();
        sem_release(&t, &prefix, &a, 2).await;
        start
    };
    let (acquired, released) = tokio::join!(third, releaser);
    assert!(acquired > released, "the third got in before a release");
    assert!(acquired - released < secs(1), "{:?}", acquired - released);
    let (_, holders) = parse_lock(t.entry(&format!("{prefix}.lock")).await.as_ref(), 2);
    assert_eq!(holders.keys().cloned().collect::<Vec<_>>(), {
        let mut v = vec![b.clone(), c.clone()];
        v.sort();
        v
    });
}
