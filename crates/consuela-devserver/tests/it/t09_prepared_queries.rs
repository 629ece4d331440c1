//! Prepared queries: create, read, execute with Consul's filters, templates.

use serde_json::json;

use crate::support::{Http, fast_server};

async fn register(h: &Http, id: &str, tags: &[&str], status: &str) {
    let body =
        json!({"ID": id, "Name": "web", "Tags": tags, "Check": {"TTL": "30s", "Status": status}});
    assert_eq!(
        h.put("/v1/agent/service/register", body.to_string())
            .await
            .status,
        200
    );
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = v["Nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["Service"]["ID"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_query_is_created_read_executed_and_deleted() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    assert_eq!(h.get("/v1/query").await.json(), json!([]));
    register(&h, "web-1", &["blue"], "passing").await;
    register(&h, "web-2", &["green"], "warning").await;
    register(&h, "web-3", &["blue"], "critical").await;
    let created = h
        .call(
            "POST",
            "/v1/query",
            json!({"Name": "webq", "Service": {"Service": "web"}}).to_string(),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text());
    let id = created.json()["ID"].as_str().unwrap().to_owned();
    let got = h.get(&format!("/v1/query/{id}")).await;
    assert_eq!(got.json()[0]["Name"], "webq");
    assert!(got.index.unwrap() > 0);
    // Critical instances never answer; warning ones do unless OnlyPassing.
    let run = h.get("/v1/query/webq/execute").await.json();
    assert_eq!(ids(&run), ["web-1", "web-2"]);
    assert_eq!(run["Datacenter"], "dc1");
    assert_eq!(
        h.get("/v1/query/webq/execute?limit=1").await.json()["Nodes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let update = json!({"Name": "webq", "Service": {"Service": "web", "OnlyPassing": true, "Tags": ["!green"]}});
    assert_eq!(
        h.put(&format!("/v1/query/{id}"), update.to_string())
            .await
            .status,
        200
    );
    assert_eq!(
        ids(&h.get(&format!("/v1/query/{id}/execute")).await.json()),
        ["web-1"]
    );
    assert_eq!(
        h.get("/v1/query/webq/explain").await.json()["Query"]["ID"],
        id.as_str()
    );
    assert_eq!(
        h.call("DELETE", &format!("/v1/query/{id}"), "")
            .await
            .status,
        200
    );
    let gone = h.get(&format!("/v1/query/{id}")).await;
    assert_eq!(
        (gone.status, gone.text()),
        (404, "Query not found".to_owned())
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn templates_render_by_name_prefix() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    register(&h, "web-1", &[], "passing").await;
    let t = json!({"Name": "geo-", "Template": {"Type": "name_prefix_match"}, "Service": {"Service": "${name.suffix}"}});
    assert_eq!(h.call("POST", "/v1/query", t.to_string()).await.status, 200);
    let run = h.get("/v1/query/geo-web/execute").await.json();
    assert_eq!(
        (run["Service"].clone(), ids(&run)),
        (json!("web"), vec!["web-1".to_owned()])
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn invalid_queries_answer_consul_texts() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let r = h.call("POST", "/v1/query", r#"{"Name":"q"}"#).await;
    assert_eq!(
        (r.status, r.text()),
        (
            500,
            "Invalid prepared query: Must provide a Service name to query".to_owned()
        )
    );
    h.call(
        "POST",
        "/v1/query",
        r#"{"Name":"q","Service":{"Service":"a"}}"#,
    )
    .await;
    let r = h
        .call(
            "POST",
            "/v1/query",
            r#"{"Name":"Q","Service":{"Service":"b"}}"#,
        )
        .await;
    assert_eq!(r.text(), "name 'Q' aliases an existing query name");
    let r = h
        .call(
            "DELETE",
            "/v1/query/00000000-0000-0000-0000-000000000000",
            "",
        )
        .await;
    assert_eq!(
        r.text(),
        "Cannot modify non-existent prepared query: '00000000-0000-0000-0000-000000000000'"
    );
    let r = h.put("/v1/query", "").await;
    assert_eq!(
        (r.status, r.text()),
        (405, "method PUT not allowed".to_owned())
    );
    assert_eq!(h.get("/v1/query/nope/execute").await.status, 404);
    srv.shutdown().await;
}
