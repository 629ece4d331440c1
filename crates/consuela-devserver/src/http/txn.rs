//! `PUT /v1/txn`.

use axum::response::Response;
use base64::Engine as _;
use bytes::Bytes;
use consuela_wire::{KvVerb, TxnError, TxnResult};
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use super::gojson::{Fields, decode_first, field, go_type};
use super::query::{QueryOpts, check_dc};
use super::{Req, bad_request, json_status, text};
use crate::policy::Kind;
use crate::state::{KvOp, TxnOutcome};

/// Go's `%v` of a float64: the shortest `%g`, with an exponent below 1e-4
/// or from 1e21 on, written with at least two digits (`1e-05`, `1e+21`).
fn go_float(f: f64) -> String {
    if f == 0.0 || (1e-4..1e21).contains(&f.abs()) {
        // Shortest round-trip digits, no trailing `.0`.
        let s = format!("{f}");
        return s
            .strip_suffix(".0")
            .map_or_else(|| s.clone(), str::to_owned);
    }
    let s = format!("{f:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.unsigned_abs())
}

/// Go's `%t` verb applied to a decoded JSON value, for the "unexpected raw
/// type" error Consul 1.0.8 prints when a txn body is not a list: every
/// non-bool operand, map keys included, prints as `%!t(type=value)`; a nil
/// inside a map or slice prints `<nil>`. Map pairs are printed sorted (Go
/// 1.10 printed them in random order).
fn go_percent_t(v: &Value, top: bool) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Null if top => "%!t(<nil>)".to_owned(),
        Value::Null => "<nil>".to_owned(),
        Value::Number(n) => format!("%!t(float64={})", go_float(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => format!("%!t(string={s})"),
        Value::Array(a) => format!(
            "[{}]",
            a.iter()
                .map(|x| go_percent_t(x, false))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("%!t(string={k}):{}", go_percent_t(&m[*k], false)))
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

/// `fixupKVOps`: the body must be a list of objects; a `KV` that is not
/// null must be an object whose `Value`, if not null, is base64 text.
/// Returns the decoded values by op (`None`: no `KV` or no value).
fn fixup(v: &Value) -> Result<Vec<Option<Vec<u8>>>, String> {
    let Value::Array(items) = v else {
        return Err(format!("unexpected raw type: {}", go_percent_t(v, true)));
    };
    let mut values = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(op) = item else {
            return Err(format!("unexpected raw op type: {}", go_type(item)));
        };
        let kv = op
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("kv"))
            .map(|(_, v)| v);
        let value =
            match kv {
                None | Some(Value::Null) => None,
                Some(Value::Object(kv)) => {
                    let value = kv
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("value"))
                        .map(|(_, v)| v);
                    match value {
                    None | Some(Value::Null) => None,
                    Some(Value::String(b64)) => Some(
                        base64::engine::general_purpose::STANDARD
                            .decode(b64.as_bytes())
                            .map_err(|_| {
                                format!(
                                    "failed to decode value: illegal base64 data at input byte {}",
                                    base64_error_offset(b64.as_bytes())
                                )
                            })?,
                    ),
                    Some(other) => return Err(format!("unexpected value type: {}", go_type(other))),
                }
                }
                Some(other) => return Err(format!("unexpected raw KV type: {}", go_type(other))),
            };
        values.push(value);
    }
    Ok(values)
}

/// The decoded body: every op (those without `KV` as `None`), in order.
fn parse_ops(body: &[u8]) -> Result<Vec<Option<KvOp>>, String> {
    let v = decode_first(body)?;
    let values = fixup(&v)?;
    let Value::Array(items) = v else {
        return Ok(Vec::new());
    };
    // mapstructure into `api.TxnOps`: typed fields, errors named by path.
    let mut errors = Vec::new();
    let mut ops = Vec::with_capacity(items.len());
    for (i, (item, value)) in items.iter().zip(values).enumerate() {
        let Some(Value::Object(kv)) = item
            .as_object()
            .and_then(|o| field(o, "KV"))
            .map(|(_, v)| v)
        else {
            ops.push(None);
            continue;
        };
        let mut f = Fields::new(kv, &format!("[{i}].KV"));
        let verb = f.string_as("Verb", "api.KVOp").unwrap_or_default();
        let key = f.string("Key").unwrap_or_default();
        let uint = |f: &mut Fields<'_>, name: &str| f.uint(name, "uint64").unwrap_or(0);
        let mut op = KvOp::new(KvVerb::from(verb.as_str()), key);
        op.flags = uint(&mut f, "Flags");
        op.index = uint(&mut f, "Index");
        op.session = f.string("Session").unwrap_or_default();
        op.value = value.map(Bytes::from);
        errors.append(&mut f.errors);
        ops.push(Some(op));
    }
    let mut all = Fields::new_empty();
    all.errors = errors;
    all.finish()?;
    Ok(ops)
}

/// `convertOps`' limits, in its order: the op count (every op), then each
/// value's size, then their sum.
fn check_limits(ops: &[Option<KvOp>], max_ops: usize, max_value: usize) -> Result<(), Response> {
    let too_large = |m: String| text(StatusCode::PAYLOAD_TOO_LARGE, m);
    if ops.len() > max_ops {
        return Err(too_large(format!(
            "Transaction contains too many operations ({} > {max_ops})",
            ops.len()
        )));
    }
    let mut total = 0usize;
    for op in ops.iter().flatten() {
        let size = op.value.as_ref().map_or(0, Bytes::len);
        if size > max_value {
            return Err(too_large(format!(
                "Value for key {} is too large ({size} > {max_value} bytes)",
                crate::gostr::go_quote(&op.key),
            )));
        }
        total += size;
    }
    if total > max_value {
        return Err(too_large(format!(
            "Cumulative size of key data is too large ({total} > {max_value} bytes)"
        )));
    }
    Ok(())
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

pub(crate) async fn handle(req: Req) -> Response {
    let cfg = &req.state.shared.config;
    let ops = match parse_ops(&req.body) {
        Ok(ops) => ops,
        Err(e) => return bad_request(format!("Failed to parse body: {e}")),
    };
    if let Err(r) = check_limits(&ops, cfg.txn_max_ops, cfg.max_value_size) {
        return r;
    }
    let ops: Vec<KvOp> = ops.into_iter().flatten().collect();
    // Consul's `isWrite`: anything else, unknown verbs included, reads.
    let read_only = ops.iter().all(|op| op.verb.is_read());
    if read_only && let Err(r) = QueryOpts::parse(&req.query) {
        return r;
    }
    if let Err(r) = check_dc(&req.query, cfg) {
        return r;
    }
    // ACLs: every op needs its key (a prefix for delete-tree), read or write.
    let denied: Vec<TxnError> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| {
            if op.verb.is_read() {
                !req.authz.read(Kind::Key, &op.key)
            } else {
                !req.authz.write(Kind::Key, &op.key)
            }
        })
        .map(|(i, _)| TxnError {
            op_index: i,
            what: "Permission denied".to_owned(),
        })
        .collect();
    if !denied.is_empty() {
        return answer(read_only, StatusCode::CONFLICT, None, Some(denied));
    }
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
    answer(read_only, status, results, errors)
}

/// The response: a read-only transaction carries its query meta.
fn answer(
    read_only: bool,
    status: StatusCode,
    results: Option<Vec<TxnResult>>,
    errors: Option<Vec<TxnError>>,
) -> Response {
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
