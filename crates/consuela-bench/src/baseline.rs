//! The baseline: the registry's HTTP requests made with a bare HTTP client,
//! configured like consuela-client's transport, so that the difference to the
//! registry is the registry's (and its client's) overhead.
//!
//! The bare client is `reqwest` by default, the usual way to make these
//! requests from Rust; `--baseline-client hyper` makes them with hyper-util's
//! pooled client, the stack consuela-client itself sends through, so that the
//! ratio is then the registry's own overhead alone.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use reqwest::{Method, StatusCode};

use super::args::BaselineClient;

/// A bare HTTP client with its own Consul session.
#[derive(Debug, Clone)]
pub(super) struct Bare {
    http: Http,
    url: String,
    session: String,
}

/// The HTTP client a [`Bare`] sends with.
#[derive(Debug, Clone)]
enum Http {
    Reqwest(reqwest::Client),
    Hyper(HyperClient<HttpConnector, Full<Bytes>>),
}

impl Http {
    /// Sends one request and reads the whole answer.
    async fn send(
        &self,
        method: Method,
        url: String,
        body: Bytes,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        match self {
            Self::Reqwest(client) => {
                let response = client.request(method, url).body(body).send().await?;
                let status = response.status();
                Ok((status, response.bytes().await?))
            }
            Self::Hyper(client) => {
                let mut request = hyper::Request::new(Full::new(body));
                *request.method_mut() = method;
                *request.uri_mut() = url.parse()?;
                let response = client.request(request).await?;
                let status = response.status();
                Ok((status, response.into_body().collect().await?.to_bytes()))
            }
        }
    }
}

impl Bare {
    /// A client of kind `client` with `pool` idle connections kept (as the
    /// registry's client is configured in the same run) and a fresh session
    /// on `nodename`, created like the registry's (Behavior delete, no checks).
    pub(super) async fn connect(
        url: &str,
        nodename: &str,
        pool: usize,
        client: BaselineClient,
    ) -> anyhow::Result<Self> {
        // The settings of consuela-client's HTTP transport.
        let http = match client {
            BaselineClient::Reqwest => Http::Reqwest(
                reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .pool_max_idle_per_host(pool)
                    .pool_idle_timeout(Duration::from_secs(30))
                    .redirect(reqwest::redirect::Policy::none())
                    .tcp_nodelay(true)
                    .build()?,
            ),
            BaselineClient::Hyper => {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                connector.set_connect_timeout(Some(Duration::from_secs(5)));
                Http::Hyper(
                    HyperClient::builder(TokioExecutor::new())
                        .pool_max_idle_per_host(pool)
                        .pool_idle_timeout(Duration::from_secs(30))
                        .pool_timer(TokioTimer::new())
                        .build(connector),
                )
            }
        };
        let body = serde_json::json!({
            "Name": "consuela-bench-baseline",
            "Node": nodename,
            // Longer than any run, so it needs no keeper.
            "TTL": "600s",
            "LockDelay": "10s",
            "Behavior": "delete",
            "Checks": [],
        });
        let (status, created) = http
            .send(
                Method::PUT,
                format!("{url}/v1/session/create"),
                Bytes::from(body.to_string()),
            )
            .await?;
        anyhow::ensure!(status.is_success(), "session create: {status}");
        let created: serde_json::Value = serde_json::from_slice(&created)?;
        let session = created["ID"]
            .as_str()
            .context("session create: no ID")?
            .to_owned();
        Ok(Self {
            http,
            url: url.to_owned(),
            session,
        })
    }

    /// How reports name this client's rows.
    pub(super) fn label(&self) -> &'static str {
        match self.http {
            Http::Reqwest(_) => "baseline",
            Http::Hyper(_) => "baseline-hyper",
        }
    }

    /// `PUT /v1/txn` with one `lock` op carrying a record-like JSON value;
    /// returns the key's new `ModifyIndex`.
    pub(super) async fn lock(&self, key: &str, rid: u64) -> anyhow::Result<u64> {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let value = format!(
            r#"{{"v":1,"member":"baseline","rid":"{rid}","address":"127.0.0.1:7000","since":"{since}"}}"#
        );
        let body = format!(
            r#"[{{"KV":{{"Verb":"lock","Key":"{key}","Value":"{}","Session":"{}"}}}}]"#,
            base64(value.as_bytes()),
            self.session
        );
        let (status, bytes) = self
            .http
            .send(
                Method::PUT,
                format!("{}/v1/txn", self.url),
                Bytes::from(body),
            )
            .await?;
        anyhow::ensure!(
            status.is_success(),
            "txn lock {key}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        let answer: serde_json::Value = serde_json::from_slice(&bytes)?;
        answer["Results"][0]["KV"]["ModifyIndex"]
            .as_u64()
            .context("txn lock: no ModifyIndex")
    }

    /// `DELETE /v1/kv/<key>?cas=<index>`.
    pub(super) async fn delete_cas(&self, key: &str, index: u64) -> anyhow::Result<()> {
        let url = format!("{}/v1/kv/{key}?cas={index}", self.url);
        let (status, body) = self.http.send(Method::DELETE, url, Bytes::new()).await?;
        anyhow::ensure!(
            status.is_success() && body.starts_with(b"true"),
            "delete {key}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        Ok(())
    }

    /// `GET /v1/kv/<key>`, parsed as JSON; whether the key exists.
    pub(super) async fn get(&self, key: &str) -> anyhow::Result<bool> {
        let url = format!("{}/v1/kv/{key}", self.url);
        let (status, body) = self.http.send(Method::GET, url, Bytes::new()).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        anyhow::ensure!(status.is_success(), "get {key}: {status}");
        let entries: serde_json::Value = serde_json::from_slice(&body)?;
        Ok(entries[0]["Value"].is_string())
    }

    /// Destroys the session (its keys are gone already).
    pub(super) async fn close(&self) {
        let url = format!("{}/v1/session/destroy/{}", self.url, self.session);
        let _ = self.http.send(Method::PUT, url, Bytes::new()).await;
    }
}

/// Standard base64 with padding (what Consul expects in txn values).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (raw, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(raw.as_bytes()), encoded);
        }
    }
}
