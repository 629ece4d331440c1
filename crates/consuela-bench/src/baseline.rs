//! The baseline: the registry's HTTP requests made with a bare `reqwest`
//! client, configured like consuela-client's transport, so that the
//! difference to the registry is the registry's (and its client's) overhead.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

/// A bare HTTP client with its own Consul session.
#[derive(Debug, Clone)]
pub(super) struct Bare {
    http: reqwest::Client,
    url: String,
    session: String,
}

impl Bare {
    /// A client with `pool` idle connections kept (as the registry's client
    /// is configured in the same run) and a fresh session on `nodename`,
    /// created like the registry's (Behavior delete, no checks).
    pub(super) async fn connect(url: &str, nodename: &str, pool: usize) -> anyhow::Result<Self> {
        // The settings of consuela-client's HTTP transport.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(pool)
            .pool_idle_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .build()?;
        let body = serde_json::json!({
            "Name": "consuela-bench-baseline",
            "Node": nodename,
            // Longer than any run, so it needs no keeper.
            "TTL": "600s",
            "LockDelay": "10s",
            "Behavior": "delete",
            "Checks": [],
        });
        let created = http
            .put(format!("{url}/v1/session/create"))
            .body(body.to_string())
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
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
        let response = self
            .http
            .put(format!("{}/v1/txn", self.url))
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
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
        let response = self
            .http
            .delete(format!("{}/v1/kv/{key}?cas={index}", self.url))
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        anyhow::ensure!(
            status.is_success() && body.starts_with(b"true"),
            "delete {key}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        Ok(())
    }

    /// `GET /v1/kv/<key>`, parsed as JSON; whether the key exists.
    pub(super) async fn get(&self, key: &str) -> anyhow::Result<bool> {
        let response = self
            .http
            .get(format!("{}/v1/kv/{key}", self.url))
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        anyhow::ensure!(status.is_success(), "get {key}: {status}");
        let entries: serde_json::Value = serde_json::from_slice(&body)?;
        Ok(entries[0]["Value"].is_string())
    }

    /// Destroys the session (its keys are gone already).
    pub(super) async fn close(&self) {
        let _ = self
            .http
            .put(format!("{}/v1/session/destroy/{}", self.url, self.session))
            .send()
            .await;
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
