//! Shared helpers: a target, a client for it, unique key prefixes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use consuela_client::wire::{GoDuration, SessionId, SessionRequest};
use consuela_client::{Client, ClientConfig, DeleteOptions};
use consuela_testkit::{ConsulTarget, consul_target, trace_init};

/// Generous bound for things that should happen within milliseconds.
pub(crate) const SOON: Duration = Duration::from_secs(10);

/// A test's environment: the target, a client and a unique key prefix.
pub(crate) struct Env {
    pub(crate) target: ConsulTarget,
    pub(crate) client: Client,
    pub(crate) prefix: String,
}

impl Env {
    /// A key under this test's prefix.
    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A client with a non-default config against the same target.
    pub(crate) fn client_with(&self, config: ClientConfig) -> Client {
        let mut config = config;
        let target = self.target.client_config();
        config.address = target.address;
        config.token = target.token;
        config.tls = target.tls;
        config.http_auth = target.http_auth;
        Client::new(config).expect("client")
    }

    /// A TTL session without checks, destroyed by [`Env::cleanup`] via its delete behavior.
    pub(crate) async fn session(&self, name: &str) -> SessionId {
        self.client
            .session()
            .create(&session_request(name))
            .await
            .expect("create session")
    }

    /// Deletes this test's keys (matters on a shared real Consul) and stops the dev server.
    pub(crate) async fn cleanup(self) {
        let _ = self
            .client
            .kv()
            .delete(
                &self.prefix,
                DeleteOptions {
                    recurse: true,
                    ..DeleteOptions::default()
                },
            )
            .await;
        self.target.shutdown().await;
    }
}

/// A session request for tests: TTL 30 s, no checks, no lock-delay.
pub(crate) fn session_request(name: &str) -> SessionRequest {
    SessionRequest {
        name: Some(name.to_owned()),
        ttl: Some("30s".to_owned()),
        checks: Some(Vec::new()),
        lock_delay: Some(GoDuration::from_std(Duration::ZERO)),
        ..SessionRequest::default()
    }
}

/// A process-unique suffix, also unique across runs against a shared Consul.
pub(crate) fn unique(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let salt: u32 = rand::random();
    format!("{name}-{}-{n}-{salt:08x}", std::process::id())
}

/// The default environment: [`consul_target`] and a client for it.
pub(crate) async fn env(test: &str) -> Env {
    trace_init();
    let target = consul_target().await;
    let config = target
        .client_config()
        .request_timeout(Duration::from_secs(10));
    let client = Client::new(config).expect("client");
    let prefix = format!("consuela-it/{}/", unique(test));
    Env {
        target,
        client,
        prefix,
    }
}

/// A client for `url` with a short request timeout, for fault tests.
pub(crate) fn client_for(url: &str, token: Option<&str>, timeout: Duration) -> Client {
    let mut config = ClientConfig::new(url)
        .request_timeout(timeout)
        .connect_timeout(Duration::from_secs(2));
    if let Some(token) = token {
        config = config.token(token);
    }
    Client::new(config).expect("client")
}

/// The next successful answer of a watch, skipping errors (which the watch backs off from).
///
/// # Panics
///
/// When none arrives within [`SOON`].
pub(crate) async fn next_ok<T>(
    watch: &mut consuela_client::Watch<T>,
) -> consuela_client::QueryResponse<T> {
    use futures_util::StreamExt as _;
    let mut errors = Vec::new();
    let found = tokio::time::timeout(SOON, async {
        loop {
            match watch.next().await {
                Some(Ok(response)) => return response,
                Some(Err(error)) => errors.push(error.to_string()),
                None => panic!("watch ended"),
            }
        }
    })
    .await;
    match found {
        Ok(response) => response,
        Err(_) => panic!("no answer from the watch within {SOON:?}; errors: {errors:?}"),
    }
}
