//! Registrations batched into shared transactions: fewer requests, and
//! exactly the per-name semantics of one request each.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use consuela::{Contact, FencingToken, Registry};
use futures_util::future::join_all;
use tokio::time::Instant;

use crate::support::{Cluster, namespace};

/// A registry on `config` that counts its `/v1/txn` requests.
async fn counting(config: consuela::Config) -> (Registry, Arc<AtomicUsize>) {
    let txns = Arc::new(AtomicUsize::new(0));
    let client = config.client_config().on_request({
        let txns = txns.clone();
        move |e| {
            if e.path == "/v1/txn" {
                txns.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let registry = Registry::builder(config)
        .client_config(client)
        .start()
        .await
        .unwrap();
    (registry, txns)
}

#[tokio::test]
async fn concurrent_registrations_share_transactions() {
    let cluster = Cluster::start().await;
    let ns = namespace("batched");
    // One transaction in flight at a time, so that the counts below are exact
    // (by default four go out unbatched before operations queue).
    let mut config = cluster.config(0, &ns);
    config.registry.max_batches_in_flight = 1;
    let (batched, batched_txns) = counting(config).await;
    let mut config = cluster.config(1, &ns);
    config.registry.max_batch = 1;
    let (single, single_txns) = counting(config).await;
    let names: Vec<String> = (0..64).map(|i| format!("b-{i}")).collect();
    // Every register future reaches the batcher in the first poll: the
    // first transaction carries all of them.
    let held: Vec<_> = join_all(
        names
            .iter()
            .map(|n| batched.register(n, Contact::default())),
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    let txns = batched_txns.load(Ordering::SeqCst);
    assert!(txns <= 2, "64 registrations took {txns} transactions");
    // max_batch = 1: one transaction per registration.
    let theirs: Vec<String> = (0..8).map(|i| format!("s-{i}")).collect();
    let results = join_all(
        theirs
            .iter()
            .map(|n| single.register(n, Contact::default())),
    )
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(single_txns.load(Ordering::SeqCst), 8);
    // A name another member holds, inside a batch: Consul rolls the whole
    // transaction back; that name answers alone and the others go through.
    let mut mixed: Vec<String> = (0..32).map(|i| format!("c-{i}")).collect();
    mixed.insert(10, "s-3".into());
    mixed.insert(20, "s-6".into());
    let before = batched_txns.load(Ordering::SeqCst);
    let answers = join_all(
        mixed
            .iter()
            .map(|n| batched.register(n, Contact::default())),
    )
    .await;
    for (name, answer) in mixed.iter().zip(&answers) {
        if name.starts_with("s-") {
            let holder = answer
                .as_ref()
                .err()
                .and_then(|e| e.holder())
                .map(|h| h.id.member.clone());
            assert_eq!(
                holder.as_deref(),
                Some(single.member()),
                "{name}: {answer:?}"
            );
        } else {
            assert!(answer.is_ok(), "{name}: {answer:?}");
        }
    }
    let sent = batched_txns.load(Ordering::SeqCst) - before;
    assert!(
        (2..=4).contains(&sent),
        "a rolled-back batch and its retry: {sent}"
    );
    drop(answers);
    let before = batched_txns.load(Ordering::SeqCst);
    join_all(held.into_iter().map(|r| r.unregister()))
        .await
        .into_iter()
        .for_each(Result::unwrap);
    let deletes = batched_txns.load(Ordering::SeqCst) - before;
    assert!(
        deletes <= 2,
        "64 unregistrations took {deletes} transactions"
    );
    for name in &names {
        assert!(
            single.whereis(name).await.unwrap().is_none(),
            "{name} left behind"
        );
    }
    drop(results);
    batched.shutdown().await.unwrap();
    single.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn register_many_answers_in_order() {
    let cluster = Cluster::start().await;
    let ns = namespace("many");
    let (registry, txns) = counting(cluster.config(0, &ns)).await;
    let taken = registry.register("m-7", Contact::default()).await.unwrap();
    let names: Vec<(String, Contact)> = (0..500)
        .map(|i| (format!("m-{i}"), Contact::at(format!("10.0.0.1:{i}"))))
        .collect();
    let before = txns.load(Ordering::SeqCst);
    let results = registry.register_many(names.clone()).await;
    let sent = txns.load(Ordering::SeqCst) - before;
    assert_eq!(results.len(), 500);
    for ((name, contact), result) in names.iter().zip(&results) {
        match result {
            Ok(r) => {
                assert_eq!(r.name().as_str(), name);
                assert_eq!(r.contact(), contact);
            }
            Err(e) => assert!(name == "m-7" && e.is_conflict(), "{name}: {e}"),
        }
    }
    assert!(sent < 50, "500 registrations took {sent} transactions");
    drop(results);
    drop(taken);
    registry.shutdown().await.unwrap();
    cluster.shutdown().await;
}

/// 1,000 registrations of 100 names from 4 members at once, each held
/// briefly then released: one owner per name at any moment, and fencing
/// tokens that grow with every new owner of a name.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_racing_registrations_keep_one_owner_per_name() {
    let cluster = Cluster::start().await;
    let ns = namespace("batch-race");
    let mut members = Vec::new();
    for i in 0..4 {
        members.push(cluster.registry(i % 3, &ns).await);
    }
    // (name, held from, held until, token)
    let spans = join_all(members.iter().enumerate().map(|(m, registry)| async move {
        let attempts = (0..250).map(|k| {
            let name = format!("n-{}", (k * 7 + m * 13) % 100);
            async move {
                let registration = registry.register(&name, Contact::default()).await.ok()?;
                let from = Instant::now();
                tokio::task::yield_now().await;
                let until = Instant::now();
                let token = registration.fencing_token();
                registration.unregister().await.unwrap();
                Some((name, from, until, token))
            }
        });
        join_all(attempts).await
    }))
    .await;
    let mut by_name: HashMap<String, Vec<(Instant, Instant, FencingToken)>> = HashMap::new();
    for (name, from, until, token) in spans.into_iter().flatten().flatten() {
        by_name.entry(name).or_default().push((from, until, token));
    }
    let won: usize = by_name.values().map(Vec::len).sum();
    assert!(won >= 100, "every name was won at least once ({won} wins)");
    for (name, mut spans) in by_name {
        spans.sort_by_key(|s| s.0);
        for pair in spans.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!(a.1 < b.0, "{name}: two owners at once: {a:?} and {b:?}");
            assert!(
                a.2 < b.2,
                "{name}: fencing tokens out of order: {a:?} then {b:?}"
            );
        }
    }
    for member in &members {
        assert!(member.is_empty());
        member.shutdown().await.unwrap();
    }
    cluster.shutdown().await;
}

/// The caller whose transaction is in flight gives up: the registrations
/// queued behind it still go out, and the cancelled one is reaped.
#[tokio::test]
async fn registrations_queued_behind_a_cancelled_one_still_go_out() {
    use consuela_testkit::{Latency, wait_until};

    let cluster = Cluster::start().await;
    let ns = namespace("batch-cancel");
    let proxy = cluster.proxy().await;
    let registry = Registry::start(cluster.config_via(0, &ns, &proxy.url()))
        .await
        .unwrap();
    proxy.set_latency(Latency {
        upstream: std::time::Duration::ZERO,
        downstream: std::time::Duration::from_millis(300),
    });
    let first = tokio::time::timeout(
        std::time::Duration::from_millis(100),
        registry.register("first", Contact::default()),
    );
    let rest =
        join_all((0..8).map(|i| registry.register(format!("queued-{i}"), Contact::default())));
    let (first, rest) = tokio::join!(first, rest);
    assert!(first.is_err(), "the first registration was cancelled");
    for result in &rest {
        assert!(result.is_ok(), "{result:?}");
    }
    proxy.set_latency(Latency::default());
    wait_until(
        crate::support::SOON,
        "the cancelled one is reaped",
        || async {
            registry.reaper_queue() == 0 && registry.whereis("first").await.unwrap().is_none()
        },
    )
    .await;
    drop(rest);
    registry.shutdown().await.unwrap();
    proxy.shutdown().await;
    cluster.shutdown().await;
}
