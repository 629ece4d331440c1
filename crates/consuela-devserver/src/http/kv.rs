//! `/v1/kv/`: GET (single, `?recurse`, `?keys`, `?raw`), PUT (set, `?cas`,
//! `?acquire`, `?release`, `?flags`) and DELETE (`?recurse`, `?cas`).

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use consuela_wire::{KvEntry, KvVerb};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, StatusCode};
use tokio::time::Instant;

use super::query::{QueryOpts, check_dc};
use super::{Read, Req, bad_request, blocking, empty, json, server_error, text, with_meta};
use crate::gostr::parse_uint;
use crate::policy::Kind;
use crate::state::{KvOp, OpError, Target, prefixed};

pub(crate) async fn handle(req: Req) -> Response {
    match req.method {
        Method::GET => get(req).await,
        Method::PUT => put(&req),
        _ => delete(&req),
    }
}

enum Body_ {
    Entries(Vec<KvEntry>),
    Keys(Vec<String>),
    Raw(Option<Bytes>),
    Missing,
}

async fn get(req: Req) -> Response {
    let opts = match QueryOpts::parse(&req.query) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let key = req.rest.clone();
    let q = &req.query;
    let keys = q.has("keys");
    let recurse = q.has("recurse") && !keys;
    let raw = q.has("raw") && !keys && !recurse;
    if !keys && !recurse && key.is_empty() {
        return bad_request("Missing key name");
    }
    if let Err(r) = check_dc(q, &req.state.shared.config) {
        return r;
    }
    let sep = q
        .get("separator")
        .or_else(|| q.get("seperator"))
        .unwrap_or("")
        .to_owned();
    let target = if keys || recurse {
        Target::KvPrefix(key.clone())
    } else {
        Target::KvKey(key.clone())
    };
    let read = blocking(&req.state, &opts, target, |g| {
        let table = g.kv_table_index();
        if keys {
            let index = g.kv.prefix_index(&key, table);
            let mut out: Vec<String> = Vec::new();
            for (k, _) in prefixed(&g.kv.entries, &key) {
                // ACLs filter lists by key read.
                if !req.authz.read(Kind::Key, k) {
                    continue;
                }
                let tail = &k[key.len()..];
                let item = match tail.find(sep.as_str()).filter(|_| !sep.is_empty()) {
                    Some(p) => &k[..key.len() + p + sep.len()],
                    None => k.as_str(),
                };
                if out.last().map(String::as_str) != Some(item) {
                    out.push(item.to_owned());
                }
            }
            let value = if out.is_empty() && !key.is_empty() {
                Body_::Missing
            } else {
                Body_::Keys(out)
            };
            Read {
                value,
                index,
                found: true,
            }
        } else if recurse {
            let index = g.kv.prefix_index(&key, table);
            let out: Vec<KvEntry> = prefixed(&g.kv.entries, &key)
                .filter(|(k, _)| req.authz.read(Kind::Key, k))
                .map(|(k, e)| e.to_wire(k, true))
                .collect();
            let value = if out.is_empty() {
                Body_::Missing
            } else {
                Body_::Entries(out)
            };
            Read {
                value,
                index,
                found: true,
            }
        } else {
            match g.kv.entries.get(&key) {
                Some(e) => Read {
                    value: if raw {
                        Body_::Raw(e.value.clone())
                    } else {
                        Body_::Entries(vec![e.to_wire(&key, true)])
                    },
                    index: e.modify_index,
                    found: true,
                },
                None => Read {
                    value: Body_::Missing,
                    index: table,
                    found: false,
                },
            }
        }
    })
    .await;
    let resp = match read.value {
        Body_::Entries(e) => json(&e),
        Body_::Keys(k) => json(&k),
        Body_::Missing => empty(StatusCode::NOT_FOUND),
        Body_::Raw(v) => {
            let v = v.unwrap_or_default();
            let ct = (!v.is_empty()).then(|| super::sniff::detect_content_type(&v));
            let mut r = Response::new(Body::from(v));
            if let Some(ct) = ct {
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            r
        }
    };
    with_meta(resp, read.index.max(1), None)
}

/// `Conflicting flags` if more than one of the listed parameters is present.
fn conflicting(req: &Req, flags: &[&str]) -> Option<Response> {
    let n = flags.iter().filter(|f| req.query.has(f)).count();
    (n > 1).then(|| bad_request(format!("Conflicting flags: {}", req.query.encode_sorted())))
}

fn put(req: &Req) -> Response {
    let key = req.rest.as_str();
    if key.is_empty() {
        return bad_request("Missing key name");
    }
    if let Some(r) = conflicting(req, &["cas", "acquire", "release"]) {
        return r;
    }
    let q = &req.query;
    let mut op = KvOp::new(KvVerb::Set, key);
    if let Some(f) = q.get("flags") {
        match parse_uint(f) {
            Ok(v) => op.flags = v,
            Err(e) => return server_error(e),
        }
    }
    if let Some(c) = q.get("cas") {
        match parse_uint(c) {
            Ok(v) => {
                op.index = v;
                op.verb = KvVerb::Cas;
            }
            Err(e) => return server_error(e),
        }
    }
    if let Some(s) = q.get("acquire") {
        op.verb = KvVerb::Lock;
        op.session = s.to_owned();
    }
    if let Some(s) = q.get("release") {
        op.verb = KvVerb::Unlock;
        op.session = s.to_owned();
    }
    let cfg = &req.state.shared.config;
    if req.body_too_large || req.body.len() > cfg.max_value_size {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Value exceeds {} byte limit", cfg.max_value_size),
        );
    }
    if let Err(r) = check_dc(q, cfg) {
        return r;
    }
    // Copy: the request body may be a slice of the connection's read buffer,
    // and storing it would pin that whole buffer for as long as the key lives.
    op.value = Some(Bytes::copy_from_slice(&req.body));
    let verb = op.verb.clone();
    let result = req.state.shared.lock().kv_op(op.clone(), Instant::now());
    match result {
        Ok(_) => json(&true),
        Err(
            OpError::CasFailed | OpError::LockHeld | OpError::LockDelay | OpError::UnlockFailed,
        ) => json(&false),
        Err(
            e @ (OpError::MissingSession | OpError::BadSessionId(_) | OpError::InvalidSession(_)),
        ) => server_error(e.what(&op)),
        Err(e) => server_error(format!("{} ({verb})", e.what(&op))),
    }
}

fn delete(req: &Req) -> Response {
    let key = req.rest.as_str();
    let q = &req.query;
    let recurse = q.has("recurse");
    if !recurse && key.is_empty() {
        return bad_request("Missing key name");
    }
    if let Some(r) = conflicting(req, &["recurse", "cas"]) {
        return r;
    }
    let mut op = KvOp::new(
        if recurse {
            KvVerb::DeleteTree
        } else {
            KvVerb::Delete
        },
        key,
    );
    if let Some(c) = q.get("cas") {
        match parse_uint(c) {
            Ok(v) => {
                op.index = v;
                op.verb = KvVerb::DeleteCas;
            }
            Err(e) => return server_error(e),
        }
    }
    if let Err(r) = check_dc(q, &req.state.shared.config) {
        return r;
    }
    match req.state.shared.lock().kv_op(op.clone(), Instant::now()) {
        Ok(_) => json(&true),
        Err(OpError::DeleteCasFailed) => json(&false),
        Err(e) => server_error(e.what(&op)),
    }
}
