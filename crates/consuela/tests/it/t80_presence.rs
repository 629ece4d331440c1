//! Presence and discovery.

use std::time::Duration;

use consuela::{
    Contact, LostReason, Registry, discovery::Discovery, discovery::DiscoveryConfig, event::Event,
    presence::Presence, presence::PresenceCheck, presence::PresenceConfig, registry::State,
};
use consuela_devserver::DevServerConfig;
use consuela_testkit::{wait_for, wait_watch};

use crate::support::{Cluster, Events, SOON, agent_node, namespace};

fn fast_checks(mut config: DevServerConfig) -> DevServerConfig {
    config.check_interval_min = Duration::from_millis(10);
    config
}

fn tcp(service: &str, tags: &[&str]) -> PresenceConfig {
    PresenceConfig {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        check: PresenceCheck::Tcp {
            listen: ([127, 0, 0, 1], 0).into(),
            interval: Duration::from_millis(200),
        },
        ..PresenceConfig::new(service)
    }
}

#[tokio::test]
async fn a_dead_presence_check_frees_the_members_names() {
    let cluster = Cluster::start_with(fast_checks).await;
    let ns = namespace("presence");
    let events = Events::default();
    let mut config = cluster.config(0, &ns);
    // A session can only bind to checks of its own node: the agent's.
    config.nodename = agent_node(&cluster).await;
    // A long TTL: only the check can free the names quickly.
    config.session.ttl = Duration::from_secs(60);
    let presence = Presence::start_with(
        cluster.client(),
        "m0",
        tcp("presence-test", &[]),
        events.pulse(),
    )
    .await
    .unwrap();
    presence.bind(&mut config);
    let r = Registry::start(config).await.unwrap();
    let observer = cluster.registry(1, &ns).await;
    let reg = r.register("bound", Contact::default()).await.unwrap();
    wait_for(
        SOON,
        "Consul checks the listener",
        || async { events.count(|e| matches!(e, Event::PresenceChecked { .. })) },
        |n| *n >= 1,
    )
    .await;
    presence.stop_checks().await;
    wait_for(
        SOON,
        "the check's failure frees the name",
        || observer.whereis("bound"),
        |o| matches!(o, Ok(None)),
    )
    .await
    .unwrap();
    let mut state = r.subscribe();
    wait_watch(&mut state, SOON, "the member learns of it", |s| {
        *s == State::Lost(LostReason::Invalidated)
    })
    .await;
    assert!(reg.is_lost());
    presence.shutdown().await.unwrap();
    observer.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn members_discover_each_other_and_see_leavers() {
    let cluster = Cluster::start_with(fast_checks).await;
    let service = format!("disc-{}", std::process::id());
    let mut presences = Vec::new();
    for i in 0..3 {
        let config = PresenceConfig {
            service_id: Some(format!("{service}-{i}")),
            ..tcp(&service, &["prod"])
        };
        presences.push(
            Presence::start(cluster.client(), &format!("m{i}"), config)
                .await
                .unwrap(),
        );
    }
    // Another tag: must not be seen.
    let staging = Presence::start(
        cluster.client(),
        "staging",
        PresenceConfig {
            service_id: Some(format!("{service}-staging")),
            ..tcp(&service, &["staging"])
        },
    )
    .await
    .unwrap();
    let events = Events::default();
    let discovery = Discovery::start(
        cluster.client(),
        DiscoveryConfig {
            tags: vec!["prod".into()],
            wait: Duration::from_secs(5),
            ..DiscoveryConfig::new(&service)
        },
        events.pulse(),
    );
    let mut members = discovery.members();
    let seen = wait_watch(&mut members, SOON, "three members", |m| m.len() == 3).await;
    let names: Vec<_> = seen.values().filter_map(|m| m.member.clone()).collect();
    assert_eq!(names, ["m0", "m1", "m2"]);
    assert!(seen.values().all(|m| m.port != 0 && m.tags == ["prod"]));
    // One leaves.
    presences.remove(1).shutdown().await.unwrap();
    wait_watch(&mut members, SOON, "two members", |m| m.len() == 2).await;
    assert_eq!(
        events.count(
            |e| matches!(e, Event::MemberDown { member } if member.member.as_deref() == Some("m1"))
        ),
        1
    );
    assert_eq!(events.count(|e| matches!(e, Event::MemberUp { .. })), 3);
    // One crashes: its check fails and it drops out of the passing set.
    presences[0].stop_checks().await;
    wait_watch(&mut members, SOON, "one member", |m| m.len() == 1).await;
    discovery.shutdown().await;
    for p in presences {
        p.shutdown().await.unwrap();
    }
    staging.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_registry_starts_the_presence_and_discovery_its_config_names() {
    let cluster = Cluster::start_with(fast_checks).await;
    let ns = namespace("config-sections");
    let service = format!("consuela-sections-{}", std::process::id());
    let mut config = cluster.config(0, &ns);
    // A session can only bind to checks of its own node: the agent's.
    config.nodename = agent_node(&cluster).await;
    config.member = Some("sections-m0".into());
    config.presence = Some(PresenceConfig {
        check: PresenceCheck::Ttl {
            ttl: Duration::from_secs(10),
        },
        ..PresenceConfig::new(&service)
    });
    config.session.bind_presence = true;
    config.discovery = Some(DiscoveryConfig::new(&service));
    let r = Registry::start(config).await.unwrap();
    let check = r.presence_check().expect("a presence was started");
    let session = cluster
        .client()
        .session()
        .info(r.session(), Default::default())
        .await
        .unwrap()
        .value
        .expect("the session exists");
    assert!(
        session.all_checks().contains(&check),
        "the session is bound to the presence check: {session:?}"
    );
    let mut members = r.discovery().expect("a discovery was started");
    let seen = wait_watch(&mut members, SOON, "discovery sees this member", |m| {
        m.values()
            .any(|m| m.member.as_deref() == Some("sections-m0"))
    })
    .await;
    assert_eq!(seen.len(), 1);
    r.shutdown().await.unwrap();
    // Shutdown deregistered the service (the catalog may lag the agent).
    let client = cluster.client();
    wait_for(
        SOON,
        "the service is deregistered",
        || {
            client
                .health()
                .service(&service, None, false, Default::default())
        },
        |left| left.as_ref().is_ok_and(|l| l.value.is_empty()),
    )
    .await
    .unwrap();
    cluster.shutdown().await;
}
