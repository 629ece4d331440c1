//! `/v1/catalog/*`, `/v1/health/*` and `/v1/status/*`.

use std::collections::BTreeMap;

use axum::response::Response;
use consuela_wire::{
    AgentCheck, CatalogNode, CatalogServiceEntry, HealthServiceEntry, HealthStatus, NodeServices,
};
use serde::Serialize;

use super::query::{QueryOpts, check_dc};
use super::{Read, Req, bad_request, blocking, json, with_meta};
use crate::state::Inner;
use crate::state::catalog::{Catalog, ServiceRecord};
use crate::state::watch::Target;

/// A blocking catalog read; `eval` returns the body and an index override
/// (`None`: the catalog table index).
async fn catalog_read<T: Serialize>(
    req: &Req,
    eval: impl Fn(&Inner) -> (T, Option<u64>),
) -> Response {
    let opts = match QueryOpts::parse(&req.query) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Err(r) = check_dc(&req.query, &req.state.shared.config) {
        return r;
    }
    let read = blocking(&req.state, &opts, Target::Catalog, |g| {
        let (value, index) = eval(g);
        Read {
            value,
            index: index.unwrap_or_else(|| g.catalog_index()),
            found: true,
        }
    })
    .await;
    with_meta(json(&read.value), read.index, Some(opts.consistency()))
}

fn instances<'a>(
    c: &'a Catalog,
    name: &'a str,
    tag: Option<&'a str>,
) -> impl Iterator<Item = &'a ServiceRecord> + 'a {
    c.services
        .values()
        .filter(move |s| s.name == name && tag.is_none_or(|t| s.tags.iter().any(|x| x == t)))
}

/// `?passing`: present with an empty or true-ish value filters.
fn passing_flag(req: &Req) -> Result<bool, Response> {
    match req.query.get("passing") {
        None => Ok(false),
        Some("" | "1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(_) => Err(bad_request("Invalid value for ?passing")),
    }
}

pub(crate) async fn health_service(req: Req) -> Response {
    if req.rest.is_empty() {
        return bad_request("Missing service name");
    }
    let passing = match passing_flag(&req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let name = req.rest.clone();
    let tag = req.query.get("tag").map(str::to_owned);
    catalog_read(&req, |g| {
        let c = &g.catalog;
        let node_name = c.agent_node.as_str();
        let Some(node) = c.nodes.get(node_name) else {
            return (Vec::new(), None);
        };
        let entries: Vec<HealthServiceEntry> = instances(c, &name, tag.as_deref())
            .map(|s| HealthServiceEntry {
                node: c.node_wire(node_name, node),
                service: Catalog::service_wire(s, true),
                checks: c
                    .node_checks(node_name)
                    .filter(|ch| ch.service_id.is_empty() || ch.service_id == s.id)
                    .map(|ch| c.check_wire(ch, true))
                    .collect(),
            })
            .filter(|e| !passing || e.is_passing())
            .collect();
        (entries, None)
    })
    .await
}

fn checks_where(
    req: &Req,
    pred: impl Fn(&Catalog, &AgentCheck) -> bool + Send,
) -> impl Fn(&Inner) -> (Vec<AgentCheck>, Option<u64>) {
    let _ = req;
    move |g: &Inner| {
        let c = &g.catalog;
        let list: Vec<AgentCheck> = c
            .checks
            .values()
            .map(|ch| c.check_wire(ch, true))
            .filter(|ch| pred(c, ch))
            .collect();
        (list, None)
    }
}

pub(crate) async fn health_checks(req: Req) -> Response {
    if req.rest.is_empty() {
        return bad_request("Missing service name");
    }
    let name = req.rest.clone();
    let eval = checks_where(&req, move |_, ch| ch.service_name == name);
    catalog_read(&req, eval).await
}

pub(crate) async fn health_node(req: Req) -> Response {
    if req.rest.is_empty() {
        return bad_request("Missing node name");
    }
    let node = req.rest.clone();
    let eval = checks_where(&req, move |_, ch| ch.node.as_str() == node);
    catalog_read(&req, eval).await
}

pub(crate) async fn health_state(req: Req) -> Response {
    let state = req.rest.clone();
    let wanted = match state.as_str() {
        "any" => None,
        "passing" => Some(HealthStatus::Passing),
        "warning" => Some(HealthStatus::Warning),
        "critical" => Some(HealthStatus::Critical),
        _ => return bad_request("Invalid check state"),
    };
    let eval = checks_where(&req, move |_, ch| wanted.is_none_or(|w| ch.status == w));
    catalog_read(&req, eval).await
}

pub(crate) async fn catalog_service(req: Req) -> Response {
    if req.rest.is_empty() {
        return bad_request("Missing service name");
    }
    let name = req.rest.clone();
    let tag = req.query.get("tag").map(str::to_owned);
    catalog_read(&req, |g| {
        let c = &g.catalog;
        let node_name = c.agent_node.as_str();
        let Some(node) = c.nodes.get(node_name) else {
            return (Vec::new(), None);
        };
        let n = c.node_wire(node_name, node);
        let list: Vec<CatalogServiceEntry> = instances(c, &name, tag.as_deref())
            .map(|s| CatalogServiceEntry {
                id: n.id.clone(),
                node: n.node.clone(),
                address: n.address.clone(),
                datacenter: n.datacenter.clone(),
                tagged_addresses: n.tagged_addresses.clone(),
                node_meta: n.meta.clone(),
                service_id: s.id.clone().into(),
                service_name: s.name.clone(),
                service_tags: s.tags.clone(),
                service_address: s.address.clone(),
                service_meta: s.meta.clone(),
                service_port: s.port,
                service_enable_tag_override: s.enable_tag_override,
                create_index: s.create_index.into(),
                modify_index: s.modify_index.into(),
            })
            .collect();
        (list, None)
    })
    .await
}

pub(crate) async fn catalog_services(req: Req) -> Response {
    catalog_read(&req, |g| {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in g.catalog.services.values() {
            let tags = out.entry(s.name.clone()).or_default();
            for t in &s.tags {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
        }
        (out, None)
    })
    .await
}

pub(crate) async fn catalog_nodes(req: Req) -> Response {
    catalog_read(&req, |g| {
        let c = &g.catalog;
        let list: Vec<CatalogNode> = c.nodes.iter().map(|(n, r)| c.node_wire(n, r)).collect();
        (list, None)
    })
    .await
}

pub(crate) async fn catalog_node(req: Req) -> Response {
    if req.rest.is_empty() {
        return bad_request("Missing node name");
    }
    let name = req.rest.clone();
    catalog_read(&req, |g| {
        let c = &g.catalog;
        let Some(node) = c.nodes.get(&name) else {
            // Consul answers `null` with index 0 for an unknown node.
            return (None, Some(0));
        };
        let services = if name == c.agent_node {
            c.services
                .iter()
                .map(|(k, s)| (k.clone(), Catalog::service_wire(s, true)))
                .collect()
        } else {
            BTreeMap::new()
        };
        (
            Some(NodeServices {
                node: c.node_wire(&name, node),
                services,
            }),
            None,
        )
    })
    .await
}

pub(crate) fn status_leader(req: &Req) -> Response {
    let id = &req.state.shared.identity;
    json(&format!("{}:{}", id.address, id.server_port))
}

pub(crate) fn status_peers(req: &Req) -> Response {
    let id = &req.state.shared.identity;
    json(&[format!("{}:{}", id.address, id.server_port)])
}
