//! The legacy ACL system: tokens, rules by longest prefix over the default
//! policy, and what each endpoint checks or filters.

use consuela_devserver::DevServerConfig;
use serde_json::json;

use crate::support::{Http, server};

const MASTER: &str = "master-secret";

const RULES: &str = r#"
key "" { policy = "read" }
key "private/" { policy = "deny" }
service "foo-" { policy = "write" }
"#;

async fn acl_server(default_allow: bool) -> consuela_devserver::DevServer {
    let mut config = DevServerConfig::fast().with_acl_token(MASTER);
    config.acl_default_allow = default_allow;
    server(config).await
}

#[tokio::test]
async fn tokens_are_managed_by_the_master_token_only() {
    let srv = acl_server(false).await;
    let h = Http::new(&srv);
    let m = format!("?token={MASTER}");
    let ids: Vec<String> = h
        .get(&format!("/v1/acl/list{m}"))
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ID"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["anonymous", MASTER]);
    assert_eq!(h.get("/v1/acl/list").await.text(), "Permission denied");
    assert_eq!(
        h.get("/v1/acl/list?token=nope").await.text(),
        "ACL not found"
    );
    let created = h
        .put(
            &format!("/v1/acl/create{m}"),
            json!({"Name": "app", "Rules": RULES}).to_string(),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text());
    let token = created.json()["ID"].as_str().unwrap().to_owned();
    let info = h.get(&format!("/v1/acl/info/{token}")).await.json();
    assert_eq!(
        (info[0]["Type"].clone(), info[0]["Rules"].clone()),
        (json!("client"), json!(RULES))
    );
    assert_eq!(h.get("/v1/acl/info/no-such-token").await.json(), json!([]));
    let clone = h.put(&format!("/v1/acl/clone/{token}{m}"), "").await.json();
    let clone = clone["ID"].as_str().unwrap().to_owned();
    assert_ne!(clone, token);
    let bad = h
        .put(
            &format!("/v1/acl/update{m}"),
            json!({"Name": "x"}).to_string(),
        )
        .await;
    assert_eq!(
        (bad.status, bad.text()),
        (400, "ACL ID must be set".to_owned())
    );
    let bad = h
        .put(
            &format!("/v1/acl/create{m}"),
            json!({"Rules": "key \"a\" { policy = \"bogus\" }"}).to_string(),
        )
        .await;
    assert!(
        bad.text()
            .starts_with("ACL rule compilation failed: Invalid key policy: "),
        "{}",
        bad.text()
    );
    assert_eq!(
        h.put(&format!("/v1/acl/destroy/{clone}{m}"), "")
            .await
            .text(),
        "true\n"
    );
    let anon = h.put(&format!("/v1/acl/destroy/anonymous{m}"), "").await;
    assert_eq!(
        (anon.status, anon.text()),
        (
            403,
            "Permission denied: Cannot delete anonymous token".to_owned()
        )
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn rules_decide_by_longest_prefix_and_filter_lists() {
    let srv = acl_server(false).await;
    let h = Http::new(&srv);
    let m = format!("token={MASTER}");
    let token = h
        .put(
            &format!("/v1/acl/create?{m}"),
            json!({"Rules": RULES}).to_string(),
        )
        .await
        .json()["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = format!("token={token}");
    for k in ["pub/a", "private/b"] {
        assert_eq!(h.put(&format!("/v1/kv/{k}?{m}"), "v").await.status, 200);
    }
    assert_eq!(h.get(&format!("/v1/kv/pub/a?{t}")).await.status, 200);
    assert_eq!(h.put(&format!("/v1/kv/pub/a?{t}"), "w").await.status, 403);
    assert_eq!(h.get(&format!("/v1/kv/private/b?{t}")).await.status, 403);
    let keys = h.get(&format!("/v1/kv/?keys&{t}")).await.json();
    assert_eq!(keys, json!(["pub/a"]), "lists are filtered, not refused");
    let txn = h
        .put(&format!("/v1/txn?{t}"), r#"[{"KV":{"Verb":"get","Key":"pub/a"}},{"KV":{"Verb":"set","Key":"pub/a","Value":"eA=="}}]"#)
        .await;
    assert_eq!(txn.status, 409);
    assert_eq!(
        txn.json()["Errors"],
        json!([{"OpIndex": 1, "What": "Permission denied"}])
    );
    assert_eq!(
        h.put(
            &format!("/v1/agent/service/register?{t}"),
            r#"{"Name":"bar-1"}"#
        )
        .await
        .status,
        403
    );
    assert_eq!(
        h.put(
            &format!("/v1/agent/service/register?{t}"),
            r#"{"Name":"foo-1"}"#
        )
        .await
        .status,
        200
    );
    // Default deny: the token may not read nodes, so health shows nothing.
    assert_eq!(
        h.get(&format!("/v1/health/service/foo-1?{t}")).await.json(),
        json!([])
    );
    assert_eq!(
        h.get(&format!("/v1/health/service/foo-1?{m}"))
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        h.get("/v1/kv/pub/a").await.status,
        403,
        "anonymous under default deny"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn the_default_allow_policy_lets_anonymous_requests_through() {
    let srv = acl_server(true).await;
    let h = Http::new(&srv);
    assert_eq!(h.put("/v1/kv/open", "v").await.status, 200);
    assert_eq!(h.get("/v1/kv/open").await.status, 200);
    assert_eq!(
        h.get("/v1/acl/list").await.status,
        403,
        "listing still needs management"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn without_version_8_enforcement_nodes_and_agents_are_open() {
    let mut config = DevServerConfig::fast().with_acl_token(MASTER);
    config.acl_enforce_version_8 = false;
    let srv = server(config).await;
    let h = Http::new(&srv);
    let nodes = h.get("/v1/catalog/nodes").await.json();
    assert_eq!(
        nodes.as_array().unwrap().len(),
        1,
        "anonymous sees nodes: {nodes}"
    );
    assert_eq!(h.get("/v1/agent/self").await.status, 200);
    assert_eq!(h.get("/v1/kv/k").await.status, 403, "key rules still apply");
    srv.shutdown().await;
}
