//! The request hook: one event per request, with method, path (no query), status and outcome.

use std::sync::{Arc, Mutex};

use consuela_client::wire::Index;
use consuela_client::{ClientConfig, Outcome, PutOptions, QueryOptions};

use crate::support::env;

#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    path: String,
    status: Option<u16>,
    outcome: Outcome,
    blocking: bool,
}

#[tokio::test]
async fn every_request_emits_one_event() {
    let env = env("events").await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let client = env.client_with(ClientConfig::default().on_request(move |event| {
        sink.lock().unwrap().push(Seen {
            method: event.method.to_string(),
            path: event.path.to_owned(),
            status: event.status,
            outcome: event.outcome,
            blocking: event.blocking,
        });
    }));
    let key = env.key("a b");
    client
        .kv()
        .put(&key, b"v".to_vec(), PutOptions::default())
        .await
        .unwrap();
    let got = client.kv().get(&key, QueryOptions::new()).await.unwrap();
    client
        .kv()
        .get(
            &env.key("missing"),
            QueryOptions::blocking(
                Index(got.index.0 + 1_000_000),
                std::time::Duration::from_millis(10),
            ),
        )
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    let encoded = format!("/v1/kv/{}a%20b", env.prefix);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        seen[0],
        Seen {
            method: "PUT".into(),
            path: encoded.clone(),
            status: Some(200),
            outcome: Outcome::Done,
            blocking: false
        }
    );
    assert_eq!(seen[1].method, "GET");
    assert_eq!(seen[1].path, encoded);
    assert_eq!(
        seen[2].status,
        Some(404),
        "a missing key is a definite answer"
    );
    assert_eq!(seen[2].outcome, Outcome::Done);
    assert!(seen[2].blocking);
    assert!(
        seen.iter().all(|event| !event.path.contains('?')),
        "no query strings"
    );
    env.cleanup().await;
}
