//! Handler tests: the router called with `oneshot`, no socket.

use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use proptest::prelude::*;
use tower::ServiceExt as _;

use crate::{DevServerConfig, ServerState, router};

struct Resp {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

async fn send(state: &ServerState, method: &str, uri: &str, body: impl Into<Body>) -> Resp {
    send_with(state, Request::builder().method(method).uri(uri), body).await
}

async fn send_with(
    state: &ServerState,
    builder: http::request::Builder,
    body: impl Into<Body>,
) -> Resp {
    let req = builder.body(body.into()).expect("request");
    let resp = router(state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body")
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

fn quick_config() -> DevServerConfig {
    DevServerConfig {
        default_query_time: Duration::from_millis(20),
        max_query_time: Duration::from_millis(50),
        ..DevServerConfig::fast().with_extra_nodes(["consul0", "consul1"])
    }
}

async fn session(state: &ServerState, body: &str) -> String {
    let r = send(state, "PUT", "/v1/session/create", body.to_owned()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["ID"].as_str().expect("ID").to_owned()
}

#[tokio::test]
async fn unknown_paths_wrong_methods_and_redirects() {
    let st = ServerState::new(quick_config());
    let r = send(&st, "GET", "/v1/nope", Body::empty()).await;
    assert_eq!(
        (r.status, r.body.len(), r.header("content-type")),
        (StatusCode::NOT_FOUND, 0, None)
    );
    let r = send(&st, "GET", "/v1/session/create", Body::empty()).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), Some("OPTIONS,PUT"));
    assert_eq!(r.text(), "method GET not allowed");
    let r = send(&st, "OPTIONS", "/v1/kv/x", Body::empty()).await;
    assert_eq!(
        (r.status, r.header("allow")),
        (StatusCode::OK, Some("OPTIONS,GET,PUT,DELETE"))
    );
    let r = send(&st, "GET", "/v1/kv/a/../b", Body::empty()).await;
    assert_eq!(
        (r.status, r.header("location")),
        (StatusCode::MOVED_PERMANENTLY, Some("/v1/kv/b"))
    );
    assert_eq!(r.text(), "<a href=\"/v1/kv/b\">Moved Permanently</a>.\n\n");
    let r = send(&st, "PUT", "/v1/kv/a//b", "x").await;
    assert_eq!((r.status, r.body.len()), (StatusCode::MOVED_PERMANENTLY, 0));
    let r = send(&st, "PUT", "/v1/kv/a%2F%2Fb", "x").await;
    assert_eq!(r.header("location"), Some("/v1/kv/a/b"));
    let r = send(&st, "GET", "/", Body::empty()).await;
    assert_eq!(r.header("location"), Some("/ui/"));
    let r = send(&st, "GET", "/v1/kv", Body::empty()).await;
    assert_eq!(r.header("location"), Some("/v1/kv/"));
    let r = send(&st, "GET", "/v1/kv/%zz", Body::empty()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// A request body in chunks that counts how many bytes the server pulled.
struct CountingBody {
    chunks: Vec<bytes::Bytes>,
    pulled: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl hyper::body::Body for CountingBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        if self.chunks.is_empty() {
            return std::task::Poll::Ready(None);
        }
        let chunk = self.chunks.remove(0);
        self.pulled
            .fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))))
    }
}

/// An oversized body is drained before the 413, as Go's server does: a
/// server that closes the connection on unread data makes the kernel reset
/// it, and clients lose the 413 (seen as `IncompleteMessage` in the
/// conformance suite's item 70).
#[tokio::test]
async fn oversized_bodies_are_drained_before_413() {
    let st = ServerState::new(quick_config());
    for (uri, limit) in [("/v1/kv/big", 512 * 1024), ("/v1/txn", 512 * 1024)] {
        let chunks: Vec<bytes::Bytes> = (0..9)
            .map(|_| bytes::Bytes::from(vec![b'x'; 64 * 1024]))
            .collect();
        let total = chunks.iter().map(bytes::Bytes::len).sum::<usize>();
        assert!(total > limit);
        let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let body = Body::new(CountingBody {
            chunks,
            pulled: pulled.clone(),
        });
        let builder = Request::builder()
            .method("PUT")
            .uri(uri)
            .header("content-length", total.to_string());
        let r = send_with(&st, builder, body).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{uri}");
        assert_eq!(
            pulled.load(std::sync::atomic::Ordering::Relaxed),
            total,
            "{uri}: body not drained"
        );
    }
}

#[tokio::test]
async fn kv_error_surface() {
    let st = ServerState::new(quick_config());
    let r = send(&st, "PUT", "/v1/kv/", "x").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (StatusCode::BAD_REQUEST, "Missing key name")
    );
    let r = send(&st, "PUT", "/v1/kv/k?flags=abc", "x").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        r.text(),
        "strconv.ParseUint: parsing \"abc\": invalid syntax"
    );
    let r = send(&st, "PUT", "/v1/kv/k?flags=18446744073709551616", "x").await;
    assert!(r.text().ends_with("value out of range"));
    let r = send(&st, "PUT", "/v1/kv/k?cas=1&acquire=x", "x").await;
    assert_eq!(r.text(), "Conflicting flags: acquire=x&cas=1");
    let big = vec![b'x'; 512 * 1024 + 1];
    let r = send(&st, "PUT", "/v1/kv/big", big).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "Value exceeds 524288 byte limit"
        )
    );
    let r = send(&st, "GET", "/v1/kv/k?stale&consistent", Body::empty()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = send(&st, "GET", "/v1/kv/k?index=abc", Body::empty()).await;
    assert_eq!(r.text(), "Invalid index");
    let r = send(&st, "GET", "/v1/kv/k?wait=10", Body::empty()).await;
    assert_eq!(r.text(), "Invalid wait time");
    let r = send(&st, "GET", "/v1/kv/k?dc=nope", Body::empty()).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "No path to datacenter")
    );
    let r = send(&st, "PUT", "/v1/kv/k?acquire=not-a-uuid", "x").await;
    assert_eq!(
        r.text(),
        "failed session lookup: index error: UUID must be 36 characters"
    );
    let r = send(&st, "PUT", "/v1/kv/k?acquire=", "x").await;
    assert_eq!(r.text(), "missing session");
    assert!(st.check_invariants().is_empty());
}

#[tokio::test]
async fn kv_round_trip_headers_and_pretty_json() {
    let st = ServerState::new(quick_config());
    let r = send(&st, "PUT", "/v1/kv/a%20b?flags=42", "hello").await;
    assert_eq!(r.body, b"true\n");
    let r = send(&st, "GET", "/v1/kv/a%20b", Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
    let e = &r.json()[0];
    assert_eq!(
        (e["Key"].as_str(), e["Flags"].as_u64(), e["Value"].as_str()),
        (Some("a b"), Some(42), Some("aGVsbG8="))
    );
    assert_eq!(
        r.header("x-consul-index"),
        e["ModifyIndex"].as_u64().map(|i| i.to_string()).as_deref()
    );
    assert_eq!(r.header("x-consul-knownleader"), Some("true"));
    assert!(r.header("x-consul-effective-consistency").is_none());
    assert!(r.text().starts_with("[\n    {\n        \"LockIndex\": 0,"));
    let r = send(&st, "GET", "/v1/kv/a%20b?raw", Body::empty()).await;
    assert_eq!(
        (r.body.as_slice(), r.header("content-type")),
        (&b"hello"[..], Some("text/plain; charset=utf-8"))
    );
    let r = send(&st, "GET", "/v1/catalog/nodes", Body::empty()).await;
    assert_eq!(r.header("x-consul-effective-consistency"), Some("leader"));
    assert_eq!(r.json().as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn session_and_txn_error_surface() {
    let st = ServerState::new(quick_config());
    let r = send_with(
        &st,
        Request::builder()
            .method("PUT")
            .uri("/v1/session/create")
            .header("content-length", "4"),
        "{bad",
    )
    .await;
    assert_eq!(
        r.text(),
        "Request decode failed: invalid character 'b' looking for beginning of object key string"
    );
    let r = send(&st, "PUT", "/v1/session/create", r#"{"TTL":"5ms"}"#).await;
    assert_eq!(
        r.text(),
        "Invalid Session TTL '5000000', must be between [100ms=24h0m0s]"
    );
    let r = send(
        &st,
        "PUT",
        "/v1/session/create",
        r#"{"Node":"consul1","Checks":["nope"]}"#,
    )
    .await;
    assert_eq!(r.text(), "Missing check 'nope' registration");
    let sid = session(&st, r#"{"Node":"consul0","TTL":"10s"}"#).await;
    let r = send(&st, "GET", "/v1/session/node/consul0", Body::empty()).await;
    assert_eq!(r.json()[0]["ID"].as_str(), Some(sid.as_str()));
    let r = send(&st, "PUT", "/v1/txn", "").await;
    assert_eq!(r.text(), "Failed to parse body: EOF");
    let r = send(
        &st,
        "PUT",
        "/v1/txn",
        r#"[{"KV":{"Verb":"set","Key":"k","Value":"!!"}}]"#,
    )
    .await;
    assert_eq!(
        r.text(),
        "Failed to parse body: failed to decode value: illegal base64 data at input byte 0"
    );
    let ops: Vec<String> = (0..65)
        .map(|i| format!(r#"{{"KV":{{"Verb":"get","Key":"k{i}"}}}}"#))
        .collect();
    let r = send(&st, "PUT", "/v1/txn", format!("[{}]", ops.join(","))).await;
    assert_eq!(
        r.text(),
        "Transaction contains too many operations (65 > 64)"
    );
    let body = format!(
        r#"[{{"KV":{{"Verb":"lock","Key":"l","Session":"{sid}"}}}},{{"KV":{{"Verb":"bogus","Key":"x"}}}}]"#
    );
    let r = send(&st, "PUT", "/v1/txn", body).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["Errors"][0]["What"], "unknown KV verb \"bogus\"");
    let r = send(&st, "GET", "/v1/kv/l", Body::empty()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "rolled back");
    assert!(st.check_invariants().is_empty());
}

#[tokio::test]
async fn lock_delay_in_txn_and_http() {
    let st = ServerState::new(quick_config());
    let s1 = session(&st, r#"{"LockDelay":"30s"}"#).await;
    let s2 = session(&st, "{}").await;
    assert_eq!(
        send(&st, "PUT", &format!("/v1/kv/l?acquire={s1}"), "v")
            .await
            .body,
        b"true\n"
    );
    assert_eq!(
        send(&st, "PUT", &format!("/v1/session/destroy/{s1}"), "")
            .await
            .body,
        b"true\n"
    );
    assert_eq!(
        send(&st, "PUT", &format!("/v1/kv/l?acquire={s2}"), "v")
            .await
            .body,
        b"false\n"
    );
    let body = format!(r#"[{{"KV":{{"Verb":"lock","Key":"l","Session":"{s2}"}}}}]"#);
    let r = send(&st, "PUT", "/v1/txn", body).await;
    assert_eq!(
        r.json()["Errors"][0]["What"],
        "failed to lock key \"l\" due to lock delay"
    );
    // Plain writes are not delayed.
    assert_eq!(send(&st, "PUT", "/v1/kv/l", "plain").await.body, b"true\n");
}

#[tokio::test]
async fn acl_mode() {
    let st = ServerState::new(quick_config().with_acl_token("root-secret"));
    let r = send(&st, "GET", "/v1/kv/k", Body::empty()).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (StatusCode::FORBIDDEN, "Permission denied")
    );
    let r = send(&st, "GET", "/v1/kv/k?token=wrong", Body::empty()).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (StatusCode::FORBIDDEN, "ACL not found")
    );
    let r = send(&st, "GET", "/v1/kv/k?token=root-secret", Body::empty()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send_with(
        &st,
        Request::builder()
            .uri("/v1/kv/k")
            .header("X-Consul-Token", "root-secret"),
        Body::empty(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send_with(
        &st,
        Request::builder()
            .uri("/v1/kv/k")
            .header("Authorization", "bearer root-secret"),
        Body::empty(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(&st, "GET", "/v1/status/leader", Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn dev_endpoints() {
    let st = ServerState::new(quick_config());
    assert_eq!(
        send(&st, "PUT", "/_dev/fault/no-leader?count=2", "")
            .await
            .status,
        StatusCode::OK
    );
    for _ in 0..2 {
        let r = send(&st, "GET", "/v1/catalog/nodes", Body::empty()).await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, "No cluster leader")
        );
    }
    assert_eq!(
        send(&st, "GET", "/v1/catalog/nodes", Body::empty())
            .await
            .status,
        StatusCode::OK
    );
    send(&st, "PUT", "/_dev/fault/no-leader", "").await;
    assert_eq!(
        send(&st, "GET", "/v1/agent/self", Body::empty())
            .await
            .status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    send(&st, "DELETE", "/_dev/fault/no-leader", "").await;
    assert_eq!(
        send(&st, "GET", "/v1/agent/self", Body::empty())
            .await
            .status,
        StatusCode::OK
    );
    let sid = session(&st, r#"{"Behavior":"delete","LockDelay":"0s"}"#).await;
    send(&st, "PUT", &format!("/v1/kv/owned?acquire={sid}"), "x").await;
    let r = send(&st, "PUT", &format!("/_dev/session/invalidate/{sid}"), "").await;
    assert_eq!(r.body, b"true\n");
    assert_eq!(
        send(&st, "GET", "/v1/kv/owned", Body::empty()).await.status,
        StatusCode::NOT_FOUND
    );
    send(&st, "PUT", "/_dev/fault/latency?ms=5", "").await;
    send(&st, "PUT", "/_dev/ttl/pause", "").await;
    let dump = send(&st, "GET", "/_dev/state", Body::empty()).await.json();
    assert_eq!(dump["Faults"]["LatencyMs"], 5);
    assert_eq!(dump["TtlPaused"], true);
    send(&st, "PUT", "/_dev/fault/reset", "").await;
    let dump = send(&st, "GET", "/_dev/state", Body::empty()).await.json();
    assert_eq!(
        (
            dump["Faults"]["LatencyMs"].as_u64(),
            dump["TtlPaused"].as_bool()
        ),
        (Some(0), Some(false))
    );
    assert_eq!(
        send(&st, "GET", "/_dev/fault/reset", "").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn agent_registration_errors() {
    let st = ServerState::new(quick_config());
    let r = send(
        &st,
        "PUT",
        "/v1/agent/service/register",
        r#"{"Name":"w","Port":"80"}"#,
    )
    .await;
    assert_eq!(
        r.text(),
        "Request decode failed: 1 error(s) decoding:\n\n* 'Port' expected type 'int', got unconvertible type 'string'"
    );
    let r = send(
        &st,
        "PUT",
        "/v1/agent/service/register",
        r#"{"Name":"w","Check":{"TCP":"127.0.0.1:1"}}"#,
    )
    .await;
    assert_eq!(
        r.text(),
        "Invalid check: Interval must be > 0 for Script, HTTP, or TCP checks"
    );
    let r = send(
        &st,
        "PUT",
        "/v1/agent/check/update/nope",
        r#"{"Status":"bogus"}"#,
    )
    .await;
    assert_eq!(r.text(), "Invalid check status: 'bogus'");
    let r = send(&st, "PUT", "/v1/agent/check/pass/nope", "").await;
    assert_eq!(r.text(), "CheckID \"nope\" does not have associated TTL");
    let r = send(
        &st,
        "GET",
        "/v1/health/service/x?passing=nope",
        Body::empty(),
    )
    .await;
    assert_eq!(r.text(), "Invalid value for ?passing");
}

// ------------------------------------------------------------------ property test

/// A request drawn by proptest. Sessions are referred to by position in the
/// list of sessions created so far, so locks actually get exercised.
#[derive(Debug, Clone)]
enum Sess {
    Created(usize),
    Raw(String),
}

#[derive(Debug, Clone)]
struct RandReq {
    method: &'static str,
    endpoint: u8,
    key: String,
    params: Vec<(String, Option<Sess>)>,
    body: Vec<u8>,
}

fn key_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-c]{1,3}(/[a-c]{1,2}){0,2}",
        1 => Just("a/../b".to_owned()),
        1 => Just("a//b".to_owned()),
        1 => Just("x%2Fy".to_owned()),
        1 => Just("%2F%2Fz".to_owned()),
        1 => Just("ключ-🔑".to_owned()),
        1 => Just(".".to_owned()),
        1 => Just(String::new()),
        1 => "[ -~]{0,12}",
        1 => Just("k".repeat(4096)),
    ]
}

fn sess_strategy() -> impl Strategy<Value = Sess> {
    prop_oneof![
        4 => (0usize..4).prop_map(Sess::Created),
        1 => Just(Sess::Raw(String::new())),
        1 => Just(Sess::Raw("not-a-uuid".to_owned())),
        1 => Just(Sess::Raw("00000000-0000-0000-0000-000000000000".to_owned())),
    ]
}

fn param_strategy() -> impl Strategy<Value = (String, Option<Sess>)> {
    prop_oneof![
        Just(("recurse".to_owned(), None)),
        Just(("keys".to_owned(), None)),
        Just(("raw".to_owned(), None)),
        Just(("separator=/".to_owned(), None)),
        Just(("cas=0".to_owned(), None)),
        (1u64..40).prop_map(|i| (format!("cas={i}"), None)),
        (1u64..40).prop_map(|i| (format!("index={i}"), None)),
        Just(("wait=1ms".to_owned(), None)),
        Just(("flags=7".to_owned(), None)),
        Just(("flags=-1".to_owned(), None)),
        Just(("stale".to_owned(), None)),
        Just(("dc=nope".to_owned(), None)),
        Just(("enable=true".to_owned(), None)),
        Just(("enable=false".to_owned(), None)),
        Just(("node=(".to_owned(), None)),
        Just(("service=w&tag=a".to_owned(), None)),
        Just(("name=k".to_owned(), None)),
        sess_strategy().prop_map(|s| ("acquire".to_owned(), Some(s))),
        sess_strategy().prop_map(|s| ("release".to_owned(), Some(s))),
        "[a-z%=&]{0,8}".prop_map(|s| (s, None)),
    ]
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        "[ -~]{0,20}".prop_map(String::into_bytes),
        Just(br#"{"TTL":"1s","Behavior":"delete","LockDelay":"50ms"}"#.to_vec()),
        Just(br#"{"Name":5}"#.to_vec()),
        Just(br#"[{"KV":{"Verb":"set","Key":"a","Value":"dg=="}},{"KV":{"Verb":"delete-tree","Key":"a"}}]"#.to_vec()),
        Just(br#"[{"KV":{"Verb":"cas","Key":"b","Index":3}},{"KV":{"Verb":"get","Key":"zz"}}]"#.to_vec()),
        Just(br#"[{"KV":{"Verb":"delete-tree","Key":""}}]"#.to_vec()),
        Just(br#"{"Node":"ext","Address":"10.0.0.1","Service":{"Service":"web","Tags":["a"]},"Check":{"Name":"c","Status":"passing","ServiceID":"web"}}"#.to_vec()),
        Just(br#"{"Node":"ext","Address":"10.0.0.1","Check":{"CheckID":"c2","ServiceID":"nope"}}"#.to_vec()),
        Just(br#"{"Node":"ext","ServiceID":"web"}"#.to_vec()),
        Just(br#"{"Node":"ext"}"#.to_vec()),
        Just(br#"{"Node":"ext","Address":"1.2.3.4","ID":"bogus","Checks":[null,5]}"#.to_vec()),
        Just(br#"{"Node":"consul0","Address":"1.2.3.4","Check":{"Name":"x","Status":"critical"}}"#.to_vec()),
        Just(br#"{"CleanupDeadServers":false,"LastContactThreshold":"1x"}"#.to_vec()),
        Just(br#"{"Node":"consul0","Coord":{"Vec":[0,0,0,0,0,0,0,0],"Error":1.5,"Height":0.1}}"#.to_vec()),
        Just(br#"{"Name":"k","Service":{"Service":"web","Tags":["!a"]},"DNS":{"TTL":"x"}}"#.to_vec()),
        Just(br#"{"Name":"","Template":{"Type":"name_prefix_match","Regexp":"("},"Service":{"Service":"${match(1)}"}}"#.to_vec()),
        proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

fn request_strategy() -> impl Strategy<Value = RandReq> {
    (
        prop_oneof![
            Just("GET"),
            Just("PUT"),
            Just("PUT"),
            Just("DELETE"),
            Just("POST"),
            Just("OPTIONS")
        ],
        0u8..27,
        key_strategy(),
        proptest::collection::vec(param_strategy(), 0..3),
        body_strategy(),
    )
        .prop_map(|(method, endpoint, key, params, body)| RandReq {
            method,
            endpoint,
            key,
            params,
            body,
        })
}

fn encode_key(k: &str) -> String {
    let mut out = String::new();
    for c in k.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '/' | '.' | '-' | '_' | '%' | '+' => out.push(c),
            c => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    // A literal '%' not followed by two hex digits makes an invalid URI; keep
    // such keys as they are: the server must answer 400, not panic.
    out
}

async fn run_random(reqs: Vec<RandReq>) -> Result<(), TestCaseError> {
    let st = ServerState::new(quick_config());
    let mut sessions: Vec<String> = Vec::new();
    let mut last_index = 0;
    for r in reqs {
        let key = encode_key(&r.key);
        let path = match r.endpoint {
            0..=4 => format!("/v1/kv/{key}"),
            5 => "/v1/txn".to_owned(),
            6 => "/v1/session/create".to_owned(),
            7 => format!(
                "/v1/session/destroy/{}",
                sessions.first().cloned().unwrap_or_default()
            ),
            8 => format!("/v1/session/renew/{key}"),
            9 => format!("/v1/session/info/{key}"),
            10 => "/v1/agent/service/register".to_owned(),
            11 => format!("/v1/health/service/{key}"),
            12 | 13 => "/v1/catalog/register".to_owned(),
            14 => "/v1/catalog/deregister".to_owned(),
            15 => format!("/v1/catalog/node/{key}"),
            16 => format!("/v1/event/fire/{key}"),
            17 => "/v1/event/list".to_owned(),
            18 => "/v1/agent/maintenance".to_owned(),
            19 => format!("/v1/agent/service/maintenance/{key}"),
            20 => "/v1/operator/autopilot/configuration".to_owned(),
            21 => "/v1/coordinate/update".to_owned(),
            22 => format!("/v1/coordinate/node/{key}"),
            23 => "/v1/agent/members".to_owned(),
            24 => "/v1/query".to_owned(),
            25 => format!("/v1/query/{key}"),
            _ => format!("/v1/query/{key}/execute"),
        };
        let query: Vec<String> = r
            .params
            .iter()
            .map(|(p, s)| match s {
                None => p.clone(),
                Some(Sess::Created(i)) => {
                    format!(
                        "{p}={}",
                        sessions
                            .get(*i % sessions.len().max(1))
                            .cloned()
                            .unwrap_or_default()
                    )
                }
                Some(Sess::Raw(s)) => format!("{p}={s}"),
            })
            .collect();
        let uri = if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.join("&"))
        };
        let Ok(builder) =
            http::Uri::try_from(uri.as_str()).map(|u| Request::builder().method(r.method).uri(u))
        else {
            continue;
        };
        let resp = send_with(&st, builder, r.body.clone()).await;
        prop_assert!(
            resp.status.is_success()
                || resp.status.is_redirection()
                || resp.status.is_client_error()
                || resp.status == StatusCode::INTERNAL_SERVER_ERROR,
            "unexpected status {} for {} {}",
            resp.status,
            r.method,
            uri
        );
        if resp.status.is_server_error()
            || (resp.status.is_client_error() && resp.status != StatusCode::NOT_FOUND)
        {
            // Consul-shaped: a text body, or empty (HEAD-like/OPTIONS).
            let ct = resp
                .header("content-type")
                .unwrap_or("text/plain; charset=utf-8");
            prop_assert!(
                ct.starts_with("text/plain") || ct == "application/json",
                "content-type {ct}"
            );
        }
        if uri.starts_with("/v1/session/create")
            && resp.status == StatusCode::OK
            && let Some(id) = resp.json()["ID"].as_str()
        {
            sessions.push(id.to_owned());
        }
        let bad = st.check_invariants();
        prop_assert!(bad.is_empty(), "after {} {}: {:?}", r.method, uri, bad);
        let idx = st.current_index();
        prop_assert!(idx >= last_index, "index went backwards");
        last_index = idx;
    }
    // Expire everything that can expire, then check again.
    for s in &sessions {
        st.invalidate_session(&consuela_wire::SessionId::from(s.as_str()));
    }
    let bad = st.check_invariants();
    prop_assert!(bad.is_empty(), "after invalidating all: {:?}", bad);
    st.shutdown().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn random_requests_keep_state_consistent(reqs in proptest::collection::vec(request_strategy(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(run_random(reqs))?;
    }
}

/// A leader election: a follower refuses what needs the leader, no session
/// expires meanwhile, and the new leader restarts every TTL timer.
#[tokio::test(start_paused = true)]
async fn an_election_refuses_leader_requests_and_restarts_session_timers() {
    let config = quick_config();
    let expiry = Duration::from_secs(1).mul_f64(config.session_ttl_multiplier);
    let st = ServerState::new(config);
    let sid = session(&st, r#"{"TTL":"1s","Behavior":"delete"}"#).await;
    let alive = |st: ServerState| {
        let info = format!("/v1/session/info/{sid}?stale");
        async move { send(&st, "GET", &info, Body::empty()).await.json()[0]["ID"].is_string() }
    };
    let r = send(&st, "PUT", "/_dev/fault/election?duration=3s", "").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(&st, "PUT", "/v1/kv/x", "v").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "No cluster leader")
    );
    let r = send(&st, "GET", "/v1/kv/x", Body::empty()).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let r = send(&st, "GET", "/v1/kv/x?stale", Body::empty()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(&st, "GET", "/v1/agent/self", Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        send(&st, "GET", "/v1/status/leader", Body::empty())
            .await
            .json(),
        ""
    );
    // Far past the session's expiry: no leader, so no timer fires.
    tokio::time::sleep(Duration::from_millis(2900)).await;
    assert!(
        alive(st.clone()).await,
        "a session expired without a leader"
    );
    // The new leader: writes again, and the session's timer starts afresh.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = send(&st, "PUT", "/v1/kv/x", "v").await;
    assert_eq!(r.status, StatusCode::OK);
    tokio::time::sleep(expiry - Duration::from_millis(200)).await;
    assert!(alive(st.clone()).await, "expired before TTL x multiplier");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!alive(st.clone()).await, "the restarted timer never fired");
    let r = send(&st, "PUT", "/_dev/fault/election?duration=soon", "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn txn_flags_keep_the_whole_u64_range() {
    // The Go semaphore's `SemaphoreFlagValue` exceeds `i64::MAX`; a CAS in a
    // transaction must store it exactly, as a `PUT ?flags=` does.
    let st = ServerState::new(quick_config());
    let body = r#"[{"KV":{"Verb":"cas","Key":"s/.lock","Value":"e30=","Flags":16210313421097356768,"Index":0}}]"#;
    let r = send(&st, "PUT", "/v1/txn", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = send(&st, "GET", "/v1/kv/s/.lock", Body::empty()).await;
    assert_eq!(
        r.json()[0]["Flags"].as_u64(),
        Some(16_210_313_421_097_356_768)
    );
}
