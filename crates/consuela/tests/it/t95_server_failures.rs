//! Consul server failures: names held through a leader election whatever the
//! phase of the renew cycle, and standbys that go on after losing their own
//! session.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use consuela::config::Interval;
use consuela::event::Event;
use consuela::registry::State;
use consuela::singleton::{Leadership, SingletonConfig};
use consuela::{Contact, LostReason, Registry};
use consuela_testkit::wait_until;
use tokio::time::{Instant, sleep_until};

use crate::support::{Cluster, Events, SOON, namespace};

/// When each successful renew was answered.
#[derive(Clone, Default)]
struct Renewals(Arc<Mutex<Vec<Instant>>>);

impl Renewals {
    fn pulse(&self) -> impl Fn(&Event) + Send + Sync + 'static {
        let times = self.0.clone();
        move |e: &Event| {
            if matches!(e, Event::Renewed { .. }) {
                times.lock().unwrap().push(Instant::now());
            }
        }
    }

    fn last_before(&self, t: Instant) -> Option<Instant> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|r| **r < t)
            .copied()
    }

    fn any_after(&self, t: Instant) -> bool {
        self.0.lock().unwrap().iter().any(|r| *r > t)
    }
}

/// The numbers: Consul 1.0.8 at default Raft timing elects a new
/// leader in 14-20 s; TTL 20 s. With the default schedule (renew every
/// TTL/10) a 15-s election loses no name wherever in the cycle it starts;
/// the original's TTL/2, caught just before a renew, does lose its name.
#[tokio::test]
async fn a_15s_election_loses_no_name_at_any_phase_of_the_renew_cycle() {
    let cluster = Cluster::start().await;
    let Some(server) = cluster.target.devserver.as_ref().map(|s| s.state().clone()) else {
        // An election cannot be staged on a real Consul.
        return cluster.shutdown().await;
    };
    let ns = namespace("election-phases");
    let config = |i: usize, interval| {
        let mut c = cluster.config(i % 3, &ns);
        c.session.ttl = Duration::from_secs(20);
        c.keeper.interval = interval;
        c
    };
    let t0 = Instant::now();
    // The original's schedule renews at t0 + 10 s: the election starts 200 ms before.
    let election = t0 + Duration::from_millis(9800);
    let length = Duration::from_secs(15);
    let original = Registry::start(config(0, Interval::Ratio(1, 2)))
        .await
        .unwrap();
    let doomed = original
        .register("original-schedule", Contact::default())
        .await
        .unwrap();
    // Members renewing every 2 s, started so that the election begins about
    // 1.4, 0.9, 0.4 and 1.9 s after their last renew.
    let mut members = Vec::new();
    for (i, offset) in [400u64, 900, 1400, 1900].into_iter().enumerate() {
        sleep_until(t0 + Duration::from_millis(offset)).await;
        let renewals = Renewals::default();
        let registry = Registry::builder(config(i + 1, Interval::default()))
            .pulse(renewals.pulse())
            .start()
            .await
            .unwrap();
        let held = registry
            .register(format!("member-{i}"), Contact::default())
            .await
            .unwrap();
        members.push((registry, held, renewals));
    }
    sleep_until(election).await;
    server.hold_election(length);
    let phases: Vec<Duration> = members
        .iter()
        .map(|(_, _, r)| election - r.last_before(election).expect("renewed before"))
        .collect();
    eprintln!("phase of each member when the election started: {phases:?}");
    assert!(
        phases.iter().max().unwrap() >= &Duration::from_secs(1),
        "no member was caught late in its cycle: {phases:?}"
    );
    let end = election + length;
    wait_until(
        length + SOON,
        "every member renewed after the election",
        || async { members.iter().all(|(_, _, r)| r.any_after(end)) },
    )
    .await;
    for (registry, held, _) in &members {
        assert_eq!(registry.state(), State::Running);
        assert!(!held.is_lost());
        let holder = registry.whereis(held.name()).await.unwrap();
        assert_eq!(holder.map(|h| h.id), Some(held.id().clone()));
    }
    // Only a member past its deadline lost its name: the original's schedule.
    wait_until(SOON, "the TTL/2 member lost its name", || async {
        original.state() == State::Lost(LostReason::Expired)
    })
    .await;
    assert!(doomed.is_lost());
    drop(doomed);
    for (registry, held, _) in members {
        held.unregister().await.unwrap();
        registry.shutdown().await.unwrap();
    }
    let _ = original.shutdown().await;
    cluster.shutdown().await;
}

fn quick() -> SingletonConfig {
    SingletonConfig {
        watch_wait: Duration::from_secs(5),
        ..SingletonConfig::default()
    }
}

#[tokio::test]
async fn a_standby_keeps_waiting_through_the_loss_of_its_own_session() {
    let cluster = Cluster::start().await;
    let ns = namespace("standby-recovers");
    let a = cluster.registry(0, &ns).await;
    let leader = a
        .singleton("job", Contact::default(), quick(), std::future::pending)
        .unwrap();
    wait_until(SOON, "a leads", || async { leader.is_leader() }).await;
    let events = Events::default();
    let b = Registry::builder(cluster.config(1, &ns))
        .pulse(events.pulse())
        .start()
        .await
        .unwrap();
    let standby = b
        .singleton("job", Contact::default(), quick(), std::future::pending)
        .unwrap();
    wait_until(SOON, "b stands by", || async {
        matches!(
            standby.leadership(),
            Leadership::Standby { leader: Some(_) }
        )
    })
    .await;
    // The standby's session goes (as it would if it expired in an election).
    let lost = b.session().clone();
    cluster.client().session().destroy(&lost).await.unwrap();
    wait_until(SOON, "b's registry fail-stops", || async {
        matches!(b.state(), State::Lost(_))
    })
    .await;
    wait_until(SOON, "b starts a new session", || async {
        events.count(|e| matches!(e, Event::Replaced { previous, .. } if *previous == lost)) == 1
    })
    .await;
    assert!(
        matches!(standby.leadership(), Leadership::Standby { .. }),
        "the standby gave up: {:?}",
        standby.leadership()
    );
    // It still takes over when the leader goes.
    leader.stop().await;
    wait_until(SOON, "b takes over", || async { standby.is_leader() }).await;
    let successor = b.successor().await.unwrap();
    assert_ne!(successor.session(), &lost);
    let holder = a.whereis("job").await.unwrap().expect("held");
    assert_eq!(holder.id.member, b.member());
    assert_eq!(successor.len(), 1, "the successor holds the name");
    // Shutting the lost registry down shuts its successor down too.
    let _ = b.shutdown().await;
    assert_eq!(successor.state(), State::Shutdown);
    wait_until(SOON, "the name is free", || async {
        a.whereis("job").await.unwrap().is_none()
    })
    .await;
    drop(standby);
    a.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_leader_that_loses_its_session_stops_then_competes_again() {
    let cluster = Cluster::start().await;
    let ns = namespace("leader-recovers");
    let a = cluster.registry(0, &ns).await;
    let running = Arc::new(Mutex::new((0usize, 0usize)));
    let factory = {
        let running = running.clone();
        move || {
            let running = running.clone();
            async move {
                struct Span(Arc<Mutex<(usize, usize)>>);
                impl Drop for Span {
                    fn drop(&mut self) {
                        self.0.lock().unwrap().0 -= 1;
                    }
                }
                {
                    let mut r = running.lock().unwrap();
                    r.0 += 1;
                    r.1 += 1;
                    assert_eq!(r.0, 1, "two leader futures at once");
                }
                let _span = Span(running);
                std::future::pending::<()>().await;
            }
        }
    };
    let leader = a
        .singleton("job", Contact::default(), quick(), factory)
        .unwrap();
    let first = wait_for_token(&leader).await;
    cluster
        .client()
        .session()
        .destroy(a.session())
        .await
        .unwrap();
    // The future stops at the loss, and the member leads again on a new
    // session once the lock-delay is over.
    wait_until(SOON, "the future was dropped", || async {
        running.lock().unwrap().0 == 0 || running.lock().unwrap().1 >= 2
    })
    .await;
    wait_until(SOON, "it leads again", || async {
        running.lock().unwrap().1 == 2 && leader.is_leader()
    })
    .await;
    let second = wait_for_token(&leader).await;
    assert!(second > first, "fencing tokens grow: {first} then {second}");
    assert_eq!(*running.lock().unwrap(), (1, 2));
    leader.stop().await;
    let _ = a.shutdown().await;
    cluster.shutdown().await;
}

async fn wait_for_token(leader: &consuela::singleton::SingletonHandle) -> consuela::FencingToken {
    let mut state = leader.subscribe();
    let led = tokio::time::timeout(
        SOON,
        state.wait_for(|l| matches!(l, Leadership::Leader { .. })),
    )
    .await
    .expect("leads in time")
    .expect("state")
    .clone();
    match led {
        Leadership::Leader { fencing_token, .. } => fencing_token,
        other => unreachable!("waited for Leader, got {other:?}"),
    }
}

/// An agent restart (its HTTP listener gone for a while, open connections
/// cut, the servers' session timers running on) shorter than the keeper's
/// margin loses no name, and the session watch resumes after it.
#[tokio::test]
async fn an_agent_restart_within_the_margin_loses_no_name() {
    let cluster = Cluster::start().await;
    let Some(server) = cluster.target.devserver.as_ref().map(|s| s.state().clone()) else {
        // A real agent cannot be restarted from a test.
        return cluster.shutdown().await;
    };
    let ns = namespace("agent-restart");
    let mut config = cluster.config(0, &ns);
    config.session.ttl = Duration::from_secs(4);
    config.keeper.interval = Interval::default();
    let renewals = Renewals::default();
    let registry = Registry::builder(config)
        .pulse(renewals.pulse())
        .start()
        .await
        .unwrap();
    let held = registry
        .register("through-restart", Contact::default())
        .await
        .unwrap();
    let down = Duration::from_millis(2500);
    server.restart_agent(down);
    let client = cluster.client();
    wait_until(SOON, "the agent refuses connections", || async {
        client.agent().self_().await.is_err()
    })
    .await;
    let restarted = Instant::now();
    wait_until(SOON, "the agent is back and renewals go on", || async {
        renewals.any_after(restarted + down)
    })
    .await;
    assert_eq!(registry.state(), State::Running);
    assert!(!held.is_lost());
    let holder = registry.whereis(held.name()).await.unwrap();
    assert_eq!(holder.map(|h| h.id), Some(held.id().clone()));
    held.unregister().await.unwrap();
    registry.shutdown().await.unwrap();
    cluster.shutdown().await;
}
