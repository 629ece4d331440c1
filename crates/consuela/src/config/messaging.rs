//! The `[messaging]` section: [`MessagingConfig`] and its [`MessagingTlsConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;

/// Named mailboxes across members: where this member's mail endpoint
/// listens, how it is advertised, and the mailboxes' limits.
///
/// ```toml
/// [messaging]
/// listen = "0.0.0.0:7400"
/// advertise = "https://api-7.internal:7400"
///
/// [messaging.tls]
/// cert_file = "member.pem"
/// key_file = "member-key.pem"
/// ca_file = "members-ca.pem"
/// verify_incoming = true
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingConfig {
    /// Where the mail endpoint listens (port 0 picks one). Default `0.0.0.0:0`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The endpoint's URL as other members reach it, stored in every
    /// mailbox's record. Default: `http(s)://<listen address>:<port>`, with
    /// this host's name in place of an unspecified address (`0.0.0.0`).
    #[serde(default)]
    pub advertise: Option<String>,
    /// Messages a mailbox holds before senders wait. Default 1024.
    #[serde(default = "default_capacity")]
    pub capacity: usize,
    /// How long a send waits for room in a full mailbox before it fails
    /// with `MailboxFull`. Default 1 s.
    #[serde(default = "default_send_timeout", with = "duration")]
    pub send_timeout: Duration,
    /// How long a remote delivery may take on the wire (connect, send,
    /// answer), on top of `send_timeout` and a call's own timeout. Default 5 s.
    #[serde(default = "default_request_timeout", with = "duration")]
    pub request_timeout: Duration,
    /// The largest message body the endpoint accepts, in bytes. Default 1 MiB.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
    /// TLS for the endpoint and for this member's deliveries to others.
    #[serde(default)]
    pub tls: Option<MessagingTlsConfig>,
}

/// TLS between members' mail endpoints. One certificate serves both ways: it
/// is the endpoint's server certificate and the client certificate of this
/// member's deliveries, so that `verify_incoming` gives mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingTlsConfig {
    /// This member's certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Its private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM.
    pub key_file: PathBuf,
    /// The CAs that sign members' certificates (PEM): the roots deliveries
    /// trust, and the CAs whose client certificates the endpoint accepts.
    /// Without it, deliveries trust the Mozilla root set.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Refuse deliveries without a client certificate signed by `ca_file`.
    /// Default `false`.
    #[serde(default)]
    pub verify_incoming: bool,
    /// Check endpoints' certificates against this name instead of the
    /// advertised URL's host.
    #[serde(default)]
    pub server_name: Option<String>,
}

fn default_listen() -> SocketAddr {
    ([0, 0, 0, 0], 0).into()
}
fn default_capacity() -> usize {
    1024
}
fn default_send_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_max_message_size() -> usize {
    1 << 20
}

impl Default for MessagingConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            advertise: None,
            capacity: default_capacity(),
            send_timeout: default_send_timeout(),
            request_timeout: default_request_timeout(),
            max_message_size: default_max_message_size(),
            tls: None,
        }
    }
}

impl MessagingConfig {
    /// Messaging on `listen`, with every other default.
    pub fn listen(listen: SocketAddr) -> Self {
        Self {
            listen,
            ..Self::default()
        }
    }

    /// The client side of [`tls`](Self::tls): the TLS settings this member's
    /// deliveries use (CA, client certificate, server name).
    pub fn client_tls(&self) -> consuela_client::TlsConfig {
        let mut c = consuela_client::TlsConfig::default();
        if let Some(tls) = &self.tls {
            c.ca_file.clone_from(&tls.ca_file);
            c.client_cert = Some(tls.cert_file.clone());
            c.client_key = Some(tls.key_file.clone());
            c.server_name.clone_from(&tls.server_name);
        }
        c
    }
}

impl MessagingConfig {
    /// Checks the section's rules.
    pub(super) fn validate(&self) -> Result<(), super::ConfigError> {
        use super::ConfigError;
        if self.capacity == 0 {
            return Err(ConfigError::ZeroLimit("messaging.capacity"));
        }
        if self.max_message_size == 0 {
            return Err(ConfigError::ZeroLimit("messaging.max_message_size"));
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("messaging.request_timeout"));
        }
        if let Some(url) = &self.advertise {
            let host = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if host.is_none_or(|h| {
                h.is_empty() || h.starts_with('/') || h.contains(char::is_whitespace)
            }) {
                return Err(ConfigError::Advertise(url.clone()));
            }
        }
        if let Some(tls) = &self.tls
            && tls.verify_incoming
            && tls.ca_file.is_none()
        {
            return Err(ConfigError::VerifyWithoutCa);
        }
        Ok(())
    }
}
