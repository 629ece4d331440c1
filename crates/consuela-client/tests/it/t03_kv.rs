//! KV: binary values, flags, key encoding, list/keys, CAS, delete, client-side key checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use consuela_client::wire::Index;
use consuela_client::{ClientConfig, DeleteOptions, ErrorKind, Outcome, PutOptions, QueryOptions};

use crate::support::env;

#[tokio::test]
async fn put_get_binary_value_and_flags() {
    let env = env("kv-binary").await;
    let kv = env.client.kv();
    let key = env.key("bin");
    let value: Vec<u8> = (0..=255).collect();
    let opts = PutOptions {
        flags: u64::MAX,
        ..PutOptions::default()
    };
    assert!(kv.put(&key, value.clone(), opts).await.unwrap());
    let got = kv.get(&key, QueryOptions::new()).await.unwrap();
    let entry = got.value.expect("key exists");
    assert_eq!(entry.key, key);
    assert_eq!(entry.value.as_deref(), Some(&value[..]));
    assert_eq!(entry.flags, u64::MAX);
    assert_eq!(entry.session, None);
    assert_eq!(entry.create_index, entry.modify_index);
    assert_eq!(
        got.index, entry.modify_index,
        "a found key's X-Consul-Index is its ModifyIndex"
    );
    assert!(got.known_leader);

    // Every PUT replaces the flags; an empty body stores no value.
    assert!(
        kv.put(&key, Vec::new(), PutOptions::default())
            .await
            .unwrap()
    );
    let entry = kv
        .get(&key, QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(entry.flags, 0);
    assert_eq!(entry.value, None);
    env.cleanup().await;
}

#[tokio::test]
async fn missing_key_is_none_with_an_index() {
    let env = env("kv-missing").await;
    let got = env
        .client
        .kv()
        .get(&env.key("nothing"), QueryOptions::new())
        .await
        .unwrap();
    assert_eq!(got.value, None);
    assert!(got.index.0 >= 1, "missing keys still carry X-Consul-Index");
    let listed = env
        .client
        .kv()
        .list(&env.key("none/"), QueryOptions::new())
        .await
        .unwrap();
    assert!(listed.value.is_empty());
    let keys = env
        .client
        .kv()
        .keys(&env.key("none/"), None, QueryOptions::new())
        .await
        .unwrap();
    assert!(keys.value.is_empty());
    env.cleanup().await;
}

#[tokio::test]
async fn awkward_keys_round_trip() {
    let env = env("kv-encoding").await;
    let kv = env.client.kv();
    let names = [
        "with space",
        "per%cent",
        "question?mark",
        "hash#tag",
        "plus+sign",
        "amp&eq=",
        "ünïcødé/キー",
        "dir/",
        "colon:semi;comma,",
    ];
    for name in names {
        let key = env.key(name);
        assert!(
            kv.put(&key, name.as_bytes().to_vec(), PutOptions::default())
                .await
                .unwrap(),
            "{name}"
        );
        let entry = kv.get(&key, QueryOptions::new()).await.unwrap().value;
        let entry = entry.unwrap_or_else(|| panic!("{name:?} not found"));
        assert_eq!(entry.key, key);
        assert_eq!(entry.value.as_deref(), Some(name.as_bytes()));
    }
    let listed = kv
        .list(&env.prefix, QueryOptions::new())
        .await
        .unwrap()
        .value;
    let mut expected: Vec<String> = names.iter().map(|name| env.key(name)).collect();
    expected.sort();
    let got: Vec<String> = listed.into_iter().map(|entry| entry.key).collect();
    assert_eq!(got, expected);
    env.cleanup().await;
}

#[tokio::test]
async fn list_and_keys_with_separator() {
    let env = env("kv-list").await;
    let kv = env.client.kv();
    for name in ["web/bar", "web/foo", "web/sub/x", "web/sub/y", "webx"] {
        kv.put(&env.key(name), b"v".to_vec(), PutOptions::default())
            .await
            .unwrap();
    }
    let listed = kv
        .list(&env.key("web/"), QueryOptions::new())
        .await
        .unwrap();
    let keys: Vec<_> = listed.value.iter().map(|entry| entry.key.clone()).collect();
    assert_eq!(
        keys,
        ["web/bar", "web/foo", "web/sub/x", "web/sub/y"].map(|name| env.key(name))
    );
    let max = listed
        .value
        .iter()
        .map(|entry| entry.modify_index)
        .max()
        .unwrap();
    assert_eq!(listed.index, max, "a prefix's index is its max ModifyIndex");

    let folded = kv
        .keys(&env.key("web/"), Some("/"), QueryOptions::new())
        .await
        .unwrap();
    assert_eq!(
        folded.value,
        ["web/bar", "web/foo", "web/sub/"].map(|name| env.key(name))
    );
    // A plain prefix match: `web` matches `webx` too.
    let all = kv
        .keys(&env.key("web"), None, QueryOptions::new())
        .await
        .unwrap();
    assert_eq!(all.value.len(), 5);
    env.cleanup().await;
}

#[tokio::test]
async fn check_and_set() {
    let env = env("kv-cas").await;
    let kv = env.client.kv();
    let key = env.key("cas");
    assert!(
        kv.cas(&key, b"one".to_vec(), Index(0)).await.unwrap(),
        "cas 0 creates"
    );
    assert!(
        !kv.cas(&key, b"two".to_vec(), Index(0)).await.unwrap(),
        "cas 0 on existing key"
    );
    let entry = kv
        .get(&key, QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    assert!(
        kv.cas(&key, b"two".to_vec(), entry.modify_index)
            .await
            .unwrap()
    );
    assert!(
        !kv.cas(&key, b"three".to_vec(), entry.modify_index)
            .await
            .unwrap(),
        "stale index"
    );
    let entry = kv
        .get(&key, QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(entry.value.as_deref(), Some(&b"two"[..]));
    env.cleanup().await;
}

#[tokio::test]
async fn delete_plain_cas_and_recurse() {
    let env = env("kv-delete").await;
    let kv = env.client.kv();
    let (a, b, c) = (env.key("d/a"), env.key("d/b"), env.key("e"));
    for key in [&a, &b, &c] {
        kv.put(key, b"v".to_vec(), PutOptions::default())
            .await
            .unwrap();
    }
    let entry = kv
        .get(&a, QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    let stale = DeleteOptions {
        cas: Some(Index(entry.modify_index.0 + 1_000_000)),
        ..DeleteOptions::default()
    };
    assert!(
        !kv.delete(&a, stale).await.unwrap(),
        "stale cas delete refused"
    );
    let current = DeleteOptions {
        cas: Some(entry.modify_index),
        ..DeleteOptions::default()
    };
    assert!(kv.delete(&a, current).await.unwrap());
    assert_eq!(kv.get(&a, QueryOptions::new()).await.unwrap().value, None);
    assert!(
        kv.delete(&a, DeleteOptions::default()).await.unwrap(),
        "deleting a missing key is true"
    );

    let recurse = DeleteOptions {
        recurse: true,
        ..DeleteOptions::default()
    };
    assert!(kv.delete(&env.key("d/"), recurse).await.unwrap());
    assert_eq!(kv.get(&b, QueryOptions::new()).await.unwrap().value, None);
    assert!(
        kv.get(&c, QueryOptions::new())
            .await
            .unwrap()
            .value
            .is_some(),
        "outside the prefix"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn non_canonical_keys_are_refused_before_sending() {
    let env = env("kv-invalid").await;
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let client = env.client_with(ClientConfig::default().on_request(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    }));
    let kv = client.kv();
    for key in ["", "/leading", "a//b", "a/./b", "a/../b"] {
        let error = kv.get(key, QueryOptions::new()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{key:?}");
        assert_eq!(error.outcome(), Outcome::Failed);
        let error = kv
            .put(key, b"v".to_vec(), PutOptions::default())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{key:?}");
    }
    let both = PutOptions {
        cas: Some(Index(1)),
        acquire: Some("s".into()),
        ..PutOptions::default()
    };
    let error = kv
        .put(&env.key("x"), b"v".to_vec(), both)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    let error = kv.delete("", DeleteOptions::default()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert_eq!(sent.load(Ordering::Relaxed), 0, "nothing reached the wire");
    env.cleanup().await;
}

#[tokio::test]
async fn oversized_value_is_a_bad_request() {
    let env = env("kv-large").await;
    let error = env
        .client
        .kv()
        .put(
            &env.key("big"),
            vec![b'x'; 512 * 1024 + 1],
            PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadRequest, "{error}");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(413));
    assert_eq!(error.outcome(), Outcome::Done);
    env.cleanup().await;
}
