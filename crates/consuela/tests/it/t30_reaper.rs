//! The original's reaper_SUITE: zombies through a fault proxy.

use std::time::Duration;

use consuela::{
    Contact, ErrorKind, LostReason, RegistrationId, Registry, config::RetryPolicy, event::Event,
    registry::State,
};
use consuela_testkit::{FaultProxy, Latency, Mode, wait_for, wait_until, wait_watch};

use crate::support::{Cluster, Events, SOON, namespace};

#[tokio::test]
async fn zombie_is_reaped_once_consul_is_back() {
    let cluster = Cluster::start().await;
    let ns = namespace("zombie");
    let proxy = cluster.proxy().await;
    let events = Events::default();
    let mut config = cluster.config_via(0, &ns, &proxy.url());
    // Long enough that the keeper rides out the outage.
    config.session.ttl = Duration::from_secs(20).max(cluster.ttl);
    let r = Registry::builder(config)
        .pulse(events.pulse())
        .start()
        .await
        .unwrap();
    let observer = cluster.registry(1, &ns).await;
    let reg = r.register("boi", Contact::default()).await.unwrap();
    proxy.set_mode(Mode::Stop);
    // Still served from memory.
    assert_eq!(
        r.whereis("boi").await.unwrap().map(|o| o.id),
        Some(reg.id().clone())
    );
    drop(reg);
    wait_until(SOON, "the zombie is queued", || async {
        r.reaper_queue() == 1
    })
    .await;
    assert!(
        observer.whereis("boi").await.unwrap().is_some(),
        "still in Consul"
    );
    proxy.set_mode(Mode::Pass);
    wait_for(
        SOON,
        "the zombie is reaped",
        || observer.whereis("boi"),
        |o| matches!(o, Ok(None)),
    )
    .await
    .unwrap();
    wait_until(SOON, "the zombie is reported reaped", || async {
        r.reaper_queue() == 0
            && events.count(|e| matches!(e, Event::ZombieReaped { stale: false, .. })) >= 1
    })
    .await;
    r.shutdown().await.unwrap();
    observer.shutdown().await.unwrap();
    proxy.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn reaper_gives_up_and_the_registry_fail_stops() {
    let cluster = Cluster::start().await;
    let ns = namespace("reaper-dies");
    let proxy = cluster.proxy().await;
    let events = Events::default();
    let mut config = cluster.config_via(0, &ns, &proxy.url());
    config.session.ttl = Duration::from_secs(30);
    config.reaper.retry =
        RetryPolicy::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(1))
            .max_attempts(3);
    let r = Registry::builder(config)
        .pulse(events.pulse())
        .start()
        .await
        .unwrap();
    let reg = r.register("boi", Contact::default()).await.unwrap();
    proxy.set_mode(Mode::Stop);
    drop(reg);
    let mut state = r.subscribe();
    wait_watch(&mut state, SOON, "the reaper gives up", |s| {
        *s == State::Lost(LostReason::ReaperExhausted)
    })
    .await;
    // One drain attempt, then the timeline 100, 200, 400 ms and give up.
    let failures = events.count(|e| matches!(e, Event::ReapFailed { .. }));
    assert!(failures >= 4, "{failures} failed attempts");
    assert_eq!(
        events.count(|e| matches!(e, Event::ReapFailed { retry_in: None, .. })),
        1
    );
    assert!(
        r.register("x", Contact::default())
            .await
            .unwrap_err()
            .is_fatal()
    );
    proxy.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn twenty_zombies_drain() {
    let cluster = Cluster::start().await;
    let ns = namespace("drain");
    let proxy = cluster.proxy().await;
    let mut config = cluster.config_via(0, &ns, &proxy.url());
    config.session.ttl = Duration::from_secs(20).max(cluster.ttl);
    let r = Registry::start(config).await.unwrap();
    let observer = cluster.registry(1, &ns).await;
    let regs = futures_util::future::try_join_all(
        (0..20).map(|i| r.register(format!("slacker-{i}"), Contact::default())),
    )
    .await
    .unwrap();
    proxy.set_mode(Mode::Stop);
    drop(regs);
    wait_until(SOON, "all 20 are queued", || async {
        r.reaper_queue() == 20
    })
    .await;
    proxy.set_mode(Mode::Ignore);
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.set_mode(Mode::Pass);
    wait_until(SOON, "the queue drains", || async { r.reaper_queue() == 0 }).await;
    assert!(observer.list("").await.unwrap().is_empty());
    r.shutdown().await.unwrap();
    observer.shutdown().await.unwrap();
    proxy.shutdown().await;
    cluster.shutdown().await;
}

/// A registry whose registrations give up after 500 ms, through `proxy`.
async fn impatient(cluster: &Cluster, ns: &str, proxy: &FaultProxy, events: &Events) -> Registry {
    let mut config = cluster.config_via(0, ns, &proxy.url());
    config.session.ttl = Duration::from_secs(20).max(cluster.ttl);
    config.registry.registration_timeout = Duration::from_millis(500);
    Registry::builder(config)
        .pulse(events.pulse())
        .start()
        .await
        .unwrap()
}

/// The id of the one registration that went to the reaper.
async fn zombie_id(events: &Events) -> RegistrationId {
    let pick = |e: &Event| match e {
        Event::ZombieEnqueued { id, .. } => Some(id.clone()),
        _ => None,
    };
    wait_until(SOON, "a zombie is queued", || async {
        events.find(pick).is_some()
    })
    .await;
    events.find(pick).expect("a zombie was queued")
}

#[tokio::test]
async fn an_acquisition_answered_too_late_is_released() {
    let cluster = Cluster::start().await;
    let ns = namespace("late-answer");
    let proxy = cluster.proxy().await;
    let events = Events::default();
    let r = impatient(&cluster, &ns, &proxy, &events).await;
    let observer = cluster.registry(1, &ns).await;
    // Consul applies the acquisition at once; its answer arrives too late.
    proxy.set_latency(Latency {
        upstream: Duration::ZERO,
        downstream: Duration::from_millis(1500),
    });
    let err = r.register("late", Contact::default()).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Unknown), "{err}");
    proxy.set_latency(Latency::default());
    let id = zombie_id(&events).await;
    wait_until(SOON, "the late registration is removed", || async {
        r.reaper_queue() == 0 && observer.whereis("late").await.unwrap().is_none()
    })
    .await;
    assert!(r.whereis("late").await.unwrap().is_none());
    // The event follows the queue's count down.
    wait_until(SOON, "the removal is reported", || async {
        events.count(|e| matches!(e, Event::ZombieReaped { id: z, .. } if *z == id)) == 1
    })
    .await;
    assert_eq!(r.state(), State::Running);
    r.shutdown().await.unwrap();
    observer.shutdown().await.unwrap();
    proxy.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn an_acquisition_applied_after_the_reapers_read_is_released_too() {
    let cluster = Cluster::start().await;
    let ns = namespace("late-apply");
    let proxy = cluster.proxy().await;
    let events = Events::default();
    let r = impatient(&cluster, &ns, &proxy, &events).await;
    let observer = cluster.registry(1, &ns).await;
    // The request vanishes: the outcome is unknown.
    proxy.set_mode(Mode::Ignore);
    let err = r.register("late", Contact::default()).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Unknown), "{err}");
    let id = zombie_id(&events).await;
    proxy.set_mode(Mode::Pass);
    // The reaper reads the key, finds it free, and settles the zombie.
    wait_until(SOON, "the reaper settles the zombie", || async {
        r.reaper_queue() == 0
    })
    .await;
    // Now the delayed request is applied after all: Consul gives the key to
    // our session, with the record of that very registration.
    let key = format!("{ns}/late");
    let value = serde_json::json!({"v": 1, "member": id.member, "rid": id.rid.to_string()});
    let op = consuela_client::api::txn::lock(&key, value.to_string().into_bytes(), r.session());
    let applied = cluster.client().txn().execute(&[op]).await.unwrap();
    assert!(
        matches!(applied, consuela_client::TxnOutcome::Committed(_)),
        "{applied:?}"
    );
    assert!(
        observer.whereis("late").await.unwrap().is_some(),
        "held by our session behind our back"
    );
    wait_for(
        SOON,
        "the late-applied key is removed",
        || observer.whereis("late"),
        |h| matches!(h, Ok(None)),
    )
    .await
    .unwrap();
    // The event follows the delete's answer, which the observer may beat.
    wait_until(SOON, "the second removal is reported", || async {
        events.count(|e| matches!(e, Event::ZombieReaped { id: z, .. } if *z == id)) == 2
    })
    .await;
    assert_eq!(r.state(), State::Running);
    r.shutdown().await.unwrap();
    observer.shutdown().await.unwrap();
    proxy.shutdown().await;
    cluster.shutdown().await;
}
