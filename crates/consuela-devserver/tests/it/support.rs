use std::future::Future;
use std::time::Duration;

use consuela_devserver::{DevServer, DevServerConfig};
use serde_json::Value;

pub(crate) async fn server(config: DevServerConfig) -> DevServer {
    DevServer::bind(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind")
}

pub(crate) async fn fast_server() -> DevServer {
    server(DevServerConfig::fast().with_extra_nodes(["consul0", "consul1", "consul2"])).await
}

#[derive(Debug, Clone)]
pub(crate) struct Http {
    pub(crate) base: String,
    client: reqwest::Client,
}

#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) index: Option<u64>,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Http {
    pub(crate) fn new(server: &DevServer) -> Self {
        Self {
            base: server.url(),
            client: reqwest::Client::new(),
        }
    }

    /// Builds the request at once, so the returned future borrows only `self`.
    pub(crate) fn call<'a, B: Into<reqwest::Body>>(
        &'a self,
        method: &str,
        path: &str,
        body: B,
    ) -> impl Future<Output = Resp> + use<'a, B> {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let req = self
            .client
            .request(m, format!("{}{path}", self.base))
            .body(body);
        async move {
            let r = req.send().await.expect("send");
            let status = r.status().as_u16();
            let index = r
                .headers()
                .get("x-consul-index")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let body = r.bytes().await.expect("body").to_vec();
            Resp {
                status,
                index,
                body,
            }
        }
    }

    pub(crate) fn get<'a>(&'a self, path: &str) -> impl Future<Output = Resp> + use<'a> {
        self.call("GET", path, "")
    }

    pub(crate) fn put<'a, B: Into<reqwest::Body>>(
        &'a self,
        path: &str,
        body: B,
    ) -> impl Future<Output = Resp> + use<'a, B> {
        self.call("PUT", path, body)
    }

    pub(crate) async fn session(&self, body: &str) -> String {
        let r = self.put("/v1/session/create", body.to_owned()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["ID"].as_str().unwrap().to_owned()
    }
}

/// Polls `cond` every 10 ms until it holds; panics with `what` after `timeout`.
pub(crate) async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(crate) const LONG: Duration = Duration::from_secs(10);
