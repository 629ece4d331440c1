//! Sessions: create, renew, destroy, TTL expiry and invalidation effects.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use consuela_wire::{
    Behavior, CheckId, GoDuration, HealthStatus, Index, NodeName, SessionEntry, SessionId,
};
use tokio::time::Instant;

use super::{Inner, TimerKey};
use crate::config::DevServerConfig;
use crate::gostr::go_quote;

/// A session row plus what the server tracks about it.
#[derive(Debug, Clone)]
pub(crate) struct SessionRecord {
    pub(crate) entry: SessionEntry,
    /// Parsed TTL (`None`: no TTL).
    pub(crate) ttl: Option<Duration>,
    /// When the TTL timer fires.
    pub(crate) deadline: Option<Instant>,
    /// Keys whose `Session` is this session (kept in step with the KV table).
    pub(crate) held: BTreeSet<String>,
}

/// The sessions table, sorted by id (the order `/v1/session/list` uses).
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    pub(crate) by_id: BTreeMap<SessionId, SessionRecord>,
}

/// A malformed session id, with memdb's UUID-index text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdError(pub(crate) String);

/// Validates a session id as Consul's UUID index does and returns its
/// canonical (lowercase, 8-4-4-4-12) form.
pub(crate) fn canonical_id_checked(raw: &str) -> Result<SessionId, IdError> {
    if raw.len() != 36 {
        return Err(IdError("UUID must be 36 characters".to_owned()));
    }
    let hyphens = raw.bytes().filter(|b| *b == b'-').count();
    if hyphens > 4 {
        return Err(IdError(format!(
            "UUID should have maximum of 4 \"-\"; got {hyphens}"
        )));
    }
    let hex: String = raw.chars().filter(|c| *c != '-').collect();
    if !hex.len().is_multiple_of(2) {
        return Err(IdError(
            "Input (without hyphens) must be even length".to_owned(),
        ));
    }
    if let Some(bad) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(IdError(format!(
            "Invalid UUID: encoding/hex: invalid byte: U+{:04X} {}",
            bad as u32,
            go_char(bad)
        )));
    }
    let hex = hex.to_ascii_lowercase();
    if hex.len() != 32 {
        // Valid for the index but cannot be any session's id; keep it unique.
        return Ok(SessionId(hex));
    }
    Ok(SessionId(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )))
}

fn go_char(c: char) -> String {
    let q = go_quote(&c.to_string());
    format!("'{}'", &q[1..q.len() - 1])
}

/// Canonical id, or `None` if malformed.
pub(crate) fn canonical_id(raw: &str) -> Option<SessionId> {
    canonical_id_checked(raw).ok()
}

/// A validated create request (HTTP layer has decoded and defaulted it).
#[derive(Debug, Clone, Default)]
pub(crate) struct CreateSpec {
    pub(crate) name: String,
    pub(crate) node: String,
    /// `None` = not given (Consul's default `["serfHealth"]` applies).
    pub(crate) checks: Option<Vec<String>>,
    pub(crate) node_checks: Option<Vec<String>>,
    pub(crate) service_checks: Option<Vec<String>>,
    pub(crate) lock_delay: Option<i64>,
    pub(crate) behavior: Option<String>,
    pub(crate) ttl: Option<String>,
}

impl CreateSpec {
    /// The effective check list after Consul's `fixupEmptySessionChecks`.
    pub(crate) fn effective_checks(&self) -> Vec<String> {
        let serf = || vec!["serfHealth".to_owned()];
        let mut checks = self.checks.clone().unwrap_or_else(serf);
        let mut node_checks = self.node_checks.clone().unwrap_or_else(serf);
        if checks.is_empty() {
            node_checks.clear();
        } else if (checks.len() == 1 && checks[0] == "serfHealth") || node_checks.is_empty() {
            // Only the default check, or node checks explicitly emptied: the
            // legacy list is dropped in favour of NodeChecks.
            checks.clear();
        }
        let mut out: Vec<String> = Vec::new();
        let svc = self.service_checks.iter().flatten();
        for c in checks.iter().chain(node_checks.iter()).chain(svc) {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
        out
    }
}

/// Why a create failed (all 500s in Consul, with these texts).
pub(crate) type CreateError = String;

impl Inner {
    /// `PUT /v1/session/create` after decoding.
    pub(crate) fn session_create(
        &mut self,
        spec: &CreateSpec,
        now: Instant,
        cfg: &DevServerConfig,
    ) -> Result<SessionId, CreateError> {
        if spec.node.is_empty() {
            return Err("Must provide Node".to_owned());
        }
        let behavior = match spec.behavior.as_deref() {
            None | Some("") => Behavior::Release,
            Some(b) => b.parse::<Behavior>().map_err(|e| e.to_string())?,
        };
        let ttl_str = spec.ttl.clone().unwrap_or_default();
        let mut ttl = None;
        if !ttl_str.is_empty() {
            let ns = consuela_wire::parse_go_duration(&ttl_str)
                .map_err(|e| format!("Session TTL '{ttl_str}' invalid: {e}"))?;
            if ns != 0 {
                let min = i64::try_from(cfg.session_ttl_min.as_nanos()).unwrap_or(i64::MAX);
                let max = i64::try_from(cfg.session_ttl_max.as_nanos()).unwrap_or(i64::MAX);
                if ns < min || ns > max {
                    return Err(format!(
                        "Invalid Session TTL '{ns}', must be between [{}={}]",
                        consuela_wire::format_go_duration(min),
                        consuela_wire::format_go_duration(max)
                    ));
                }
                ttl = Some(Duration::from_nanos(ns.unsigned_abs()));
            }
        }
        if !self.catalog.nodes.contains_key(&spec.node) {
            return Err("Missing node registration".to_owned());
        }
        let checks = spec.effective_checks();
        for c in &checks {
            match self.catalog.checks.get(&(spec.node.clone(), c.clone())) {
                None => return Err(format!("Missing check '{c}' registration")),
                Some(chk) if chk.status == HealthStatus::Critical => {
                    return Err(format!("Check '{c}' is in critical state"));
                }
                Some(_) => {}
            }
        }
        let id = loop {
            let id = SessionId(uuid::Uuid::new_v4().to_string());
            if !self.sessions.by_id.contains_key(&id) {
                break id;
            }
        };
        let idx = self.index.write();
        let entry = SessionEntry {
            id: id.clone(),
            name: spec.name.clone(),
            node: NodeName(spec.node.clone()),
            checks: checks.into_iter().map(CheckId).collect(),
            node_checks: None,
            service_checks: None,
            lock_delay: GoDuration(spec.lock_delay.unwrap_or(15_000_000_000)),
            behavior,
            ttl: ttl_str,
            create_index: Index(idx),
            modify_index: Index(idx),
        };
        let deadline = ttl.map(|t| now + t.mul_f64(cfg.session_ttl_multiplier));
        if let Some(at) = deadline {
            self.add_timer(at, TimerKey::Session(id.clone()));
        }
        self.sessions.by_id.insert(
            id.clone(),
            SessionRecord {
                entry,
                ttl,
                deadline,
                held: BTreeSet::new(),
            },
        );
        self.index.sessions = idx;
        self.pending.sessions = true;
        Ok(id)
    }

    /// `PUT /v1/session/renew/:id`: resets the TTL timer.
    pub(crate) fn session_renew(
        &mut self,
        id: &SessionId,
        now: Instant,
        cfg: &DevServerConfig,
    ) -> Option<SessionEntry> {
        let entry = self.sessions.by_id.get(id)?.entry.clone();
        self.restart_session_timer(id, now, cfg);
        Some(entry)
    }

    /// Arms a session's TTL timer for TTL × multiplier from `now`.
    fn restart_session_timer(&mut self, id: &SessionId, now: Instant, cfg: &DevServerConfig) {
        let Some(rec) = self.sessions.by_id.get_mut(id) else {
            return;
        };
        let old = rec.deadline;
        let new = rec.ttl.map(|t| now + t.mul_f64(cfg.session_ttl_multiplier));
        rec.deadline = new;
        if let Some(at) = old {
            self.remove_timer(at, TimerKey::Session(id.clone()));
        }
        if let Some(at) = new {
            self.add_timer(at, TimerKey::Session(id.clone()));
        }
    }

    /// What a new Raft leader does when it takes over: every TTL session's
    /// timer starts again from `now`.
    pub(crate) fn restart_session_timers(&mut self, now: Instant, cfg: &DevServerConfig) {
        let ids: Vec<SessionId> = self.sessions.by_id.keys().cloned().collect();
        for id in &ids {
            self.restart_session_timer(id, now, cfg);
        }
    }

    /// Destroys a session and applies its Behavior to the keys it holds, all
    /// at one index; starts each key's lock-delay. `false` if unknown.
    pub(crate) fn invalidate_session(
        &mut self,
        id: &SessionId,
        now: Instant,
        cfg: &DevServerConfig,
    ) -> bool {
        let Some(rec) = self.sessions.by_id.remove(id) else {
            return false;
        };
        let idx = self.index.write();
        if let Some(at) = rec.deadline {
            self.remove_timer(at, TimerKey::Session(id.clone()));
        }
        let delay_ns = rec.entry.lock_delay.as_nanos();
        let max = cfg.lock_delay_max;
        let delay = if delay_ns > 0 {
            Duration::from_nanos(delay_ns.unsigned_abs()).min(max)
        } else {
            Duration::ZERO
        };
        for key in &rec.held {
            let held_here = self
                .kv
                .entries
                .get(key)
                .is_some_and(|e| e.session.as_ref() == Some(id));
            if held_here {
                match rec.entry.behavior {
                    Behavior::Release => {
                        if let Some(e) = self.kv.entries.get_mut(key) {
                            e.session = None;
                            e.modify_index = idx;
                        }
                        self.index.kvs = idx;
                        self.pending.kv(key);
                    }
                    Behavior::Delete => self.kv_remove(key),
                }
            }
            if !delay.is_zero() {
                self.kv.lock_delays.insert(key.clone(), now + delay);
            }
        }
        self.index.sessions = idx;
        self.pending.sessions = true;
        true
    }

    /// Invalidates every session on `node` that depends on `check`.
    pub(crate) fn invalidate_sessions_for_check(
        &mut self,
        node: &str,
        check: &str,
        now: Instant,
        cfg: &DevServerConfig,
    ) {
        self.invalidate_sessions_where(now, cfg, |s| {
            s.node.as_str() == node && s.checks.iter().any(|c| c.as_str() == check)
        });
    }

    /// Invalidates every session on `node` (its catalog entry is going away).
    pub(crate) fn invalidate_sessions_on_node(
        &mut self,
        node: &str,
        now: Instant,
        cfg: &DevServerConfig,
    ) {
        self.invalidate_sessions_where(now, cfg, |s| s.node.as_str() == node);
    }

    fn invalidate_sessions_where(
        &mut self,
        now: Instant,
        cfg: &DevServerConfig,
        doomed: impl Fn(&SessionEntry) -> bool,
    ) {
        let ids: Vec<SessionId> = self
            .sessions
            .by_id
            .values()
            .filter(|s| doomed(&s.entry))
            .map(|s| s.entry.id.clone())
            .collect();
        for id in ids {
            self.invalidate_session(&id, now, cfg);
        }
    }

    /// `X-Consul-Index` of session reads: the sessions table index, at least
    /// 1 (what the reference agent reports; an index of 0 would make
    /// blocking clients spin).
    pub(crate) fn sessions_index(&self) -> u64 {
        self.index.sessions.max(1)
    }
}

#[cfg(test)]
mod tests;
