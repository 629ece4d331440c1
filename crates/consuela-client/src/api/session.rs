//! Sessions: `/v1/session/*`.

use consuela_wire::{NodeName, SessionCreateResponse, SessionEntry, SessionId, SessionRequest};

use crate::client::{Call, Client};
use crate::error::Error;
use crate::query::{QueryOptions, QueryResponse};
use crate::request::{push_segment, validate_segment};
use crate::watch::{Watch, WatchConfig, watch};

/// Session endpoints. Obtain with [`Client::session`].
#[derive(Debug, Clone, Copy)]
pub struct Session<'a> {
    client: &'a Client,
}

fn session_path(action: &str, id: &SessionId) -> Result<String, Error> {
    validate_segment("session id", id.as_str())?;
    let mut path = String::with_capacity(24 + id.as_str().len());
    path.push_str("/v1/session/");
    path.push_str(action);
    path.push('/');
    push_segment(&mut path, id.as_str());
    Ok(path)
}

impl<'a> Session<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// Creates a session (`PUT /v1/session/create`) and returns its ID.
    ///
    /// Fields left `None` in `request` take Consul's defaults (note: the default check list is
    /// `serfHealth` and the default lock-delay 15 s; send `checks: Some(vec![])` and an explicit
    /// `lock_delay` to avoid them).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Server`](crate::ErrorKind::Server) for Consul's validation failures (500
    /// `Invalid Session TTL …`, `Missing check … registration`, `… is in critical state`),
    /// [`ErrorKind::BadRequest`](crate::ErrorKind::BadRequest) for a body Consul cannot decode,
    /// and the transport errors every call can return.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; the session may or may not have been created
    /// (an orphan expires after its TTL, or lives forever without one).
    pub async fn create(self, request: &SessionRequest) -> Result<SessionId, Error> {
        let call = Call::put("/v1/session/create".to_owned()).json(request)?;
        let response = self.client.send(call, &[]).await?;
        Ok(response.json::<SessionCreateResponse>()?.id)
    }

    /// Renews a session's TTL (`PUT /v1/session/renew/<id>`).
    ///
    /// Returns the session as Consul now holds it (re-read its `ttl`: the server may ask for a
    /// longer one), or `None` when Consul answered 404: the session is gone for good.
    ///
    /// # Errors
    ///
    /// Transport and server errors; a 404 is `Ok(None)`, not an error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; the renewal may or may not have happened.
    pub async fn renew(self, id: &SessionId) -> Result<Option<SessionEntry>, Error> {
        let call = Call::put(session_path("renew", id)?);
        let response = self.client.send(call, &[404]).await?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        let mut entries = response.json::<Vec<SessionEntry>>()?;
        Ok(if entries.is_empty() {
            None
        } else {
            Some(entries.swap_remove(0))
        })
    }

    /// Destroys a session (`PUT /v1/session/destroy/<id>`), invalidating it: held keys are
    /// released or deleted per its behavior, and lock-delay applies to them.
    ///
    /// Consul answers success also for unknown sessions, so destroying twice is fine.
    ///
    /// # Errors
    ///
    /// Transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; the session may or may not be destroyed.
    pub async fn destroy(self, id: &SessionId) -> Result<(), Error> {
        let call = Call::put(session_path("destroy", id)?);
        self.client.send(call, &[]).await?;
        Ok(())
    }

    /// Reads one session (`GET /v1/session/info/<id>`); `None` when it does not exist.
    ///
    /// Supports blocking: with `opts.index` set it returns when the sessions table changes
    /// (for example when this session is destroyed) or the wait passes.
    ///
    /// # Errors
    ///
    /// Transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn info(
        self,
        id: &SessionId,
        opts: QueryOptions,
    ) -> Result<QueryResponse<Option<SessionEntry>>, Error> {
        let call = Call::get(session_path("info", id)?);
        let response = self.client.read::<Vec<SessionEntry>>(call, opts).await?;
        Ok(response.map(|mut entries| {
            if entries.is_empty() {
                None
            } else {
                Some(entries.swap_remove(0))
            }
        }))
    }

    /// Lists every session (`GET /v1/session/list`), sorted by ID.
    ///
    /// # Errors
    ///
    /// Transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn list(self, opts: QueryOptions) -> Result<QueryResponse<Vec<SessionEntry>>, Error> {
        self.client
            .read(Call::get("/v1/session/list".to_owned()), opts)
            .await
    }

    /// Lists the sessions bound to `node` (`GET /v1/session/node/<node>`).
    ///
    /// # Errors
    ///
    /// Transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn node(
        self,
        node: &NodeName,
        opts: QueryOptions,
    ) -> Result<QueryResponse<Vec<SessionEntry>>, Error> {
        validate_segment("node name", node.as_str())?;
        let mut path = String::from("/v1/session/node/");
        push_segment(&mut path, node.as_str());
        self.client.read(Call::get(path), opts).await
    }

    /// Watches one session: a [`Watch`] yielding `Some(entry)` while it lives and `None` once
    /// it is gone, each time the sessions table changes.
    pub fn watch_info(self, id: &SessionId, config: WatchConfig) -> Watch<Option<SessionEntry>> {
        let client = self.client.clone();
        let id = id.clone();
        watch(config, move |opts| {
            let client = client.clone();
            let id = id.clone();
            async move { client.session().info(&id, opts).await }
        })
    }
}
