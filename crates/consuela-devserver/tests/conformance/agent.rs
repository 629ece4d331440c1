//! §7 items 104–114: agent services and checks, catalog and health. Item
//! 115 (`DeregisterCriticalServiceAfter`, 60–90 s) is left out.

use serde_json::{Value, json};

use crate::support::{Target, block_then, secs, wait_until};

/// Registers `web1`-like service `id` (item 104's body) and waits until the
/// catalog has it (a real agent syncs asynchronously).
async fn register_web(t: &Target, id: &str, name: &str) {
    let body = json!({
        "ID": id, "Name": name, "Tags": ["a"], "Port": 8080, "Meta": {"v": "1"},
        "Check": {"TTL": "10s", "Status": "passing"},
    });
    let r = t.put("/v1/agent/service/register", body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.is_empty(), "{}", r.text());
    t.deregister_on_drop(id);
    wait_until("the catalog has the service", secs(5), || async {
        !t.health(name, "").await.is_empty()
    })
    .await;
}

/// Item 104–106: register, then read it from catalog and health.
#[tokio::test]
async fn i104_to_i106_register_catalog_health() {
    let t = Target::new().await;
    let (id, name) = (t.svc("web1"), t.svc("web"));
    register_web(&t, &id, &name).await;
    let r = t.get(&format!("/v1/catalog/service/{name}")).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let e = v
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ServiceID"] == id.as_str())
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(e["ServicePort"], 8080);
    assert_eq!(e["ServiceTags"], json!(["a"]));

    let entries = t.health(&name, "").await;
    let checks = entries[0]["Checks"].as_array().unwrap();
    let status = |cid: &str| {
        checks
            .iter()
            .find(|c| c["CheckID"] == cid)
            .map(|c| c["Status"].clone())
    };
    assert_eq!(status(&format!("service:{id}")), Some(json!("passing")));
    assert!(status("serfHealth").is_some(), "{checks:?}");
}

fn has(entries: &[Value], id: &str) -> bool {
    entries.iter().any(|e| e["Service"]["ID"] == id)
}

/// Item 107: `?passing` drops instances with a failing or warning check.
#[tokio::test]
async fn i107_passing_filter() {
    let t = Target::new().await;
    let (id, name) = (t.svc("web1"), t.svc("web"));
    register_web(&t, &id, &name).await;
    assert!(has(&t.health(&name, "?passing").await, &id));
    for verb in ["fail", "warn"] {
        let r = t
            .put(&format!("/v1/agent/check/{verb}/service:{id}"), "")
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        wait_until(
            &format!("?passing drops it after {verb}"),
            secs(5),
            || async { !has(&t.health(&name, "?passing").await, &id) },
        )
        .await;
        assert!(has(&t.health(&name, "").await, &id));
    }
}

/// Item 108.
#[tokio::test]
async fn i108_bad_passing_value() {
    let t = Target::new().await;
    t.get(&format!("/v1/health/service/{}?passing=nope", t.svc("web")))
        .await
        .assert_err(400, "Invalid value for ?passing");
}

/// Item 109.
#[tokio::test]
async fn i109_bad_check_status() {
    let t = Target::new().await;
    let (id, name) = (t.svc("web1"), t.svc("web"));
    register_web(&t, &id, &name).await;
    let r = t
        .put(
            &format!("/v1/agent/check/update/service:{id}"),
            r#"{"Status":"bogus"}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text().trim_end(), "Invalid check status: 'bogus'");
}

/// Item 110: TTL updates of unknown and non-TTL checks. An unknown check is
/// 404 `Unknown check ID …` on newer agents and 500 `CheckID … does not have
/// associated TTL` on 1.0.8 (consul-observed.md); both are accepted.
#[tokio::test]
async fn i110_pass_unknown_and_http_check() {
    let t = Target::new().await;
    let unknown = format!("unknown-{}", t.uniq);
    let r = t.put(&format!("/v1/agent/check/pass/{unknown}"), "").await;
    let text = r.text();
    assert!(
        (r.status == 404 && text.starts_with(&format!("Unknown check ID \"{unknown}\"")))
            || (r.status == 500
                && text.contains(&format!(
                    "CheckID \"{unknown}\" does not have associated TTL"
                ))),
        "{} {text:?}",
        r.status
    );
    // An HTTP check that never passes (nothing listens on port 1).
    let id = t.svc("http");
    let body = json!({"ID": id, "Name": id,
        "Check": {"HTTP": "http://127.0.0.1:1/health", "Interval": "10s"}});
    t.register(&id, &body).await;
    let check = format!("service:{id}");
    t.put(&format!("/v1/agent/check/pass/{check}"), "")
        .await
        .assert_err(
            500,
            &format!("CheckID \"{check}\" does not have associated TTL"),
        );
}

/// Item 111.
#[tokio::test]
async fn i111_register_without_name() {
    let t = Target::new().await;
    t.put("/v1/agent/service/register", r#"{"ID":"x","Port":1}"#)
        .await
        .assert_err(400, "Missing service name");
}

/// Item 112: deregister; again → 404 on newer agents, 200 on 1.0.8.
#[tokio::test]
async fn i112_deregister() {
    let t = Target::new().await;
    let (id, name) = (t.svc("web1"), t.svc("web"));
    register_web(&t, &id, &name).await;
    let path = format!("/v1/agent/service/deregister/{id}");
    let r = t.put(&path, "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    wait_until("catalog and health drop it", secs(5), || async {
        let catalog = t.get(&format!("/v1/catalog/service/{name}")).await.json();
        catalog == json!([]) && t.health(&name, "").await.is_empty()
    })
    .await;
    let r = t.put(&path, "").await;
    assert!(
        r.status == 200 || (r.status == 404 && r.text().starts_with("Unknown service ID")),
        "{} {:?}",
        r.status,
        r.text()
    );
}

/// Item 113: the agent's node is in the catalog; unknown services are `[]`.
#[tokio::test]
async fn i113_nodes_and_unknown_service() {
    let t = Target::new().await;
    let r = t.get("/v1/catalog/nodes").await;
    assert_eq!(r.status, 200);
    let nodes = r.json();
    assert!(
        nodes
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["Node"] == t.node.as_str()),
        "{nodes}"
    );
    let r = t
        .get(&format!("/v1/health/service/unknown-{}", t.uniq))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!([]));
}

/// Item 114: a blocking health query wakes on a check status change.
#[tokio::test]
async fn i114_blocking_health() {
    let t = Target::new().await;
    let (id, name) = (t.svc("web1"), t.svc("web"));
    register_web(&t, &id, &name).await;
    let path = format!("/v1/health/service/{name}");
    let idx = t.get(&path).await.index();
    let (r, f, took) = block_then(
        t.get(&format!("{path}?index={idx}&wait=30s")),
        t.put(&format!("/v1/agent/check/fail/service:{id}"), ""),
    )
    .await;
    assert_eq!(f.status, 200, "{}", f.text());
    assert!(took < secs(1), "took {took:?}");
    assert_eq!(r.status, 200);
    assert!(r.index() > idx);
    // On a busy real agent the wake-up may come from another change first.
    if !t.real {
        let v = r.json();
        let checks = v[0]["Checks"].as_array().unwrap();
        assert!(checks.iter().any(|c| c["Status"] == "critical"), "{v}");
    }
}
