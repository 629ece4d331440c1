use std::time::Duration;

use crate::support::{Http, LONG, fast_server, wait_until};

#[tokio::test]
async fn ttl_expiry_deletes_keys_and_starts_lock_delay() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let s1 = h
        .session(r#"{"TTL":"200ms","Behavior":"delete","LockDelay":"30s","Checks":[]}"#)
        .await;
    let s2 = h.session("{}").await;
    assert_eq!(
        h.put(&format!("/v1/kv/ttl/a?acquire={s1}"), "x")
            .await
            .text(),
        "true\n"
    );
    wait_until("the session expires", LONG, || async {
        h.get(&format!("/v1/session/info/{s1}")).await.text() == "[]\n"
    })
    .await;
    assert_eq!(
        h.get("/v1/kv/ttl/a").await.status,
        404,
        "Behavior delete removed the key"
    );
    assert_eq!(
        h.put(&format!("/v1/kv/ttl/a?acquire={s2}"), "y")
            .await
            .text(),
        "false\n",
        "lock-delay"
    );
    assert_eq!(
        h.put(&format!("/v1/session/renew/{s1}"), "").await.status,
        404
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn lock_delay_ends() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let s1 = h.session(r#"{"LockDelay":"150ms"}"#).await;
    let s2 = h.session("{}").await;
    h.put(&format!("/v1/kv/ld?acquire={s1}"), "x").await;
    h.put(&format!("/v1/session/destroy/{s1}"), "").await;
    wait_until("the lock-delay ends", LONG, || async {
        h.put(&format!("/v1/kv/ld?acquire={s2}"), "y").await.text() == "true\n"
    })
    .await;
    srv.shutdown().await;
}

#[tokio::test]
async fn renewals_keep_a_session_alive() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let s = h.session(r#"{"TTL":"2s"}"#).await;
    for _ in 0..10 {
        let r = h.put(&format!("/v1/session/renew/{s}"), "").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()[0]["TTL"], "2s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        h.get(&format!("/v1/session/info/{s}")).await.json()[0]["ID"],
        s.as_str()
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn paused_ttls_do_not_expire_until_resumed() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    srv.pause_ttl(true);
    let s = h.session(r#"{"TTL":"100ms"}"#).await;
    wait_until("the session is overdue", LONG, || async {
        srv.state().dump()["Sessions"][0]["ExpiresInMs"] == 0
    })
    .await;
    assert_eq!(
        h.get(&format!("/v1/session/info/{s}")).await.json()[0]["ID"],
        s.as_str()
    );
    srv.pause_ttl(false);
    wait_until("the session expires", LONG, || async {
        h.get(&format!("/v1/session/info/{s}")).await.text() == "[]\n"
    })
    .await;
    srv.shutdown().await;
}

#[tokio::test]
async fn sessions_bind_to_extra_nodes() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let s = h.session(r#"{"Node":"consul2"}"#).await;
    let r = h.get("/v1/session/node/consul2").await;
    assert_eq!(r.json()[0]["ID"], s.as_str());
    assert_eq!(r.json()[0]["Checks"][0], "serfHealth");
    let r = h.put("/v1/session/create", r#"{"Node":"consul9"}"#).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (500, "Missing node registration")
    );
    srv.shutdown().await;
}
