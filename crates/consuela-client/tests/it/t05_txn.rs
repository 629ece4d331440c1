//! Transactions: lock returning ModifyIndex, 409 decoding, rollback, mixed verbs.

use consuela_client::api::txn;
use consuela_client::wire::Index;
use consuela_client::{PutOptions, QueryOptions, TxnFailure, TxnOutcome};

use crate::support::env;

#[tokio::test]
async fn lock_txn_returns_the_fencing_index() {
    let env = env("txn-lock").await;
    let session = env.session("fence").await;
    let key = env.key("name");
    let outcome = env
        .client
        .txn()
        .execute(&[txn::lock(&key, b"owner".to_vec(), &session)])
        .await
        .unwrap();
    let entry = outcome
        .entries()
        .next()
        .expect("lock produces a result")
        .clone();
    assert!(outcome.is_committed());
    assert_eq!(entry.key, key);
    assert_eq!(entry.session.as_ref(), Some(&session));
    assert_eq!(entry.lock_index, 1);
    assert_eq!(entry.value, None, "write results carry no value");
    let stored = env
        .client
        .kv()
        .get(&key, QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(
        entry.modify_index, stored.modify_index,
        "the txn result is the fencing token"
    );
    assert_eq!(stored.value.as_deref(), Some(&b"owner"[..]));

    // The next owner gets a strictly larger token.
    let other = env.session("next").await;
    assert!(
        env.client
            .kv()
            .release(&key, b"".to_vec(), &session)
            .await
            .unwrap()
    );
    let outcome = env
        .client
        .txn()
        .execute(&[txn::lock(&key, b"next".to_vec(), &other)])
        .await
        .unwrap();
    let next = outcome.entries().next().unwrap();
    assert!(next.modify_index > entry.modify_index);
    env.cleanup().await;
}

#[tokio::test]
async fn rolled_back_txn_is_a_value_with_every_error() {
    let env = env("txn-409").await;
    let (s1, s2) = (env.session("s1").await, env.session("s2").await);
    let key = env.key("held");
    let txns = env.client.txn();
    assert!(
        txns.execute(&[txn::lock(&key, b"a".to_vec(), &s1)])
            .await
            .unwrap()
            .is_committed()
    );

    let outcome = txns
        .execute(&[txn::lock(&key, b"b".to_vec(), &s2)])
        .await
        .unwrap();
    let TxnOutcome::RolledBack(errors) = &outcome else {
        panic!("expected a rollback, got {outcome:?}");
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].op_index, 0);
    assert!(
        errors[0].what.ends_with("lock is already held"),
        "{}",
        errors[0].what
    );
    assert_eq!(outcome.failure_of(0), Some(TxnFailure::LockHeld));

    // Two failing ops are both listed, and the successful set is rolled back.
    let created = env.key("created");
    let outcome = txns
        .execute(&[
            txn::cas(&key, b"x".to_vec(), 0, Index(1)),
            txn::set(&created, b"y".to_vec(), 0),
            txn::check_not_exists(&key),
        ])
        .await
        .unwrap();
    let errors = outcome.errors();
    assert_eq!(
        errors
            .iter()
            .map(|error| error.op_index)
            .collect::<Vec<_>>(),
        [0, 2],
        "{errors:?}"
    );
    assert_eq!(outcome.failure_of(0), Some(TxnFailure::IndexMismatch));
    assert_eq!(outcome.failure_of(2), Some(TxnFailure::KeyExists));
    assert_eq!(
        env.client
            .kv()
            .get(&created, QueryOptions::new())
            .await
            .unwrap()
            .value,
        None
    );
    env.cleanup().await;
}

#[tokio::test]
async fn mixed_verbs_and_result_shapes() {
    let env = env("txn-verbs").await;
    let kv = env.client.kv();
    let (a, b) = (env.key("t/a"), env.key("t/b"));
    kv.put(&a, b"A".to_vec(), PutOptions::default())
        .await
        .unwrap();
    let current = kv
        .get(&a, QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    let outcome = env
        .client
        .txn()
        .execute(&[
            txn::check_index(&a, current.modify_index),
            txn::set(&b, b"B".to_vec(), 7),
            txn::get(&a),
            txn::delete(&env.key("t/none")),
            txn::get_tree(&env.key("t/")),
        ])
        .await
        .unwrap();
    let entries: Vec<_> = outcome.entries().collect();
    // check-index, set, get, (delete: none), get-tree (2 keys).
    assert_eq!(entries.len(), 5, "{entries:?}");
    assert_eq!(entries[1].key, b);
    assert_eq!(entries[1].flags, 7);
    assert_eq!(
        entries[2].value.as_deref(),
        Some(&b"A"[..]),
        "get returns the value"
    );
    assert_eq!(entries[4].value.as_deref(), Some(&b"B"[..]));

    let missing = env
        .client
        .txn()
        .execute(&[txn::get(&env.key("t/missing"))])
        .await
        .unwrap();
    assert_eq!(missing.failure_of(0), Some(TxnFailure::KeyMissing));
    env.cleanup().await;
}
