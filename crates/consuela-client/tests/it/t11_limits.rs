//! `max_connections` and `max_response_size`: the original's transport limits.

use std::time::Duration;

use consuela_client::{ClientConfig, ErrorKind, Outcome, PutOptions, QueryOptions};

use crate::support::{SOON, env};

#[tokio::test]
async fn an_answer_longer_than_max_response_size_is_refused() {
    let env = env("limit-size").await;
    let key = env.key("big");
    let big = vec![b'x'; 16 * 1024];
    assert!(
        env.client
            .kv()
            .put(&key, big, PutOptions::default())
            .await
            .unwrap()
    );
    let mut config = ClientConfig::new(env.target.url.clone());
    config.max_response_size = Some(4096);
    let small = env.client_with(config);
    let err = small.kv().get(&key, QueryOptions::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    assert_eq!(err.outcome(), Outcome::Unknown);
    assert!(!err.is_retryable());
    // Short answers still pass.
    let missing = small
        .kv()
        .get(&env.key("missing"), QueryOptions::new())
        .await
        .unwrap();
    assert!(missing.value.is_none());
    env.cleanup().await;
}

#[tokio::test]
async fn max_connections_bounds_the_requests_in_flight() {
    let env = env("limit-conns").await;
    let key = env.key("watched");
    let mut config = ClientConfig::new(env.target.url.clone());
    config.max_connections = Some(1);
    config.request_timeout = Duration::from_millis(300);
    let one = env.client_with(config);
    // A blocking query holds the only slot while it waits.
    let index = one.kv().get(&key, QueryOptions::new()).await.unwrap().index;
    let blocking = tokio::spawn({
        let one = one.clone();
        let key = key.clone();
        async move {
            one.kv()
                .get(&key, QueryOptions::blocking(index, Duration::from_secs(2)))
                .await
        }
    });
    // Until it answers, another request finds no slot and is not sent.
    let busy = async {
        loop {
            match one.kv().get(&env.key("other"), QueryOptions::new()).await {
                Err(err) => break err,
                // The blocking query may not have taken the slot yet.
                Ok(_) => tokio::task::yield_now().await,
            }
        }
    };
    let err = tokio::time::timeout(SOON, busy)
        .await
        .expect("a request finds no slot");
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    assert_eq!(err.outcome(), Outcome::Failed);
    assert!(err.is_retryable());
    // A write wakes the blocking query, which frees the slot.
    assert!(
        env.client
            .kv()
            .put(&key, b"v".to_vec(), PutOptions::default())
            .await
            .unwrap()
    );
    assert!(blocking.await.unwrap().unwrap().value.is_some());
    assert!(
        one.kv()
            .get(&key, QueryOptions::new())
            .await
            .unwrap()
            .value
            .is_some()
    );
    env.cleanup().await;
}
