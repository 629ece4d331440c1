use crate::support::{Http, LONG, fast_server, wait_until};

async fn check_status(h: &Http, id: &str) -> String {
    h.get("/v1/agent/checks").await.json()[id]["Status"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn ttl_check_expiry_invalidates_bound_sessions() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let r = h
        .put(
            "/v1/agent/service/register",
            r#"{"ID":"web1","Name":"web","Check":{"TTL":"300ms","Status":"passing"}}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let s = h
        .session(r#"{"Checks":["serfHealth","service:web1"]}"#)
        .await;
    assert_eq!(
        h.put(&format!("/v1/kv/bound?acquire={s}"), "x")
            .await
            .text(),
        "true\n"
    );
    h.put("/v1/agent/check/pass/service:web1?note=ok", "").await;
    wait_until("the TTL check expires", LONG, || async {
        check_status(&h, "service:web1").await == "critical"
    })
    .await;
    let checks = h.get("/v1/agent/checks").await.json();
    assert_eq!(
        checks["service:web1"]["Output"],
        "TTL expired (last output before timeout follows): ok"
    );
    wait_until("the session is invalidated", LONG, || async {
        h.get(&format!("/v1/session/info/{s}")).await.text() == "[]\n"
    })
    .await;
    assert!(
        h.get("/v1/kv/bound").await.json()[0]
            .get("Session")
            .is_none()
    );
    let r = h.get("/v1/health/service/web?passing").await;
    assert_eq!(r.json(), serde_json::json!([]));
    srv.shutdown().await;
}

#[tokio::test]
async fn tcp_check_dials_its_address() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        loop {
            let _ = listener.accept().await;
        }
    });
    let body =
        format!(r#"{{"Name":"db","Check":{{"TCP":"{addr}","Interval":"20ms","Timeout":"1s"}}}}"#);
    assert_eq!(h.put("/v1/agent/service/register", body).await.status, 200);
    wait_until("the TCP check passes", LONG, || async {
        check_status(&h, "service:db").await == "passing"
    })
    .await;
    let out = h.get("/v1/agent/checks").await.json()["service:db"]["Output"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(out, format!("TCP connect {addr}: Success"));
    accept.abort();
    let _ = accept.await;
    wait_until("the TCP check fails", LONG, || async {
        check_status(&h, "service:db").await == "critical"
    })
    .await;
    srv.shutdown().await;
}

#[tokio::test]
async fn deregistering_a_check_invalidates_sessions() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    h.put(
        "/v1/agent/check/register",
        r#"{"ID":"c1","Name":"c1","TTL":"30s","Status":"passing"}"#,
    )
    .await;
    let s = h
        .session(r#"{"NodeChecks":[],"ServiceChecks":[{"ID":"c1"}]}"#)
        .await;
    assert_eq!(
        h.get(&format!("/v1/session/info/{s}")).await.json()[0]["Checks"],
        serde_json::json!(["c1"])
    );
    h.put("/v1/agent/check/warn/c1", "").await;
    assert_eq!(
        h.get(&format!("/v1/session/info/{s}")).await.json()[0]["ID"],
        s.as_str(),
        "warning keeps it"
    );
    h.put("/v1/agent/check/deregister/c1", "").await;
    assert_eq!(h.get(&format!("/v1/session/info/{s}")).await.text(), "[]\n");
    srv.shutdown().await;
}

#[tokio::test]
async fn http_check_reads_the_status_line() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = fast_server().await;
    let h = Http::new(&srv);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let status = std::sync::Arc::new(std::sync::Mutex::new("200 OK"));
    let answer = status.clone();
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let line = *answer.lock().unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(format!("HTTP/1.0 {line}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            });
        }
    });
    let body =
        format!(r#"{{"ID":"c-http","Name":"h","HTTP":"http://{addr}/health","Interval":"20ms"}}"#);
    assert_eq!(h.put("/v1/agent/check/register", body).await.status, 200);
    wait_until("the HTTP check passes", LONG, || async {
        check_status(&h, "c-http").await == "passing"
    })
    .await;
    *status.lock().unwrap() = "429 Too Many Requests";
    wait_until("the HTTP check warns", LONG, || async {
        check_status(&h, "c-http").await == "warning"
    })
    .await;
    *status.lock().unwrap() = "503 Service Unavailable";
    wait_until("the HTTP check fails", LONG, || async {
        check_status(&h, "c-http").await == "critical"
    })
    .await;
    server.abort();
    srv.shutdown().await;
}

#[tokio::test]
async fn script_checks_run_only_when_enabled() {
    let off = fast_server().await;
    let h = Http::new(&off);
    let body = r#"{"Name":"s","Args":["sh","-c","echo hi; exit 1"],"Interval":"50ms"}"#;
    let r = h.put("/v1/agent/check/register", body).await;
    assert_eq!(
        (r.status, r.text()),
        (
            500,
            "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' to true"
                .to_owned()
        )
    );
    off.shutdown().await;
    let mut config = consuela_devserver::DevServerConfig::fast();
    config.enable_script_checks = true;
    let on = crate::support::server(config).await;
    let h = Http::new(&on);
    assert_eq!(h.put("/v1/agent/check/register", body).await.status, 200);
    wait_until(
        "the script's exit 1 makes the check warning",
        LONG,
        || async { check_status(&h, "s").await == "warning" },
    )
    .await;
    assert_eq!(
        h.get("/v1/agent/checks").await.json()["s"]["Output"],
        "hi\n"
    );
    on.shutdown().await;
}

#[tokio::test]
async fn http_checks_follow_redirects_like_go() {
    let srv = fast_server().await;
    let h = Http::new(&srv);
    // The agent's own root redirects to /ui/, which a dev agent serves.
    let body = format!(
        r#"{{"Name":"root","HTTP":"{}/","Interval":"50ms"}}"#,
        srv.url()
    );
    assert_eq!(h.put("/v1/agent/check/register", body).await.status, 200);
    wait_until("the check passes after the redirect", LONG, || async {
        check_status(&h, "root").await == "passing"
    })
    .await;
    let output = h.get("/v1/agent/checks").await.json()["root"]["Output"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        output.starts_with(&format!("HTTP GET {}/: 200 OK Output: ", srv.url())),
        "{output}"
    );
    srv.shutdown().await;
}
