//! `catalog/register` and `catalog/deregister`: external nodes visible to
//! every read, validation, and what a removal does to sessions.

use serde_json::json;

use crate::support::{Http, LONG, fast_server, wait_until};

fn external(node: &str) -> String {
    json!({
        "Node": node, "Address": "10.1.0.1",
        "TaggedAddresses": {"lan": "10.1.0.1", "wan": "10.2.0.1"}, "NodeMeta": {"rack": "r1"},
        "Service": {"ID": "db-1", "Service": "db", "Tags": ["primary"], "Port": 5432},
        "Check": {"CheckID": "db-alive", "Name": "db alive", "Status": "passing", "ServiceID": "db-1"},
        "Checks": [{"CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing"}],
    })
    .to_string()
}

#[tokio::test]
async fn an_external_node_is_seen_by_catalog_health_and_blocking_reads() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let before = h.get("/v1/catalog/nodes").await.index.unwrap();
    let blocked = {
        let h = h.clone();
        tokio::spawn(async move {
            h.get(&format!("/v1/health/service/db?index={before}&wait=5s"))
                .await
        })
    };
    let r = h.put("/v1/catalog/register", external("ext-1")).await;
    assert_eq!((r.status, r.text()), (200, "true\n".to_owned()));
    let woken = blocked.await.unwrap();
    assert!(woken.index.unwrap() > before);
    let entry = &woken.json()[0];
    assert_eq!(entry["Node"]["Node"], "ext-1");
    assert_eq!(entry["Node"]["TaggedAddresses"]["wan"], "10.2.0.1");
    assert_eq!(entry["Service"]["ID"], "db-1");
    let checks: Vec<&str> = entry["Checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["CheckID"].as_str().unwrap())
        .collect();
    assert_eq!(checks, ["serfHealth", "db-alive"], "node checks first");
    assert_eq!(entry["Checks"][1]["ServiceName"], "db");
    assert_eq!(
        h.get("/v1/health/service/db?passing").await.json()[0]["Node"]["Node"],
        "ext-1"
    );
    assert_eq!(
        h.get("/v1/catalog/service/db").await.json()[0]["NodeMeta"]["rack"],
        "r1"
    );
    let services = h.get("/v1/catalog/services").await.json();
    assert_eq!(services["db"], json!(["primary"]));
    // Not the agent's: the agent endpoints do not list it.
    assert!(
        h.get("/v1/agent/services")
            .await
            .json()
            .get("db-1")
            .is_none()
    );
    assert!(
        h.get("/v1/agent/checks")
            .await
            .json()
            .get("db-alive")
            .is_none()
    );
    // Re-registering the node alone drops what it leaves out.
    h.put(
        "/v1/catalog/register",
        r#"{"Node":"ext-1","Address":"10.1.0.9"}"#,
    )
    .await;
    let node = h.get("/v1/catalog/node/ext-1").await.json();
    assert_eq!(node["Node"]["Address"], "10.1.0.9");
    assert_eq!(node["Node"]["TaggedAddresses"], serde_json::Value::Null);
    assert_eq!(node["Services"]["db-1"]["Port"], 5432);
    srv.shutdown().await;
}

#[tokio::test]
async fn invalid_registrations_change_nothing() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let cases = [
        (r#"{"Address":"1.2.3.4"}"#, 500, "Must provide node"),
        (
            r#"{"Node":"x"}"#,
            500,
            "Must provide address if SkipNodeUpdate is not set",
        ),
        (
            r#"{"Node":"x","Address":"1.2.3.4","ID":"nope"}"#,
            500,
            "Bad node ID: uuid string is wrong length",
        ),
        (
            r#"{"Node":"x","Address":"1.2.3.4","Service":{"ID":"s"}}"#,
            500,
            "Must provide service name with ID",
        ),
        (
            r#"{"Node":"x","Address":"1.2.3.4","Check":{"Name":"c","ServiceID":"nope"}}"#,
            500,
            "failed inserting check: Missing service registration",
        ),
        (
            r#"{"Node":"x","Address":"1.2.3.4","Check":{"Node":"y","Name":"c"}}"#,
            500,
            r#"check node "y" does not match node "x""#,
        ),
        (
            r#"{"Node":"x","Address":"1.2.3.4","Datacenter":"dc9"}"#,
            500,
            "No path to datacenter",
        ),
        (
            r#"{"Node":5}"#,
            400,
            "Request decode failed: 1 error(s) decoding:\n\n* 'Node' expected type 'string', got unconvertible type 'float64'",
        ),
    ];
    for (body, status, text) in cases {
        let r = h.put("/v1/catalog/register", body).await;
        assert_eq!((r.status, r.text().as_str()), (status, text), "{body}");
    }
    let nodes = h.get("/v1/catalog/nodes").await.json();
    assert!(
        nodes.as_array().unwrap().iter().all(|n| n["Node"] != "x"),
        "a failed registration left its node behind: {nodes}"
    );
    assert_eq!(
        h.put("/v1/catalog/deregister", "{}").await.text(),
        "Must provide node"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn deregistering_a_node_invalidates_its_sessions() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    h.put("/v1/catalog/register", external("ext-2")).await;
    let s = h
        .session(r#"{"Node":"ext-2","Checks":["serfHealth","db-alive"],"Behavior":"delete"}"#)
        .await;
    assert_eq!(
        h.put(&format!("/v1/kv/held?acquire={s}"), "x").await.text(),
        "true\n"
    );
    // A service id wins over a check id, and takes the service's checks.
    let r = h
        .put(
            "/v1/catalog/deregister",
            r#"{"Node":"ext-2","ServiceID":"db-1","CheckID":"ignored"}"#,
        )
        .await;
    assert_eq!(r.text(), "true\n");
    assert_eq!(h.get("/v1/catalog/service/db").await.json(), json!([]));
    wait_until(
        "the session bound to the removed check is gone",
        LONG,
        || async { h.get(&format!("/v1/session/info/{s}")).await.json() == json!([]) },
    )
    .await;
    assert_eq!(h.get("/v1/kv/held").await.status, 404);
    let s2 = h.session(r#"{"Node":"ext-2","Checks":[]}"#).await;
    h.put("/v1/catalog/deregister", r#"{"Node":"ext-2"}"#).await;
    assert_eq!(
        h.get(&format!("/v1/session/info/{s2}")).await.json(),
        json!([]),
        "a node's sessions go with it"
    );
    let gone = h.get("/v1/catalog/node/ext-2").await;
    assert_eq!((gone.index, gone.text()), (Some(0), "null\n".to_owned()));
    srv.shutdown().await;
}

fn names(v: &serde_json::Value, field: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e.pointer(field)
                .and_then(|n| n.as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn node_meta_filters_and_passing_order_follow_consul() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    for (node, rack, status) in [
        ("n1", "r1", "critical"),
        ("n2", "r2", "passing"),
        ("n3", "r1", "passing"),
    ] {
        let body = json!({
            "Node": node, "Address": "10.0.0.1", "NodeMeta": {"rack": rack},
            "Service": {"Service": "db"},
            "Check": {"Name": "db", "Status": status, "ServiceID": "db"},
        });
        assert_eq!(
            h.put("/v1/catalog/register", body.to_string()).await.status,
            200
        );
    }
    let r1 = h.get("/v1/catalog/nodes?node-meta=rack:r1").await.json();
    assert_eq!(names(&r1, "/Node"), ["n1", "n3"]);
    let last = h
        .get("/v1/catalog/nodes?node-meta=rack:r1&node-meta=rack:r2")
        .await
        .json();
    assert_eq!(
        names(&last, "/Node"),
        ["n2"],
        "a repeated key keeps its last value"
    );
    let r2 = h
        .get("/v1/health/service/db?node-meta=rack:r2")
        .await
        .json();
    assert_eq!(names(&r2, "/Node/Node"), ["n2"]);
    // Consul's filterNonPassing moves the last entry into a failing one's place.
    let passing = h.get("/v1/health/service/db?passing").await.json();
    assert_eq!(names(&passing, "/Node/Node"), ["n3", "n2"]);
    srv.shutdown().await;
}

#[tokio::test]
async fn each_read_reports_the_table_it_reads() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    for id in ["a", "b"] {
        let body = json!({"ID": id, "Name": id, "Check": {"TTL": "30s", "Status": "passing"}});
        h.put("/v1/agent/service/register", body.to_string()).await;
    }
    let a = h.get("/v1/health/service/a").await.index.unwrap();
    let nodes = h.get("/v1/catalog/nodes").await.index.unwrap();
    // A check of b changes: b's row and the checks table move, a's and the
    // nodes table do not, so a blocking read of a keeps waiting.
    let blocked = {
        let h = h.clone();
        tokio::spawn(async move {
            h.get(&format!("/v1/health/service/a?index={a}&wait=300ms"))
                .await
        })
    };
    h.put("/v1/agent/check/fail/service:b", "").await;
    let b = h.get("/v1/health/service/b").await.index.unwrap();
    assert!(b > a);
    assert_eq!(h.get("/v1/health/state/critical").await.index, Some(b));
    assert_eq!(
        blocked.await.unwrap().index,
        Some(a),
        "a's read was not answered by b's write"
    );
    assert_eq!(h.get("/v1/catalog/nodes").await.index, Some(nodes));
    srv.shutdown().await;
}
