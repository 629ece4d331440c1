//! §7 items 11–36: session create/info/list/renew/destroy, TTL expiry and
//! blocking session reads.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::{Target, block_then, ms, secs, wait_until};

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `[]`, `null` or absent.
fn empty_list(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

async fn create_err(t: &Target, body: &str, status: u16, needle: &str) {
    t.put("/v1/session/create", body)
        .await
        .assert_err(status, needle);
}

async fn info1(t: &Target, id: &str) -> Value {
    let v = t.session_info(id).await;
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    v[0].clone()
}

/// Items 11 and 12: create without body, the defaults.
#[tokio::test]
async fn i11_i12_create_defaults() {
    let t = Target::new().await;
    let r = t.put("/v1/session/create", "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["ID"].as_str().unwrap().to_owned();
    assert!(is_uuid(&id), "{id}");
    t.destroy_on_drop(&id);
    let s = info1(&t, &id).await;
    assert_eq!(s["ID"], id.as_str());
    assert_eq!(s["Node"], t.node.as_str());
    assert_eq!(s["LockDelay"], 15_000_000_000u64);
    assert_eq!(s["Behavior"], "release");
    assert_eq!(s["TTL"], "");
    assert_eq!(s["CreateIndex"], s["ModifyIndex"]);
    // Newer agents: `NodeChecks: ["serfHealth"]` and no `Checks`. Consul
    // 1.0.8 (and the dev server) predate `NodeChecks` and report the same
    // effective set as `Checks: ["serfHealth"]`.
    let serf = json!(["serfHealth"]);
    let new_shape = s.get("NodeChecks") == Some(&serf) && s.get("Checks").is_none();
    let old_shape = s.get("Checks") == Some(&serf) && s.get("NodeChecks").is_none();
    assert!(new_shape || old_shape, "{s}");
}

/// Item 13: explicit fields are echoed.
#[tokio::test]
async fn i13_create_full() {
    let t = Target::new().await;
    let id = t
        .session(r#"{"Name":"n","TTL":"10s","Behavior":"delete","LockDelay":"5s"}"#)
        .await;
    let s = info1(&t, &id).await;
    assert_eq!(s["TTL"], "10s");
    assert_eq!(s["LockDelay"], 5_000_000_000u64);
    assert_eq!(s["Behavior"], "delete");
    assert_eq!(s["Name"], "n");
}

/// Item 14: numeric and string lock-delays.
#[tokio::test]
async fn i14_lock_delay_forms() {
    let t = Target::new().await;
    for (given, stored) in [
        ("5", 5_000_000_000u64),
        ("15000000000", 15_000_000_000),
        ("\"0s\"", 0),
    ] {
        let id = t.session(&format!(r#"{{"LockDelay":{given}}}"#)).await;
        assert_eq!(info1(&t, &id).await["LockDelay"], stored, "{given}");
    }
}

/// Item 15: keys match case-insensitively.
#[tokio::test]
async fn i15_lower_case_keys() {
    let t = Target::new().await;
    let id = t.session(r#"{"ttl":"10s","behavior":"delete"}"#).await;
    let s = info1(&t, &id).await;
    assert_eq!(s["TTL"], "10s");
    assert_eq!(s["Behavior"], "delete");
}

/// Item 16: the TTL window [10s, 24h], both ends inclusive.
#[tokio::test]
async fn i16_ttl_bounds() {
    let t = Target::new().await;
    create_err(&t, r#"{"TTL":"9s"}"#, 500, "Invalid Session TTL").await;
    create_err(&t, r#"{"TTL":"86401s"}"#, 500, "Invalid Session TTL").await;
    for ttl in ["10s", "24h"] {
        let id = t.session(&format!(r#"{{"TTL":"{ttl}"}}"#)).await;
        assert_eq!(info1(&t, &id).await["TTL"], ttl);
    }
}

/// Item 17: unparsable TTL; `"0s"` means no TTL, so such a session outlives
/// a TTL session created with it.
#[tokio::test]
async fn i17_ttl_invalid_and_zero() {
    let t = Target::fast().await;
    create_err(&t, r#"{"TTL":"abc"}"#, 500, "Session TTL 'abc' invalid").await;
    let zero = t.session(r#"{"TTL":"0s"}"#).await;
    assert_eq!(info1(&t, &zero).await["TTL"], "0s");
    let (ttl, ttl_s) = t.ttl();
    let short = t.session(&format!(r#"{{"TTL":"{ttl_s}"}}"#)).await;
    wait_until("the TTL session expires", ttl * 2 + secs(5), || async {
        !t.session_alive(&short).await
    })
    .await;
    assert!(t.session_alive(&zero).await, "a TTL of 0s must not expire");
}

/// Item 18.
#[tokio::test]
async fn i18_bad_behavior() {
    let t = Target::new().await;
    create_err(
        &t,
        r#"{"Behavior":"foo"}"#,
        500,
        "Invalid Behavior setting 'foo'",
    )
    .await;
}

/// Item 19.
#[tokio::test]
async fn i19_unknown_node() {
    let t = Target::new().await;
    let body = json!({"Node": format!("no-such-node-{}", t.uniq)}).to_string();
    create_err(&t, &body, 500, "Missing node registration").await;
}

/// Item 20.
#[tokio::test]
async fn i20_unknown_check() {
    let t = Target::new().await;
    let check = format!("no-such-check-{}", t.uniq);
    let body = json!({"Checks": [check]}).to_string();
    create_err(
        &t,
        &body,
        500,
        &format!("Missing check '{check}' registration"),
    )
    .await;
}

/// Item 21: a check in `critical` (the initial status of a TTL check
/// registered without `Status`) cannot back a session.
#[tokio::test]
async fn i21_critical_check() {
    let t = Target::new().await;
    let svc = t.svc("crit");
    t.register(
        &svc,
        &json!({"ID": svc, "Name": svc, "Check": {"TTL": "30s"}}),
    )
    .await;
    let body = json!({"Checks": ["serfHealth", format!("service:{svc}")]}).to_string();
    // A real agent syncs the check to the catalog asynchronously: until then
    // the answer is `Missing check`.
    let text = crate::support::wait_for("the check reaches the catalog", secs(10), || async {
        let r = t.put("/v1/session/create", body.clone()).await;
        assert_eq!(r.status, 500, "{}", r.text());
        let text = r.text();
        (!text.contains("Missing check")).then_some(text)
    })
    .await;
    assert!(text.contains("is in critical state"), "{text}");
}

/// Item 22: `Checks: []` gives a session without any health check.
#[tokio::test]
async fn i22_no_checks() {
    let t = Target::new().await;
    let id = t.session(r#"{"Checks":[]}"#).await;
    let s = info1(&t, &id).await;
    assert!(empty_list(s.get("NodeChecks")), "{s}");
    assert!(empty_list(s.get("Checks")), "{s}");
    assert!(empty_list(s.get("ServiceChecks")), "{s}");
}

/// Item 23: invalid JSON.
#[tokio::test]
async fn i23_invalid_json() {
    let t = Target::new().await;
    let r = t.put("/v1/session/create", "{").await;
    assert_eq!(r.status, 400);
    assert!(
        r.text().starts_with("Request decode failed:"),
        "{}",
        r.text()
    );
}

/// Item 24: info of an unknown session is an empty list.
#[tokio::test]
async fn i24_info_unknown() {
    let t = Target::new().await;
    let r = t
        .get(&format!("/v1/session/info/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!([]));
    assert!(r.index() >= 1);
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s["ID"].as_str().unwrap().to_owned())
        .collect()
}

/// Item 25: list is `[]` when empty, then lists every session. (A shared
/// real agent may hold other sessions: there only "contains" is checked.)
#[tokio::test]
async fn i25_list() {
    let t = Target::new().await;
    let r = t.get("/v1/session/list").await;
    assert_eq!(r.status, 200);
    if t.real {
        assert!(r.json().is_array(), "{}", r.text());
    } else {
        assert_eq!(r.json(), json!([]));
    }
    let a = t.session("").await;
    let b = t.session("").await;
    let listed = ids(&t.get("/v1/session/list").await.json());
    assert!(listed.contains(&a) && listed.contains(&b), "{listed:?}");
}

/// Item 26: sessions by node.
#[tokio::test]
async fn i26_node_sessions() {
    let t = Target::new().await;
    let a = t.session("").await;
    let r = t.get(&format!("/v1/session/node/{}", t.node)).await;
    assert_eq!(r.status, 200);
    assert!(ids(&r.json()).contains(&a));
    let r = t
        .get(&format!("/v1/session/node/no-such-node-{}", t.uniq))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!([]));
}

/// Item 27: renew answers the unchanged session.
#[tokio::test]
async fn i27_renew() {
    let t = Target::new().await;
    let id = t.session(r#"{"TTL":"30s","Name":"r"}"#).await;
    let before = info1(&t, &id).await;
    let r = t.put(&format!("/v1/session/renew/{id}"), "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!([before]));
}

/// Item 28.
#[tokio::test]
async fn i28_renew_unknown() {
    let t = Target::new().await;
    let id = uuid::Uuid::new_v4().to_string();
    let r = t.put(&format!("/v1/session/renew/{id}"), "").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text().trim_end(), format!("Session id '{id}' not found"));
}

/// Item 29: destroy is idempotent.
#[tokio::test]
async fn i29_destroy() {
    let t = Target::new().await;
    let id = t.session("").await;
    t.destroy(&id).await;
    assert_eq!(t.session_info(&id).await, json!([]));
    t.destroy(&id).await;
}

/// Item 30: empty ids.
#[tokio::test]
async fn i30_empty_ids() {
    let t = Target::new().await;
    t.put("/v1/session/destroy/", "")
        .await
        .assert_err(400, "Missing session");
    t.get("/v1/session/node/")
        .await
        .assert_err(400, "Missing node name");
}

/// Item 31: renewing a session without TTL is a no-op.
#[tokio::test]
async fn i31_renew_without_ttl() {
    let t = Target::new().await;
    let id = t.session("").await;
    let r = t.put(&format!("/v1/session/renew/{id}"), "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(t.session_alive(&id).await);
}

/// Watches `id` until it disappears; asserts it is still there at
/// `alive_until` and gone by `gone_by` (both measured from `t0`).
async fn expect_expiry(
    t: &Target,
    id: &str,
    t0: Instant,
    alive_until: Duration,
    gone_by: Duration,
) {
    while t0.elapsed() < alive_until {
        assert!(
            t.session_alive(id).await,
            "session expired after {:?}, before {alive_until:?}",
            t0.elapsed()
        );
        tokio::time::sleep(ms(20)).await;
    }
    wait_until(
        "the session expires",
        gone_by.saturating_sub(t0.elapsed()),
        || async { !t.session_alive(id).await },
    )
    .await;
}

/// Item 32 [T]: an unrenewed session lives at least TTL, at most ≈2×TTL.
#[tokio::test]
async fn i32_ttl_expiry() {
    let t = Target::fast().await;
    let (ttl, ttl_s) = t.ttl();
    let t0 = Instant::now();
    let id = t.session(&format!(r#"{{"TTL":"{ttl_s}"}}"#)).await;
    // Slack on top of 2.1×TTL for a loaded machine (and Raft on a real agent).
    expect_expiry(&t, &id, t0, ttl * 21 / 20, ttl * 21 / 10 + secs(1)).await;
}

/// Item 33 [T]: renewing every TTL/2 keeps a session for 3×TTL; once the
/// renewals stop it expires within 2.1×TTL (but not within TTL).
#[tokio::test]
async fn i33_ttl_renewed() {
    let t = Target::fast().await;
    let (ttl, ttl_s) = t.ttl();
    let t0 = Instant::now();
    let id = t.session(&format!(r#"{{"TTL":"{ttl_s}"}}"#)).await;
    let mut last_renew = t0;
    while t0.elapsed() < ttl * 3 {
        tokio::time::sleep(ttl / 2).await;
        last_renew = Instant::now();
        let r = t.put(&format!("/v1/session/renew/{id}"), "").await;
        assert_eq!(
            r.status,
            200,
            "renew after {:?}: {}",
            t0.elapsed(),
            r.text()
        );
        assert_eq!(r.json()[0]["TTL"], ttl_s);
    }
    expect_expiry(&t, &id, last_renew, ttl, ttl * 21 / 10 + secs(1)).await;
}

/// Item 34 [T]: renew after expiry → 404.
#[tokio::test]
async fn i34_renew_after_expiry() {
    let t = Target::fast().await;
    let (ttl, ttl_s) = t.ttl();
    let id = t.session(&format!(r#"{{"TTL":"{ttl_s}"}}"#)).await;
    wait_until("the session expires", ttl * 2 + secs(5), || async {
        !t.session_alive(&id).await
    })
    .await;
    let r = t.put(&format!("/v1/session/renew/{id}"), "").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text().trim_end(), format!("Session id '{id}' not found"));
}

/// Item 35: a blocking info query returns promptly on destroy.
#[tokio::test]
async fn i35_blocking_info_wakes_on_destroy() {
    let t = Target::new().await;
    let id = t.session("").await;
    let path = format!("/v1/session/info/{id}");
    let idx = t.get(&path).await.index();
    // The index is the sessions table's: on a shared agent another client's
    // create can end the wait first, so re-block (as a client would) until
    // the answer is `[]`.
    let block = async {
        let mut i = idx;
        let deadline = Instant::now() + secs(40);
        loop {
            assert!(Instant::now() < deadline, "the destroy never showed");
            let r = t.get(&format!("{path}?index={i}&wait=30s")).await;
            assert_eq!(r.status, 200);
            if r.json() == json!([]) {
                return r;
            }
            i = r.index();
        }
    };
    let (r, (), took) = block_then(block, t.destroy(&id)).await;
    assert!(took < secs(1), "took {took:?}");
    assert!(r.index() > idx);
}

/// Item 36: a blocking list query returns promptly on create.
#[tokio::test]
async fn i36_blocking_list_wakes_on_create() {
    let t = Target::new().await;
    let idx = t.get("/v1/session/list").await.index();
    let (r, id, took) = block_then(
        t.get(&format!("/v1/session/list?index={idx}&wait=30s")),
        t.session(""),
    )
    .await;
    assert!(took < secs(1), "took {took:?}");
    assert_eq!(r.status, 200);
    assert!(r.index() > idx);
    // On a busy real agent the wake-up may be someone else's create.
    if !t.real {
        assert!(ids(&r.json()).contains(&id));
    }
}
