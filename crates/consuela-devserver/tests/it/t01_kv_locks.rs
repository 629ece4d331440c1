use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Http, fast_server};

#[tokio::test]
async fn acquire_release_and_lock_index() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let s1 = h.session("{}").await;
    let s2 = h.session(r#"{"Node":"consul1","Checks":[]}"#).await;
    assert_eq!(
        h.put(&format!("/v1/kv/reg/a?acquire={s1}"), "v1")
            .await
            .text(),
        "true\n"
    );
    assert_eq!(
        h.put(&format!("/v1/kv/reg/a?acquire={s2}"), "v2")
            .await
            .text(),
        "false\n"
    );
    let e = h.get("/v1/kv/reg/a").await.json()[0].clone();
    assert_eq!(
        (e["LockIndex"].as_u64(), e["Session"].as_str()),
        (Some(1), Some(s1.as_str()))
    );
    assert_eq!(
        h.put(&format!("/v1/kv/reg/a?release={s1}"), "v1")
            .await
            .text(),
        "true\n"
    );
    assert_eq!(
        h.put(&format!("/v1/kv/reg/a?acquire={s2}"), "v2")
            .await
            .text(),
        "true\n"
    );
    let e = h.get("/v1/kv/reg/a").await.json()[0].clone();
    assert_eq!(
        (e["LockIndex"].as_u64(), e["Session"].as_str()),
        (Some(2), Some(s2.as_str()))
    );
    // A txn lock returns the fencing ModifyIndex; unregister with DELETE ?cas.
    let body =
        format!(r#"[{{"KV":{{"Verb":"lock","Key":"reg/b","Value":"eA==","Session":"{s1}"}}}}]"#);
    let r = h.put("/v1/txn", body).await;
    let mi = r.json()["Results"][0]["KV"]["ModifyIndex"]
        .as_u64()
        .unwrap();
    assert_eq!(
        h.call("DELETE", &format!("/v1/kv/reg/b?cas={}", mi + 1000), "")
            .await
            .text(),
        "false\n"
    );
    assert_eq!(
        h.call("DELETE", &format!("/v1/kv/reg/b?cas={mi}"), "")
            .await
            .text(),
        "true\n"
    );
    assert!(srv.state().check_invariants().is_empty());
    srv.shutdown().await;
}

#[tokio::test]
async fn concurrent_acquires_have_exactly_one_winner() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let sessions = [
        h.session("{}").await,
        h.session("{}").await,
        h.session("{}").await,
    ];
    for round in 0..20 {
        let mut set = tokio::task::JoinSet::new();
        for s in &sessions {
            let (h, path) = (h.clone(), format!("/v1/kv/race/{round}?acquire={s}"));
            set.spawn(async move { h.put(&path, "x").await.text() == "true\n" });
        }
        let wins = set.join_all().await.into_iter().filter(|w| *w).count();
        assert_eq!(wins, 1, "round {round}");
    }
    srv.shutdown().await;
}

#[tokio::test]
async fn header_names_are_go_canonical() {
    let srv = fast_server().await;
    let mut s = tokio::net::TcpStream::connect(srv.local_addr())
        .await
        .unwrap();
    s.write_all(b"GET /v1/kv/missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    assert!(text.contains("X-Consul-Index: "), "{text}");
    assert!(text.contains("X-Consul-Knownleader: true"), "{text}");
    assert!(text.contains("X-Consul-Lastcontact: 0"), "{text}");
    srv.shutdown().await;
}
