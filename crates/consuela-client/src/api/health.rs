//! Health: `/v1/health/*`.

use consuela_wire::HealthServiceEntry;

use crate::client::{Call, Client};
use crate::error::Error;
use crate::query::{QueryOptions, QueryResponse};
use crate::request::{push_segment, validate_segment};
use crate::watch::{Watch, WatchConfig, watch};

/// Health endpoints. Obtain with [`Client::health`].
#[derive(Debug, Clone, Copy)]
pub struct Health<'a> {
    client: &'a Client,
}

impl<'a> Health<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// The instances of `service` with their node and checks (`GET /v1/health/service/<name>`).
    ///
    /// `tag` filters by service tag; `passing` keeps only instances whose every check (node
    /// checks such as `serfHealth` included) is passing. An unknown service gives an empty list.
    /// Supports blocking: it wakes when the service's health changes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for an empty name; transport
    /// and server errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn service(
        self,
        name: &str,
        tag: Option<&str>,
        passing: bool,
        opts: QueryOptions,
    ) -> Result<QueryResponse<Vec<HealthServiceEntry>>, Error> {
        validate_segment("service name", name)?;
        let mut path = String::from("/v1/health/service/");
        push_segment(&mut path, name);
        let mut call = Call::get(path);
        if let Some(tag) = tag {
            call.query.pair("tag", tag);
        }
        if passing {
            call.query.flag("passing");
        }
        self.client.read(call, opts).await
    }

    /// Watches the instances of `service` (see [`service`](Self::service)): a [`Watch`]
    /// yielding the list each time the service's health changes.
    pub fn watch_service(
        self,
        name: &str,
        tag: Option<&str>,
        passing: bool,
        config: WatchConfig,
    ) -> Watch<Vec<HealthServiceEntry>> {
        let client = self.client.clone();
        let name = name.to_owned();
        let tag = tag.map(str::to_owned);
        watch(config, move |opts| {
            let client = client.clone();
            let name = name.clone();
            let tag = tag.clone();
            async move {
                client
                    .health()
                    .service(&name, tag.as_deref(), passing, opts)
                    .await
            }
        })
    }
}
