//! Blocking queries: wake-up, timeout, index ahead of the server, watch streams, index reset.

use std::time::Duration;

use consuela_client::wire::Index;
use consuela_client::{ClientConfig, DeleteOptions, PutOptions, QueryOptions, WatchConfig};
use consuela_testkit::{FaultProxy, spawn_devserver};
use futures_util::StreamExt as _;
use tokio::time::Instant;

use crate::support::{SOON, env, next_ok};

#[tokio::test]
async fn blocking_get_wakes_on_a_write() {
    let env = env("block-wake").await;
    let key = env.key("k");
    env.client
        .kv()
        .put(&key, b"v1".to_vec(), PutOptions::default())
        .await
        .unwrap();
    let first = env
        .client
        .kv()
        .get(&key, QueryOptions::new())
        .await
        .unwrap();

    let client = env.client.clone();
    let blocked_key = key.clone();
    let started = Instant::now();
    let blocked = tokio::spawn(async move {
        client
            .kv()
            .get(
                &blocked_key,
                QueryOptions::blocking(first.index, Duration::from_secs(60)),
            )
            .await
    });
    // The blocked read cannot have returned before the write: nothing changed.
    env.client
        .kv()
        .put(&key, b"v2".to_vec(), PutOptions::default())
        .await
        .unwrap();
    let woke = tokio::time::timeout(SOON, blocked)
        .await
        .expect("woke up")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "returned by wake-up, not by timeout"
    );
    assert!(woke.index > first.index);
    assert_eq!(woke.value.unwrap().value.as_deref(), Some(&b"v2"[..]));
    env.cleanup().await;
}

#[tokio::test]
async fn blocking_get_times_out_with_the_same_index() {
    let env = env("block-timeout").await;
    let key = env.key("k");
    env.client
        .kv()
        .put(&key, b"v".to_vec(), PutOptions::default())
        .await
        .unwrap();
    let first = env
        .client
        .kv()
        .get(&key, QueryOptions::new())
        .await
        .unwrap();
    let started = Instant::now();
    let again = env
        .client
        .kv()
        .get(
            &key,
            QueryOptions::blocking(first.index, Duration::from_millis(300)),
        )
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(again.index, first.index, "a timeout is not a change");
    env.cleanup().await;
}

#[tokio::test]
async fn an_index_ahead_of_the_server_returns_the_real_one() {
    let env = env("block-ahead").await;
    let key = env.key("k");
    env.client
        .kv()
        .put(&key, b"v".to_vec(), PutOptions::default())
        .await
        .unwrap();
    let ahead = Index(999_999_999_999);
    let got = env
        .client
        .kv()
        .get(
            &key,
            QueryOptions::blocking(ahead, Duration::from_millis(300)),
        )
        .await
        .unwrap();
    assert!(
        got.index < ahead,
        "the server answers its own, smaller index"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn a_blocking_request_outlives_the_plain_request_timeout() {
    let env = env("block-timeout-extension").await;
    // The request timeout is shorter than the wait: the client must extend it.
    let client =
        env.client_with(ClientConfig::default().request_timeout(Duration::from_millis(200)));
    let key = env.key("k");
    client
        .kv()
        .put(&key, b"v".to_vec(), PutOptions::default())
        .await
        .unwrap();
    let first = client.kv().get(&key, QueryOptions::new()).await.unwrap();
    let again = client
        .kv()
        .get(
            &key,
            QueryOptions::blocking(first.index, Duration::from_millis(800)),
        )
        .await
        .unwrap();
    assert_eq!(again.index, first.index);
    env.cleanup().await;
}

#[tokio::test]
async fn watch_yields_each_change_of_a_key() {
    let env = env("watch-key").await;
    let key = env.key("watched");
    let kv = env.client.kv();
    // The wait is longer than the test's patience on purpose: the next request may reach the
    // server after the delete, and it must then answer at once (the index moved on), not hold
    // the request for the whole wait.
    let mut watch = kv.watch(&key, WatchConfig::default().wait(Duration::from_secs(60)));

    let first = tokio::time::timeout(SOON, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.value, None, "the key does not exist yet");

    kv.put(&key, b"one".to_vec(), PutOptions::default())
        .await
        .unwrap();
    let next = tokio::time::timeout(SOON, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.value.unwrap().value.as_deref(), Some(&b"one"[..]));

    kv.put(&key, b"two".to_vec(), PutOptions::default())
        .await
        .unwrap();
    let next = tokio::time::timeout(SOON, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.value.unwrap().value.as_deref(), Some(&b"two"[..]));

    kv.delete(&key, DeleteOptions::default()).await.unwrap();
    let next = tokio::time::timeout(SOON, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.value, None, "deletion is a change");
    drop(watch);
    env.cleanup().await;
}

#[tokio::test]
async fn watch_prefix_sees_new_children_and_deletes() {
    let env = env("watch-prefix").await;
    let kv = env.client.kv();
    let prefix = env.key("p/");
    let mut watch = kv.watch_prefix(&prefix, WatchConfig::default());
    let first = tokio::time::timeout(SOON, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.value.is_empty());
    kv.put(&env.key("p/a"), b"a".to_vec(), PutOptions::default())
        .await
        .unwrap();
    kv.put(&env.key("p/b"), b"b".to_vec(), PutOptions::default())
        .await
        .unwrap();
    // Two writes may arrive as one change or two; wait until both are visible.
    let mut last = first;
    while last.value.len() < 2 {
        last = tokio::time::timeout(SOON, watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
    kv.delete(&env.key("p/b"), DeleteOptions::default())
        .await
        .unwrap();
    let next = tokio::time::timeout(SOON, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.value.len(), 1);
    assert!(
        next.index > last.index,
        "a delete raises the prefix index (tombstone)"
    );
    env.cleanup().await;
}

/// A fail-over to a server with a lower index: Consul's clients must reset to 0 when the index
/// goes backwards. Needs two servers, so it always runs on in-process dev servers.
#[tokio::test]
async fn watch_resets_when_the_index_goes_backwards() {
    consuela_testkit::trace_init();
    let busy = spawn_devserver().await;
    let fresh = spawn_devserver().await;
    let proxy = FaultProxy::start(busy.local_addr()).await.unwrap();
    let direct_busy = crate::support::client_for(&busy.url(), None, Duration::from_secs(5));
    let direct_fresh = crate::support::client_for(&fresh.url(), None, Duration::from_secs(5));
    // Push the busy server's index well above the fresh one's.
    for i in 0..30 {
        direct_busy
            .kv()
            .put("other", vec![i], PutOptions::default())
            .await
            .unwrap();
    }
    direct_busy
        .kv()
        .put("k", b"busy".to_vec(), PutOptions::default())
        .await
        .unwrap();
    direct_fresh
        .kv()
        .put("k", b"fresh".to_vec(), PutOptions::default())
        .await
        .unwrap();

    // No keep-alive: every request opens a new connection through the proxy, so a switch of
    // upstream moves the next request without any error (a silent fail-over).
    let mut config = ClientConfig::new(proxy.url()).request_timeout(Duration::from_secs(5));
    config.pool_max_idle = 0;
    let client = consuela_client::Client::new(config).unwrap();
    let mut watch = client
        .kv()
        .watch("k", WatchConfig::default().wait(Duration::from_millis(500)));
    let first = next_ok(&mut watch).await;
    assert_eq!(first.value.unwrap().value.as_deref(), Some(&b"busy"[..]));

    proxy.set_upstream(fresh.local_addr());
    // The fresh server sees an index ahead of its own: it holds the request for the wait and
    // answers its lower index, which the watch yields as a change, then resets to 0.
    let after = next_ok(&mut watch).await;
    assert!(after.index < first.index, "the index went backwards");
    assert_eq!(after.value.unwrap().value.as_deref(), Some(&b"fresh"[..]));

    // After the reset the watch blocks on the fresh server's index and sees its next write.
    direct_fresh
        .kv()
        .put("k", b"fresh2".to_vec(), PutOptions::default())
        .await
        .unwrap();
    let next = next_ok(&mut watch).await;
    assert_eq!(next.value.unwrap().value.as_deref(), Some(&b"fresh2"[..]));
    drop(watch);
    proxy.shutdown().await;
    busy.shutdown().await;
    fresh.shutdown().await;
}
