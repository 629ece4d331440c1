//! `/v1/coordinate/*`: network coordinates of the agents' nodes.

use axum::response::Response;
use consuela_wire::{Coord, NodeCoordinate};
use http::StatusCode;
use serde::Serialize;

use super::gojson::{Fields, decode_first, expect_object};
use super::query::{QueryOpts, check_dc_read};
use super::{Read, Req, bad_request, blocking, empty, json, server_error, with_meta};
use crate::state::{Inner, Target};

/// `structs.DatacenterMap`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DatacenterMap {
    datacenter: String,
    #[serde(rename = "AreaID")]
    area_id: &'static str,
    coordinates: Vec<NodeCoordinate>,
}

fn node_coordinates(g: &Inner, node: Option<&str>, segment: Option<&str>) -> Vec<NodeCoordinate> {
    g.operator
        .coordinates
        .iter()
        .filter(|((n, s), _)| node.is_none_or(|x| x == n) && segment.is_none_or(|x| x == s))
        .map(|((n, s), c)| NodeCoordinate {
            node: n.clone(),
            segment: s.clone(),
            coord: c.clone(),
        })
        .collect()
}

/// `GET /v1/coordinate/datacenters`: the WAN coordinates of the servers.
pub(crate) fn datacenters(req: &Req) -> Response {
    let s = &req.state.shared;
    let g = s.lock();
    let coordinates = node_coordinates(&g, Some(&s.config.node_name), Some(""));
    json(&[DatacenterMap {
        datacenter: s.config.datacenter.clone(),
        area_id: "wan",
        coordinates,
    }])
}

async fn read(
    req: &Req,
    node: Option<String>,
    segment: Option<String>,
) -> Result<Read<Vec<NodeCoordinate>>, Response> {
    let opts = QueryOpts::parse(&req.query)?;
    check_dc_read(&req.query, &req.state.shared.config)?;
    Ok(blocking(&req.state, &opts, Target::Operator, |g| Read {
        value: node_coordinates(g, node.as_deref(), segment.as_deref()),
        index: g.operator.coordinates_index,
        found: true,
    })
    .await)
}

/// `GET /v1/coordinate/nodes[?segment=]` (blocking).
pub(crate) async fn nodes(req: Req) -> Response {
    let segment = req.query.get("segment").map(str::to_owned);
    match read(&req, None, segment).await {
        Ok(r) => with_meta(json(&r.value), r.index, None),
        Err(r) => r,
    }
}

/// `GET /v1/coordinate/node/:node` (blocking): 404 without a coordinate.
pub(crate) async fn node(req: Req) -> Response {
    let node = req.rest.clone();
    let segment = req.query.get("segment").map(str::to_owned);
    match read(&req, Some(node), segment).await {
        Ok(r) if r.value.is_empty() => with_meta(empty(StatusCode::NOT_FOUND), r.index, None),
        Ok(r) => with_meta(json(&r.value), r.index, None),
        Err(r) => r,
    }
}

/// `PUT /v1/coordinate/update`: `{Node, Segment, Coord}`.
pub(crate) fn update(req: &Req) -> Response {
    let decode = || -> Result<(String, String, Option<Coord>, Option<String>), String> {
        let v = decode_first(&req.body)?;
        let m = expect_object(&v)?.cloned().unwrap_or_default();
        let mut f = Fields::new(&m, "");
        let node = f.string("Node").unwrap_or_default();
        let segment = f.string("Segment").unwrap_or_default();
        let dc = f.string("Datacenter");
        let coord = match f.get("Coord") {
            None => None,
            Some(c) => Some(serde_json::from_value::<Coord>(c.clone()).map_err(|e| e.to_string())?),
        };
        f.finish()?;
        Ok((node, segment, coord, dc))
    };
    let (node, segment, coord, dc) = match decode() {
        Ok(x) => x,
        Err(e) => return bad_request(format!("Request decode failed: {e}")),
    };
    if dc.is_some_and(|dc| !dc.is_empty() && dc != req.state.shared.config.datacenter) {
        return server_error("No path to datacenter");
    }
    let coord = coord.unwrap_or_else(|| Coord {
        vec: Vec::new(),
        ..Coord::default()
    });
    if !coord.is_valid() {
        return server_error("invalid coordinate");
    }
    if coord.vec.len() != Coord::default().vec.len() {
        return server_error("incompatible coordinate");
    }
    // Consul drops updates for nodes it does not know, silently.
    let mut g = req.state.shared.lock();
    if g.catalog.nodes.contains_key(&node) {
        g.set_coordinate(&node, &segment, coord);
    }
    empty(StatusCode::OK)
}
