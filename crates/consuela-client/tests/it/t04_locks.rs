//! Locks: acquire, contention, release, re-acquire, invalid sessions, session invalidation.

use consuela_client::{ErrorKind, Outcome, PutOptions, QueryOptions};

use crate::support::env;

#[tokio::test]
async fn acquire_release_round_trip() {
    let env = env("lock").await;
    let kv = env.client.kv();
    let (s1, s2) = (env.session("s1").await, env.session("s2").await);
    let key = env.key("lock");

    assert!(kv.acquire(&key, b"one".to_vec(), &s1).await.unwrap());
    let entry = kv
        .get(&key, QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(entry.session.as_ref(), Some(&s1));
    assert_eq!(entry.lock_index, 1);
    assert_eq!(entry.value.as_deref(), Some(&b"one"[..]));

    assert!(
        !kv.acquire(&key, b"two".to_vec(), &s2).await.unwrap(),
        "held by s1"
    );
    assert!(
        !kv.release(&key, b"x".to_vec(), &s2).await.unwrap(),
        "s2 does not hold it"
    );

    // Re-acquire by the holder updates the value, keeps LockIndex.
    assert!(kv.acquire(&key, b"one'".to_vec(), &s1).await.unwrap());
    let entry = kv
        .get(&key, QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(entry.lock_index, 1);
    assert_eq!(entry.value.as_deref(), Some(&b"one'"[..]));

    assert!(kv.release(&key, b"free".to_vec(), &s1).await.unwrap());
    let entry = kv
        .get(&key, QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(entry.session, None);
    assert_eq!(
        entry.value.as_deref(),
        Some(&b"free"[..]),
        "release writes its body"
    );

    assert!(
        kv.acquire(&key, b"two".to_vec(), &s2).await.unwrap(),
        "free after release"
    );
    let entry = kv
        .get(&key, QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(entry.session.as_ref(), Some(&s2));
    assert_eq!(entry.lock_index, 2, "LockIndex counts acquisitions");

    // Acquire with flags through put.
    let opts = PutOptions {
        flags: 42,
        acquire: Some(s2.clone()),
        ..PutOptions::default()
    };
    assert!(kv.put(&key, b"two".to_vec(), opts).await.unwrap());
    let entry = kv
        .get(&key, QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(entry.flags, 42);

    env.client.session().destroy(&s1).await.unwrap();
    env.client.session().destroy(&s2).await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn acquire_with_a_dead_session_is_a_server_error() {
    let env = env("lock-dead").await;
    let session = env.session("dead").await;
    env.client.session().destroy(&session).await.unwrap();
    let error = env
        .client
        .kv()
        .acquire(&env.key("k"), b"v".to_vec(), &session)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Server, "{error}");
    assert_eq!(error.outcome(), Outcome::Unknown);
    assert!(error.message_contains("invalid session"), "{error}");
    // Release with an unknown session is a plain `false`.
    assert!(
        !env.client
            .kv()
            .release(&env.key("k"), b"v".to_vec(), &session)
            .await
            .unwrap()
    );
    env.cleanup().await;
}

#[tokio::test]
async fn destroying_a_delete_session_removes_its_keys() {
    let env = env("lock-behavior").await;
    let request = consuela_client::wire::SessionRequest {
        behavior: Some(consuela_client::wire::Behavior::Delete),
        ..crate::support::session_request("deleter")
    };
    let session = env.client.session().create(&request).await.unwrap();
    let key = env.key("owned");
    assert!(
        env.client
            .kv()
            .acquire(&key, b"v".to_vec(), &session)
            .await
            .unwrap()
    );
    env.client.session().destroy(&session).await.unwrap();
    assert_eq!(
        env.client
            .kv()
            .get(&key, QueryOptions::new())
            .await
            .unwrap()
            .value,
        None
    );
    env.cleanup().await;
}
