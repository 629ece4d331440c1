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

/// HTTP basic authentication (`CONSUL_HTTP_AUTH=user:password`), for agents behind a
/// reverse proxy that asks for it. Consul itself ignores the header.
///
/// Its `Debug` output shows the username only.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    username: String,
    password: Token,
}

impl BasicAuth {
    /// A username and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: Token::new(password),
        }
    }

    /// Reads `user:password` as Consul's Go client does: split at the first `:`; without
    /// one, the whole text is the username and the password is empty.
    pub fn parse(text: &str) -> Self {
        match text.split_once(':') {
            Some((username, password)) => Self::new(username, password),
            None => Self::new(text, ""),
        }
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password itself. Never log it.
    pub fn expose_password(&self) -> &str {
        self.password.expose()
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// TLS settings for `https://` addresses, with the meaning of Consul's `api.TLSConfig`.
///
/// Without a CA (`ca_file`, `ca_path` or `ca_pem`) the server's certificate is checked
/// against the Mozilla root set (webpki roots); with one, against the given CAs only, as
/// Consul's Go client does. A client certificate (`client_cert` + `client_key`, or their
/// `_pem` forms) is presented when the server asks for one (`verify_incoming`); the key may
/// be PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`) PEM.
///
/// Its `Debug` output never shows a private key.
#[derive(Clone, Default)]
pub struct TlsConfig {
    /// A PEM file with one or more trusted CA certificates (`CONSUL_CACERT`).
    pub ca_file: Option<PathBuf>,
    /// A directory of PEM files with trusted CA certificates, read recursively
    /// (`CONSUL_CAPATH`). Every file in it must hold at least one certificate.
    pub ca_path: Option<PathBuf>,
    /// PEM bytes with one or more trusted CA certificates.
    pub ca_pem: Option<Vec<u8>>,
    /// A PEM file with the client certificate (and any intermediates) (`CONSUL_CLIENT_CERT`).
    pub client_cert: Option<PathBuf>,
    /// A PEM file with the client certificate's private key (`CONSUL_CLIENT_KEY`).
    pub client_key: Option<PathBuf>,
    /// The client certificate as PEM bytes (instead of `client_cert`).
    pub client_cert_pem: Option<Vec<u8>>,
    /// The private key as PEM bytes (instead of `client_key`). Never logged.
    pub client_key_pem: Option<Vec<u8>>,
    /// Check the server's certificate against this name instead of the address's host
    /// (`CONSUL_TLS_SERVER_NAME`; a `:port` suffix is ignored, as Consul does).
    pub server_name: Option<String>,
    /// Accept any server certificate (`CONSUL_HTTP_SSL_VERIFY=false`). Only for tests: it
    /// gives up the protection TLS is for.
    pub danger_accept_invalid_certs: bool,
}

impl TlsConfig {
    /// Whether a client certificate is configured (file or PEM).
    pub fn has_client_certificate(&self) -> bool {
        self.client_cert.is_some() || self.client_cert_pem.is_some()
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("ca_file", &self.ca_file)
            .field("ca_path", &self.ca_path)
            .field("ca_pem", &self.ca_pem.as_ref().map(|pem| pem.len()))
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field(
                "client_cert_pem",
                &self.client_cert_pem.as_ref().map(|pem| pem.len()),
            )
            .field(
                "client_key_pem",
                &self.client_key_pem.as_ref().map(|_| "<redacted>"),
            )
            .field("server_name", &self.server_name)
            .field(
                "danger_accept_invalid_certs",
                &self.danger_accept_invalid_certs,
            )
            .finish()
    }
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
    /// Agent address: `http://host:port`, `https://host:port` (either with an optional path
    /// prefix, for a reverse proxy), `host:port` (taken as `http`), or `unix:///path/to/socket`.
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
    /// Consul Enterprise namespace, sent as `?ns=` on every request (`CONSUL_NAMESPACE`).
    /// Default none. Not consuela's own key prefix. Consul OSS 1.11+ answers 400 to a
    /// non-empty one; older agents ignore it.
    pub namespace: Option<String>,
    /// Consul Enterprise admin partition, sent as `?partition=` on every request
    /// (`CONSUL_PARTITION`). Default none; as `namespace` on Consul OSS.
    pub partition: Option<String>,
    /// HTTP basic authentication sent on every request (`CONSUL_HTTP_AUTH`). Default none.
    pub http_auth: Option<BasicAuth>,
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
            namespace: None,
            partition: None,
            http_auth: None,
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
            .field("namespace", &self.namespace)
            .field("partition", &self.partition)
            .field("http_auth", &self.http_auth)
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
    /// Defaults with the given address (`http://host:port`, `https://…`, `host:port` or
    /// `unix:///path`).
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

    /// Builds a config from Consul's environment variables, looked up through `lookup`, with
    /// the meaning Consul's CLI and Go client give them:
    ///
    /// | variable | field |
    /// |---|---|
    /// | `CONSUL_HTTP_ADDR` | [`address`](Self::address): `host:port`, `http://…`, `https://…` or `unix:///path` |
    /// | `CONSUL_HTTP_SSL` | a Go boolean; `true` makes an `http` or scheme-less address `https` |
    /// | `CONSUL_HTTP_TOKEN` | [`token`](Self::token) |
    /// | `CONSUL_HTTP_TOKEN_FILE` | [`token_file`](Self::token_file) (wins over the token when both are set) |
    /// | `CONSUL_HTTP_AUTH` | [`http_auth`](Self::http_auth): `user:password` |
    /// | `CONSUL_HTTP_SSL_VERIFY` | a Go boolean; `false` sets [`TlsConfig::danger_accept_invalid_certs`] |
    /// | `CONSUL_CACERT` | [`TlsConfig::ca_file`] |
    /// | `CONSUL_CAPATH` | [`TlsConfig::ca_path`] |
    /// | `CONSUL_CLIENT_CERT` | [`TlsConfig::client_cert`] |
    /// | `CONSUL_CLIENT_KEY` | [`TlsConfig::client_key`] |
    /// | `CONSUL_TLS_SERVER_NAME` | [`TlsConfig::server_name`] |
    /// | `CONSUL_NAMESPACE` | [`namespace`](Self::namespace) (`?ns=`) |
    /// | `CONSUL_PARTITION` | [`partition`](Self::partition) (`?partition=`) |
    ///
    /// Unset and empty variables leave the defaults. Files are not read here but by
    /// [`Client::new`](crate::Client::new).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when a variable is malformed (a boolean
    /// Go cannot parse, an address with an unknown scheme).
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let path = |name: &str| get(name).map(|value| PathBuf::from(value.trim()));
        let mut config = Self::default();
        let ssl = match get("CONSUL_HTTP_SSL") {
            Some(value) => parse_go_bool("CONSUL_HTTP_SSL", &value)?,
            None => false,
        };
        let address = get("CONSUL_HTTP_ADDR").unwrap_or_else(|| "127.0.0.1:8500".to_owned());
        config.address = with_scheme(address.trim(), ssl);
        config.token = get("CONSUL_HTTP_TOKEN").map(|token| Token::new(token.trim()));
        config.token_file = path("CONSUL_HTTP_TOKEN_FILE");
        config.http_auth = get("CONSUL_HTTP_AUTH").map(|auth| BasicAuth::parse(&auth));
        config.tls.ca_file = path("CONSUL_CACERT");
        config.tls.ca_path = path("CONSUL_CAPATH");
        config.tls.client_cert = path("CONSUL_CLIENT_CERT");
        config.tls.client_key = path("CONSUL_CLIENT_KEY");
        config.tls.server_name = get("CONSUL_TLS_SERVER_NAME").map(|name| name.trim().to_owned());
        if let Some(value) = get("CONSUL_HTTP_SSL_VERIFY") {
            config.tls.danger_accept_invalid_certs =
                !parse_go_bool("CONSUL_HTTP_SSL_VERIFY", &value)?;
        }
        config.namespace = get("CONSUL_NAMESPACE").map(|ns| ns.trim().to_owned());
        config.partition = get("CONSUL_PARTITION").map(|p| p.trim().to_owned());
        // Validate the address now so a typo surfaces where the environment was read.
        crate::request::parse_endpoint(&config.address)?;
        Ok(config)
    }
}

/// The address with the scheme Consul's Go client would use: `ssl` (`CONSUL_HTTP_SSL`) turns
/// a scheme-less or `http://` address into `https://` ("never revert to http if TLS was
/// explicitly requested"); `https://` and `unix://` addresses are kept as they are.
pub(crate) fn with_scheme(address: &str, ssl: bool) -> String {
    let scheme = if ssl { "https" } else { "http" };
    match address.split_once("://") {
        Some((s, rest)) if s.eq_ignore_ascii_case("http") => format!("{scheme}://{rest}"),
        Some(_) => address.to_owned(),
        None => format!("{scheme}://{address}"),
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
        let config = ClientConfig::from_env_with(env(&[
            ("CONSUL_HTTP_ADDR", "http://consul.local:8501"),
            ("CONSUL_HTTP_SSL", "true"),
        ]))
        .unwrap();
        assert_eq!(config.address, "https://consul.local:8501");
        let config = ClientConfig::from_env_with(env(&[("CONSUL_HTTP_SSL", "1")])).unwrap();
        assert_eq!(config.address, "https://127.0.0.1:8500");
        let config = ClientConfig::from_env_with(env(&[
            ("CONSUL_HTTP_ADDR", "unix:///run/consul.sock"),
            ("CONSUL_HTTP_SSL", "false"),
        ]))
        .unwrap();
        assert_eq!(config.address, "unix:///run/consul.sock");
    }

    #[test]
    fn every_variable_lands_in_its_field() {
        let config = ClientConfig::from_env_with(env(&[
            ("CONSUL_HTTP_AUTH", "alice:pa:ss"),
            ("CONSUL_CAPATH", "/etc/consul/ca.d"),
            ("CONSUL_CLIENT_CERT", "/etc/consul/client.pem"),
            ("CONSUL_CLIENT_KEY", "/etc/consul/client-key.pem"),
            ("CONSUL_TLS_SERVER_NAME", "server.dc1.consul"),
            ("CONSUL_NAMESPACE", "team-a"),
            ("CONSUL_PARTITION", "part-1"),
        ]))
        .unwrap();
        let auth = config.http_auth.as_ref().unwrap();
        assert_eq!(
            (auth.username(), auth.expose_password()),
            ("alice", "pa:ss")
        );
        assert_eq!(config.tls.ca_path, Some(PathBuf::from("/etc/consul/ca.d")));
        assert_eq!(
            config.tls.client_cert,
            Some(PathBuf::from("/etc/consul/client.pem"))
        );
        assert_eq!(
            config.tls.client_key,
            Some(PathBuf::from("/etc/consul/client-key.pem"))
        );
        assert_eq!(config.tls.server_name.as_deref(), Some("server.dc1.consul"));
        assert_eq!(config.namespace.as_deref(), Some("team-a"));
        assert_eq!(config.partition.as_deref(), Some("part-1"));
        assert!(!config.tls.danger_accept_invalid_certs);
        let auth = BasicAuth::parse("bob");
        assert_eq!((auth.username(), auth.expose_password()), ("bob", ""));
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
        let error = ClientConfig::from_env_with(env(&[("CONSUL_HTTP_ADDR", "ftp://consul:21")]))
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(error.to_string().contains("unknown scheme"), "{error}");
        let error =
            ClientConfig::from_env_with(env(&[("CONSUL_HTTP_SSL_VERIFY", "nope")])).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        let error =
            ClientConfig::from_env_with(env(&[("CONSUL_HTTP_ADDR", "http://")])).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let mut config = ClientConfig::new("http://127.0.0.1:8500")
            .token("s3cr3t-t0k3n")
            .on_request(|_| {});
        config.http_auth = Some(BasicAuth::new("alice", "p4ssw0rd"));
        config.tls.client_key_pem = Some(b"-----BEGIN PRIVATE KEY-----\nS3CR3TK3Y\n".to_vec());
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cr3t-t0k3n"), "{debug}");
        assert!(!debug.contains("p4ssw0rd"), "{debug}");
        assert!(!debug.contains("S3CR3TK3Y"), "{debug}");
        assert!(debug.contains("alice"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(!format!("{:?}", Token::new("s3cr3t-t0k3n")).contains("s3cr3t"));
    }
}
