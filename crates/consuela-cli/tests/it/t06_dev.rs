//! `consuela dev`: the embedded Consul-compatible agent.

use crate::support::{Proc, bare};

#[tokio::test]
async fn dev_serves_consul_and_exits_after_agent_leave() {
    let mut dev = Proc::spawn(bare(&[
        "dev",
        "--listen",
        "127.0.0.1:0",
        "--node-name",
        "n1",
    ]));
    let first = dev.line().await;
    let url = first
        .strip_prefix("consuela dev listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    let http = reqwest::Client::new();
    let me: serde_json::Value = http
        .get(format!("{url}/v1/agent/self"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["Config"]["NodeName"], "n1");
    let left = http
        .put(format!("{url}/v1/agent/leave"))
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), 200);
    let status = dev.wait().await;
    assert_eq!(status.code(), Some(0), "a Consul agent exits after leaving");
}
