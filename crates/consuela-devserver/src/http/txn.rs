//! `PUT /v1/txn`.

use axum::response::Response;
use base64::Engine as _;
use bytes::Bytes;
use consuela_wire::{KvVerb, TxnError, TxnResult};
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use super::gojson::{decode_first, field, go_type};
use super::query::check_dc;
use super::{Req, json_status, text};
use crate::state::txn::{KvOp, TxnOutcome};

/// Go's `%t` verb applied to a decoded value, for the "unexpected raw type"
/// error Consul prints when the body is not a list.
fn go_percent_t(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Null => "%!t(<nil>)".to_owned(),
        Value::Number(n) => format!("%!t(float64={n})"),
        Value::String(s) => format!("%!t(string={s})"),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_percent_t).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_percent_t(&m[*k])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// Go's base64 `CorruptInputError` offset for a bad standard-encoded string.
fn base64_error_offset(s: &[u8]) -> usize {
    let valid = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let mut si = 0;
    loop {
        let mut j = 0;
        while j < 4 {
            if si == s.len() {
                return if j == 0 { s.len() } else { si - j };
            }
            let c = s[si];
            si += 1;
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if valid(c) {
                j += 1;
                continue;
            }
            if c != b'=' || j < 2 {
                return si - 1;
            }
            // Padding: "=" at j == 3, or "==" at j == 2, then only the end.
            if j == 2 {
                if si == s.len() {
                    return s.len();
                }
                if s[si] != b'=' {
                    return si - 1;
                }
                si += 1;
            }
            return si;
        }
    }
}

fn parse_ops(body: &[u8], max_value: usize) -> Result<Vec<KvOp>, Response> {
    let fail = |m: String| bad_request(format!("Failed to parse body: {m}"));
    let v = decode_first(body).map_err(fail)?;
    let items = match v {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => {
            return Err(fail(format!(
                "unexpected raw type: {}",
                go_percent_t(&other)
            )));
        }
    };
    let mut ops = Vec::with_capacity(items.len());
    for item in items {
        let Some(obj) = item.as_object() else {
            return Err(fail(format!("unexpected raw type: {}", go_type(&item))));
        };
        let Some((_, Value::Object(kv))) = field(obj, "KV") else {
            continue;
        };
        let s = |name: &str| {
            field(kv, name)
                .and_then(|(_, v)| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let n = |name: &str| {
            field(kv, name)
                .and_then(|(_, v)| {
                    v.as_u64()
                        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                })
                .unwrap_or(0)
        };
        let mut op = KvOp::new(KvVerb::from(s("Verb").as_str()), s("Key"));
        op.flags = n("Flags");
        op.index = n("Index");
        op.session = s("Session");
        if let Some((_, Value::String(b64))) = field(kv, "Value") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|_| {
                    fail(format!(
                        "failed to decode value: illegal base64 data at input byte {}",
                        base64_error_offset(b64.as_bytes())
                    ))
                })?;
            if bytes.len() > max_value {
                return Err(text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "Value for key {} is too large ({} > {} bytes)",
                        crate::gostr::go_quote(&op.key),
                        bytes.len(),
                        max_value
                    ),
                ));
            }
            op.value = Some(Bytes::from(bytes));
        }
        ops.push(op);
    }
    Ok(ops)
}

#[derive(Serialize)]
struct WriteBody {
    #[serde(rename = "Results")]
    results: Option<Vec<TxnResult>>,
    #[serde(rename = "Errors")]
    errors: Option<Vec<TxnError>>,
}

#[derive(Serialize)]
struct ReadBody {
    #[serde(rename = "Results")]
    results: Option<Vec<TxnResult>>,
    #[serde(rename = "Errors")]
    errors: Option<Vec<TxnError>>,
    #[serde(rename = "Index")]
    index: u64,
    #[serde(rename = "LastContact")]
    last_contact: u64,
    #[serde(rename = "KnownLeader")]
    known_leader: bool,
    #[serde(rename = "ConsistencyLevel")]
    consistency_level: &'static str,
}

fn bad_request(m: String) -> Response {
    super::bad_request(m)
}

pub(crate) async fn handle(req: Req) -> Response {
    let cfg = &req.state.shared.config;
    let ops = match parse_ops(&req.body, cfg.max_value_size) {
        Ok(ops) => ops,
        Err(r) => return r,
    };
    if ops.len() > cfg.txn_max_ops {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Transaction contains too many operations ({} > {})",
                ops.len(),
                cfg.txn_max_ops
            ),
        );
    }
    if let Err(r) = check_dc(&req.query, cfg) {
        return r;
    }
    let read_only = ops.iter().all(|op| op.verb.is_read());
    let outcome = req.state.shared.lock().kv_txn(&ops, Instant::now());
    let (status, results, errors) = match outcome {
        TxnOutcome::Applied(entries) => {
            let results = entries
                .into_iter()
                .map(|e| TxnResult { kv: Some(e) })
                .collect();
            (StatusCode::OK, Some(results), None)
        }
        TxnOutcome::Failed(errs) => {
            let errors = errs
                .iter()
                .map(|(i, e)| TxnError {
                    op_index: *i,
                    what: e.what(&ops[*i]),
                })
                .collect();
            (StatusCode::CONFLICT, None, Some(errors))
        }
    };
    if read_only {
        let body = ReadBody {
            results,
            errors,
            index: 0,
            last_contact: 0,
            known_leader: true,
            consistency_level: "",
        };
        let mut r = json_status(status, &body);
        r.headers_mut()
            .insert("x-consul-knownleader", HeaderValue::from_static("true"));
        r.headers_mut()
            .insert("x-consul-lastcontact", HeaderValue::from_static("0"));
        r
    } else {
        json_status(status, &WriteBody { results, errors })
    }
}

#[cfg(test)]
mod tests;
