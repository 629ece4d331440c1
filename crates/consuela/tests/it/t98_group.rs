//! Groups: joins and leaves seen by every member and in a watch, and every
//! membership (and slot) gone once the registry's session is lost.

use consuela::group::GroupChange;
use consuela::{Contact, Name};
use consuela_testkit::wait_for;
use futures_util::StreamExt;

use crate::support::{Cluster, SOON, namespace};

fn addresses(members: &[(Name, consuela::Holder)]) -> Vec<String> {
    let mut out: Vec<_> = members
        .iter()
        .filter_map(|(_, h)| h.contact.address.clone())
        .collect();
    out.sort();
    out
}

/// The next change of a group watch, within [`SOON`].
async fn next(watch: &mut consuela::group::GroupWatch) -> GroupChange {
    tokio::time::timeout(SOON, watch.next())
        .await
        .expect("a change in time")
        .expect("the watch goes on")
        .expect("no read error")
}

#[tokio::test]
async fn joins_and_leaves_are_seen_by_other_members_and_in_a_watch() {
    let cluster = Cluster::start().await;
    let ns = namespace("group");
    let a = cluster.registry(0, &ns).await;
    let b = cluster.registry(1, &ns).await;
    let c = cluster.registry(2, &ns).await;
    let mut watch = c.watch_group("workers").unwrap();

    let ja = a.join("workers", Contact::at("a:1")).await.unwrap();
    let jb = b.join("workers", Contact::at("b:1")).await.unwrap();
    let jb2 = b.join("workers", Contact::at("b:2")).await.unwrap();
    assert_ne!(jb.key(), jb2.key(), "each join is its own membership");
    // A name and a semaphore slot next to the group are not members.
    let _name = a
        .register("workers-registry", Contact::at("x:1"))
        .await
        .unwrap();
    assert_eq!(
        addresses(&a.members("workers").await.unwrap()),
        ["a:1", "b:1", "b:2"]
    );

    let mut joined = Vec::new();
    while joined.len() < 3 {
        match next(&mut watch).await {
            GroupChange::Joined { holder, .. } => joined.push(holder.contact.address.unwrap()),
            other => panic!("expected joins, got {other:?}"),
        }
    }
    joined.sort();
    assert_eq!(joined, ["a:1", "b:1", "b:2"]);

    jb.leave().await.unwrap();
    // Visible to the others at once: `members` is a consistent read.
    assert_eq!(
        addresses(&a.members("workers").await.unwrap()),
        ["a:1", "b:2"]
    );
    match next(&mut watch).await {
        GroupChange::Left { holder, key } => {
            assert_eq!(holder.contact.address.as_deref(), Some("b:1"));
            assert!(key.as_str().starts_with("workers/"));
        }
        other => panic!("expected a leave, got {other:?}"),
    }
    drop(jb2);
    match next(&mut watch).await {
        GroupChange::Left { holder, .. } => {
            assert_eq!(holder.contact.address.as_deref(), Some("b:2"));
        }
        other => panic!("expected a leave, got {other:?}"),
    }
    assert_eq!(ja.group().as_str(), "workers");
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
    assert!(c.members("workers").await.unwrap().is_empty());
    c.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn every_membership_and_slot_is_gone_after_lost() {
    let cluster = Cluster::start().await;
    let ns = namespace("group-lost");
    let a = cluster.registry(0, &ns).await;
    let b = cluster.registry(1, &ns).await;
    let m1 = a.join("g1", Contact::at("a:1")).await.unwrap();
    let m2 = a.join("g1", Contact::at("a:2")).await.unwrap();
    let m3 = a.join("g2", Contact::at("a:3")).await.unwrap();
    let slot = a.acquire_slot("sem", 1, Contact::at("a:4")).await.unwrap();
    let _theirs = b.join("g1", Contact::at("b:1")).await.unwrap();
    assert_eq!(b.members("g1").await.unwrap().len(), 3);

    // Invalidate a's session behind its back, as a failed check would.
    cluster
        .client()
        .session()
        .destroy(a.session())
        .await
        .unwrap();
    tokio::time::timeout(SOON, m1.lost())
        .await
        .expect("m1 lost");
    for lost in [m2.is_lost(), m3.is_lost(), slot.is_lost()] {
        assert!(lost, "one session: every guard is lost together");
    }
    wait_for(
        SOON,
        "a's memberships are gone",
        || async {
            (
                addresses(&b.members("g1").await.unwrap()),
                b.members("g2").await.unwrap().len(),
            )
        },
        |(g1, g2)| g1 == &["b:1"] && *g2 == 0,
    )
    .await;
    // A dead holder's slot is held back for the lock-delay from when a
    // contender first sees it dead, as Consul holds back a dead session's keys.
    let seen = tokio::time::Instant::now();
    let free = b.acquire_slot("sem", 1, Contact::default()).await.unwrap();
    assert!(
        seen.elapsed() >= cluster.config(1, &ns).session.lock_delay,
        "the freed slot was given out before the lock-delay"
    );
    drop((m1, m2, m3, slot, free));
    b.shutdown().await.unwrap();
    assert!(a.shutdown().await.is_err(), "a had fail-stopped");
    cluster.shutdown().await;
}
