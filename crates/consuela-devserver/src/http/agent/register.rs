//! `/v1/agent/service/*` and `/v1/agent/check/*`: registrations, with the
//! agent's check definitions, and TTL check updates.

use std::time::Duration;

use axum::response::Response;
use consuela_wire::HealthStatus;
use http::StatusCode;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::super::authz::{check_service, denied, may_write_check};
use super::super::gojson::{Fields, decode_first, expect_object};
use super::super::{Req, bad_request, empty, server_error};
use crate::policy::Kind;
use crate::state::{CheckKind, CheckSpec, ServiceSpec};

/// Consul's `FixupCheckType`: duration fields given as strings are parsed
/// (as nanoseconds) before the struct decode; errors name the key as sent.
fn fixup_check_type(v: &Value) -> Result<Value, String> {
    let Value::Object(m) = v else {
        return Ok(v.clone());
    };
    let mut out = Map::new();
    for (k, val) in m {
        let lower = k.to_ascii_lowercase().replace('_', "");
        let is_duration = matches!(
            lower.as_str(),
            "ttl" | "interval" | "timeout" | "deregistercriticalserviceafter"
        );
        match val {
            Value::String(s) if is_duration => {
                let ns = consuela_wire::parse_go_duration(s)
                    .map_err(|e| format!("invalid {}: {e}", crate::gostr::go_quote(k)))?;
                out.insert(k.clone(), json!(ns));
            }
            other => {
                out.insert(k.clone(), other.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

fn duration(f: &mut Fields<'_>, name: &str) -> Duration {
    let ns = f.int(name, "time.Duration").unwrap_or(0);
    Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
}

/// A decoded check definition: (CheckID or ID, Name, Status, Notes, kind,
/// ServiceID). `Err` texts are the 400 bodies.
struct CheckDef {
    id: Option<String>,
    name: Option<String>,
    status: Option<String>,
    notes: String,
    service_id: String,
    ttl: Duration,
    tcp: String,
    http: String,
    /// `Script` (run through `/bin/sh -c`) or `Args`/`ScriptArgs`.
    script: Option<Vec<String>>,
    interval: Duration,
    timeout: Duration,
}

fn read_check(f: &mut Fields<'_>) -> CheckDef {
    let script = match f.string("Script").filter(|s| !s.is_empty()) {
        Some(s) => Some(vec!["/bin/sh".to_owned(), "-c".to_owned(), s]),
        None => f
            .strings("ScriptArgs", "string")
            .or_else(|| f.strings("Args", "string"))
            .filter(|a| !a.is_empty()),
    };
    CheckDef {
        id: f.string("CheckID").or_else(|| f.string("ID")),
        name: f.string("Name"),
        status: f.string("Status"),
        notes: f.string("Notes").unwrap_or_default(),
        service_id: f.string("ServiceID").unwrap_or_default(),
        ttl: duration(f, "TTL"),
        tcp: f.string("TCP").unwrap_or_default(),
        http: f.string("HTTP").unwrap_or_default(),
        script,
        interval: duration(f, "Interval"),
        timeout: duration(f, "Timeout"),
    }
}

impl CheckDef {
    fn is_empty(&self) -> bool {
        self.id.is_none()
            && self.name.is_none()
            && self.status.is_none()
            && self.notes.is_empty()
            && self.ttl.is_zero()
            && self.tcp.is_empty()
            && self.http.is_empty()
            && self.script.is_none()
            && self.interval.is_zero()
            && self.timeout.is_zero()
    }

    /// `CheckType.Validate`, then the kind.
    fn kind(&self) -> Result<CheckKind, String> {
        let interval_check = self.script.is_some() || !self.http.is_empty() || !self.tcp.is_empty();
        if !self.interval.is_zero() && !self.ttl.is_zero() {
            return Err("Interval and TTL cannot both be specified".to_owned());
        }
        if interval_check && self.interval.is_zero() {
            return Err("Interval must be > 0 for Script, HTTP, or TCP checks".to_owned());
        }
        if !interval_check && self.ttl.is_zero() {
            return Err("TTL must be > 0 for TTL checks".to_owned());
        }
        let timeout = if self.timeout.is_zero() {
            Duration::from_secs(10)
        } else {
            self.timeout
        };
        Ok(if !self.tcp.is_empty() {
            CheckKind::Tcp {
                addr: self.tcp.clone(),
                interval: self.interval,
                timeout,
            }
        } else if !self.http.is_empty() {
            CheckKind::Http {
                url: self.http.clone(),
                interval: self.interval,
                timeout,
            }
        } else if let Some(args) = &self.script {
            CheckKind::Script {
                args: args.clone(),
                interval: self.interval,
                // Consul's check monitor waits 30 s unless told otherwise.
                timeout: if self.timeout.is_zero() {
                    Duration::from_secs(30)
                } else {
                    self.timeout
                },
            }
        } else {
            CheckKind::Ttl(self.ttl)
        })
    }

    fn status(&self) -> Result<Option<HealthStatus>, ()> {
        match self.status.as_deref() {
            None | Some("") => Ok(None),
            Some("passing") => Ok(Some(HealthStatus::Passing)),
            Some("warning") => Ok(Some(HealthStatus::Warning)),
            Some("critical") => Ok(Some(HealthStatus::Critical)),
            Some(_) => Err(()),
        }
    }
}

fn decode_service(req: &Req) -> Result<(ServiceSpec, Vec<CheckDef>), Response> {
    let decode_err = |e: String| bad_request(format!("Request decode failed: {e}"));
    let v = decode_first(&req.body).map_err(decode_err)?;
    let mut v = v;
    if let Value::Object(m) = &mut v {
        if let Some(eto) = m.remove("enable_tag_override") {
            m.entry("EnableTagOverride").or_insert(eto);
        }
        let keys: Vec<String> = m.keys().cloned().collect();
        for k in keys {
            match k.to_ascii_lowercase().as_str() {
                "check" => {
                    let fixed = fixup_check_type(&m[&k]).map_err(decode_err)?;
                    m.insert(k, fixed);
                }
                "checks" => {
                    if let Value::Array(items) = &m[&k] {
                        let fixed: Result<Vec<Value>, String> =
                            items.iter().map(fixup_check_type).collect();
                        m.insert(k, Value::Array(fixed.map_err(decode_err)?));
                    }
                }
                _ => {}
            }
        }
    }
    let m = expect_object(&v)
        .map_err(decode_err)?
        .cloned()
        .unwrap_or_default();
    let mut f = Fields::new(&m, "");
    let name = f.string("Name").unwrap_or_default();
    let id = f.string("ID").unwrap_or_default();
    let tags = f.strings("Tags", "string").unwrap_or_default();
    let address = f.string("Address").unwrap_or_default();
    let port = f.int("Port", "int").unwrap_or(0);
    let meta = f.string_map("Meta").unwrap_or_default();
    let eto = f.bool("EnableTagOverride").unwrap_or(false);
    let mut defs = Vec::new();
    let mut nested_errors = Vec::new();
    if let Some(Value::Object(c)) = f.get("Check") {
        let mut cf = Fields::new(c, "Check");
        let def = read_check(&mut cf);
        nested_errors.extend(cf.errors);
        if !def.is_empty() {
            defs.push(def);
        }
    }
    if let Some(Value::Array(items)) = f.get("Checks") {
        for (i, item) in items.iter().enumerate() {
            if let Value::Object(c) = item {
                let mut cf = Fields::new(c, &format!("Checks[{i}]"));
                defs.push(read_check(&mut cf));
                nested_errors.extend(cf.errors);
            }
        }
    }
    f.errors.extend(nested_errors);
    f.finish().map_err(decode_err)?;
    let Ok(port) = u16::try_from(port) else {
        return Err(bad_request("Request decode failed: invalid Port"));
    };
    let id = if id.is_empty() { name.clone() } else { id };
    let spec = ServiceSpec {
        id,
        name,
        tags,
        address,
        meta: Some(meta),
        port,
        enable_tag_override: eto,
        checks: Vec::new(),
        replace_existing_checks: req
            .query
            .get("replace-existing-checks")
            .is_some_and(|v| v.is_empty() || v.eq_ignore_ascii_case("true") || v == "1"),
    };
    Ok((spec, defs))
}

pub(crate) fn register_service(req: &Req) -> Response {
    let (mut spec, defs) = match decode_service(req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if spec.name.is_empty() {
        return bad_request("Missing service name");
    }
    if matches!(spec.address.as_str(), "0.0.0.0" | "::" | "[::]") {
        return bad_request("Invalid service address");
    }
    for (k, v) in spec.meta.iter().flatten() {
        if k.is_empty()
            || k.len() > 128
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return bad_request(format!(
                "Invalid Service Meta: Key contains invalid characters: {k:?}"
            ));
        }
        if k.starts_with("consul-") {
            return bad_request(format!(
                "Invalid Service Meta: Key prefix 'consul-' is reserved for internal use: {k:?}"
            ));
        }
        if v.len() > 512 {
            return bad_request(format!(
                "Invalid Service Meta: Value is too long (limit: 512 characters): {k:?}"
            ));
        }
    }
    let n = defs.len();
    for (i, def) in defs.iter().enumerate() {
        let kind = match def.kind() {
            Ok(k) => k,
            Err(e) => return bad_request(format!("Invalid check: {e}")),
        };
        let Ok(status) = def.status() else {
            return bad_request("Status for checks must 'passing', 'warning', 'critical'");
        };
        let id = match &def.id {
            Some(id) if !id.is_empty() => id.clone(),
            _ if n > 1 => format!("service:{}:{}", spec.id, i + 1),
            _ => format!("service:{}", spec.id),
        };
        let name = def
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("Service '{}' check", spec.name));
        spec.checks.push(CheckSpec {
            id,
            name,
            status,
            notes: def.notes.clone(),
            output: String::new(),
            service_id: spec.id.clone(),
            kind,
        });
    }
    let shared = &req.state.shared;
    if !req.authz.write(Kind::Service, &spec.name) {
        return denied();
    }
    if let Err(r) = scripts_allowed(req, spec.checks.iter()) {
        return r;
    }
    let spawns = shared
        .lock()
        .register_service(spec, Instant::now(), &shared.config);
    crate::checks::spawn_runners(&req.state, spawns);
    empty(StatusCode::OK)
}

/// Consul's `AddService`/`AddCheck` refusal of script checks unless
/// `enable_script_checks` is on.
fn scripts_allowed<'a>(
    req: &Req,
    mut checks: impl Iterator<Item = &'a CheckSpec>,
) -> Result<(), Response> {
    let script = checks.any(|c| matches!(c.kind, CheckKind::Script { .. }));
    if script && !req.state.shared.config.enable_script_checks {
        return Err(server_error(
            "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' to true",
        ));
    }
    Ok(())
}

pub(crate) fn deregister_service(req: &Req) -> Response {
    if !may_write_check(req, &req.rest) {
        return denied();
    }
    let shared = &req.state.shared;
    shared
        .lock()
        .deregister_service(&req.rest, Instant::now(), &shared.config);
    empty(StatusCode::OK)
}

pub(crate) fn register_check(req: &Req) -> Response {
    let decode_err = |e: String| bad_request(format!("Request decode failed: {e}"));
    let v = match decode_first(&req.body).and_then(|v| fixup_check_type(&v)) {
        Ok(v) => v,
        Err(e) => return decode_err(e),
    };
    let m = match expect_object(&v) {
        Ok(m) => m.cloned().unwrap_or_default(),
        Err(e) => return decode_err(e),
    };
    let mut f = Fields::new(&m, "");
    let def = read_check(&mut f);
    if let Err(e) = f.finish() {
        return decode_err(e);
    }
    let Some(name) = def.name.clone().filter(|n| !n.is_empty()) else {
        return bad_request("Missing check name");
    };
    let Ok(status) = def.status() else {
        return bad_request("Bad check status");
    };
    let kind = match def.kind() {
        Ok(k) => k,
        Err(e) => return bad_request(format!("Invalid check: {e}")),
    };
    let id = def
        .id
        .clone()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| name.clone());
    let spec = CheckSpec {
        id,
        name,
        status,
        notes: def.notes.clone(),
        output: String::new(),
        service_id: def.service_id.clone(),
        kind,
    };
    let shared = &req.state.shared;
    if !may_write_check(req, &spec.service_id) {
        return denied();
    }
    if let Err(r) = scripts_allowed(req, std::iter::once(&spec)) {
        return r;
    }
    let result = shared
        .lock()
        .register_check(spec, Instant::now(), &shared.config);
    match result {
        Ok(spawns) => {
            crate::checks::spawn_runners(&req.state, spawns);
            empty(StatusCode::OK)
        }
        Err(e) => server_error(e),
    }
}

pub(crate) fn deregister_check(req: &Req) -> Response {
    if !may_write_check(req, &check_service(req, &req.rest)) {
        return denied();
    }
    let shared = &req.state.shared;
    shared
        .lock()
        .deregister_check(&req.rest, Instant::now(), &shared.config);
    empty(StatusCode::OK)
}

/// pass/warn/fail (`status` given, `?note=` is the output) and update (body).
pub(crate) fn ttl_update(req: &Req, status: Option<HealthStatus>) -> Response {
    let (status, output) = match status {
        Some(s) => (s, req.query.get("note").unwrap_or("").to_owned()),
        None => {
            let v = match decode_first(&req.body) {
                Ok(v) => v,
                Err(e) => return bad_request(format!("Request decode failed: {e}")),
            };
            let m = match expect_object(&v) {
                Ok(m) => m.cloned().unwrap_or_default(),
                Err(e) => return bad_request(format!("Request decode failed: {e}")),
            };
            let mut f = Fields::new(&m, "");
            let st = f.string("Status").unwrap_or_default();
            let out = f.string("Output").unwrap_or_default();
            if let Err(e) = f.finish() {
                return bad_request(format!("Request decode failed: {e}"));
            }
            match st.as_str() {
                "passing" => (HealthStatus::Passing, out),
                "warning" => (HealthStatus::Warning, out),
                "critical" => (HealthStatus::Critical, out),
                other => return bad_request(format!("Invalid check status: '{other}'")),
            }
        }
    };
    if !may_write_check(req, &check_service(req, &req.rest)) {
        return denied();
    }
    let shared = &req.state.shared;
    let result =
        shared
            .lock()
            .update_ttl_check(&req.rest, status, &output, Instant::now(), &shared.config);
    match result {
        Ok(()) => empty(StatusCode::OK),
        Err(e) => server_error(e),
    }
}
