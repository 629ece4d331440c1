//! The test target (dev server or real agent), raw HTTP helpers and
//! condition waits.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use consuela_devserver::{DevServer, DevServerConfig};
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::time::Instant;

/// `LockFlagValue` of the Go client's `api.Lock`.
pub(crate) const LOCK_FLAG: u64 = 3_304_740_253_564_472_344;
/// `SemaphoreFlagValue` of the Go client's `api.Semaphore`.
pub(crate) const SEMAPHORE_FLAG: u64 = 16_210_313_421_097_356_768;

/// Bound on any single HTTP request, blocking ones included (the longest
/// blocking wait in the suite is 30 s and must return much earlier).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);

/// Where a test runs and the time scale it runs at.
#[derive(Debug)]
pub(crate) struct Target {
    /// `http://host:port`, no trailing slash.
    pub(crate) base: String,
    /// `true` against a real agent (`CONSUL_HTTP_ADDR`).
    pub(crate) real: bool,
    /// The agent's `Config.NodeName`.
    pub(crate) node: String,
    /// Unique per test: `conformance/<pid>-<n>-<random>/`.
    pub(crate) prefix: String,
    /// Unique per test, usable in service and check names.
    pub(crate) uniq: String,
    token: Option<String>,
    client: reqwest::Client,
    sessions: Mutex<Vec<String>>,
    services: Mutex<Vec<String>>,
    // Dropped with the target; dropping cancels the server's tasks.
    _server: Option<DevServer>,
}

/// Response of one request.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    /// The body as JSON (`Null` if it is not JSON).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as (lossy) text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value, if present and ASCII.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `X-Consul-Index`, panicking when it is absent.
    pub(crate) fn index(&self) -> u64 {
        self.header("x-consul-index")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no X-Consul-Index: {self:?}"))
    }

    /// Asserts status 200 with body `true` (or `false` for `expect = false`);
    /// pretty-printed (`true\n`, 1.0.8) and compact bodies are both accepted.
    #[track_caller]
    pub(crate) fn assert_bool(&self, expect: bool) {
        assert_eq!(self.status, 200, "{}", self.text());
        assert_eq!(self.json(), Value::Bool(expect), "body {:?}", self.text());
    }

    /// Asserts `status` and that the text body contains `needle`.
    #[track_caller]
    pub(crate) fn assert_err(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "body {:?}", self.text());
        assert!(
            self.text().contains(needle),
            "expected {needle:?} in {:?}",
            self.text()
        );
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn real_addr() -> Option<String> {
    let addr = std::env::var("CONSUL_HTTP_ADDR").ok()?;
    let addr = addr.trim().trim_end_matches('/');
    if addr.is_empty() {
        return None;
    }
    Some(if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    })
}

/// Dev-server settings for time-based items: TTLs down to 100 ms, checks
/// every 10 ms, Consul's 2× TTL multiplier kept so the TTL…2×TTL window is
/// what gets tested.
pub(crate) fn fast_config() -> DevServerConfig {
    let mut config = DevServerConfig::default();
    config.session_ttl_min = Duration::from_millis(100);
    config.check_interval_min = Duration::from_millis(10);
    config
}

impl Target {
    /// A target with the default Consul settings (10 s TTL floor).
    pub(crate) async fn new() -> Self {
        Self::with_config(DevServerConfig::default()).await
    }

    /// A target for time-based items (see [`fast_config`]).
    pub(crate) async fn fast() -> Self {
        Self::with_config(fast_config()).await
    }

    /// A dev server with `config`, or the real agent (which ignores it).
    pub(crate) async fn with_config(config: DevServerConfig) -> Self {
        let (base, real, server) = match real_addr() {
            Some(base) => (base, true, None),
            None => {
                let server = DevServer::bind(config, "127.0.0.1:0".parse().unwrap())
                    .await
                    .expect("bind dev server");
                (server.url(), false, Some(server))
            }
        };
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let uniq = format!("{}-{n}-{:08x}", std::process::id(), rand::random::<u32>());
        let mut t = Self {
            base,
            real,
            node: String::new(),
            prefix: format!("conformance/{uniq}/"),
            uniq,
            token: std::env::var("CONSUL_HTTP_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            client: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .unwrap(),
            sessions: Mutex::new(Vec::new()),
            services: Mutex::new(Vec::new()),
            _server: server,
        };
        let r = t.get("/v1/agent/self").await;
        assert_eq!(r.status, 200, "agent/self: {}", r.text());
        t.node = r.json()["Config"]["NodeName"]
            .as_str()
            .expect("Config.NodeName")
            .to_owned();
        t
    }

    /// A session TTL for expiry tests: `10s` (the honest floor) against a
    /// real agent, `500ms` against the dev server.
    pub(crate) fn ttl(&self) -> (Duration, &'static str) {
        if self.real {
            (Duration::from_secs(10), "10s")
        } else {
            (Duration::from_millis(500), "500ms")
        }
    }

    /// A TTL for agent TTL checks: 2 s (item 50) or 500 ms.
    pub(crate) fn check_ttl(&self) -> (Duration, &'static str) {
        if self.real {
            (Duration::from_secs(2), "2s")
        } else {
            (Duration::from_millis(500), "500ms")
        }
    }

    /// A blocking `wait` that is expected to run out: 2 s or 500 ms.
    pub(crate) fn short_wait(&self) -> (Duration, &'static str) {
        if self.real {
            (Duration::from_secs(2), "2s")
        } else {
            (Duration::from_millis(500), "500ms")
        }
    }

    /// `<prefix><name>`, a key private to this test.
    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// `/v1/kv/<prefix><name>`.
    pub(crate) fn kv(&self, name: &str) -> String {
        format!("/v1/kv/{}", self.key(name))
    }

    /// A service ID/name private to this test.
    pub(crate) fn svc(&self, name: &str) -> String {
        format!("{name}-{}", self.uniq)
    }

    /// A request with the configured token (if any) attached.
    pub(crate) fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let rb = self.request_bare(method, path);
        match &self.token {
            Some(token) => rb.header("X-Consul-Token", token),
            None => rb,
        }
    }

    /// A request without any token.
    pub(crate) fn request_bare(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.client.request(m, format!("{}{path}", self.base))
    }

    /// The configured token, or a dummy one (ACLs off ignore it).
    pub(crate) fn token_or_dummy(&self) -> String {
        self.token
            .clone()
            .unwrap_or_else(|| "conformance-dummy-token".to_owned())
    }

    /// Sends a prepared request.
    pub(crate) async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let r = rb.send().await.expect("request failed");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.expect("read body").to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Any method, with a body (sent with Content-Length).
    pub(crate) async fn call(&self, method: &str, path: &str, body: impl Into<String>) -> Resp {
        self.send(self.request(method, path).body(body.into()))
            .await
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str) -> Resp {
        self.send(self.request("GET", path)).await
    }

    /// `PUT path` with `body`.
    pub(crate) async fn put(&self, path: &str, body: impl Into<String>) -> Resp {
        self.call("PUT", path, body).await
    }

    /// `DELETE path`.
    pub(crate) async fn delete(&self, path: &str) -> Resp {
        self.send(self.request("DELETE", path)).await
    }

    /// Creates a session from `body` (`""` = no body), asserting success;
    /// it is destroyed when the target is dropped.
    pub(crate) async fn session(&self, body: &str) -> String {
        let r = self.put("/v1/session/create", body).await;
        assert_eq!(r.status, 200, "session create {body}: {}", r.text());
        let id = r.json()["ID"].as_str().expect("ID").to_owned();
        self.sessions.lock().unwrap().push(id.clone());
        id
    }

    /// Destroys session `id` when the target is dropped (real agent).
    pub(crate) fn destroy_on_drop(&self, id: &str) {
        self.sessions.lock().unwrap().push(id.to_owned());
    }

    /// `GET /v1/session/info/<id>` as JSON, asserting 200.
    pub(crate) async fn session_info(&self, id: &str) -> Value {
        let r = self.get(&format!("/v1/session/info/{id}")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// Whether `/v1/session/info/<id>` lists the session.
    pub(crate) async fn session_alive(&self, id: &str) -> bool {
        self.session_info(id)
            .await
            .as_array()
            .is_some_and(|a| !a.is_empty())
    }

    /// The single KV entry of `key` (full key), or `None` on 404.
    pub(crate) async fn entry(&self, key: &str) -> Option<Value> {
        let r = self.get(&format!("/v1/kv/{key}")).await;
        match r.status {
            404 => None,
            200 => Some(r.json()[0].clone()),
            s => panic!("GET {key}: {s} {}", r.text()),
        }
    }

    /// `PUT /v1/kv/<key>?acquire=<s>` (full key) → the boolean answer.
    pub(crate) async fn acquire(&self, key: &str, session: &str, body: &str) -> bool {
        let r = self
            .put(&format!("/v1/kv/{key}?acquire={session}"), body)
            .await;
        assert_eq!(r.status, 200, "acquire {key}: {}", r.text());
        r.json().as_bool().expect("bool body")
    }

    /// `PUT /v1/kv/<key>?release=<s>` (full key) → the boolean answer.
    pub(crate) async fn release(&self, key: &str, session: &str, body: &str) -> bool {
        let r = self
            .put(&format!("/v1/kv/{key}?release={session}"), body)
            .await;
        assert_eq!(r.status, 200, "release {key}: {}", r.text());
        r.json().as_bool().expect("bool body")
    }

    /// `PUT /v1/session/destroy/<id>`, asserting `true`.
    pub(crate) async fn destroy(&self, id: &str) {
        self.put(&format!("/v1/session/destroy/{id}"), "")
            .await
            .assert_bool(true);
    }

    /// Registers a service (JSON body), asserting 200; it is deregistered
    /// when the target is dropped.
    pub(crate) async fn register(&self, id: &str, body: &Value) {
        let r = self
            .put("/v1/agent/service/register", body.to_string())
            .await;
        assert_eq!(r.status, 200, "register {body}: {}", r.text());
        self.services.lock().unwrap().push(id.to_owned());
    }

    /// Deregisters service `id` when the target is dropped (real agent).
    pub(crate) fn deregister_on_drop(&self, id: &str) {
        self.services.lock().unwrap().push(id.to_owned());
    }

    /// Creates a session bound to `checks`, retrying while a real agent's
    /// anti-entropy has not synced the check to the catalog yet
    /// (consul-api.md §5.2 "Propagation").
    pub(crate) async fn session_bound(&self, body: &Value) -> String {
        let body = body.to_string();
        let id = wait_for("the check reaches the catalog", secs(10), || async {
            let r = self.put("/v1/session/create", body.clone()).await;
            match r.status {
                200 => Some(r.json()["ID"].as_str().unwrap().to_owned()),
                500 if r.text().contains("Missing check") => None,
                s => panic!("session create {body}: {s} {}", r.text()),
            }
        })
        .await;
        self.sessions.lock().unwrap().push(id.clone());
        id
    }

    /// The health entries of `service` (`query` appended verbatim).
    pub(crate) async fn health(&self, service: &str, query: &str) -> Vec<Value> {
        let r = self
            .get(&format!("/v1/health/service/{service}{query}"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json().as_array().cloned().expect("array")
    }
}

impl Drop for Target {
    /// Against a real agent, removes what the test left behind (also after a
    /// failure): the key prefix, the sessions, the services.
    fn drop(&mut self) {
        if !self.real {
            return;
        }
        let base = self.base.clone();
        let token = self.token.clone();
        let prefix = self.prefix.clone();
        let sessions = std::mem::take(&mut *self.sessions.lock().unwrap());
        let services = std::mem::take(&mut *self.services.lock().unwrap());
        // A fresh thread and runtime: Drop may run inside (or outside) the
        // test's runtime, which cannot be blocked on from within.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let send = |method: reqwest::Method, path: String| {
                    let mut rb = client.request(method, format!("{base}{path}"));
                    if let Some(t) = &token {
                        rb = rb.header("X-Consul-Token", t);
                    }
                    async move {
                        let _ = rb.send().await;
                    }
                };
                for s in sessions {
                    send(reqwest::Method::PUT, format!("/v1/session/destroy/{s}")).await;
                }
                for s in services {
                    send(
                        reqwest::Method::PUT,
                        format!("/v1/agent/service/deregister/{s}"),
                    )
                    .await;
                }
                send(reqwest::Method::DELETE, format!("/v1/kv/{prefix}?recurse")).await;
            });
        });
        let _ = cleanup.join();
    }
}

/// `Duration::from_secs`.
pub(crate) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `Duration::from_millis`.
pub(crate) fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// Polls `f` every 20 ms until it yields `Some`; panics naming `what` after
/// `timeout`.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        tokio::time::sleep(ms(20)).await;
    }
}

/// [`wait_for`] with a boolean condition.
pub(crate) async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, timeout, || {
        let fut = f();
        async move { fut.await.then_some(()) }
    })
    .await;
}

/// Runs `block` (a blocking request) and, after giving it a moment to reach
/// the server, `action`. Returns the blocking response and how long after
/// the *start* of `action` it came back. The pause only makes the test
/// exercise the wake-up path: if `action` won the race, the blocking request
/// returns at once with the new index, which passes the same assertions.
pub(crate) async fn block_then<B, A, T>(block: B, action: A) -> (Resp, T, Duration)
where
    B: Future<Output = Resp>,
    A: Future<Output = T>,
{
    let block = async {
        let r = block.await;
        (r, Instant::now())
    };
    let act = async {
        tokio::time::sleep(ms(150)).await;
        let start = Instant::now();
        (action.await, start)
    };
    let ((resp, done), (out, start)) = tokio::join!(block, act);
    (resp, out, done.saturating_duration_since(start))
}
