//! §7 items 1–10: status, agent/self, routing errors, query-parameter
//! errors, meta headers, tokens.

use serde_json::Value;

use crate::support::Target;

fn assert_host_port(s: &str) {
    let (host, port) = s.rsplit_once(':').unwrap_or_else(|| panic!("{s:?}"));
    assert!(!host.is_empty(), "{s:?}");
    port.parse::<u16>().unwrap_or_else(|_| panic!("{s:?}"));
}

/// Items 1 and 2: leader is a `host:port` string listed among the peers.
#[tokio::test]
async fn i01_i02_status_leader_and_peers() {
    let t = Target::new().await;
    let r = t.get("/v1/status/leader").await;
    assert_eq!(r.status, 200);
    let leader = r.json().as_str().expect("JSON string").to_owned();
    assert_host_port(&leader);
    let r = t.get("/v1/status/peers").await;
    assert_eq!(r.status, 200);
    let peers = r.json();
    let peers = peers.as_array().expect("JSON array");
    assert!(peers.contains(&Value::String(leader)), "{peers:?}");
}

/// Item 3: `Config.NodeName`, `Config.Datacenter`, `Member.Name`.
#[tokio::test]
async fn i03_agent_self() {
    let t = Target::new().await;
    let r = t.get("/v1/agent/self").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let node = v["Config"]["NodeName"].as_str().unwrap();
    assert!(!node.is_empty());
    assert!(!v["Config"]["Datacenter"].as_str().unwrap().is_empty());
    assert_eq!(v["Member"]["Name"], node);
}

/// Item 4: wrong method → 405 with `Allow`.
#[tokio::test]
async fn i04_wrong_method() {
    let t = Target::new().await;
    let r = t.get("/v1/session/create").await;
    assert_eq!(r.status, 405);
    assert!(r.header("allow").unwrap().split(',').any(|m| m == "PUT"));
    assert_eq!(r.text().trim_end(), "method GET not allowed");
}

/// Item 5: unknown endpoint → 404. Body: empty on 1.0.8, `Invalid URL path:
/// not a recognized HTTP API endpoint` on newer agents.
#[tokio::test]
async fn i05_unknown_endpoint() {
    let t = Target::new().await;
    let r = t.get("/v1/nope").await;
    assert_eq!(r.status, 404);
    let body = r.text();
    assert!(
        body.is_empty() || body.starts_with("Invalid URL path"),
        "{body:?}"
    );
}

/// Item 6: `?stale&consistent` → 400.
#[tokio::test]
async fn i06_stale_with_consistent() {
    let t = Target::new().await;
    let r = t.get(&format!("{}?stale&consistent", t.kv("k"))).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text().trim_end(),
        "Cannot specify ?stale with ?consistent, conflicting semantics."
    );
}

/// Item 7: bad `wait` and `index`.
#[tokio::test]
async fn i07_bad_wait_and_index() {
    let t = Target::new().await;
    let r = t.get(&format!("{}?index=1&wait=10", t.kv("k"))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text().trim_end(), "Invalid wait time");
    let r = t.get(&format!("{}?index=x", t.kv("k"))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text().trim_end(), "Invalid index");
}

#[track_caller]
fn assert_meta(r: &crate::support::Resp) {
    assert!(r.index() >= 1, "{r:?}");
    assert_eq!(r.header("x-consul-knownleader"), Some("true"), "{r:?}");
    assert_eq!(r.header("x-consul-lastcontact"), Some("0"), "{r:?}");
}

/// Item 8: meta headers on KV (200 and 404) and session reads.
#[tokio::test]
async fn i08_meta_headers() {
    let t = Target::new().await;
    let s = t.session("").await;
    t.put(&t.kv("a"), "v").await.assert_bool(true);
    for path in [
        t.kv("a"),
        t.kv("missing"),
        format!("{}?recurse", t.kv("")),
        format!("{}?keys", t.kv("")),
        format!("/v1/session/info/{s}"),
        "/v1/session/list".to_owned(),
        format!("/v1/session/node/{}", t.node),
    ] {
        let r = t.get(&path).await;
        assert!(r.status == 200 || r.status == 404, "{path}: {r:?}");
        assert_meta(&r);
    }
}

/// Item 9: `X-Consul-Effective-Consistency` only on health (and catalog).
#[tokio::test]
async fn i09_effective_consistency() {
    let t = Target::new().await;
    let s = t.session("").await;
    for path in [t.kv("missing"), format!("/v1/session/info/{s}")] {
        let r = t.get(&path).await;
        assert_eq!(r.header("x-consul-effective-consistency"), None, "{path}");
    }
    let svc = t.svc("x");
    for (query, expect) in [
        ("", "leader"),
        ("?stale", "stale"),
        ("?consistent", "consistent"),
    ] {
        // consul-api.md §4.4: catalog reads carry it too.
        for endpoint in ["health", "catalog"] {
            let r = t.get(&format!("/v1/{endpoint}/service/{svc}{query}")).await;
            assert_eq!(r.status, 200);
            assert_eq!(
                r.header("x-consul-effective-consistency"),
                Some(expect),
                "{endpoint} {query}"
            );
        }
    }
}

/// Item 10: the three token transports are accepted (with ACLs off the
/// token is ignored; with `CONSUL_HTTP_TOKEN` that token is used).
#[tokio::test]
async fn i10_token_transports() {
    let t = Target::new().await;
    let token = t.token_or_dummy();
    let path = t.kv("tok");
    t.put(&path, "v").await.assert_bool(true);
    let via_query = t
        .send(t.request_bare("GET", &format!("{path}?token={token}")))
        .await;
    let via_header = t
        .send(
            t.request_bare("GET", &path)
                .header("X-Consul-Token", &token),
        )
        .await;
    let via_bearer = t
        .send(
            t.request_bare("GET", &path)
                .header("Authorization", format!("Bearer {token}")),
        )
        .await;
    for r in [via_query, via_header, via_bearer] {
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()[0]["Value"], "dg==");
    }
}
