//! `/v1/health/*`: service instances with their checks, and check listings.

use axum::response::Response;
use consuela_wire::{AgentCheck, HealthServiceEntry, HealthStatus};

use super::catalog::{NodeMetaFilter, catalog_read};
use super::{Req, bad_request};
use crate::state::Inner;
use crate::state::catalog::Catalog;

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
    let meta = NodeMetaFilter::parse(&req);
    catalog_read(&req, |g| {
        let c = &g.catalog;
        let mut entries: Vec<HealthServiceEntry> = c
            .instances(&name, tag.as_deref())
            .filter(|(node_name, _)| meta.matches_node(c, node_name))
            .filter_map(|(node_name, s)| {
                Some(HealthServiceEntry {
                    node: c.node_wire(node_name, c.nodes.get(node_name)?),
                    service: Catalog::service_wire(s, true),
                    checks: c
                        .node_checks(node_name)
                        .filter(|ch| ch.service_id.is_empty() || ch.service_id == s.id)
                        .map(|ch| c.check_wire(ch, true))
                        .collect(),
                })
            })
            .collect();
        if passing {
            filter_non_passing(&mut entries);
        }
        (entries, None)
    })
    .await
}

/// Consul's `filterNonPassing`: a failing entry is replaced by the last
/// one, so the order of what remains is Consul's too.
fn filter_non_passing(entries: &mut Vec<HealthServiceEntry>) {
    let mut i = 0;
    while i < entries.len() {
        if entries[i].is_passing() {
            i += 1;
        } else {
            entries.swap_remove(i);
        }
    }
}

fn checks_where(
    meta: NodeMetaFilter,
    pred: impl Fn(&AgentCheck) -> bool + Send,
) -> impl Fn(&Inner) -> (Vec<AgentCheck>, Option<u64>) {
    move |g: &Inner| {
        let c = &g.catalog;
        let list: Vec<AgentCheck> = c
            .checks
            .values()
            .filter(|ch| meta.matches_node(c, &ch.node))
            .map(|ch| c.check_wire(ch, true))
            .filter(|ch| pred(ch))
            .collect();
        (list, None)
    }
}

pub(crate) async fn health_checks(req: Req) -> Response {
    if req.rest.is_empty() {
        return bad_request("Missing service name");
    }
    let name = req.rest.clone();
    let meta = NodeMetaFilter::parse(&req);
    catalog_read(&req, checks_where(meta, move |ch| ch.service_name == name)).await
}

pub(crate) async fn health_node(req: Req) -> Response {
    if req.rest.is_empty() {
        return bad_request("Missing node name");
    }
    let node = req.rest.clone();
    let meta = NodeMetaFilter::default();
    catalog_read(&req, checks_where(meta, move |ch| ch.node.as_str() == node)).await
}

pub(crate) async fn health_state(req: Req) -> Response {
    let wanted = match req.rest.as_str() {
        "any" => None,
        "passing" => Some(HealthStatus::Passing),
        "warning" => Some(HealthStatus::Warning),
        "critical" => Some(HealthStatus::Critical),
        _ => return bad_request("Invalid check state"),
    };
    let meta = NodeMetaFilter::parse(&req);
    let pred = move |ch: &AgentCheck| wanted.is_none_or(|w| ch.status == w);
    catalog_read(&req, checks_where(meta, pred)).await
}
