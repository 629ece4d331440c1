//! The local agent: `/v1/agent/*` (services, checks, self).
//!
//! Agent endpoints are local to the agent the client talks to and ignore `?dc=`.

use std::collections::BTreeMap;

use consuela_wire::{
    AgentCheck, AgentSelf, AgentService, CheckDefinition, CheckId, HealthStatus, ServiceId,
    ServiceRegistration,
};
use serde::Serialize;

use crate::client::{Call, Client};
use crate::error::Error;
use crate::request::{push_segment, validate_segment};

/// Agent endpoints. Obtain with [`Client::agent`].
#[derive(Debug, Clone, Copy)]
pub struct Agent<'a> {
    client: &'a Client,
}

fn agent_path(prefix: &str, what: &str, id: &str) -> Result<String, Error> {
    validate_segment(what, id)?;
    let mut path = String::with_capacity(prefix.len() + id.len());
    path.push_str(prefix);
    push_segment(&mut path, id);
    Ok(path)
}

#[derive(Serialize)]
struct CheckUpdate<'a> {
    #[serde(rename = "Status")]
    status: HealthStatus,
    #[serde(rename = "Output", skip_serializing_if = "Option::is_none")]
    output: Option<&'a str>,
}

impl<'a> Agent<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// The agent's configuration and membership (`GET /v1/agent/self`). Use
    /// `config.node_name` as the default session node and `config.datacenter` as the datacenter.
    ///
    /// # Errors
    ///
    /// Transport and server errors; 403 without `agent:read`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn self_(self) -> Result<AgentSelf, Error> {
        let response = self
            .client
            .send(Call::get("/v1/agent/self".to_owned()), &[])
            .await?;
        response.json()
    }

    /// Registers (or replaces) a service with the agent (`PUT /v1/agent/service/register`).
    ///
    /// With `replace_existing_checks`, checks of this service that are not in `registration` are
    /// removed. A TTL check starts `critical` unless its `status` is given.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadRequest`](crate::ErrorKind::BadRequest) for an invalid definition
    /// (`Missing service name`, `Invalid check: …`); transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; the service may or may not be registered.
    pub async fn register_service(
        self,
        registration: &ServiceRegistration,
        replace_existing_checks: bool,
    ) -> Result<(), Error> {
        let mut call = Call::put("/v1/agent/service/register".to_owned()).json(registration)?;
        if replace_existing_checks {
            call.query.pair("replace-existing-checks", "true");
        }
        self.client.send(call, &[]).await?;
        Ok(())
    }

    /// Deregisters a service and its checks (`PUT /v1/agent/service/deregister/<id>`).
    ///
    /// An unknown service is not an error: older agents answer 200, newer ones 404, and both
    /// mean "already gone".
    ///
    /// # Errors
    ///
    /// Transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; the service may or may not be gone.
    pub async fn deregister_service(self, id: &ServiceId) -> Result<(), Error> {
        let path = agent_path("/v1/agent/service/deregister/", "service id", id.as_str())?;
        self.client.send(Call::put(path), &[404]).await?;
        Ok(())
    }

    /// Registers a standalone check (`PUT /v1/agent/check/register`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BadRequest`](crate::ErrorKind::BadRequest) for an invalid definition;
    /// transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; the check may or may not be registered.
    pub async fn register_check(self, check: &CheckDefinition) -> Result<(), Error> {
        let call = Call::put("/v1/agent/check/register".to_owned()).json(check)?;
        self.client.send(call, &[]).await?;
        Ok(())
    }

    /// Deregisters a check (`PUT /v1/agent/check/deregister/<id>`); an unknown check is not
    /// an error. Sessions bound to the check are invalidated.
    ///
    /// # Errors
    ///
    /// Transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; the check may or may not be gone.
    pub async fn deregister_check(self, id: &CheckId) -> Result<(), Error> {
        let path = agent_path("/v1/agent/check/deregister/", "check id", id.as_str())?;
        self.client.send(Call::put(path), &[404]).await?;
        Ok(())
    }

    async fn ttl(self, action: &str, id: &CheckId, note: Option<&str>) -> Result<(), Error> {
        let mut prefix = String::from("/v1/agent/check/");
        prefix.push_str(action);
        prefix.push('/');
        let mut call = Call::put(agent_path(&prefix, "check id", id.as_str())?);
        if let Some(note) = note {
            call.query.pair("note", note);
        }
        self.client.send(call, &[]).await?;
        Ok(())
    }

    /// Marks a TTL check passing and resets its timer (`PUT /v1/agent/check/pass/<id>`);
    /// `note` becomes the check's output.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) (newer agents) or
    /// [`ErrorKind::Server`](crate::ErrorKind::Server) with `does not have associated TTL`
    /// (older agents, or a non-TTL check) when the check is unknown: re-register it.
    /// Transport errors.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; the update may or may not have happened.
    pub async fn pass_check(self, id: &CheckId, note: Option<&str>) -> Result<(), Error> {
        self.ttl("pass", id, note).await
    }

    /// Marks a TTL check warning (`PUT /v1/agent/check/warn/<id>`). Warning does not
    /// invalidate sessions.
    ///
    /// # Errors
    ///
    /// As [`pass_check`](Self::pass_check).
    ///
    /// # Cancel safety
    ///
    /// As [`pass_check`](Self::pass_check).
    pub async fn warn_check(self, id: &CheckId, note: Option<&str>) -> Result<(), Error> {
        self.ttl("warn", id, note).await
    }

    /// Marks a TTL check critical (`PUT /v1/agent/check/fail/<id>`), invalidating sessions
    /// bound to it.
    ///
    /// # Errors
    ///
    /// As [`pass_check`](Self::pass_check).
    ///
    /// # Cancel safety
    ///
    /// As [`pass_check`](Self::pass_check).
    pub async fn fail_check(self, id: &CheckId, note: Option<&str>) -> Result<(), Error> {
        self.ttl("fail", id, note).await
    }

    /// Sets a TTL check's status and output (`PUT /v1/agent/check/update/<id>`).
    ///
    /// # Errors
    ///
    /// As [`pass_check`](Self::pass_check).
    ///
    /// # Cancel safety
    ///
    /// As [`pass_check`](Self::pass_check).
    pub async fn update_check(
        self,
        id: &CheckId,
        status: HealthStatus,
        output: Option<&str>,
    ) -> Result<(), Error> {
        let path = agent_path("/v1/agent/check/update/", "check id", id.as_str())?;
        let call = Call::put(path).json(&CheckUpdate { status, output })?;
        self.client.send(call, &[]).await?;
        Ok(())
    }

    /// The services registered with this agent, by service ID (`GET /v1/agent/services`).
    ///
    /// # Errors
    ///
    /// Transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn services(self) -> Result<BTreeMap<ServiceId, AgentService>, Error> {
        let response = self
            .client
            .send(Call::get("/v1/agent/services".to_owned()), &[])
            .await?;
        response.json()
    }

    /// The checks registered with this agent, by check ID (`GET /v1/agent/checks`).
    ///
    /// # Errors
    ///
    /// Transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn checks(self) -> Result<BTreeMap<CheckId, AgentCheck>, Error> {
        let response = self
            .client
            .send(Call::get("/v1/agent/checks".to_owned()), &[])
            .await?;
        response.json()
    }
}
