//! `PUT /v1/catalog/register` and `PUT /v1/catalog/deregister`, decoded the
//! way Consul 1.0.8 does (JSON, then mapstructure) with the RPC's defaults.

use axum::response::Response;
use consuela_wire::HealthStatus;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::super::authz::denied;
use super::super::gojson::{Fields, decode_first, expect_object};
use super::super::{Req, bad_request, json, server_error};
use crate::policy::Kind;
use crate::state::{
    CatalogDeregistration, CatalogRegistration, CheckKind, CheckSpec, NodeSpec, ServiceSpec,
};

fn decode_failed(e: &str) -> Response {
    bad_request(format!("Request decode failed: {e}"))
}

/// The body as an object (`null` reads as an empty one).
fn body_object(req: &Req) -> Result<Map<String, Value>, Response> {
    let v = decode_first(&req.body).map_err(|e| decode_failed(&e))?;
    Ok(expect_object(&v)
        .map_err(|e| decode_failed(&e))?
        .cloned()
        .unwrap_or_default())
}

/// A body `Datacenter` other than ours: the RPC cannot be forwarded.
/// (1.0.8 reads no `?dc=` on these endpoints.)
fn check_body_dc(req: &Req, dc: Option<String>) -> Result<(), Response> {
    match dc {
        Some(dc) if !dc.is_empty() && dc != req.state.shared.config.datacenter => {
            Err(server_error("No path to datacenter"))
        }
        _ => Ok(()),
    }
}

/// A nested struct field: `None` when absent or `null`, an error when not an
/// object (mapstructure's text).
fn object<'a>(f: &mut Fields<'a>, name: &str) -> Option<&'a Map<String, Value>> {
    match f.get(name)? {
        Value::Object(m) => Some(m),
        v => {
            f.errors.push(format!(
                "'{name}' expected a map, got '{}'",
                super::super::gojson::go_kind(v)
            ));
            None
        }
    }
}

/// `structs.NodeService`.
fn read_service(f: &mut Fields<'_>, m: &Map<String, Value>) -> ServiceSpec {
    let mut sf = Fields::new(m, "Service");
    let name = sf.string("Service").unwrap_or_default();
    let id = sf.string("ID").unwrap_or_default();
    let port = sf.int("Port", "int").unwrap_or(0);
    let spec = ServiceSpec {
        // The RPC's default: the id is the name.
        id: if id.is_empty() { name.clone() } else { id },
        name,
        tags: sf.strings("Tags", "string").unwrap_or_default(),
        address: sf.string("Address").unwrap_or_default(),
        meta: sf.string_map("Meta"),
        port: u16::try_from(port).unwrap_or(0),
        enable_tag_override: sf.bool("EnableTagOverride").unwrap_or(false),
        checks: Vec::new(),
        replace_existing_checks: false,
    };
    f.errors.extend(sf.errors);
    spec
}

/// `structs.HealthCheck`, as (node, check). The status is kept as sent;
/// `Err` for one the dev server cannot store.
fn read_check(
    f: &mut Fields<'_>,
    m: &Map<String, Value>,
    prefix: &str,
) -> (String, CheckSpec, Option<String>) {
    let mut cf = Fields::new(m, prefix);
    let node = cf.string("Node").unwrap_or_default();
    let name = cf.string("Name").unwrap_or_default();
    let id = cf.string("CheckID").unwrap_or_default();
    let status = cf.string("Status").unwrap_or_default();
    let spec = CheckSpec {
        // The RPC's default: the id is the name.
        id: if id.is_empty() { name.clone() } else { id },
        name,
        status: None,
        notes: cf.string("Notes").unwrap_or_default(),
        output: cf.string("Output").unwrap_or_default(),
        service_id: cf.string("ServiceID").unwrap_or_default(),
        kind: CheckKind::Static,
    };
    f.errors.extend(cf.errors);
    (node, spec, Some(status).filter(|s| !s.is_empty()))
}

fn parse_status(s: Option<&str>) -> Result<Option<HealthStatus>, Response> {
    match s {
        None => Ok(None),
        Some(s) => s.parse::<HealthStatus>().map(Some).map_err(|_| {
            server_error(format!(
                "the dev server stores only passing, warning, critical and maintenance check statuses, not {}",
                crate::gostr::go_quote(s)
            ))
        }),
    }
}

fn decode_registration(req: &Req) -> Result<(CatalogRegistration, Option<String>), Response> {
    let m = body_object(req)?;
    let mut f = Fields::new(&m, "");
    let dc = f.string("Datacenter");
    let node = NodeSpec {
        name: f.string("Node").unwrap_or_default(),
        id: f.string("ID").unwrap_or_default(),
        address: f.string("Address").unwrap_or_default(),
        tagged_addresses: f.string_map("TaggedAddresses"),
        meta: f.string_map("NodeMeta"),
    };
    let skip_node_update = f.bool("SkipNodeUpdate").unwrap_or(false);
    let service = object(&mut f, "Service").map(|s| read_service(&mut f, s));
    let mut raw_checks = Vec::new();
    if let Some(c) = object(&mut f, "Check") {
        raw_checks.push(read_check(&mut f, c, "Check"));
    }
    match f.get("Checks") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Object(c) => {
                        raw_checks.push(read_check(&mut f, c, &format!("Checks[{i}]")))
                    }
                    Value::Null => {}
                    v => f.errors.push(format!(
                        "'Checks[{i}]' expected a map, got '{}'",
                        super::super::gojson::go_kind(v)
                    )),
                }
            }
        }
        Some(v) => f.errors.push(format!(
            "'Checks': source data must be an array or slice, got {}",
            super::super::gojson::go_kind(v)
        )),
    }
    f.finish().map_err(|e| decode_failed(&e))?;
    let mut checks = Vec::with_capacity(raw_checks.len());
    for (check_node, mut spec, status) in raw_checks {
        spec.status = parse_status(status.as_deref())?;
        // The RPC's default: a check without a node is on the request's.
        let check_node = if check_node.is_empty() {
            node.name.clone()
        } else {
            check_node
        };
        checks.push((check_node, spec));
    }
    let reg = CatalogRegistration {
        node,
        skip_node_update,
        service,
        checks,
    };
    Ok((reg, dc))
}

/// `PUT /v1/catalog/register`.
pub(crate) fn register(req: &Req) -> Response {
    let (reg, dc) = match decode_registration(req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = check_body_dc(req, dc) {
        return r;
    }
    let service_ok = reg
        .service
        .as_ref()
        .is_none_or(|s| req.authz.write(Kind::Service, &s.name));
    if !(service_ok && req.authz.write(Kind::Node, &reg.node.name)) {
        return denied();
    }
    let shared = &req.state.shared;
    let result = shared
        .lock()
        .catalog_register(reg, Instant::now(), &shared.config);
    match result {
        Ok(()) => json(&true),
        Err(e) => server_error(e),
    }
}

/// `PUT /v1/catalog/deregister`.
pub(crate) fn deregister(req: &Req) -> Response {
    let m = match body_object(req) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let mut f = Fields::new(&m, "");
    let dc = f.string("Datacenter");
    let dereg = CatalogDeregistration {
        node: f.string("Node").unwrap_or_default(),
        service_id: f.string("ServiceID").unwrap_or_default(),
        check_id: f.string("CheckID").unwrap_or_default(),
    };
    if let Err(e) = f.finish() {
        return decode_failed(&e);
    }
    if let Err(r) = check_body_dc(req, dc) {
        return r;
    }
    if !req.authz.write(Kind::Node, &dereg.node) {
        return denied();
    }
    let shared = &req.state.shared;
    let result = shared
        .lock()
        .catalog_deregister(&dereg, Instant::now(), &shared.config);
    match result {
        Ok(()) => json(&true),
        Err(e) => server_error(e),
    }
}
