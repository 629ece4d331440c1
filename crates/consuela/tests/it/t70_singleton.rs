//! Cluster singletons: the original's leader_sup_SUITE, and no overlap when
//! a leader is cut off.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consuela::singleton::{Leadership, SingletonConfig, SingletonHandle, StopReason};
use consuela::{Contact, Registry};
use consuela_testkit::{Mode, wait_until};
use tokio::time::Instant;

use crate::support::{Cluster, SOON, namespace, stop_reason};

/// One leader future's life: member, start, end.
type Spans = Arc<Mutex<Vec<(usize, Instant, Option<Instant>)>>>;

/// Counts concurrently running leader futures and remembers the maximum.
#[derive(Clone, Default)]
struct Running {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    /// (member, started, ended) of every leader future.
    spans: Spans,
}

struct Span(Running, usize);

impl Drop for Span {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
        let mut spans = self.0.spans.lock().unwrap();
        if let Some(span) = spans
            .iter_mut()
            .rev()
            .find(|s| s.0 == self.1 && s.2.is_none())
        {
            span.2 = Some(Instant::now());
        }
    }
}

impl Running {
    fn factory(
        &self,
        member: usize,
    ) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + 'static {
        let running = self.clone();
        move || {
            let running = running.clone();
            Box::pin(async move {
                let n = running.now.fetch_add(1, Ordering::SeqCst) + 1;
                running.max.fetch_max(n, Ordering::SeqCst);
                running
                    .spans
                    .lock()
                    .unwrap()
                    .push((member, Instant::now(), None));
                let _span = Span(running, member);
                std::future::pending::<()>().await;
            })
        }
    }

    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

fn config() -> SingletonConfig {
    SingletonConfig {
        watch_wait: Duration::from_secs(5),
        ..SingletonConfig::default()
    }
}

async fn leader_of(handles: &[Option<SingletonHandle>]) -> usize {
    let mut found = None;
    wait_until(SOON * 6, "exactly one leader", || {
        let leaders: Vec<usize> = handles
            .iter()
            .enumerate()
            .filter(|(_, h)| h.as_ref().is_some_and(SingletonHandle::is_leader))
            .map(|(i, _)| i)
            .collect();
        found = (leaders.len() == 1).then(|| leaders[0]);
        async move { leaders.len() == 1 }
    })
    .await;
    found.unwrap()
}

#[tokio::test]
async fn exactly_one_leader_through_crashes_and_handoffs() {
    let cluster = Cluster::start().await;
    let ns = namespace("singleton");
    let running = Running::default();
    let mut registries: Vec<Option<Registry>> = Vec::new();
    let mut handles: Vec<Option<SingletonHandle>> = Vec::new();
    for i in 0..3 {
        let r = cluster.registry(i, &ns).await;
        handles.push(Some(
            r.singleton(
                "scheduler",
                Contact::at(format!("m{i}")),
                config(),
                running.factory(i),
            )
            .unwrap(),
        ));
        registries.push(Some(r));
    }
    let ttl = cluster.ttl;
    let lock_delay = cluster.config(0, &ns).session.lock_delay;
    // Crash the first leader: drop its registry without shutdown.
    let first = leader_of(&handles).await;
    let crashed = Instant::now();
    registries[first] = None;
    wait_until(SOON, "the crashed leader's future stops", || async {
        running.now.load(Ordering::SeqCst) == 0
    })
    .await;
    handles[first] = None;
    let second = leader_of(&handles).await;
    let takeover = crashed.elapsed();
    let bound = ttl * 2 + lock_delay + Duration::from_secs(1);
    assert!(
        takeover <= bound + Duration::from_secs(1),
        "crash takeover took {takeover:?} (bound {bound:?})"
    );
    eprintln!("crash takeover: {takeover:?}");
    // Shut the second leader down gracefully: instant handoff.
    let started = Instant::now();
    registries[second].take().unwrap().shutdown().await.unwrap();
    handles[second] = None;
    let third = leader_of(&handles).await;
    let handoff = started.elapsed();
    assert!(
        handoff <= Duration::from_secs(1),
        "graceful handoff took {handoff:?}"
    );
    eprintln!("graceful handoff: {handoff:?}");
    // The last member keeps leading; then stop it too.
    assert!(matches!(
        handles[third].as_ref().unwrap().leadership(),
        Leadership::Leader { .. }
    ));
    handles[third].take().unwrap().stop().await;
    registries[third].take().unwrap().shutdown().await.unwrap();
    assert_eq!(running.max(), 1, "never two leader futures at once");
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_cut_off_leader_stops_before_a_standby_starts() {
    let cluster = Cluster::start().await;
    let ns = namespace("singleton-cut");
    let proxy = cluster.proxy().await;
    let running = Running::default();
    let cut = Registry::start(cluster.config_via(0, &ns, &proxy.url()))
        .await
        .unwrap();
    let leader = cut
        .singleton("cron", Contact::default(), config(), running.factory(0))
        .unwrap();
    wait_until(SOON, "the proxied member leads", || async {
        leader.is_leader()
    })
    .await;
    let standby_registry = cluster.registry(1, &ns).await;
    let standby = standby_registry
        .singleton("cron", Contact::default(), config(), running.factory(1))
        .unwrap();
    wait_until(SOON, "the other member stands by", || async {
        matches!(
            standby.leadership(),
            Leadership::Standby { leader: Some(_) }
        )
    })
    .await;
    proxy.set_mode(Mode::Ignore);
    wait_until(SOON * 6, "the standby takes over", || async {
        standby.is_leader()
    })
    .await;
    let spans = running.spans.lock().unwrap().clone();
    let old = spans.iter().find(|s| s.0 == 0).expect("member 0 led");
    let new = spans.iter().find(|s| s.0 == 1).expect("member 1 leads");
    let old_end = old.2.expect("the cut-off leader's future was aborted");
    assert!(
        old_end < new.1,
        "overlap: old ended {old_end:?}, new started {:?}",
        new.1
    );
    eprintln!("gap between leaders: {:?}", new.1 - old_end);
    assert_eq!(running.max(), 1);
    standby.stop().await;
    standby_registry.shutdown().await.unwrap();
    drop(leader);
    proxy.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_panicking_leader_releases_the_name_and_says_it_stopped() {
    let cluster = Cluster::start().await;
    let ns = namespace("singleton-panic");
    let a = cluster.registry(0, &ns).await;
    let b = cluster.registry(1, &ns).await;
    let handle = a
        .singleton(
            "boom",
            Contact::default(),
            SingletonConfig::default(),
            || async {
                panic!("the leader's future panics");
            },
        )
        .unwrap();
    assert_eq!(stop_reason(&handle).await, StopReason::Panicked);
    assert!(!handle.is_leader());
    // The name was released while unwinding: another member takes it at once.
    wait_until(SOON, "the name is free", || async {
        b.whereis("boom").await.unwrap().is_none()
    })
    .await;
    let taken = b.register("boom", Contact::default()).await.unwrap();
    drop(taken);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    cluster.shutdown().await;
}
