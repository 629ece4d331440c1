//! The catalog: `/v1/catalog/*`.

use std::collections::BTreeMap;

use consuela_wire::{CatalogNode, CatalogServiceEntry, NodeName, NodeServices};

use crate::client::{Call, Client};
use crate::error::Error;
use crate::query::{QueryOptions, QueryResponse};
use crate::request::{push_segment, validate_segment};

/// Catalog endpoints. Obtain with [`Client::catalog`].
#[derive(Debug, Clone, Copy)]
pub struct Catalog<'a> {
    client: &'a Client,
}

impl<'a> Catalog<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// The registered instances of `service`, without health filtering
    /// (`GET /v1/catalog/service/<name>`); `tag` filters by service tag.
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
        opts: QueryOptions,
    ) -> Result<QueryResponse<Vec<CatalogServiceEntry>>, Error> {
        validate_segment("service name", name)?;
        let mut path = String::from("/v1/catalog/service/");
        push_segment(&mut path, name);
        let mut call = Call::get(path);
        if let Some(tag) = tag {
            call.query.pair("tag", tag);
        }
        self.client.read(call, opts).await
    }

    /// Every service name with the union of its tags (`GET /v1/catalog/services`).
    ///
    /// # Errors
    ///
    /// Transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn services(
        self,
        opts: QueryOptions,
    ) -> Result<QueryResponse<BTreeMap<String, Vec<String>>>, Error> {
        let response = self
            .client
            .read::<BTreeMap<String, Option<Vec<String>>>>(
                Call::get("/v1/catalog/services".to_owned()),
                opts,
            )
            .await?;
        // Consul sends `null` for a service without tags on some versions.
        Ok(response.map(|services| {
            services
                .into_iter()
                .map(|(name, tags)| (name, tags.unwrap_or_default()))
                .collect()
        }))
    }

    /// Every node (`GET /v1/catalog/nodes`).
    ///
    /// # Errors
    ///
    /// Transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn nodes(self, opts: QueryOptions) -> Result<QueryResponse<Vec<CatalogNode>>, Error> {
        self.client
            .read(Call::get("/v1/catalog/nodes".to_owned()), opts)
            .await
    }

    /// One node and its services (`GET /v1/catalog/node/<name>`); `None` for an unknown node.
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
    ) -> Result<QueryResponse<Option<NodeServices>>, Error> {
        validate_segment("node name", node.as_str())?;
        let mut path = String::from("/v1/catalog/node/");
        push_segment(&mut path, node.as_str());
        self.client.read(Call::get(path), opts).await
    }
}
