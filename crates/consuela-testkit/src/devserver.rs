//! Where integration tests send requests: an in-process dev server or a real Consul.

use std::net::SocketAddr;

use consuela_devserver::{DevServer, DevServerConfig};

/// Starts an in-process dev server with the default config on `127.0.0.1:0`.
///
/// # Panics
///
/// When the server cannot start: a test cannot proceed without it.
pub async fn spawn_devserver() -> DevServer {
    spawn_devserver_with(DevServerConfig::default()).await
}

/// Starts an in-process dev server with `config` on `127.0.0.1:0`.
///
/// # Panics
///
/// When the server cannot start.
pub async fn spawn_devserver_with(config: DevServerConfig) -> DevServer {
    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    DevServer::bind(config, addr)
        .await
        .unwrap_or_else(|error| panic!("cannot start the dev server: {error}"))
}

/// The Consul an integration test talks to.
///
/// With `CONSUL_HTTP_ADDR` set it is that agent (token from `CONSUL_HTTP_TOKEN`); otherwise a
/// fresh in-process dev server, kept alive as long as this value.
#[derive(Debug)]
pub struct ConsulTarget {
    /// Base URL, e.g. `http://127.0.0.1:8500`.
    pub url: String,
    /// ACL token to send, if any.
    pub token: Option<String>,
    /// The in-process server, when there is one.
    pub devserver: Option<DevServer>,
}

impl ConsulTarget {
    /// Whether the target is a real Consul agent (so dev-server fault hooks are unavailable).
    pub fn is_real(&self) -> bool {
        self.devserver.is_none()
    }

    /// The TCP address behind [`url`](Self::url), for a [`FaultProxy`](crate::FaultProxy).
    ///
    /// # Panics
    ///
    /// When the URL has no resolvable `host:port`.
    pub fn socket_addr(&self) -> SocketAddr {
        if let Some(server) = &self.devserver {
            return server.local_addr();
        }
        let authority = self
            .url
            .split("://")
            .nth(1)
            .unwrap_or(&self.url)
            .split('/')
            .next()
            .unwrap_or_default();
        std::net::ToSocketAddrs::to_socket_addrs(authority)
            .ok()
            .and_then(|mut addrs| addrs.next())
            .unwrap_or_else(|| panic!("cannot resolve {authority:?} from {}", self.url))
    }

    /// A client configuration for this target: the URL and token, and for a real Consul
    /// every other `CONSUL_*` variable too (CA, client certificate, server name, basic auth,
    /// Enterprise namespace), so the suites also run against an agent that requires TLS.
    ///
    /// # Panics
    ///
    /// When a `CONSUL_*` variable is malformed.
    pub fn client_config(&self) -> consuela_client::ClientConfig {
        let mut config = if self.is_real() {
            consuela_client::ClientConfig::from_env()
                .unwrap_or_else(|error| panic!("invalid CONSUL_* variables: {error}"))
        } else {
            consuela_client::ClientConfig::default()
        };
        config.address.clone_from(&self.url);
        config.token = self.token.clone().map(Into::into);
        config.token_file = None;
        config
    }

    /// Stops the in-process server, if any.
    pub async fn shutdown(self) {
        if let Some(server) = self.devserver {
            server.shutdown().await;
        }
    }
}

/// The target for this test: a real Consul when `CONSUL_HTTP_ADDR` is set, else a new dev
/// server (default config) on `127.0.0.1:0`.
///
/// # Panics
///
/// When the dev server cannot start.
pub async fn consul_target() -> ConsulTarget {
    let nonempty = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    };
    if nonempty("CONSUL_HTTP_ADDR").is_some() {
        // As Consul's CLI reads it (CONSUL_HTTP_SSL, unix:// sockets).
        let url = consuela_client::ClientConfig::from_env()
            .unwrap_or_else(|error| panic!("invalid CONSUL_* variables: {error}"))
            .address;
        return ConsulTarget {
            url,
            token: nonempty("CONSUL_HTTP_TOKEN"),
            devserver: None,
        };
    }
    let server = spawn_devserver().await;
    ConsulTarget {
        url: server.url(),
        token: None,
        devserver: Some(server),
    }
}
