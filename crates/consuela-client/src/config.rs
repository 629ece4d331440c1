//! Client configuration.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{ConfigError, Error};
use crate::event::RequestEvent;

/// Default Consul agent address.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:8500";

/// An ACL token secret.
///
/// Its `Debug` output is redacted; read it with [`Token::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl From<&str> for Token {
    fn from(secret: &str) -> Self {
        Self::new(secret)
    }
}

impl From<String> for Token {
    fn from(secret: String) -> Self {
        Self::new(secret)
    }
}

/// TLS settings for `https://` addresses.
///
/// The built-in trust store is the Mozilla root set (webpki roots); add a private CA with
/// [`ca_file`](Self::ca_file) or [`ca_pem`](Self::ca_pem).
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    /// A PEM file with one or more extra trusted CA certificates (`CONSUL_CACERT`).
    pub ca_file: Option<PathBuf>,
    /// PEM bytes with one or more extra trusted CA certificates.
    pub ca_pem: Option<Vec<u8>>,
    /// Accept any server certificate (`CONSUL_HTTP_SSL_VERIFY=false`). Only for tests.
    pub danger_accept_invalid_certs: bool,
}

/// A callback that receives every [`RequestEvent`].
///
/// It runs inline on the task that made the request: keep it cheap and non-blocking.
/// A panic in it propagates to the caller, so it must not panic (the registry isolates
/// the hooks it is given, and fail-stops when one panics).
#[derive(Clone)]
pub struct RequestHook(Arc<dyn Fn(&RequestEvent<'_>) + Send + Sync>);

impl RequestHook {
    /// Wraps a callback.
    pub fn new(hook: impl Fn(&RequestEvent<'_>) + Send + Sync + 'static) -> Self {
        Self(Arc::new(hook))
    }

    /// Calls the callback.
    pub fn call(&self, event: &RequestEvent<'_>) {
        (self.0)(event);
    }
}

impl fmt::Debug for RequestHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestHook(..)")
    }
}

/// Settings for [`Client::new`](crate::Client::new).
///
/// All fields are public and have documented defaults ([`Default`]); the builder-style methods
/// are shortcuts. The library never reads the environment unless asked to through
/// [`ClientConfig::from_env`].
#[derive(Clone)]
pub struct ClientConfig {
    /// Agent address: `http://host:port`, `https://host:port`, or `host:port` (taken as `http`).
    /// Default [`DEFAULT_ADDRESS`].
    pub address: String,
    /// ACL token sent as `X-Consul-Token` on every request. Default none.
    pub token: Option<Token>,
    /// A file holding the ACL token, read once by [`Client::new`](crate::Client::new) (whitespace
    /// trimmed). When set and non-empty it wins over [`token`](Self::token), as in Consul's Go
    /// client. Default none.
    pub token_file: Option<PathBuf>,
    /// Datacenter sent as `?dc=` on catalog, health, KV, session, txn and status requests.
    /// Default none (the agent's own datacenter).
    pub datacenter: Option<String>,
    /// Time allowed to establish a TCP (and TLS) connection. Default 5 s.
    pub connect_timeout: Duration,
    /// Time allowed for a whole non-blocking request, from sending to the last body byte.
    /// Blocking queries get `wait × 17/16` on top of this. Default 10 s.
    pub request_timeout: Duration,
    /// TLS settings. Default: webpki roots, verification on.
    pub tls: TlsConfig,
    /// Idle keep-alive connections kept per host. Default 32.
    pub pool_max_idle: usize,
    /// How long an idle pooled connection is kept. Default 30 s.
    pub pool_idle_timeout: Duration,
    /// At most this many requests in flight at once (so at most this many
    /// connections); a request waits for a slot within its request timeout,
    /// and fails with [`ErrorKind::Busy`](crate::ErrorKind::Busy) (not sent)
    /// if none frees up. Blocking queries hold a slot while they wait.
    /// Default none (no limit).
    pub max_connections: Option<usize>,
    /// Answers with a longer body fail with
    /// [`ErrorKind::TooLarge`](crate::ErrorKind::TooLarge). Default none (no limit).
    pub max_response_size: Option<usize>,
    /// Callback receiving an event for every request. Default none.
    pub on_request: Option<RequestHook>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDRESS.to_owned(),
            token: None,
            token_file: None,
            datacenter: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            tls: TlsConfig::default(),
            pool_max_idle: 32,
            pool_idle_timeout: Duration::from_secs(30),
            max_connections: None,
            max_response_size: None,
            on_request: None,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is summarised, never printed: configs end up in logs.
        f.debug_struct("ClientConfig")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .field("datacenter", &self.datacenter)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("tls", &self.tls)
            .field("pool_max_idle", &self.pool_max_idle)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_response_size", &self.max_response_size)
            .field("on_request", &self.on_request)
            .finish()
    }
}

impl ClientConfig {
    /// Defaults with the given address (`http://host:port`, `https://…` or `host:port`).
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            ..Self::default()
        }
    }

    /// Sets the ACL token.
    #[must_use]
    pub fn token(mut self, token: impl Into<Token>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets the datacenter.
    #[must_use]
    pub fn datacenter(mut self, datacenter: impl Into<String>) -> Self {
        self.datacenter = Some(datacenter.into());
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the request timeout.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Installs a request event hook.
    #[must_use]
    pub fn on_request(mut self, hook: impl Fn(&RequestEvent<'_>) + Send + Sync + 'static) -> Self {
        self.on_request = Some(RequestHook::new(hook));
        self
    }

    /// Reads the standard Consul environment variables of this process.
    ///
    /// See [`from_env_with`](Self::from_env_with) for the variables and rules.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when a variable is malformed.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// Builds a config from Consul's environment variables, looked up through `lookup`.
    ///
    /// - `CONSUL_HTTP_ADDR`: `host:port`, `http://…` or `https://…` (`unix://` is not supported).
    /// - `CONSUL_HTTP_SSL`: a Go boolean; `true` makes a scheme-less address `https`.
    /// - `CONSUL_HTTP_TOKEN`, `CONSUL_HTTP_TOKEN_FILE`: the ACL token (the file wins when both are set).
    /// - `CONSUL_CACERT`: extra trusted CA (PEM file).
    /// - `CONSUL_HTTP_SSL_VERIFY`: a Go boolean; `false` disables certificate verification.
    ///
    /// Unset and empty variables leave the defaults.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when a variable is malformed.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let mut config = Self::default();
        let ssl = match get("CONSUL_HTTP_SSL") {
            Some(value) => parse_go_bool("CONSUL_HTTP_SSL", &value)?,
            None => false,
        };
        if let Some(address) = get("CONSUL_HTTP_ADDR") {
            let address = address.trim();
            config.address = if address.contains("://") {
                address.to_owned()
            } else if ssl {
                format!("https://{address}")
            } else {
                format!("http://{address}")
            };
        } else if ssl {
            config.address = "https://127.0.0.1:8500".to_owned();
        }
        config.token = get("CONSUL_HTTP_TOKEN").map(|token| Token::new(token.trim()));
        config.token_file = get("CONSUL_HTTP_TOKEN_FILE").map(PathBuf::from);
        config.tls.ca_file = get("CONSUL_CACERT").map(PathBuf::from);
        if let Some(value) = get("CONSUL_HTTP_SSL_VERIFY") {
            config.tls.danger_accept_invalid_certs =
                !parse_go_bool("CONSUL_HTTP_SSL_VERIFY", &value)?;
        }
        // Validate the address now so a typo surfaces where the environment was read.
        crate::request::parse_base(&config.address)?;
        Ok(config)
    }
}

fn parse_go_bool(name: &str, value: &str) -> Result<bool, Error> {
    // Go's strconv.ParseBool.
    match value.trim() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(ConfigError::Env {
            name: name.to_owned(),
            value: value.to_owned(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::error::ErrorKind;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn empty_environment_gives_defaults() {
        let config = ClientConfig::from_env_with(env(&[])).unwrap();
        assert_eq!(config.address, DEFAULT_ADDRESS);
        assert!(config.token.is_none());
        assert!(config.token_file.is_none());
        assert!(config.tls.ca_file.is_none());
    }

    #[test]
    fn address_without_scheme_gets_http_or_https() {
        let config =
            ClientConfig::from_env_with(env(&[("CONSUL_HTTP_ADDR", "10.1.2.3:8500")])).unwrap();
        assert_eq!(config.address, "http://10.1.2.3:8500");
        let config = ClientConfig::from_env_with(env(&[
            ("CONSUL_HTTP_ADDR", "consul.local:8501"),
            ("CONSUL_HTTP_SSL", "true"),
        ]))
        .unwrap();
        assert_eq!(config.address, "https://consul.local:8501");
        let config = ClientConfig::from_env_with(env(&[
            ("CONSUL_HTTP_ADDR", "https://consul.local:8501"),
            ("CONSUL_HTTP_SSL", "0"),
        ]))
        .unwrap();
        assert_eq!(config.address, "https://consul.local:8501");
    }

    #[test]
    fn token_file_cacert_and_verify() {
        let config = ClientConfig::from_env_with(env(&[
            ("CONSUL_HTTP_TOKEN", " secret "),
            ("CONSUL_HTTP_TOKEN_FILE", "/run/token"),
            ("CONSUL_CACERT", "/etc/ca.pem"),
            ("CONSUL_HTTP_SSL_VERIFY", "false"),
        ]))
        .unwrap();
        assert_eq!(config.token.as_ref().map(Token::expose), Some("secret"));
        assert_eq!(config.token_file, Some(PathBuf::from("/run/token")));
        assert_eq!(config.tls.ca_file, Some(PathBuf::from("/etc/ca.pem")));
        assert!(config.tls.danger_accept_invalid_certs);
    }

    #[test]
    fn malformed_values_are_config_errors() {
        let error = ClientConfig::from_env_with(env(&[("CONSUL_HTTP_SSL", "yes")])).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        let error =
            ClientConfig::from_env_with(env(&[("CONSUL_HTTP_ADDR", "unix:///tmp/consul.sock")]))
                .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        let error =
            ClientConfig::from_env_with(env(&[("CONSUL_HTTP_ADDR", "http://")])).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let config = ClientConfig::new("http://127.0.0.1:8500")
            .token("s3cr3t-t0k3n")
            .on_request(|_| {});
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cr3t-t0k3n"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(!format!("{:?}", Token::new("s3cr3t-t0k3n")).contains("s3cr3t"));
    }
}
