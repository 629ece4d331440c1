//! Agent services and checks, catalog and health, including a blocking health watch.

use std::time::Duration;

use consuela_client::wire::{
    CheckDefinition, CheckId, HealthStatus, NodeName, ServiceId, ServiceRegistration,
};
use consuela_client::{ErrorKind, QueryOptions, WatchConfig};

use crate::support::{env, next_ok, unique};

fn registration(id: &ServiceId, name: &str) -> ServiceRegistration {
    ServiceRegistration {
        id: Some(id.clone()),
        name: name.to_owned(),
        tags: Some(vec!["blue".to_owned()]),
        port: Some(7000),
        check: Some(CheckDefinition {
            ttl: Some("30s".to_owned()),
            status: Some(HealthStatus::Passing),
            ..CheckDefinition::default()
        }),
        ..ServiceRegistration::default()
    }
}

#[tokio::test]
async fn service_registration_checks_catalog_and_health() {
    let env = env("services").await;
    let agent = env.client.agent();
    let name = unique("consuela-it-svc");
    let id = ServiceId::new(format!("{name}-1"));
    let check = CheckId::new(format!("service:{id}"));
    agent
        .register_service(&registration(&id, &name), true)
        .await
        .unwrap();

    let services = agent.services().await.unwrap();
    let service = services.get(&id).expect("registered");
    assert_eq!(service.service, name);
    assert_eq!(service.port, 7000);
    let checks = agent.checks().await.unwrap();
    assert_eq!(
        checks.get(&check).expect("service check").status,
        HealthStatus::Passing
    );

    let catalog = env
        .client
        .catalog()
        .service(&name, None, QueryOptions::new())
        .await
        .unwrap();
    assert_eq!(catalog.value.len(), 1);
    assert_eq!(catalog.value[0].service_id, id);
    assert_eq!(catalog.value[0].service_port, 7000);
    let tagged = env
        .client
        .catalog()
        .service(&name, Some("green"), QueryOptions::new())
        .await
        .unwrap();
    assert!(tagged.value.is_empty(), "tag filter");
    let names = env
        .client
        .catalog()
        .services(QueryOptions::new())
        .await
        .unwrap();
    assert_eq!(
        names.value.get(&name).map(Vec::as_slice),
        Some(&["blue".to_owned()][..])
    );

    let health = env.client.health();
    let passing = health
        .service(&name, None, true, QueryOptions::new())
        .await
        .unwrap();
    assert_eq!(passing.value.len(), 1);
    assert!(passing.value[0].checks.iter().any(|c| c.check_id == check));

    agent
        .fail_check(&check, Some("down for a test"))
        .await
        .unwrap();
    let passing = health
        .service(&name, None, true, QueryOptions::new())
        .await
        .unwrap();
    assert!(
        passing.value.is_empty(),
        "a critical check hides the instance from ?passing"
    );
    let all = health
        .service(&name, Some("blue"), false, QueryOptions::new())
        .await
        .unwrap();
    assert_eq!(all.value.len(), 1);
    let failed = all.value[0]
        .checks
        .iter()
        .find(|c| c.check_id == check)
        .unwrap();
    assert_eq!(failed.status, HealthStatus::Critical);
    assert_eq!(failed.output, "down for a test");

    agent.warn_check(&check, None).await.unwrap();
    agent
        .update_check(&check, HealthStatus::Passing, Some("fine"))
        .await
        .unwrap();
    let passing = health
        .service(&name, None, true, QueryOptions::new())
        .await
        .unwrap();
    assert_eq!(passing.value.len(), 1);

    agent.deregister_service(&id).await.unwrap();
    assert!(!agent.services().await.unwrap().contains_key(&id));
    let gone = health
        .service(&name, None, false, QueryOptions::new())
        .await
        .unwrap();
    assert!(gone.value.is_empty());
    // Deregistering again is not an error (200 on old agents, 404 on new ones).
    agent.deregister_service(&id).await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn unknown_check_updates_are_errors() {
    let env = env("checks-unknown").await;
    let error = env
        .client
        .agent()
        .pass_check(&CheckId::new(unique("no-such-check")), None)
        .await
        .unwrap_err();
    // Newer agents answer 404, older ones 500 `does not have associated TTL`.
    assert!(
        error.kind() == ErrorKind::NotFound
            || (error.kind() == ErrorKind::Server && error.message_contains("TTL")),
        "{error}"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn nodes_and_node_services() {
    let env = env("nodes").await;
    let me = env.client.agent().self_().await.unwrap();
    let nodes = env
        .client
        .catalog()
        .nodes(QueryOptions::new())
        .await
        .unwrap();
    assert!(nodes.index.0 >= 1);
    assert!(
        nodes
            .value
            .iter()
            .any(|node| node.node == me.config.node_name)
    );
    let node = env
        .client
        .catalog()
        .node(&me.config.node_name, QueryOptions::new())
        .await
        .unwrap();
    assert_eq!(node.value.expect("own node").node.node, me.config.node_name);
    let unknown = env
        .client
        .catalog()
        .node(&NodeName::new(unique("no-such-node")), QueryOptions::new())
        .await
        .unwrap();
    assert!(unknown.value.is_none());
    env.cleanup().await;
}

#[tokio::test]
async fn health_watch_wakes_on_a_check_change() {
    let env = env("health-watch").await;
    let name = unique("consuela-it-watch");
    let id = ServiceId::new(format!("{name}-1"));
    let check = CheckId::new(format!("service:{id}"));
    env.client
        .agent()
        .register_service(&registration(&id, &name), false)
        .await
        .unwrap();
    let mut watch = env.client.health().watch_service(
        &name,
        None,
        true,
        WatchConfig::default().wait(Duration::from_secs(30)),
    );
    let first = next_ok(&mut watch).await;
    assert_eq!(first.value.len(), 1);
    env.client.agent().fail_check(&check, None).await.unwrap();
    let mut seen = next_ok(&mut watch).await;
    // An unrelated catalog change may wake the watch first; wait for the real one.
    while !seen.value.is_empty() {
        seen = next_ok(&mut watch).await;
    }
    assert!(seen.index > first.index);
    drop(watch);
    env.client.agent().deregister_service(&id).await.unwrap();
    env.cleanup().await;
}
