//! Maintenance mode, user events, agent identity, operator and coordinate
//! endpoints, the log monitor, and leave.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Http, LONG, fast_server};

#[tokio::test]
async fn maintenance_makes_health_critical_and_blocks_bound_sessions() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    h.put(
        "/v1/agent/service/register",
        r#"{"ID":"api-1","Name":"api","Check":{"TTL":"30s","Status":"passing"}}"#,
    )
    .await;
    assert_eq!(
        h.get("/v1/health/service/api?passing")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = h
        .put(
            "/v1/agent/service/maintenance/api-1?enable=true&reason=deploy",
            "",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        h.get("/v1/health/service/api?passing").await.json(),
        json!([])
    );
    let check = &h.get("/v1/agent/checks").await.json()["_service_maintenance:api-1"];
    assert_eq!(check["Notes"], "deploy");
    assert_eq!(check["ServiceName"], "api");
    // A session cannot bind to a check in maintenance.
    let r = h
        .put(
            "/v1/session/create",
            r#"{"Checks":["_service_maintenance:api-1"]}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.text()),
        (
            500,
            "Check '_service_maintenance:api-1' is in critical state".to_owned()
        )
    );
    h.put("/v1/agent/service/maintenance/api-1?enable=false", "")
        .await;
    assert_eq!(
        h.get("/v1/health/service/api?passing")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Node maintenance takes every service on the node out.
    h.put("/v1/agent/maintenance?enable=true", "").await;
    assert_eq!(
        h.get("/v1/health/service/api?passing").await.json(),
        json!([])
    );
    h.put("/v1/agent/maintenance?enable=false", "").await;
    assert!(
        h.get("/v1/agent/checks")
            .await
            .json()
            .get("_node_maintenance")
            .is_none()
    );
    let r = h
        .put("/v1/agent/service/maintenance/nope?enable=true", "")
        .await;
    assert_eq!(
        (r.status, r.text()),
        (404, r#"No service registered with ID "nope""#.to_owned())
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn events_are_delivered_by_filter_and_wake_blocking_lists() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    h.put(
        "/v1/agent/service/register",
        r#"{"ID":"web-1","Name":"web","Tags":["blue"]}"#,
    )
    .await;
    let empty = h.get("/v1/event/list?name=deploy").await;
    assert_eq!((empty.index, empty.json()), (Some(1), json!([])));
    let blocked = {
        let h = h.clone();
        tokio::spawn(async move { h.get("/v1/event/list?name=deploy&index=1&wait=5s").await })
    };
    let fired = h
        .put("/v1/event/fire/deploy?service=web&tag=bl", "v2")
        .await
        .json();
    assert_eq!(fired["Payload"], "djI=");
    assert_eq!(fired["LTime"], 0);
    let woken = blocked.await.unwrap();
    assert_eq!(woken.json()[0]["ID"], fired["ID"]);
    assert_ne!(woken.index, Some(1));
    // Filters that match nothing here: not delivered to this agent.
    h.put("/v1/event/fire/deploy?node=^elsewhere$", "").await;
    h.put("/v1/event/fire/deploy?service=db", "").await;
    h.put("/v1/event/fire/deploy?service=web&tag=green", "")
        .await;
    let list = h.get("/v1/event/list?name=deploy").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert!(list[0]["LTime"].as_u64().unwrap() > 0);
    let r = h.put("/v1/event/fire/x?tag=a", "").await;
    assert_eq!(
        (r.status, r.text()),
        (
            500,
            "Cannot provide tag filter without service filter".to_owned()
        )
    );
    let r = h.put("/v1/event/fire/x?node=(", "").await;
    assert_eq!(
        r.text(),
        "Invalid node filter: error parsing regexp: missing closing ): `(`"
    );
    let r = h.put("/v1/event/fire/big", "x".repeat(600)).await;
    assert_eq!(
        (r.status, r.text()),
        (500, "user event exceeds limit of 512 bytes".to_owned())
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn agent_self_and_members_agree_with_the_rest_of_the_server() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    h.put(
        "/v1/agent/service/register",
        r#"{"Name":"a","Check":{"TTL":"30s"}}"#,
    )
    .await;
    let me = h.get("/v1/agent/self").await.json();
    let stats = &me["Stats"];
    let sections: Vec<&String> = stats.as_object().unwrap().keys().collect();
    assert_eq!(
        sections,
        [
            "agent", "build", "consul", "raft", "runtime", "serf_lan", "serf_wan"
        ]
    );
    assert_eq!(
        stats["consul"]["leader_addr"],
        h.get("/v1/status/leader").await.json()
    );
    assert_eq!(stats["agent"]["services"], "1");
    assert_eq!(stats["agent"]["check_ttls"], "1");
    assert!(
        stats.as_object().unwrap().values().all(|s| s
            .as_object()
            .unwrap()
            .values()
            .all(Value::is_string))
    );
    assert_eq!(me["Coord"]["Vec"].as_array().unwrap().len(), 8);
    let lan = h.get("/v1/agent/members").await.json();
    assert_eq!(lan[0]["Name"], me["Config"]["NodeName"]);
    assert_eq!(
        (lan[0]["Port"].clone(), lan[0]["Status"].clone()),
        (json!(8301), json!(1))
    );
    assert_eq!(lan[0]["Tags"]["wan_join_port"], "8302");
    let wan = h.get("/v1/agent/members?wan=1").await.json();
    assert_eq!(
        wan[0]["Name"],
        format!("{}.dc1", me["Config"]["NodeName"].as_str().unwrap())
    );
    assert_eq!(h.get("/v1/agent/members?segment=x").await.status, 500);
    assert_eq!(h.get("/v1/agent/members?wan=1&segment=x").await.status, 400);
    srv.shutdown().await;
}

#[tokio::test]
async fn autopilot_configuration_round_trips_with_cas() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let cfg = h.get("/v1/operator/autopilot/configuration").await.json();
    assert_eq!(cfg["CleanupDeadServers"], true);
    assert_eq!(cfg["LastContactThreshold"], "200ms");
    let index = cfg["ModifyIndex"].as_u64().unwrap();
    let body = r#"{"CleanupDeadServers":false,"LastContactThreshold":"1s","MaxTrailingLogs":250}"#;
    let stale = h
        .put(
            &format!("/v1/operator/autopilot/configuration?cas={}", index + 100),
            body,
        )
        .await;
    assert_eq!(stale.text(), "false\n");
    let ok = h
        .put(
            &format!("/v1/operator/autopilot/configuration?cas={index}"),
            body,
        )
        .await;
    assert_eq!(ok.text(), "true\n");
    let cfg = h.get("/v1/operator/autopilot/configuration").await.json();
    assert_eq!(cfg["CleanupDeadServers"], false);
    assert_eq!(cfg["LastContactThreshold"], "1s");
    assert_eq!(
        cfg["ServerStabilizationTime"], "0s",
        "a PUT replaces the whole configuration"
    );
    let bad = h
        .put(
            "/v1/operator/autopilot/configuration",
            r#"{"LastContactThreshold":"soon"}"#,
        )
        .await;
    assert_eq!(
        (bad.status, bad.text()),
        (
            400,
            r#"Error parsing autopilot config: time: invalid duration "soon""#.to_owned()
        )
    );
    let raft = h.get("/v1/operator/raft/configuration").await.json();
    assert_eq!(raft["Servers"][0]["Leader"], true);
    assert_eq!(
        raft["Servers"][0]["Address"],
        h.get("/v1/status/leader").await.json()
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn coordinates_exist_for_agents_not_for_catalog_nodes() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    h.put(
        "/v1/catalog/register",
        r#"{"Node":"ext","Address":"10.0.0.1"}"#,
    )
    .await;
    let nodes = h.get("/v1/coordinate/nodes").await;
    let names: Vec<String> = nodes
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["Node"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        names.iter().any(|n| n == "consul0") && !names.iter().any(|n| n == "ext"),
        "{names:?}"
    );
    assert_eq!(h.get("/v1/coordinate/node/ext").await.status, 404);
    let r = h
        .put(
            "/v1/coordinate/update",
            r#"{"Node":"consul0","Coord":{"Vec":[1,0,0,0,0,0,0,0],"Error":0.5,"Adjustment":0,"Height":0.001}}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    let c = h.get("/v1/coordinate/node/consul0").await.json();
    assert_eq!(c[0]["Coord"]["Vec"][0], 1.0);
    let r = h
        .put(
            "/v1/coordinate/update",
            r#"{"Node":"consul0","Coord":{"Vec":[1]}}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.text()),
        (500, "incompatible coordinate".to_owned())
    );
    let dcs = h.get("/v1/coordinate/datacenters").await.json();
    assert_eq!(dcs[0]["AreaID"], "wan");
    srv.shutdown().await;
}

#[tokio::test]
async fn monitor_streams_request_lines_without_tokens() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    assert_eq!(
        h.get("/v1/agent/monitor?loglevel=error").await.text(),
        "Unknown log level: ERROR"
    );
    let client = reqwest::Client::new();
    let mut stream = client
        .get(format!("{}/v1/agent/monitor?loglevel=debug", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    h.get("/v1/kv/watched?token=s3cr3t-token").await;
    let deadline = tokio::time::Instant::now() + LONG;
    while !seen.contains("/v1/kv/watched") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("a log line within the deadline")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("[DEBUG] http: Request GET /v1/kv/watched?token=<hidden>"),
        "{seen}"
    );
    assert!(
        !seen.contains("s3cr3t"),
        "the token leaked into the log: {seen}"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn leave_answers_then_stops_the_server() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    assert_eq!(h.get("/v1/acl/list").await.text(), "ACL support disabled");
    assert_eq!(h.put("/v1/acl/list", "").await.status, 405);
    assert_eq!(
        h.get("/v1/snapshot").await.status,
        404,
        "snapshots are left out"
    );
    let r = h.put("/v1/agent/leave", "").await;
    assert_eq!((r.status, r.text()), (200, String::new()));
    tokio::time::timeout(Duration::from_secs(5), srv.stopped())
        .await
        .expect("leave stops the server");
    srv.shutdown().await;
}

#[tokio::test]
async fn a_new_monitor_first_sees_the_recent_lines() {
    let srv = fast_server().await;
    let client = reqwest::Client::new();
    let mut stream = client
        .get(format!("{}/v1/agent/monitor", srv.url()))
        .send()
        .await
        .unwrap();
    let first = tokio::time::timeout(LONG, stream.chunk())
        .await
        .expect("the backlog at once")
        .unwrap()
        .unwrap();
    let first = String::from_utf8_lossy(&first).into_owned();
    assert!(first.contains("[INFO] raft: Node at"), "{first}");
    srv.shutdown().await;
}

#[tokio::test]
async fn join_and_raft_peer_removal_answer_as_a_single_server() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    assert_eq!(h.put("/v1/agent/join/127.0.0.1", "").await.status, 200);
    let r = h.put("/v1/agent/join/10.9.9.9", "").await;
    assert_eq!(r.status, 500);
    assert!(
        r.text()
            .starts_with("1 error(s) occurred:\n\n* Failed to join 10.9.9.9"),
        "{}",
        r.text()
    );
    let r = h
        .call(
            "DELETE",
            "/v1/operator/raft/peer?address=127.0.0.1:1234",
            "",
        )
        .await;
    assert_eq!(
        (r.status, r.text()),
        (
            500,
            r#"address "127.0.0.1:1234" was not found in the Raft configuration"#.to_owned()
        )
    );
    let r = h.call("DELETE", "/v1/operator/raft/peer", "").await;
    assert_eq!(r.status, 400);
    srv.shutdown().await;
}

#[tokio::test]
async fn a_configured_node_id_is_the_agent_s_everywhere() {
    let id = "2f1b1a4e-8c1d-4f6e-9a55-0c3b2d1e4f5a";
    let mut config = consuela_devserver::DevServerConfig::fast();
    config.node_id = Some(id.to_owned());
    let srv = crate::support::server(config).await;
    let h = Http::new(&srv);
    assert_eq!(h.get("/v1/agent/self").await.json()["Config"]["NodeID"], id);
    let node = h.get("/v1/catalog/node/consuela-dev").await.json();
    assert_eq!(node["Node"]["ID"], id);
    assert_eq!(
        h.get("/v1/operator/raft/configuration").await.json()["Servers"][0]["ID"],
        id
    );
    srv.shutdown().await;
}
