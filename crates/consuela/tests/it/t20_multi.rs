//! Several members competing: the original's multireg_SUITE, and lock-delay.

use std::time::Duration;

use consuela::{Contact, ErrorKind, LostReason, registry::State};
use consuela_testkit::{wait_for, wait_watch};

use crate::support::{Cluster, SOON, namespace};

#[tokio::test]
async fn exactly_one_of_three_members_wins_each_race() {
    let cluster = Cluster::start().await;
    let ns = namespace("race");
    let rs = [
        cluster.registry(0, &ns).await,
        cluster.registry(1, &ns).await,
        cluster.registry(2, &ns).await,
    ];
    for round in 0..20 {
        let name = format!("me-{round}");
        let results = futures_util::future::join_all(
            rs.iter().map(|r| r.register(&name, Contact::default())),
        )
        .await;
        let winners: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for err in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(err.is_conflict(), "round {round}: {err}");
        }
        for reg in results.into_iter().flatten() {
            reg.unregister().await.unwrap();
        }
    }
    for r in &rs {
        r.shutdown().await.unwrap();
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn lock_delay_is_reported_apart_from_conflicts() {
    let cluster = Cluster::start().await;
    let ns = namespace("lockdelay");
    let mut config = cluster.config(0, &ns);
    config.session.lock_delay = Duration::from_secs(5);
    let a = consuela::Registry::start(config).await.unwrap();
    let b = cluster.registry(1, &ns).await;
    let held = a.register("contended", Contact::default()).await.unwrap();
    // Invalidate a's session behind its back, as a failed check would.
    cluster
        .client()
        .session()
        .destroy(a.session())
        .await
        .unwrap();
    wait_for(
        SOON,
        "the key is gone",
        || b.whereis("contended"),
        |o| matches!(o, Ok(None)),
    )
    .await
    .unwrap();
    let err = b
        .register("contended", Contact::default())
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::LockDelay), "{err}");
    assert!(err.is_retryable() && !err.is_conflict());
    // a learns of the loss at its next renew (a 404).
    let mut state = a.subscribe();
    wait_watch(&mut state, SOON, "a fail-stops", |s| {
        *s == State::Lost(LostReason::Invalidated)
    })
    .await;
    assert!(held.is_lost());
    // Once the lock-delay passes the name can be taken.
    let won = wait_for(
        SOON,
        "the lock-delay to pass",
        || b.register("contended", Contact::default()),
        |r| {
            r.is_ok()
                || r.as_ref()
                    .is_err_and(|e| !matches!(e.kind(), ErrorKind::LockDelay))
        },
    )
    .await
    .unwrap();
    drop((held, won));
    b.shutdown().await.unwrap();
    assert!(matches!(
        a.shutdown().await.unwrap_err().kind(),
        ErrorKind::SessionLost(LostReason::Invalidated)
    ));
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_registration_waits_through_a_short_leader_election() {
    let cluster = Cluster::start().await;
    let Some(server) = cluster.target.devserver.as_ref().map(|s| s.state().clone()) else {
        // An election cannot be staged on a real Consul.
        return cluster.shutdown().await;
    };
    let r = cluster.registry(0, &namespace("election")).await;
    // Every request answers 500 "No cluster leader" until the election ends.
    server.set_no_leader(None);
    let ended = tokio::spawn({
        let state = server.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            state.clear_no_leader();
        }
    });
    let held = r
        .register("through-election", Contact::default())
        .await
        .unwrap();
    ended.await.unwrap();
    assert_eq!(
        r.whereis("through-election").await.unwrap().map(|h| h.id),
        Some(held.id().clone())
    );
    assert_eq!(r.reaper_queue(), 0);
    held.unregister().await.unwrap();
    r.shutdown().await.unwrap();
    cluster.shutdown().await;
}
