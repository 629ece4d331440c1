//! Raft status: `/v1/status/*`.

use crate::client::{Call, Client};
use crate::error::Error;

/// Status endpoints. Obtain with [`Client::status`].
#[derive(Debug, Clone, Copy)]
pub struct Status<'a> {
    client: &'a Client,
}

impl<'a> Status<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// The Raft leader's RPC address (`GET /v1/status/leader`), e.g. `127.0.0.1:8300`;
    /// empty while no leader is known.
    ///
    /// # Errors
    ///
    /// Transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn leader(self) -> Result<String, Error> {
        let response = self
            .client
            .send(Call::get("/v1/status/leader".to_owned()), &[])
            .await?;
        response.json()
    }

    /// The Raft peers' RPC addresses (`GET /v1/status/peers`).
    ///
    /// # Errors
    ///
    /// Transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn peers(self) -> Result<Vec<String>, Error> {
        let response = self
            .client
            .send(Call::get("/v1/status/peers".to_owned()), &[])
            .await?;
        response.json()
    }
}
