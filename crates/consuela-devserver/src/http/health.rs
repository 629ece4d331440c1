//! `/v1/health/*`: service instances with their checks, and check listings.

use axum::response::Response;
use consuela_wire::{AgentCheck, HealthServiceEntry};

use super::catalog::{NodeMetaFilter, catalog_read, catalog_read_value};
use super::{Req, bad_request, json, with_meta};
use crate::policy::{Authz, Kind};
use crate::state::Inner;

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
    let name = req.rest.clone();
    let tag = req.query.get("tag").map(str::to_owned);
    let meta = NodeMetaFilter::parse(&req);
    let authz = req.authz.clone();
    let read = catalog_read_value(&req, Some("Missing service name"), |g| {
        let c = &g.catalog;
        if !authz.read(Kind::Service, &name) {
            return (Vec::new(), g.health_service_index(&name));
        }
        let keep = |n: &str| meta.matches_node(c, n) && authz.read(Kind::Node, n);
        let entries = c.health_entries(&name, tag.as_deref(), keep);
        (entries, g.health_service_index(&name))
    })
    .await;
    let (mut read, opts) = match read {
        Ok(x) => x,
        Err(r) => return r,
    };
    // 1.0.8 reads `?passing` only after the query has run.
    match passing_flag(&req) {
        Ok(true) => filter_non_passing(&mut read.value),
        Ok(false) => {}
        Err(r) => return r,
    }
    with_meta(json(&read.value), read.index, Some(opts.consistency()))
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

/// Checks matching `pred` on nodes `meta` accepts, that `authz` may read
/// (the node, and the service of a service check).
fn checks_where(
    authz: Authz,
    meta: NodeMetaFilter,
    pred: impl Fn(&AgentCheck) -> bool + Send,
) -> impl Fn(&Inner) -> (Vec<AgentCheck>, u64) {
    move |g: &Inner| {
        let c = &g.catalog;
        let list: Vec<AgentCheck> = c
            .checks
            .values()
            .filter(|ch| meta.matches_node(c, &ch.node) && authz.read(Kind::Node, &ch.node))
            .map(|ch| c.check_wire(ch, true))
            .filter(|ch| ch.service_id.is_empty() || authz.read(Kind::Service, &ch.service_name))
            .filter(|ch| pred(ch))
            .collect();
        (list, g.checks_index())
    }
}

pub(crate) async fn health_checks(req: Req) -> Response {
    let name = req.rest.clone();
    let meta = NodeMetaFilter::parse(&req);
    let pred = move |ch: &AgentCheck| ch.service_name == name;
    catalog_read(
        &req,
        Some("Missing service name"),
        checks_where(req.authz.clone(), meta, pred),
    )
    .await
}

pub(crate) async fn health_node(req: Req) -> Response {
    let node = req.rest.clone();
    let meta = NodeMetaFilter::default();
    let pred = move |ch: &AgentCheck| ch.node.as_str() == node;
    catalog_read(
        &req,
        Some("Missing node name"),
        checks_where(req.authz.clone(), meta, pred),
    )
    .await
}

/// `GET /v1/health/state/:state`: `any`, or checks whose status is exactly
/// `state` (an unknown state matches nothing, as in 1.0.8).
pub(crate) async fn health_state(req: Req) -> Response {
    let state = req.rest.clone();
    let meta = NodeMetaFilter::parse(&req);
    let pred = move |ch: &AgentCheck| state == "any" || ch.status.as_str() == state;
    catalog_read(
        &req,
        Some("Missing check state"),
        checks_where(req.authz.clone(), meta, pred),
    )
    .await
}
