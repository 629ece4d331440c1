//! Fault classification through the TCP fault proxy: refused → Failed, black hole → Unknown
//! after the timeout, reset mid-response → Unknown, latency → success; plus the dev server's
//! fault hooks (no leader, forced session invalidation).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use consuela_client::{
    ClientConfig, ErrorKind, Outcome, PutOptions, QueryOptions, RequestEvent, WatchConfig,
};
use consuela_testkit::{FaultProxy, Latency, Mode, spawn_devserver, trace_init};
use tokio::time::Instant;

use crate::support::{SOON, client_for, env, next_ok};

const SHORT: Duration = Duration::from_millis(400);

#[tokio::test]
async fn nothing_listening_is_failed() {
    trace_init();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let sink = outcomes.clone();
    let client = consuela_client::Client::new(
        ClientConfig::new(format!("http://{addr}"))
            .on_request(move |event: &RequestEvent<'_>| sink.lock().unwrap().push(event.outcome)),
    )
    .unwrap();
    let error = client.kv().get("k", QueryOptions::new()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connect, "{error}");
    assert_eq!(error.outcome(), Outcome::Failed);
    assert!(error.is_retryable());
    assert!(error.status().is_none());
    assert!(
        std::error::Error::source(&error).is_some(),
        "the transport error is kept"
    );
    let error = client
        .kv()
        .put("k", b"v".to_vec(), PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.outcome(), Outcome::Failed, "{error}");
    assert_eq!(
        *outcomes.lock().unwrap(),
        [Outcome::Failed, Outcome::Failed]
    );
}

#[tokio::test]
async fn refusing_proxy_is_failed_and_recovers() {
    let env = env("fault-refuse").await;
    let proxy = FaultProxy::start(env.target.socket_addr()).await.unwrap();
    let client = client_for(&proxy.url(), env.target.token.as_deref(), SHORT * 5);
    let key = env.key("k");
    assert!(
        client
            .kv()
            .put(&key, b"v".to_vec(), PutOptions::default())
            .await
            .unwrap()
    );

    proxy.set_reset_on_mode_change(true);
    proxy.set_mode(Mode::Refuse);
    consuela_testkit::wait_until(SOON, "the pooled connection to be cut", || async {
        proxy.live() == 0
    })
    .await;
    // A client without pooled connections must connect, and is refused: nothing was sent.
    let fresh = client_for(&proxy.url(), env.target.token.as_deref(), SHORT * 5);
    let error = fresh.kv().get(&key, QueryOptions::new()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connect, "{error}");
    assert_eq!(error.outcome(), Outcome::Failed);
    // The old client's pooled connection is gone too; whatever it tries now is not Done.
    let error = client
        .kv()
        .get(&key, QueryOptions::new())
        .await
        .unwrap_err();
    assert_ne!(error.outcome(), Outcome::Done, "{error}");

    proxy.set_mode(Mode::Pass);
    let kv = client.kv();
    let value = consuela_testkit::wait_for(
        SOON,
        "the proxy to listen again",
        || kv.get(&key, QueryOptions::new()),
        Result::is_ok,
    )
    .await;
    assert!(value.unwrap().value.is_some());
    proxy.shutdown().await;
    env.cleanup().await;
}

#[tokio::test]
async fn black_hole_is_unknown_after_the_request_timeout() {
    let env = env("fault-ignore").await;
    let proxy = FaultProxy::start(env.target.socket_addr()).await.unwrap();
    proxy.set_mode(Mode::Ignore);
    let client = client_for(&proxy.url(), env.target.token.as_deref(), SHORT);
    let started = Instant::now();
    let error = client
        .kv()
        .put(&env.key("k"), b"v".to_vec(), PutOptions::default())
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert_eq!(error.outcome(), Outcome::Unknown);
    assert!(error.is_retryable());
    assert!(
        elapsed >= SHORT,
        "gave up after {elapsed:?}, before the timeout"
    );
    proxy.shutdown().await;
    env.cleanup().await;
}

#[tokio::test]
async fn reset_mid_response_is_unknown() {
    let env = env("fault-reset").await;
    let proxy = FaultProxy::start(env.target.socket_addr()).await.unwrap();
    let client = client_for(&proxy.url(), env.target.token.as_deref(), SOON);
    let key = env.key("k");
    proxy.set_mode(Mode::ResetResponse { after_bytes: 12 });
    let error = client
        .kv()
        .put(&key, b"v".to_vec(), PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport, "{error}");
    assert_eq!(error.outcome(), Outcome::Unknown);
    // The write went through although the client could not know.
    let stored = env
        .client
        .kv()
        .get(&key, QueryOptions::new())
        .await
        .unwrap()
        .value;
    assert_eq!(stored.unwrap().value.as_deref(), Some(&b"v"[..]));
    proxy.shutdown().await;
    env.cleanup().await;
}

#[tokio::test]
async fn stopped_proxy_is_an_error_and_not_done() {
    let env = env("fault-stop").await;
    let proxy = FaultProxy::start(env.target.socket_addr()).await.unwrap();
    proxy.set_mode(Mode::Stop);
    let client = client_for(&proxy.url(), env.target.token.as_deref(), SOON);
    let error = client
        .kv()
        .get(&env.key("k"), QueryOptions::new())
        .await
        .unwrap_err();
    // The connection is accepted and then closed: the request may have been sent.
    assert_ne!(error.outcome(), Outcome::Done, "{error}");
    assert!(error.is_retryable(), "{error}");
    assert!(proxy.accepted() >= 1);
    proxy.shutdown().await;
    env.cleanup().await;
}

#[tokio::test]
async fn added_latency_still_succeeds() {
    let env = env("fault-latency").await;
    let proxy = FaultProxy::start(env.target.socket_addr()).await.unwrap();
    proxy.set_latency(Latency::both(Duration::from_millis(60)));
    let client = client_for(&proxy.url(), env.target.token.as_deref(), SOON);
    let key = env.key("k");
    let started = Instant::now();
    assert!(
        client
            .kv()
            .put(&key, b"slow".to_vec(), PutOptions::default())
            .await
            .unwrap()
    );
    assert!(started.elapsed() >= Duration::from_millis(120));
    let entry = client
        .kv()
        .get(&key, QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(entry.value.as_deref(), Some(&b"slow"[..]));
    proxy.shutdown().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_cut_keep_alive_connection_is_noticed_and_recovered() {
    let env = env("fault-cut").await;
    let proxy = FaultProxy::start(env.target.socket_addr()).await.unwrap();
    let client = client_for(&proxy.url(), env.target.token.as_deref(), SHORT);
    let key = env.key("k");
    assert!(
        client
            .kv()
            .put(&key, b"v".to_vec(), PutOptions::default())
            .await
            .unwrap()
    );
    assert_eq!(proxy.live(), 1, "one pooled keep-alive connection");

    // Cut: reset the pooled connection and black-hole everything after.
    proxy.set_reset_on_mode_change(true);
    proxy.set_mode(Mode::Ignore);
    let error = client
        .kv()
        .get(&key, QueryOptions::new())
        .await
        .unwrap_err();
    assert_eq!(error.outcome(), Outcome::Unknown, "{error}");

    proxy.set_mode(Mode::Pass);
    let entry = client
        .kv()
        .get(&key, QueryOptions::new())
        .await
        .unwrap()
        .value;
    assert!(entry.is_some(), "a fresh connection works after the cut");
    proxy.shutdown().await;
    env.cleanup().await;
}

/// A watch whose connection is cut keeps going: errors are yielded, then it recovers.
#[tokio::test]
async fn watch_survives_a_cut() {
    let env = env("fault-watch").await;
    let proxy = FaultProxy::start(env.target.socket_addr()).await.unwrap();
    proxy.set_reset_on_mode_change(true);
    let client = client_for(&proxy.url(), env.target.token.as_deref(), SHORT);
    let key = env.key("k");
    let config = WatchConfig {
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        ..WatchConfig::default()
    };
    let mut watch = client.kv().watch(&key, config);
    assert_eq!(next_ok(&mut watch).await.value, None);
    proxy.set_mode(Mode::Stop);
    proxy.set_mode(Mode::Pass);
    env.client
        .kv()
        .put(&key, b"after".to_vec(), PutOptions::default())
        .await
        .unwrap();
    let seen = next_ok(&mut watch).await;
    assert_eq!(seen.value.unwrap().value.as_deref(), Some(&b"after"[..]));
    drop(watch);
    proxy.shutdown().await;
    env.cleanup().await;
}

/// Dev-server fault hooks: `No cluster leader` is a retryable 500.
#[tokio::test]
async fn no_leader_is_retryable_and_unknown() {
    trace_init();
    let server = spawn_devserver().await;
    let client = client_for(&server.url(), None, SOON);
    server.set_no_leader(None);
    let error = client
        .kv()
        .put("k", b"v".to_vec(), PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NoLeader, "{error}");
    assert_eq!(error.outcome(), Outcome::Unknown);
    assert!(error.is_retryable());
    assert!(error.message_contains("No cluster leader"));
    server.clear_no_leader();
    assert!(
        client
            .kv()
            .put("k", b"v".to_vec(), PutOptions::default())
            .await
            .unwrap()
    );
    server.shutdown().await;
}

/// Dev-server fault hooks: a forced invalidation releases the lock and wakes a session watch.
#[tokio::test]
async fn forced_invalidation_is_seen_by_a_session_watch() {
    trace_init();
    let server = spawn_devserver().await;
    let client = client_for(&server.url(), None, SOON);
    let session = client
        .session()
        .create(&crate::support::session_request("victim"))
        .await
        .unwrap();
    assert!(
        client
            .kv()
            .acquire("held", b"v".to_vec(), &session)
            .await
            .unwrap()
    );
    // A long wait: an invalidation the watch has not seen yet must answer at once.
    let mut watch = client.session().watch_info(
        &session,
        WatchConfig::default().wait(Duration::from_secs(60)),
    );
    assert!(next_ok(&mut watch).await.value.is_some());
    server.invalidate_session(&session);
    assert_eq!(next_ok(&mut watch).await.value, None);
    let entry = client
        .kv()
        .get("held", QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(entry.session, None, "the lock was released");
    drop(watch);
    server.shutdown().await;
}
