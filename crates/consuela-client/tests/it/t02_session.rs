//! Sessions: create, info, list, node, renew, destroy, validation errors.

use std::time::Duration;

use consuela_client::wire::{Behavior, GoDuration, SessionId, SessionRequest};
use consuela_client::{ErrorKind, Outcome, QueryOptions};

use crate::support::{env, session_request};

#[tokio::test]
async fn session_lifecycle() {
    let env = env("session").await;
    let sessions = env.client.session();
    let request = SessionRequest {
        behavior: Some(Behavior::Delete),
        lock_delay: Some(GoDuration::from_std(Duration::from_secs(5))),
        ..session_request("consuela-it-lifecycle")
    };
    let id = sessions.create(&request).await.unwrap();
    assert_eq!(id.as_str().len(), 36, "{id}");

    let info = sessions.info(&id, QueryOptions::new()).await.unwrap();
    assert!(info.index.0 >= 1);
    assert!(info.known_leader);
    let entry = info.value.expect("session exists");
    assert_eq!(entry.id, id);
    assert_eq!(entry.name, "consuela-it-lifecycle");
    assert_eq!(entry.ttl, "30s");
    assert_eq!(entry.behavior, Behavior::Delete);
    assert_eq!(entry.lock_delay.to_std(), Duration::from_secs(5));
    assert!(entry.all_checks().is_empty(), "{:?}", entry.all_checks());
    assert_eq!(entry.create_index, entry.modify_index);

    let listed = sessions.list(QueryOptions::new()).await.unwrap();
    assert!(listed.value.iter().any(|s| s.id == id));
    let on_node = sessions
        .node(&entry.node, QueryOptions::new())
        .await
        .unwrap();
    assert!(on_node.value.iter().any(|s| s.id == id));

    let renewed = sessions
        .renew(&id)
        .await
        .unwrap()
        .expect("renew finds the session");
    assert_eq!(renewed.id, id);
    assert_eq!(renewed.ttl, "30s");

    sessions.destroy(&id).await.unwrap();
    assert_eq!(
        sessions.info(&id, QueryOptions::new()).await.unwrap().value,
        None
    );
    assert_eq!(
        sessions.renew(&id).await.unwrap(),
        None,
        "renew of a destroyed session is None"
    );
    // Destroy is idempotent.
    sessions.destroy(&id).await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn unknown_session_reads_as_absent() {
    let env = env("session-unknown").await;
    let unknown = SessionId::new("00000000-0000-4000-8000-000000000000");
    let info = env
        .client
        .session()
        .info(&unknown, QueryOptions::new())
        .await
        .unwrap();
    assert_eq!(info.value, None);
    assert!(info.index.0 >= 1);
    assert_eq!(env.client.session().renew(&unknown).await.unwrap(), None);
    env.cleanup().await;
}

#[tokio::test]
async fn invalid_session_requests_carry_consuls_text() {
    let env = env("session-invalid").await;
    let too_short = SessionRequest {
        ttl: Some("5s".to_owned()),
        ..session_request("short")
    };
    let error = env.client.session().create(&too_short).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Server, "{error}");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(error.outcome(), Outcome::Unknown);
    assert!(!error.is_retryable());
    assert!(error.message_contains("Invalid Session TTL"), "{error}");
    assert_eq!(error.request(), Some("PUT /v1/session/create"));

    let bad_behavior = SessionRequest {
        node: Some("no-such-node-for-consuela-it".into()),
        ..session_request("nowhere")
    };
    let error = env
        .client
        .session()
        .create(&bad_behavior)
        .await
        .unwrap_err();
    assert!(
        error.message_contains("Missing node registration"),
        "{error}"
    );

    let error = env
        .client
        .session()
        .info(&SessionId::new(""), QueryOptions::new())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert_eq!(error.outcome(), Outcome::Failed);
    env.cleanup().await;
}
