//! `/v1/catalog/*` reads; `catalog/register.rs` holds the writes.

pub(crate) mod register;

use std::collections::BTreeMap;

use axum::response::Response;
use consuela_wire::{CatalogNode, CatalogServiceEntry, NodeServices};
use serde::Serialize;

use super::query::{QueryOpts, check_dc_read};
use super::{Read, Req, bad_request, blocking, json, with_meta};
use crate::policy::Kind;
use crate::state::{Catalog, Inner, NodeRecord, Target};

/// `?node-meta=key:value` filters (Consul's `parseMetaFilter`): a node
/// matches when it has every pair; a repeated key keeps its last value, and
/// a filter without `:` wants an empty value.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeMetaFilter(BTreeMap<String, String>);

impl NodeMetaFilter {
    pub(crate) fn parse(req: &Req) -> Self {
        Self(
            req.query
                .all("node-meta")
                .map(|f| {
                    let (k, v) = f.split_once(':').unwrap_or((f, ""));
                    (k.to_owned(), v.to_owned())
                })
                .collect(),
        )
    }

    pub(crate) fn matches(&self, node: &NodeRecord) -> bool {
        self.0.iter().all(|(k, v)| {
            node.meta
                .as_ref()
                .and_then(|m| m.get(k))
                .is_some_and(|x| x == v)
        })
    }

    /// Whether there is no filter at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the named node exists and matches.
    pub(crate) fn matches_node(&self, c: &Catalog, name: &str) -> bool {
        c.nodes.get(name).is_some_and(|n| self.matches(n))
    }
}

/// A blocking catalog (or health) read, in Consul's order: query options,
/// then the name the path must carry (`missing`: the 400 text when it is
/// empty), then the datacenter. `eval` returns the body and its index (the
/// catalog table the read looks at).
pub(crate) async fn catalog_read_value<T>(
    req: &Req,
    missing: Option<&'static str>,
    eval: impl Fn(&Inner) -> (T, u64),
) -> Result<(Read<T>, QueryOpts), Response> {
    let opts = QueryOpts::parse(&req.query)?;
    if let Some(msg) = missing
        && req.rest.is_empty()
    {
        return Err(bad_request(msg));
    }
    check_dc_read(&req.query, &req.state.shared.config)?;
    let read = blocking(&req.state, &opts, Target::Catalog, |g| {
        let (value, index) = eval(g);
        Read {
            value,
            index,
            found: true,
        }
    })
    .await;
    Ok((read, opts))
}

/// [`catalog_read_value`] as a response with the read meta.
pub(crate) async fn catalog_read<T: Serialize>(
    req: &Req,
    missing: Option<&'static str>,
    eval: impl Fn(&Inner) -> (T, u64),
) -> Response {
    match catalog_read_value(req, missing, eval).await {
        Ok((read, opts)) => with_meta(json(&read.value), read.index, Some(opts.consistency())),
        Err(r) => r,
    }
}

pub(crate) async fn catalog_service(req: Req) -> Response {
    let name = req.rest.clone();
    let tag = req.query.get("tag").map(str::to_owned);
    let meta = NodeMetaFilter::parse(&req);
    let authz = req.authz.clone();
    catalog_read(&req, Some("Missing service name"), |g| {
        let c = &g.catalog;
        let list: Vec<CatalogServiceEntry> = c
            .instances(&name, tag.as_deref())
            .filter(|(node_name, s)| {
                meta.matches_node(c, node_name)
                    && authz.read(Kind::Node, node_name)
                    && authz.read(Kind::Service, &s.name)
            })
            .filter_map(|(node_name, s)| {
                let n = c.node_wire(node_name, c.nodes.get(node_name)?);
                Some(CatalogServiceEntry {
                    id: n.id,
                    node: n.node,
                    address: n.address,
                    datacenter: n.datacenter,
                    tagged_addresses: n.tagged_addresses,
                    node_meta: n.meta,
                    service_id: s.id.clone().into(),
                    service_name: s.name.clone(),
                    service_tags: s.tags.clone(),
                    service_address: s.address.clone(),
                    // Consul's PartialClone makes the map: never `null` here.
                    service_meta: Some(s.meta.clone().unwrap_or_default()),
                    service_port: s.port,
                    service_enable_tag_override: s.enable_tag_override,
                    create_index: s.create_index.into(),
                    modify_index: s.modify_index.into(),
                })
            })
            .collect();
        (list, g.catalog_service_index(&name))
    })
    .await
}

pub(crate) async fn catalog_services(req: Req) -> Response {
    let meta = NodeMetaFilter::parse(&req);
    let authz = req.authz.clone();
    catalog_read(&req, None, |g| {
        let c = &g.catalog;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for ((node, _), s) in &c.services {
            if !meta.matches_node(c, node) || !authz.read(Kind::Service, &s.name) {
                continue;
            }
            let tags = out.entry(s.name.clone()).or_default();
            for t in &s.tags {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
        }
        // A node-meta filter reads the nodes table too.
        let index = if meta.is_empty() {
            g.services_index()
        } else {
            g.services_index().max(g.nodes_index())
        };
        (out, index)
    })
    .await
}

pub(crate) async fn catalog_nodes(req: Req) -> Response {
    let meta = NodeMetaFilter::parse(&req);
    let authz = req.authz.clone();
    catalog_read(&req, None, |g| {
        let c = &g.catalog;
        let list: Vec<CatalogNode> = c
            .nodes
            .iter()
            .filter(|(n, r)| meta.matches(r) && authz.read(Kind::Node, n))
            .map(|(n, r)| c.node_wire(n, r))
            .collect();
        (list, g.nodes_index())
    })
    .await
}

pub(crate) async fn catalog_node(req: Req) -> Response {
    let name = req.rest.clone();
    catalog_read(&req, Some("Missing node name"), |g| {
        let c = &g.catalog;
        let Some(node) = c.nodes.get(&name) else {
            // Consul answers `null` with index 0 for an unknown node.
            return (None, 0);
        };
        let services = c
            .node_services(&name)
            .map(|s| (s.id.clone(), Catalog::service_wire(s, true)))
            .collect();
        (
            Some(NodeServices {
                node: c.node_wire(&name, node),
                services,
            }),
            g.node_index(),
        )
    })
    .await
}

pub(crate) fn datacenters(req: &Req) -> Response {
    json(std::slice::from_ref(&req.state.shared.config.datacenter))
}
