//! The handover after a crash: what the guardian needs to give a dead
//! `consuela`'s name back, and the two Consul requests that do it.
//!
//! `consuela run` hands the guardian a [`Handover`] in an environment
//! variable (never on the command line, where `ps` shows the token), and the
//! guardian removes it before starting the command.

use std::time::Duration;

use consuela::client::{Client, TxnOutcome, api::txn};
use consuela::config::ConsulConfig;
use consuela::{Config, FencingToken, SessionId};
use serde::{Deserialize, Serialize};

/// The environment variable that carries the [`Handover`] to the guardian.
pub(crate) const HANDOVER_ENV: &str = "CONSUELA_GUARD_HANDOVER";

/// How long the guardian may spend on the handover.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a held name lives and how to reach Consul, for releasing it after
/// the `consuela` that holds it died.
///
/// `Debug` never shows the token (`ConsulConfig`'s own `Debug` redacts it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Handover {
    /// The agent's resolved URL.
    address: String,
    /// How the dead member reached Consul: token, TLS, datacenter, limits.
    consul: ConsulConfig,
    key: String,
    fencing_token: FencingToken,
    session: SessionId,
}

impl Handover {
    /// The handover of `key`, held at `fencing_token` by `session`.
    pub(crate) fn new(
        config: &Config,
        key: String,
        fencing_token: FencingToken,
        session: SessionId,
    ) -> Self {
        Self {
            address: config.consul_url(),
            consul: config.consul.clone(),
            key,
            fencing_token,
            session,
        }
    }

    /// The JSON text for [`HANDOVER_ENV`].
    pub(crate) fn encode(&self) -> String {
        serde_json::to_string(self).expect("a handover always serializes")
    }

    /// Reads [`HANDOVER_ENV`] text.
    pub(crate) fn decode(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    /// Releases the name, but only while the dead member's session still
    /// holds it at the registration's fencing token (one txn:
    /// `check-session` + `delete-cas`), then destroys that session. Call it
    /// only once every process the member started is gone.
    ///
    /// Returns whether the name was released. Any failure leaves Consul as
    /// it was: the session then expires on its own and the lock-delay applies.
    pub(crate) async fn release(&self) -> bool {
        let Ok(client) = self.client() else {
            return false;
        };
        let index = self.fencing_token.into();
        let ops = [
            txn::check_session(&self.key, &self.session),
            txn::delete_cas(&self.key, index),
        ];
        let released = tokio::time::timeout(HANDOVER_TIMEOUT, client.txn().execute(&ops))
            .await
            .is_ok_and(|r| matches!(r, Ok(TxnOutcome::Committed(_))));
        let _ =
            tokio::time::timeout(HANDOVER_TIMEOUT, client.session().destroy(&self.session)).await;
        released
    }

    fn client(&self) -> Result<Client, consuela::client::Error> {
        let mut config = self.consul.client_config(&self.address);
        config.request_timeout = HANDOVER_TIMEOUT;
        Client::new(config)
    }
}
