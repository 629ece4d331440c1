//! Configuration: the Erlang original's sections and defaults, loadable from TOML.
//!
//! Every duration is written as a Go duration string (`"20s"`, `"1m30s"`,
//! `"500ms"`), the way Consul's own configuration writes them, or as a whole
//! number of seconds.
//!
//! ```toml
//! nodename = "consul0"
//! namespace = "billing"
//!
//! [session]
//! ttl = "20s"
//! lock_delay = "10s"
//!
//! [keeper]
//! interval = "1/3"   # a third of the TTL; or "5s"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod discovery;
mod leader;
mod messaging;
mod presence;

pub use self::discovery::DiscoveryConfig;
pub use self::leader::SingletonConfig;
pub use self::messaging::{MessagingConfig, MessagingTlsConfig};
pub use self::presence::{PresenceCheck, PresenceConfig};
use crate::duration;
pub use crate::duration::parse_duration;
use crate::name::{self, NameError};
pub use crate::retry::{Retry, RetryPolicy, Strategy};

/// The exit code of a process ended by [`OnLost::Exit`] (`EX_SOFTWARE`).
pub const EXIT_CODE_SESSION_LOST: i32 = 70;

/// Consul's bounds on a session TTL (its default `session_ttl_min`, and 24 h).
pub const CONSUL_TTL_RANGE: (Duration, Duration) =
    (Duration::from_secs(10), Duration::from_secs(24 * 60 * 60));

/// Consul enforces no lock-delay longer than this.
pub const MAX_LOCK_DELAY: Duration = Duration::from_secs(60);

/// The whole registry configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Consul node the registry session is bound to, e.g. `consul0`.
    /// It is also the default host of [`ConsulConfig::url`].
    pub nodename: String,
    /// Prefix of every key this registry writes; names live at `<namespace>/<name>`.
    pub namespace: String,
    /// This member's name, stored with every registration.
    /// Default: `<hostname>-<pid>`.
    #[serde(default)]
    pub member: Option<String>,
    /// What to do when the session is lost.
    #[serde(default)]
    pub on_lost: OnLost,
    /// How to reach Consul.
    #[serde(default)]
    pub consul: ConsulConfig,
    /// The registry's Consul session.
    #[serde(default)]
    pub session: SessionConfig,
    /// The session keeper.
    #[serde(default)]
    pub keeper: KeeperConfig,
    /// The zombie reaper.
    #[serde(default)]
    pub reaper: ReaperConfig,
    /// Registration behaviour.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// How singletons' standbys behave: the settings of `consuela leader`
    /// and of [`Registry::leader`](crate::Registry::leader).
    #[serde(default)]
    pub leader: SingletonConfig,
    /// When present, the registry registers this member as a Consul service
    /// before it creates its session (see [`SessionConfig::bind_presence`]).
    #[serde(default)]
    pub presence: Option<PresenceConfig>,
    /// When present, the registry watches the live members of a service
    /// ([`Registry::discovery`](crate::Registry::discovery)).
    #[serde(default)]
    pub discovery: Option<DiscoveryConfig>,
    /// When present, this member runs a mail endpoint, so that mailboxes it
    /// registers ([`Registry::register_mailbox`](crate::Registry::register_mailbox))
    /// take messages from other members. Without it, mailboxes take
    /// messages from this process only.
    #[serde(default)]
    pub messaging: Option<MessagingConfig>,
}

impl Config {
    /// A configuration with every default, for `nodename` and `namespace`.
    pub fn new(nodename: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            nodename: nodename.into(),
            namespace: namespace.into(),
            member: None,
            on_lost: OnLost::default(),
            consul: ConsulConfig::default(),
            session: SessionConfig::default(),
            keeper: KeeperConfig::default(),
            reaper: ReaperConfig::default(),
            registry: RegistryConfig::default(),
            leader: SingletonConfig::default(),
            presence: None,
            discovery: None,
            messaging: None,
        }
    }

    /// Parses TOML and validates the result.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Parse`] for malformed TOML, unknown keys or bad values;
    /// any other variant for a value that parses but breaks a rule.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.message().to_owned()))?;
        config.validate()
    }

    /// The messaging settings in force: the `[messaging]` section, or its
    /// defaults (which mailboxes and sends use without one).
    pub fn messaging_settings(&self) -> std::borrow::Cow<'_, MessagingConfig> {
        match &self.messaging {
            Some(messaging) => std::borrow::Cow::Borrowed(messaging),
            None => std::borrow::Cow::Owned(MessagingConfig::default()),
        }
    }

    /// The Consul URL: [`ConsulConfig::url`], or `http://<nodename>:8500`.
    pub fn consul_url(&self) -> String {
        self.consul
            .url
            .clone()
            .unwrap_or_else(|| format!("http://{}:8500", self.nodename))
    }

    /// This member's name: [`Config::member`], or `<hostname>-<pid>`.
    pub fn member_name(&self) -> String {
        self.member.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .or_else(|_| std::fs::read_to_string("/etc/hostname"))
                .map(|h| h.trim().to_owned())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".to_owned());
            format!("{host}-{}", std::process::id())
        })
    }

    /// The Consul client configuration of the [`ConsulConfig`] section.
    pub fn client_config(&self) -> consuela_client::ClientConfig {
        self.consul.client_config(&self.consul_url())
    }

    /// The session name: [`SessionConfig::name`], or the namespace.
    pub fn session_name(&self) -> &str {
        self.session.name.as_deref().unwrap_or(&self.namespace)
    }

    /// The keeper's renew interval for the configured TTL.
    pub fn renew_interval(&self) -> Duration {
        self.keeper.interval.resolve(self.session.ttl)
    }

    /// Checks every rule that spans fields.
    ///
    /// # Errors
    ///
    /// The first broken rule, as a structured [`ConfigError`].
    pub fn validate(self) -> Result<Self, ConfigError> {
        if self.nodename.is_empty() {
            return Err(ConfigError::EmptyNodename);
        }
        name::validate(&self.namespace).map_err(ConfigError::Namespace)?;
        if let Some(member) = &self.member
            && (member.is_empty() || member.chars().any(char::is_control))
        {
            return Err(ConfigError::Member(member.clone()));
        }
        let (min, max) = (self.session.ttl_min, CONSUL_TTL_RANGE.1);
        if self.session.ttl < min || self.session.ttl > max {
            return Err(ConfigError::TtlOutOfRange {
                ttl: self.session.ttl,
                min,
                max,
            });
        }
        if self.session.lock_delay > MAX_LOCK_DELAY {
            return Err(ConfigError::LockDelayTooLong(self.session.lock_delay));
        }
        let interval = self.renew_interval();
        if interval.is_zero() || interval >= self.session.ttl {
            return Err(ConfigError::IntervalNotBelowTtl {
                interval,
                ttl: self.session.ttl,
            });
        }
        if let Interval::Ratio(p, q) = self.keeper.interval
            && (p == 0 || q == 0)
        {
            return Err(ConfigError::IntervalNotBelowTtl {
                interval,
                ttl: self.session.ttl,
            });
        }
        if self.keeper.margin >= self.session.ttl {
            return Err(ConfigError::MarginNotBelowTtl {
                margin: self.keeper.margin,
                ttl: self.session.ttl,
            });
        }
        if self.consul.token.is_some() && self.consul.token_file.is_some() {
            return Err(ConfigError::TokenConflict);
        }
        if self.consul.ca_file.is_some() && self.consul.tls.ca_file.is_some() {
            return Err(ConfigError::CaFileConflict);
        }
        if self.consul.tls.cert_file.is_some() != self.consul.tls.key_file.is_some() {
            return Err(ConfigError::ClientCertificate);
        }
        self.reaper
            .retry
            .validate()
            .map_err(|reason| ConfigError::Retry {
                component: "reaper",
                reason,
            })?;
        if self.registry.registration_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("registry.registration_timeout"));
        }
        if self.consul.request_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("consul.request_timeout"));
        }
        if self.registry.max_batch == 0 {
            return Err(ConfigError::ZeroLimit("registry.max_batch"));
        }
        if self.registry.max_batches_in_flight == 0 {
            return Err(ConfigError::ZeroLimit("registry.max_batches_in_flight"));
        }
        if self.consul.max_connections == Some(0) {
            return Err(ConfigError::ZeroLimit("consul.max_connections"));
        }
        if self.consul.max_response_size == Some(0) {
            return Err(ConfigError::ZeroLimit("consul.max_response_size"));
        }
        self.leader
            .retry
            .validate()
            .map_err(|reason| ConfigError::Retry {
                component: "leader",
                reason,
            })?;
        if self.leader.watch_wait.is_zero() {
            return Err(ConfigError::ZeroTimeout("leader.watch_wait"));
        }
        if let Some(presence) = &self.presence {
            if presence.service.is_empty() {
                return Err(ConfigError::EmptyService("presence"));
            }
        } else if self.session.bind_presence {
            return Err(ConfigError::BindWithoutPresence);
        }
        if let Some(discovery) = &self.discovery {
            if discovery.service.is_empty() {
                return Err(ConfigError::EmptyService("discovery"));
            }
            if discovery.wait.is_zero() {
                return Err(ConfigError::ZeroTimeout("discovery.wait"));
            }
        }
        if let Some(messaging) = &self.messaging {
            messaging.validate()?;
        }
        Ok(self)
    }
}

/// What the registry does once it can no longer guarantee its names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLost {
    /// Fire every `lost()`, abort spawned tasks and answer `SessionLost` from
    /// then on; the process keeps running.
    #[default]
    Stop,
    /// All of the above, then end the OS process with exit code
    /// [`crate::EXIT_CODE_SESSION_LOST`], as the Erlang original's node did.
    Exit,
}

/// How to reach Consul.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsulConfig {
    /// Base URL. Default: `http://<nodename>:8500`.
    #[serde(default)]
    pub url: Option<String>,
    /// ACL token, sent as `X-Consul-Token`. Never logged.
    #[serde(default)]
    pub token: Option<String>,
    /// A file holding the ACL token (read at start).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Datacenter, sent as `?dc=` on every request.
    #[serde(default)]
    pub datacenter: Option<String>,
    /// TCP connect timeout. Default 1 s.
    #[serde(default = "defaults::connect_timeout", with = "duration")]
    pub connect_timeout: Duration,
    /// Timeout of a whole non-blocking request. Default 5 s.
    #[serde(default = "defaults::request_timeout", with = "duration")]
    pub request_timeout: Duration,
    /// A PEM file with the CA that signs Consul's certificate; the same as
    /// [`ConsulTlsConfig::ca_file`] (set one of them).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// TLS settings for an `https://` agent (`[consul.tls]`).
    #[serde(default)]
    pub tls: ConsulTlsConfig,
    /// HTTP basic authentication, `user:password` (a reverse proxy in front of
    /// Consul may ask for it; Consul ignores it). Never logged.
    #[serde(default)]
    pub http_auth: Option<String>,
    /// Consul Enterprise namespace, sent as `?ns=` (not consuela's key prefix,
    /// which is the top-level [`Config::namespace`]). Default none.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Consul Enterprise admin partition, sent as `?partition=`. Default none.
    #[serde(default)]
    pub partition: Option<String>,
    /// At most this many requests in flight at once (so at most this many
    /// connections). Blocking queries (the session watch, singletons'
    /// standbys, watches) each hold one while they wait. Default: no limit.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Answers with a longer body fail (as an unknown outcome). The
    /// original's default was 64 KiB, too small for listing many names;
    /// default: no limit.
    #[serde(default)]
    pub max_response_size: Option<usize>,
}

impl std::fmt::Debug for ConsulConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsulConfig")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .field("datacenter", &self.datacenter)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("ca_file", &self.ca_file)
            .field("tls", &self.tls)
            .field("http_auth", &self.http_auth.as_ref().map(|_| "<redacted>"))
            .field("namespace", &self.namespace)
            .field("partition", &self.partition)
            .field("max_connections", &self.max_connections)
            .field("max_response_size", &self.max_response_size)
            .finish()
    }
}

impl ConsulConfig {
    /// The client configuration of this section, for the agent at `url`
    /// (the section's own `url` is not consulted: [`Config::consul_url`]
    /// resolves its default).
    pub fn client_config(&self, url: &str) -> consuela_client::ClientConfig {
        let mut c = consuela_client::ClientConfig::new(url);
        c.token = self.token.clone().map(Into::into);
        c.token_file.clone_from(&self.token_file);
        c.datacenter.clone_from(&self.datacenter);
        c.connect_timeout = self.connect_timeout;
        c.request_timeout = self.request_timeout;
        c.tls.ca_file = self.tls.ca_file.clone().or_else(|| self.ca_file.clone());
        c.tls.ca_path.clone_from(&self.tls.ca_path);
        c.tls.client_cert.clone_from(&self.tls.cert_file);
        c.tls.client_key.clone_from(&self.tls.key_file);
        c.tls.server_name.clone_from(&self.tls.server_name);
        c.tls.danger_accept_invalid_certs = !self.tls.verify;
        c.http_auth = self
            .http_auth
            .as_deref()
            .map(consuela_client::BasicAuth::parse);
        c.namespace.clone_from(&self.namespace);
        c.partition.clone_from(&self.partition);
        c.max_connections = self.max_connections;
        c.max_response_size = self.max_response_size;
        c
    }
}

impl Default for ConsulConfig {
    fn default() -> Self {
        Self {
            url: None,
            token: None,
            token_file: None,
            datacenter: None,
            connect_timeout: defaults::connect_timeout(),
            request_timeout: defaults::request_timeout(),
            ca_file: None,
            tls: ConsulTlsConfig::default(),
            http_auth: None,
            namespace: None,
            partition: None,
            max_connections: None,
            max_response_size: None,
        }
    }
}

/// TLS settings for an `https://` Consul agent (`[consul.tls]`), with the
/// meaning of Consul's `CONSUL_CACERT`, `CONSUL_CAPATH`, `CONSUL_CLIENT_CERT`,
/// `CONSUL_CLIENT_KEY`, `CONSUL_TLS_SERVER_NAME` and `CONSUL_HTTP_SSL_VERIFY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsulTlsConfig {
    /// A PEM file with the CAs that sign Consul's certificate. With a CA (file
    /// or path) only these are trusted; without, the Mozilla root set.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A directory of PEM files with trusted CAs.
    #[serde(default)]
    pub ca_path: Option<PathBuf>,
    /// The client certificate (PEM) for agents with `verify_incoming`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Check Consul's certificate against this name instead of the URL's
    /// host, e.g. `server.dc1.consul`.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Check Consul's certificate at all. Default `true`; `false` only for
    /// tests.
    #[serde(default = "defaults::yes")]
    pub verify: bool,
}

impl Default for ConsulTlsConfig {
    fn default() -> Self {
        Self {
            ca_file: None,
            ca_path: None,
            cert_file: None,
            key_file: None,
            server_name: None,
            verify: true,
        }
    }
}

/// The registry's Consul session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Session name. Default: the namespace.
    #[serde(default)]
    pub name: Option<String>,
    /// Session TTL. Default 20 s.
    #[serde(default = "defaults::ttl", with = "duration")]
    pub ttl: Duration,
    /// Lock-delay Consul applies to our keys when the session is invalidated.
    /// Default 10 s.
    #[serde(default = "defaults::lock_delay", with = "duration")]
    pub lock_delay: Duration,
    /// The smallest TTL the Consul agent accepts (its `session_ttl_min`).
    /// Default 10 s, Consul's default; lower it only together with the agent's.
    #[serde(default = "defaults::ttl_min", with = "duration")]
    pub ttl_min: Duration,
    /// Bind the session to these Consul check ids as well (for example a
    /// presence check), so Consul invalidates it as soon as one goes critical.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Bind the session to the check of the `[presence]` the registry starts,
    /// as the original's `session.presence`: the names go as soon as Consul
    /// finds this member dead. Default off.
    #[serde(default)]
    pub bind_presence: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            name: None,
            ttl: defaults::ttl(),
            lock_delay: defaults::lock_delay(),
            ttl_min: defaults::ttl_min(),
            checks: Vec::new(),
            bind_presence: false,
        }
    }
}

/// The session keeper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeeperConfig {
    /// How often to renew. Default: a tenth of the TTL (2 s at TTL 20 s), so
    /// that whenever Consul stops answering (a leader election, a cut) the
    /// session has at least nine tenths of its TTL left to come back in
    /// (ARCHITECTURE.md, "Riding through Consul server failures").
    #[serde(default)]
    pub interval: Interval,
    /// How much earlier than send time + TTL the keeper gives up. Default 0.
    #[serde(default, with = "duration")]
    pub margin: Duration,
    /// Also watch the session with a blocking query, so that an early
    /// invalidation (a failed check, an operator, autopilot) fail-stops the
    /// registry at once rather than at the next renew. Default true.
    #[serde(default = "defaults::yes")]
    pub watch_session: bool,
}

impl Default for KeeperConfig {
    fn default() -> Self {
        Self {
            interval: Interval::default(),
            margin: Duration::ZERO,
            watch_session: true,
        }
    }
}

/// A renew interval: fixed, or a fraction of the session TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// A fixed interval.
    Fixed(Duration),
    /// `p/q` of the TTL, rounded to the millisecond.
    Ratio(u32, u32),
}

impl Default for Interval {
    /// A tenth of the TTL. The original renews every TTL/2, which leaves
    /// anywhere between TTL/2 and TTL when Consul stops answering; TTL/10
    /// leaves at least 0.9 × TTL for one renew per TTL/10 (30 a minute at
    /// TTL 20 s), whatever the number of names held.
    fn default() -> Self {
        Self::Ratio(1, 10)
    }
}

impl Interval {
    /// The interval for a session of `ttl`.
    pub fn resolve(self, ttl: Duration) -> Duration {
        match self {
            Self::Fixed(d) => d,
            Self::Ratio(_, 0) => Duration::ZERO,
            Self::Ratio(p, q) => {
                let ms = (ttl.as_millis() * u128::from(p) + u128::from(q) / 2) / u128::from(q);
                Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
            }
        }
    }
}

impl Serialize for Interval {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Fixed(d) => s.serialize_str(&duration::format(*d)),
            Self::Ratio(p, q) => s.serialize_str(&format!("{p}/{q}")),
        }
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match duration::Raw::deserialize(d)? {
            duration::Raw::Seconds(s) => Ok(Self::Fixed(Duration::from_secs(s))),
            duration::Raw::Text(t) => match t.split_once('/') {
                Some((p, q)) => {
                    let parse = |x: &str| x.trim().parse::<u32>().map_err(D::Error::custom);
                    Ok(Self::Ratio(parse(p)?, parse(q)?))
                }
                None => duration::parse(&t)
                    .map(Self::Fixed)
                    .map_err(D::Error::custom),
            },
        }
    }
}

/// The zombie reaper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaperConfig {
    /// Retry policy between failed removals. Default: every 5 s for 10 minutes
    /// (wall clock); exhausting it fail-stops the registry.
    #[serde(default = "defaults::reaper_retry")]
    pub retry: RetryPolicy,
    /// How long shutdown may spend draining the queue. Default 5 s.
    #[serde(default = "defaults::shutdown_timeout", with = "duration")]
    pub shutdown_timeout: Duration,
    /// How long the reaper keeps watching the key of an acquisition whose
    /// outcome was unknown once it found the key free or someone else's: a
    /// request delayed in the network can still be applied, and the key it
    /// takes must not stay held by our session. Default 60 s.
    #[serde(default = "defaults::late_apply_window", with = "duration")]
    pub late_apply_window: Duration,
}

impl Default for ReaperConfig {
    fn default() -> Self {
        Self {
            retry: defaults::reaper_retry(),
            shutdown_timeout: defaults::shutdown_timeout(),
            late_apply_window: defaults::late_apply_window(),
        }
    }
}

/// Registration behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// How long a register or unregister call may take before it gives up
    /// with an unknown outcome (and hands the name to the reaper). Default 2 s.
    #[serde(default = "defaults::registration_timeout", with = "duration")]
    pub registration_timeout: Duration,
    /// The most registrations and unregistrations one `/v1/txn` carries.
    /// While a transaction is in flight, new ones queue and go out together
    /// in the next (one alone goes out at once). Consul accepts up to 64
    /// operations per transaction; 1 sends each on its own. Default 64.
    #[serde(default = "defaults::max_batch")]
    pub max_batch: usize,
    /// How many of those transactions may be in flight at once; an
    /// operation goes out on its own while fewer are. Default 4, the best
    /// measured on the dev server (1 halves throughput at 2 to 8 in flight;
    /// 8 makes batches smaller without more throughput).
    #[serde(default = "defaults::max_batches_in_flight")]
    pub max_batches_in_flight: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            registration_timeout: defaults::registration_timeout(),
            max_batch: defaults::max_batch(),
            max_batches_in_flight: defaults::max_batches_in_flight(),
        }
    }
}

/// A configuration that parses but breaks a rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML text is malformed, has an unknown key or a bad value.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// `nodename` is empty.
    #[error("nodename must not be empty")]
    EmptyNodename,
    /// `namespace` is not a valid name.
    #[error("invalid namespace: {0}")]
    Namespace(#[source] NameError),
    /// `member` is empty or holds control characters.
    #[error("invalid member name {0:?}")]
    Member(String),
    /// The TTL is outside what Consul accepts.
    #[error("session ttl {ttl:?} is outside Consul's range {min:?}..={max:?}")]
    TtlOutOfRange {
        /// The configured TTL.
        ttl: Duration,
        /// `session.ttl_min`.
        min: Duration,
        /// 24 hours.
        max: Duration,
    },
    /// The lock-delay is longer than Consul enforces.
    #[error("session lock_delay {0:?} is longer than the 60s Consul enforces")]
    LockDelayTooLong(Duration),
    /// The renew interval is zero or not below the TTL.
    #[error("keeper interval {interval:?} must be above zero and below the session ttl {ttl:?}")]
    IntervalNotBelowTtl {
        /// The resolved interval.
        interval: Duration,
        /// The TTL.
        ttl: Duration,
    },
    /// The keeper margin eats the whole TTL.
    #[error("keeper margin {margin:?} must be below the session ttl {ttl:?}")]
    MarginNotBelowTtl {
        /// The margin.
        margin: Duration,
        /// The TTL.
        ttl: Duration,
    },
    /// A size or count limit is zero.
    #[error("{0} must be above zero (leave it out for no limit)")]
    ZeroLimit(&'static str),
    /// A `[presence]` or `[discovery]` section names no service.
    #[error("{0}.service must not be empty")]
    EmptyService(&'static str),
    /// `session.bind_presence` is set without a `[presence]` section.
    #[error("session.bind_presence needs a [presence] section")]
    BindWithoutPresence,
    /// Both `consul.token` and `consul.token_file` are set.
    #[error("set consul.token or consul.token_file, not both")]
    TokenConflict,
    /// Both `consul.ca_file` and `consul.tls.ca_file` are set.
    #[error("set consul.ca_file or consul.tls.ca_file, not both")]
    CaFileConflict,
    /// Only one of `consul.tls.cert_file` and `consul.tls.key_file` is set.
    #[error("consul.tls.cert_file and consul.tls.key_file go together")]
    ClientCertificate,
    /// `messaging.advertise` is not an `http://` or `https://` URL with a host.
    #[error("messaging.advertise {0:?} must be an http:// or https:// URL with a host")]
    Advertise(String),
    /// The mail endpoint cannot listen on `messaging.listen`.
    #[error("messaging.listen {listen}: {reason}")]
    Listen {
        /// The configured address.
        listen: std::net::SocketAddr,
        /// Why binding failed.
        reason: String,
    },
    /// A `[messaging.tls]` file cannot be read or used.
    #[error("messaging.tls: {0}")]
    MessagingTls(String),
    /// `messaging.tls.verify_incoming` is set without `messaging.tls.ca_file`.
    #[error("messaging.tls.verify_incoming needs messaging.tls.ca_file")]
    VerifyWithoutCa,
    /// A retry policy is unbounded or malformed.
    #[error("invalid {component} retry policy: {reason}")]
    Retry {
        /// Which component's policy.
        component: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A timeout that must be positive is zero.
    #[error("{0} must be above zero")]
    ZeroTimeout(&'static str),
}

mod defaults {
    use std::time::Duration;

    use crate::retry::RetryPolicy;

    pub(super) fn yes() -> bool {
        true
    }
    pub(super) fn connect_timeout() -> Duration {
        Duration::from_secs(1)
    }
    pub(super) fn request_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub(super) fn ttl() -> Duration {
        Duration::from_secs(20)
    }
    pub(super) fn ttl_min() -> Duration {
        super::CONSUL_TTL_RANGE.0
    }
    pub(super) fn lock_delay() -> Duration {
        Duration::from_secs(10)
    }
    pub(super) fn reaper_retry() -> RetryPolicy {
        RetryPolicy::linear(Duration::from_secs(5)).max_total_timeout(Duration::from_secs(600))
    }
    pub(super) fn late_apply_window() -> Duration {
        Duration::from_secs(60)
    }
    pub(super) fn shutdown_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub(super) fn registration_timeout() -> Duration {
        Duration::from_secs(2)
    }
    /// Consul's `maxTxnOps`.
    pub(super) fn max_batch() -> usize {
        64
    }
    pub(super) fn max_batches_in_flight() -> usize {
        4
    }
}

#[cfg(test)]
mod tests;
