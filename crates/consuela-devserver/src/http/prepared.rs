//! `/v1/query` and `/v1/query/:id[/execute|/explain]`: prepared queries.
//! These endpoints check their own methods (their 405s carry no `OPTIONS`
//! in `Allow`), as Consul 1.0.8's do.

use axum::response::Response;
use consuela_wire::{HealthServiceEntry, HealthStatus};
use http::header::ALLOW;
use http::{HeaderValue, Method, StatusCode};
use rand::seq::SliceRandom as _;
use serde::Serialize;
use serde_json::{Map, Value};

use super::gojson::{Fields, decode_first, expect_object};
use super::query::{QueryOpts, check_dc, check_dc_read};
use super::{Read, Req, bad_request, blocking, empty, json, server_error, text, with_meta};
use crate::state::{
    Dns, Failover, PreparedQuery, QUERY_NOT_FOUND, QueryOp, ServiceQuery, Target, Template,
};

fn not_allowed(method: &Method, allow: &str) -> Response {
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} not allowed"),
    );
    r.headers_mut().insert(
        ALLOW,
        HeaderValue::from_str(allow).unwrap_or(HeaderValue::from_static("GET")),
    );
    r
}

/// `GET /v1/query` (list) and `POST /v1/query` (create).
pub(crate) async fn general(req: Req) -> Response {
    match req.method {
        Method::POST => create(&req),
        Method::GET => list(req).await,
        ref m => not_allowed(m, "GET,POST"),
    }
}

/// `/v1/query/:id`, `/v1/query/:id/execute`, `/v1/query/:id/explain`.
pub(crate) async fn specific(req: Req) -> Response {
    let path = req.rest.clone();
    if req.method == Method::OPTIONS {
        // Consul returns the response writer itself as the body: `{}`.
        let allow = if path.ends_with("/execute") || path.ends_with("/explain") {
            "OPTIONS,GET"
        } else {
            "OPTIONS,GET,PUT,DELETE"
        };
        let mut r = json(&Map::new());
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        return r;
    }
    if let Some(id) = path.strip_suffix("/execute") {
        if req.method != Method::GET {
            return not_allowed(&req.method, "GET");
        }
        let id = id.to_owned();
        return execute(&req, &id);
    }
    if let Some(id) = path.strip_suffix("/explain") {
        if req.method != Method::GET {
            return not_allowed(&req.method, "GET");
        }
        let id = id.to_owned();
        return explain(&req, &id);
    }
    match req.method {
        Method::GET => get(req).await,
        Method::PUT => update(&req),
        Method::DELETE => delete(&req),
        ref m => not_allowed(m, "GET,PUT,DELETE"),
    }
}

/// mapstructure into `structs.PreparedQuery`.
fn decode(body: &[u8]) -> Result<PreparedQuery, String> {
    let v = decode_first(body)?;
    let m = expect_object(&v)?.cloned().unwrap_or_default();
    let mut f = Fields::new(&m, "");
    let sub = |f: &Fields<'_>, name: &str| match f.get(name) {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    let tm = sub(&f, "Template");
    let sm = sub(&f, "Service");
    let dm = sub(&f, "DNS");
    let mut t = Fields::new(&tm, "Template");
    let mut s = Fields::new(&sm, "Service");
    let fm = sub(&s, "Failover");
    let mut fo = Fields::new(&fm, "Service.Failover");
    let mut d = Fields::new(&dm, "DNS");
    let q = PreparedQuery {
        id: f.string("ID").unwrap_or_default(),
        name: f.string("Name").unwrap_or_default(),
        session: f.string("Session").unwrap_or_default(),
        token: f.string("Token").unwrap_or_default(),
        template: Template {
            kind: t.string("Type").unwrap_or_default(),
            regexp: t.string("Regexp").unwrap_or_default(),
            remove_empty_tags: t.bool("RemoveEmptyTags").unwrap_or(false),
        },
        service: ServiceQuery {
            service: s.string("Service").unwrap_or_default(),
            failover: Failover {
                nearest_n: fo.int("NearestN", "int").unwrap_or(0),
                datacenters: fo.strings("Datacenters", "string").unwrap_or_default(),
            },
            only_passing: s.bool("OnlyPassing").unwrap_or(false),
            ignore_check_ids: s
                .strings("IgnoreCheckIDs", "types.CheckID")
                .unwrap_or_default(),
            near: s.string("Near").unwrap_or_default(),
            tags: s.strings("Tags", "string").unwrap_or_default(),
            node_meta: s.string_map("NodeMeta").unwrap_or_default(),
        },
        dns: Dns {
            ttl: d.string("TTL").unwrap_or_default(),
        },
        create_index: 0,
        modify_index: 0,
    };
    for sub in [t, s, fo, d] {
        f.errors.extend(sub.errors);
    }
    f.finish()?;
    Ok(q)
}

fn apply(req: &Req, op: QueryOp, q: PreparedQuery) -> Result<String, Response> {
    check_dc(&req.query, &req.state.shared.config)?;
    req.state
        .shared
        .lock()
        .apply_prepared_query(op, q)
        .map_err(server_error)
}

#[derive(Serialize)]
struct Created {
    #[serde(rename = "ID")]
    id: String,
}

fn create(req: &Req) -> Response {
    let q = match decode(&req.body) {
        Ok(q) => q,
        Err(e) => return bad_request(format!("Request decode failed: {e}")),
    };
    match apply(req, QueryOp::Create, q) {
        Ok(id) => json(&Created { id }),
        Err(r) => r,
    }
}

fn update(req: &Req) -> Response {
    // Consul decodes only a body with a declared length.
    let mut q = if req.content_length().unwrap_or(0) > 0 {
        match decode(&req.body) {
            Ok(q) => q,
            Err(e) => return bad_request(format!("Request decode failed: {e}")),
        }
    } else {
        PreparedQuery::default()
    };
    q.id = req.rest.clone();
    match apply(req, QueryOp::Update, q) {
        Ok(_) => empty(StatusCode::OK),
        Err(r) => r,
    }
}

fn delete(req: &Req) -> Response {
    let q = PreparedQuery {
        id: req.rest.clone(),
        ..PreparedQuery::default()
    };
    match apply(req, QueryOp::Delete, q) {
        Ok(_) => empty(StatusCode::OK),
        Err(r) => r,
    }
}

/// A blocking read of the queries table: `Err(None)` when `eval` found
/// nothing (Consul's 404 `Query not found`).
async fn read_queries(
    req: &Req,
    eval: impl Fn(&crate::state::Inner) -> Option<Vec<PreparedQuery>>,
) -> Response {
    let opts = match QueryOpts::parse(&req.query) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Err(r) = check_dc_read(&req.query, &req.state.shared.config) {
        return r;
    }
    let read = blocking(&req.state, &opts, Target::Queries, |g| {
        let value = eval(g);
        Read {
            found: value.is_some(),
            value,
            index: g.queries.index,
        }
    })
    .await;
    let consistency = Some(opts.consistency());
    match read.value {
        Some(list) => with_meta(json(&list), read.index, consistency),
        None => with_meta(
            text(StatusCode::NOT_FOUND, QUERY_NOT_FOUND),
            read.index,
            consistency,
        ),
    }
}

async fn list(req: Req) -> Response {
    read_queries(&req, |g| Some(g.queries.by_id.values().cloned().collect())).await
}

async fn get(req: Req) -> Response {
    let id = req.rest.to_ascii_lowercase();
    read_queries(&req, |g| g.queries.by_id.get(&id).map(|q| vec![q.clone()])).await
}

/// Query options and `?limit` (Go's `strconv.Atoi`), then the query,
/// resolved. `Err` is the finished response.
fn resolve(req: &Req, id: &str) -> Result<(PreparedQuery, QueryOpts, usize), Response> {
    let opts = QueryOpts::parse(&req.query)?;
    let limit = match req.query.get("limit").filter(|l| !l.is_empty()) {
        None => 0,
        Some(l) => l.parse::<i64>().map_err(|_| {
            server_error(format!(
                "Bad limit: strconv.Atoi: parsing {}: invalid syntax",
                crate::gostr::go_quote(l)
            ))
        })?,
    };
    check_dc_read(&req.query, &req.state.shared.config)?;
    let resolved = req.state.shared.lock().queries.resolve(id);
    let not_found = || {
        with_meta(
            text(StatusCode::NOT_FOUND, QUERY_NOT_FOUND),
            0,
            Some(opts.consistency()),
        )
    };
    match resolved {
        Ok(Some(q)) => Ok((q, opts, usize::try_from(limit).unwrap_or(0))),
        Ok(None) => Err(not_found()),
        Err(e) => Err(with_meta(server_error(e), 0, Some(opts.consistency()))),
    }
}

/// `structs.PreparedQueryExecuteResponse` with its embedded query meta.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Executed {
    service: String,
    nodes: Vec<HealthServiceEntry>,
    #[serde(rename = "DNS")]
    dns: Dns,
    datacenter: String,
    failovers: u64,
    index: u64,
    last_contact: u64,
    known_leader: bool,
    consistency_level: &'static str,
}

/// `FilterIgnore`, then node meta and tag filters, as Consul runs them.
fn filter_nodes(q: &ServiceQuery, nodes: &mut Vec<HealthServiceEntry>) {
    let failing = |e: &HealthServiceEntry| {
        e.checks.iter().any(|c| {
            !q.ignore_check_ids.iter().any(|i| *i == c.check_id.as_str())
                && (c.status == HealthStatus::Critical
                    || (q.only_passing && c.status != HealthStatus::Passing))
        })
    };
    swap_retain(nodes, |e| !failing(e));
    if !q.node_meta.is_empty() {
        nodes.retain(|e| {
            q.node_meta
                .iter()
                .all(|(k, v)| e.node.meta.as_ref().and_then(|m| m.get(k)) == Some(v))
        });
    }
    if !q.tags.is_empty() {
        let (not, must): (Vec<String>, Vec<String>) = q
            .tags
            .iter()
            .map(|t| t.to_ascii_lowercase())
            .partition(|t| t.starts_with('!'));
        let has = |e: &HealthServiceEntry, t: &str| {
            e.service.tags.iter().any(|x| x.eq_ignore_ascii_case(t))
        };
        swap_retain(nodes, |e| {
            must.iter().all(|t| has(e, t)) && !not.iter().any(|t| has(e, &t[1..]))
        });
    }
}

/// Go's in-place filter idiom: a dropped entry's place takes the last one.
fn swap_retain<T>(v: &mut Vec<T>, keep: impl Fn(&T) -> bool) {
    let mut i = 0;
    while i < v.len() {
        if keep(&v[i]) {
            i += 1;
        } else {
            v.swap_remove(i);
        }
    }
}

fn execute(req: &Req, id: &str) -> Response {
    let (q, opts, limit) = match resolve(req, id) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut nodes =
        req.state
            .shared
            .lock()
            .catalog
            .health_entries(&q.service.service, None, |_| true);
    filter_nodes(&q.service, &mut nodes);
    nodes.shuffle(&mut rand::rng());
    if limit > 0 {
        nodes.truncate(limit);
    }
    let body = Executed {
        service: q.service.service.clone(),
        nodes,
        dns: q.dns,
        datacenter: req.state.shared.config.datacenter.clone(),
        failovers: 0,
        index: 0,
        last_contact: 0,
        known_leader: true,
        consistency_level: opts.consistency(),
    };
    with_meta(json(&body), 0, Some(opts.consistency()))
}

/// `structs.PreparedQueryExplainResponse` with its embedded query meta.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Explained {
    query: PreparedQuery,
    index: u64,
    last_contact: u64,
    known_leader: bool,
    consistency_level: &'static str,
}

fn explain(req: &Req, id: &str) -> Response {
    let (query, opts, _) = match resolve(req, id) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = Explained {
        query,
        index: 0,
        last_contact: 0,
        known_leader: true,
        consistency_level: opts.consistency(),
    };
    with_meta(json(&body), 0, Some(opts.consistency()))
}
