//! Status and agent self.

use crate::support::env;

#[tokio::test]
async fn status_leader_is_among_peers() {
    let env = env("status").await;
    let leader = env.client.status().leader().await.unwrap();
    assert!(leader.contains(':'), "leader {leader:?} is not host:port");
    let peers = env.client.status().peers().await.unwrap();
    assert!(peers.contains(&leader), "{leader} not in {peers:?}");
    env.cleanup().await;
}

#[tokio::test]
async fn agent_self_names_node_and_datacenter() {
    let env = env("agent-self").await;
    let me = env.client.agent().self_().await.unwrap();
    assert!(!me.config.node_name.as_str().is_empty());
    assert!(!me.config.datacenter.is_empty());
    assert_eq!(me.member.name, me.config.node_name.as_str());
    env.cleanup().await;
}
