//! Semaphores: the limit under races, slots freed by a crash and by a
//! release, limit mismatches, and the Go `api.Semaphore` layout on one prefix.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use consuela::semaphore::SEMAPHORE_FLAGS;
use consuela::{Contact, ErrorKind, Registry};
use consuela_client::{Client, Consistency, PutOptions, QueryOptions};
use consuela_testkit::wait_for;
use consuela_wire::{Behavior, Index, SessionId, SessionRequest};

use crate::support::{Cluster, SOON, namespace};

async fn registries(cluster: &Cluster, ns: &str, n: usize) -> Vec<Registry> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(cluster.registry(i % 3, ns).await);
    }
    out
}

/// How many sessions `.lock` lists as holders that still hold a key under
/// the prefix: the count the Go client and consuela both compare to the limit.
async fn live_holders(client: &Client, prefix: &str) -> usize {
    let entries = client
        .kv()
        .list(
            prefix,
            QueryOptions::new().with_consistency(Consistency::Consistent),
        )
        .await
        .unwrap()
        .value;
    let alive: Vec<_> = entries.iter().filter_map(|e| e.session.clone()).collect();
    let Some(lock) = entries.iter().find(|e| e.key == format!("{prefix}.lock")) else {
        return 0;
    };
    let value: serde_json::Value = serde_json::from_slice(lock.value.as_deref().unwrap()).unwrap();
    value["Holders"]
        .as_object()
        .map(|holders| {
            holders
                .keys()
                .filter(|s| alive.iter().any(|a| a.as_str() == s.as_str()))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn ten_contenders_never_exceed_the_limit() {
    let cluster = Cluster::start().await;
    let ns = namespace("sem-race");
    let rs = registries(&cluster, &ns, 10).await;
    let prefix = format!("{ns}/pool/");

    // All at once, nobody releasing: exactly `limit` win, the rest are told full.
    let results = futures_util::future::join_all(
        rs.iter()
            .map(|r| r.acquire_slot("pool", 3, Contact::default())),
    )
    .await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 3, "{results:?}");
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(err.kind(), ErrorKind::SemaphoreFull { limit: 3 }),
            "{err}"
        );
    }
    assert_eq!(live_holders(&cluster.client(), &prefix).await, 3);
    let tokens: Vec<_> = results
        .iter()
        .flatten()
        .map(|s| s.fencing_token())
        .collect();
    let mut unique = tokens.clone();
    unique.dedup();
    assert_eq!(unique.len(), 3, "one token per grant: {tokens:?}");
    drop(results);

    // Waiting contenders take turns: each holds, checks, and releases.
    let current = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let client = cluster.client();
    let runs = rs.iter().map(|r| {
        let (current, most, client, prefix) = (
            current.clone(),
            most.clone(),
            client.clone(),
            prefix.clone(),
        );
        async move {
            for _ in 0..2 {
                let slot =
                    tokio::time::timeout(SOON * 3, r.wait_slot("pool", 3, Contact::default()))
                        .await
                        .expect("a slot in time")
                        .expect("a slot");
                let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                assert!(now <= 3, "{now} holders at once");
                assert!(live_holders(&client, &prefix).await <= 3);
                current.fetch_sub(1, Ordering::SeqCst);
                slot.release().await.unwrap();
            }
        }
    });
    futures_util::future::join_all(runs).await;
    assert!(most.load(Ordering::SeqCst) >= 1);
    assert_eq!(live_holders(&cluster.client(), &prefix).await, 0);
    for r in &rs {
        r.shutdown().await.unwrap();
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_release_frees_a_slot_at_once_and_a_crash_after_the_ttl() {
    let cluster = Cluster::start().await;
    let ns = namespace("sem-free");
    let a = cluster.registry(0, &ns).await;
    let b = cluster.registry(1, &ns).await;
    let c = cluster.registry(2, &ns).await;

    let held = a.acquire_slot("one", 1, Contact::at("a:1")).await.unwrap();
    let full = b
        .acquire_slot("one", 1, Contact::default())
        .await
        .unwrap_err();
    assert!(full.is_conflict(), "{full}");
    let seen = b.semaphore("one").await.unwrap().unwrap();
    assert_eq!(seen.limit, Some(1));
    assert_eq!(seen.holders.len(), 1);
    assert_eq!(
        seen.holders[0]
            .holder
            .as_ref()
            .unwrap()
            .contact
            .address
            .as_deref(),
        Some("a:1")
    );

    // A graceful release: the very next attempt gets the slot, no waiting.
    held.release().await.unwrap();
    let slot = b.acquire_slot("one", 1, Contact::default()).await.unwrap();
    // A dropped slot: its `.lock` entry goes too, once its key is gone, so a
    // successor need not hold the slot back.
    drop(slot);
    let lock_key = format!("{ns}/one/.lock");
    wait_for(
        SOON,
        "b's .lock entry is removed",
        || async {
            let lock = cluster
                .client()
                .kv()
                .get(&lock_key, QueryOptions::new())
                .await;
            let value = lock.unwrap().value.unwrap().value.unwrap();
            serde_json::from_slice::<serde_json::Value>(&value).unwrap()["Holders"]
                .as_object()
                .unwrap()
                .len()
        },
        |n| *n == 0,
    )
    .await;
    let slot = b.acquire_slot("one", 1, Contact::default()).await.unwrap();

    // A crash: b's registry is dropped without shutdown. The slot stays
    // taken until Consul expires b's session, then a waiter gets it.
    let lost = {
        let b_session = b.session().clone();
        drop(b);
        b_session
    };
    assert!(slot.is_lost(), "dropping the registry fail-stops its slots");
    drop(slot);
    let still = c
        .acquire_slot("one", 1, Contact::default())
        .await
        .unwrap_err();
    assert!(
        matches!(still.kind(), ErrorKind::SemaphoreFull { .. }),
        "a crashed holder keeps its slot until its session expires: {still}"
    );
    let taken = tokio::time::timeout(
        cluster.ttl * 3 + SOON,
        c.wait_slot("one", 1, Contact::default()),
    )
    .await
    .expect("the slot is freed after the TTL")
    .unwrap();
    let info = c.semaphore("one").await.unwrap().unwrap();
    assert_eq!(info.holders.len(), 1);
    assert_eq!(&info.holders[0].session, c.session());
    assert_ne!(&info.holders[0].session, &lost);
    drop(taken);
    a.shutdown().await.unwrap();
    c.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_limit_mismatch_is_refused_with_both_limits() {
    let cluster = Cluster::start().await;
    let ns = namespace("sem-limit");
    let a = cluster.registry(0, &ns).await;
    let b = cluster.registry(1, &ns).await;
    let _held = a.acquire_slot("pool", 2, Contact::default()).await.unwrap();
    let err = b
        .acquire_slot("pool", 3, Contact::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::LimitMismatch {
                found: 2,
                local: 3,
                in_lock: true
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "semaphore limit conflict (lock: 2, local: 3)"
    );
    assert!(!err.is_retryable());
    // The refused contender left nothing behind.
    wait_for(
        SOON,
        "only a's contender key remains",
        || async {
            cluster
                .client()
                .kv()
                .keys(&format!("{ns}/pool/"), None, QueryOptions::new())
                .await
                .unwrap()
                .value
                .len()
        },
        |n| *n == 2,
    )
    .await;

    // A contender's record carries its limit too: before any `.lock`
    // exists, a live contender of another limit is a conflict.
    let client = cluster.client();
    let session = session(&client, &cluster).await;
    let record = br#"{"v":1,"member":"by-hand","rid":"1","since":"2026-12-01T00:00:00Z","kind":"slot","limit":5}"#;
    let key = format!("{ns}/other/{}", session.as_str());
    assert!(contend(&client, &key, record.to_vec(), &session).await);
    let err = b
        .acquire_slot("other", 2, Contact::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::LimitMismatch {
                found: 5,
                local: 2,
                in_lock: false
            }
        ),
        "{err}"
    );
    client.session().destroy(&session).await.unwrap();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    cluster.shutdown().await;
}

/// A session as the Go `api.Semaphore` creates one: behaviour `delete`.
async fn session(client: &Client, cluster: &Cluster) -> SessionId {
    client
        .session()
        .create(&SessionRequest {
            name: Some("Consul API Semaphore".into()),
            node: Some(cluster.nodes[0].as_str().into()),
            checks: Some(Vec::new()),
            behavior: Some(Behavior::Delete),
            ttl: Some(format!("{}s", cluster.ttl.as_secs().max(10))),
            ..SessionRequest::default()
        })
        .await
        .unwrap()
}

/// `PUT <key>?acquire=<session>&flags=SemaphoreFlagValue`, as the Go
/// client makes its contender entry.
async fn contend(client: &Client, key: &str, value: Vec<u8>, session: &SessionId) -> bool {
    let opts = PutOptions {
        flags: SEMAPHORE_FLAGS,
        acquire: Some(session.clone()),
        ..PutOptions::default()
    };
    client.kv().put(key, value, opts).await.unwrap()
}

/// One pass of the Go client's acquisition loop, written out by hand: read
/// the prefix, check flags and limit, prune dead holders, and CAS `.lock`
/// with this session added when a slot is free. `Some(true)`: acquired;
/// `Some(false)`: full; `None`: lost a CAS race.
async fn go_try_acquire(
    client: &Client,
    prefix: &str,
    session: &SessionId,
    limit: i64,
) -> Option<bool> {
    let entries = client
        .kv()
        .list(prefix, QueryOptions::new())
        .await
        .unwrap()
        .value;
    let lock_key = format!("{prefix}.lock");
    let lock = entries.iter().find(|e| e.key == lock_key);
    let (mut value, index) = match lock {
        Some(lock) => {
            assert_eq!(
                lock.flags, SEMAPHORE_FLAGS,
                "the .lock carries the semaphore flags"
            );
            let value: serde_json::Value =
                serde_json::from_slice(lock.value.as_deref().unwrap()).unwrap();
            (value, lock.modify_index)
        }
        None => (serde_json::json!({"Limit": limit, "Holders": {}}), Index(0)),
    };
    assert_eq!(
        value["Limit"].as_i64(),
        Some(limit),
        "semaphore limit conflict"
    );
    let alive: Vec<String> = entries
        .iter()
        .filter_map(|e| e.session.as_ref().map(|s| s.as_str().to_owned()))
        .collect();
    let holders = value["Holders"].as_object_mut().unwrap();
    holders.retain(|s, _| alive.contains(s));
    if holders.len() as i64 >= limit {
        return Some(false);
    }
    holders.insert(session.as_str().to_owned(), true.into());
    let opts = PutOptions {
        flags: SEMAPHORE_FLAGS,
        cas: Some(index),
        ..PutOptions::default()
    };
    let body = serde_json::to_vec(&value).unwrap();
    client
        .kv()
        .put(&lock_key, body, opts)
        .await
        .unwrap()
        .then_some(true)
}

/// The Go client's release: CAS ourselves out of `Holders`, then delete the
/// contender entry.
async fn go_release(client: &Client, prefix: &str, session: &SessionId) {
    let lock_key = format!("{prefix}.lock");
    loop {
        let lock = client
            .kv()
            .get(&lock_key, QueryOptions::new())
            .await
            .unwrap()
            .value
            .unwrap();
        let mut value: serde_json::Value =
            serde_json::from_slice(lock.value.as_deref().unwrap()).unwrap();
        value["Holders"]
            .as_object_mut()
            .unwrap()
            .remove(session.as_str());
        let opts = PutOptions {
            flags: SEMAPHORE_FLAGS,
            cas: Some(lock.modify_index),
            ..PutOptions::default()
        };
        let body = serde_json::to_vec(&value).unwrap();
        if client.kv().put(&lock_key, body, opts).await.unwrap() {
            break;
        }
    }
    let contender = format!("{prefix}{}", session.as_str());
    client
        .kv()
        .delete(&contender, Default::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_go_semaphore_and_consuela_share_the_slots_of_one_prefix() {
    let cluster = Cluster::start().await;
    let ns = namespace("sem-go");
    let prefix = format!("{ns}/shared/");
    let client = cluster.client();
    let a = cluster.registry(0, &ns).await;
    let b = cluster.registry(1, &ns).await;

    // The Go client takes the first of two slots and writes `.lock` itself.
    let go = session(&client, &cluster).await;
    let go_key = format!("{prefix}{}", go.as_str());
    assert!(contend(&client, &go_key, b"go contender".to_vec(), &go).await);
    let acquired = loop {
        if let Some(done) = go_try_acquire(&client, &prefix, &go, 2).await {
            break done;
        }
    };
    assert!(acquired);

    // consuela takes the second; a third consuela contender finds it full.
    let slot = a
        .acquire_slot("shared", 2, Contact::at("a:1"))
        .await
        .unwrap();
    let full = b
        .acquire_slot("shared", 2, Contact::default())
        .await
        .unwrap_err();
    assert!(
        matches!(full.kind(), ErrorKind::SemaphoreFull { limit: 2 }),
        "{full}"
    );

    // The Go client reads consuela's `.lock` as its own: a second Go
    // contender sees both slots taken.
    let go2 = session(&client, &cluster).await;
    assert!(
        contend(
            &client,
            &format!("{prefix}{}", go2.as_str()),
            b"go 2".to_vec(),
            &go2
        )
        .await
    );
    assert_eq!(go_try_acquire(&client, &prefix, &go2, 2).await, Some(false));
    let lock = client
        .kv()
        .get(&format!("{prefix}.lock"), QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(lock.value.as_deref().unwrap()).unwrap();
    assert_eq!(value["Limit"], 2);
    let mut holders: Vec<_> = value["Holders"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    holders.sort();
    let mut expected = vec![go.as_str().to_owned(), a.session().as_str().to_owned()];
    expected.sort();
    assert_eq!(holders, expected);
    let mine = client
        .kv()
        .get(
            &format!("{prefix}{}", a.session().as_str()),
            QueryOptions::new(),
        )
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(mine.flags, SEMAPHORE_FLAGS);
    assert_eq!(mine.session.as_ref(), Some(a.session()));

    // The listing names the Go holder by session, without a record.
    let info = b.semaphore("shared").await.unwrap().unwrap();
    assert_eq!(info.holders.len(), 2);
    assert!(
        info.holders
            .iter()
            .any(|h| h.session == go && h.holder.is_none())
    );
    assert_eq!(info.waiting.len(), 1, "the second Go contender waits");

    // A Go release frees a slot for consuela at once; a consuela release
    // frees one for the Go client.
    go_release(&client, &prefix, &go).await;
    let second = b
        .acquire_slot("shared", 2, Contact::default())
        .await
        .unwrap();
    slot.release().await.unwrap();
    assert_eq!(go_try_acquire(&client, &prefix, &go2, 2).await, Some(true));

    // A Go contender asking for another limit is refused by the `.lock`.
    let value: serde_json::Value = serde_json::from_slice(
        client
            .kv()
            .get(&format!("{prefix}.lock"), QueryOptions::new())
            .await
            .unwrap()
            .value
            .unwrap()
            .value
            .as_deref()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(value["Limit"].as_i64(), Some(2));
    drop(second);
    client.session().destroy(&go).await.unwrap();
    client.session().destroy(&go2).await.unwrap();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    cluster.shutdown().await;
}
