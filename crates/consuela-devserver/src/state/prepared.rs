//! Prepared queries: stored service queries, resolved by id, name or name
//! prefix (templates), and executed against the catalog.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Serialize;

use super::Inner;

/// `structs.QueryTemplateOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Template {
    #[serde(rename = "Type")]
    pub(crate) kind: String,
    pub(crate) regexp: String,
    pub(crate) remove_empty_tags: bool,
}

/// `structs.QueryDatacenterOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Failover {
    pub(crate) nearest_n: i64,
    pub(crate) datacenters: Vec<String>,
}

/// `structs.ServiceQuery`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ServiceQuery {
    pub(crate) service: String,
    pub(crate) failover: Failover,
    pub(crate) only_passing: bool,
    #[serde(rename = "IgnoreCheckIDs")]
    pub(crate) ignore_check_ids: Vec<String>,
    pub(crate) near: String,
    pub(crate) tags: Vec<String>,
    pub(crate) node_meta: BTreeMap<String, String>,
}

/// `structs.QueryDNSOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Dns {
    #[serde(rename = "TTL")]
    pub(crate) ttl: String,
}

/// `structs.PreparedQuery`, in its field order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PreparedQuery {
    #[serde(rename = "ID")]
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) session: String,
    pub(crate) token: String,
    pub(crate) template: Template,
    pub(crate) service: ServiceQuery,
    #[serde(rename = "DNS")]
    pub(crate) dns: Dns,
    pub(crate) create_index: u64,
    pub(crate) modify_index: u64,
}

/// The queries by id, and the table index.
#[derive(Debug, Default)]
pub(crate) struct Queries {
    pub(crate) by_id: BTreeMap<String, PreparedQuery>,
    pub(crate) index: u64,
}

/// The template type Consul knows.
pub(crate) const NAME_PREFIX_MATCH: &str = "name_prefix_match";

/// `ErrQueryNotFound`.
pub(crate) const QUERY_NOT_FOUND: &str = "Query not found";

impl PreparedQuery {
    fn is_template(&self) -> bool {
        !self.template.kind.is_empty()
    }
}

/// A name as memdb's lower-cased name index compares it.
fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}

impl Queries {
    /// Consul's `PreparedQueryResolve`: an id (never a template's), else a
    /// name, else the template whose name is the longest prefix of
    /// `id_or_name`, rendered for it. `Ok(None)`: not found.
    pub(crate) fn resolve(&self, id_or_name: &str) -> Result<Option<PreparedQuery>, String> {
        if is_uuid(id_or_name)
            && let Some(q) = self.by_id.get(&id_or_name.to_ascii_lowercase())
        {
            if q.is_template() {
                return Err(
                    "prepared query templates can only be resolved up by name, not by ID"
                        .to_owned(),
                );
            }
            return Ok(Some(q.clone()));
        }
        let prep = |q: &PreparedQuery| {
            if q.is_template() {
                render(q, id_or_name).map(Some)
            } else {
                Ok(Some(q.clone()))
            }
        };
        if let Some(q) = self
            .by_id
            .values()
            .find(|q| !q.name.is_empty() && same_name(&q.name, id_or_name))
        {
            return prep(q);
        }
        let lower = id_or_name.to_ascii_lowercase();
        let template = self
            .by_id
            .values()
            .filter(|q| q.is_template() && lower.starts_with(&q.name.to_ascii_lowercase()))
            .max_by_key(|q| q.name.len());
        match template {
            Some(t) => prep(t),
            None => Ok(None),
        }
    }
}

/// Renders a `name_prefix_match` template for `name`: `${name.full}`,
/// `${name.prefix}`, `${name.suffix}` and `${match(N)}` of the template's
/// regexp, in the service name and tags.
fn render(t: &PreparedQuery, name: &str) -> Result<PreparedQuery, String> {
    let captures: Vec<String> = if t.template.regexp.is_empty() {
        Vec::new()
    } else {
        let re = Regex::new(&t.template.regexp)
            .map_err(|e| format!("failed compiling template: Bad Regexp: {e}"))?;
        re.captures(name)
            .map(|c| {
                c.iter()
                    .map(|m| m.map_or(String::new(), |m| m.as_str().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let suffix = name.get(t.name.len()..).unwrap_or("");
    let fill = |s: &str| {
        let mut out = s
            .replace("${name.full}", name)
            .replace("${name.prefix}", &t.name)
            .replace("${name.suffix}", suffix);
        for (i, c) in captures.iter().enumerate() {
            out = out.replace(&format!("${{match({i})}}"), c);
        }
        out
    };
    let mut q = t.clone();
    q.service.service = fill(&t.service.service);
    q.service.tags = t
        .service
        .tags
        .iter()
        .map(|tag| fill(tag))
        .filter(|tag| !(t.template.remove_empty_tags && tag.is_empty()))
        .collect();
    Ok(q)
}

/// What a write does: create (a new id), update or delete (an existing one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryOp {
    Create,
    Update,
    Delete,
}

impl Inner {
    /// `PreparedQuery.Apply` and the state store's checks, in their order.
    /// Returns the query's id; `Err` is Consul's 500 text.
    pub(crate) fn apply_prepared_query(
        &mut self,
        op: QueryOp,
        mut q: PreparedQuery,
    ) -> Result<String, String> {
        if op == QueryOp::Create {
            if !q.id.is_empty() {
                return Err("ID must be empty when creating a new prepared query".to_owned());
            }
            q.id = loop {
                let id = uuid::Uuid::new_v4().to_string();
                if !self.queries.by_id.contains_key(&id) {
                    break id;
                }
            };
        } else if !self.queries.by_id.contains_key(&q.id) {
            return Err(format!(
                "Cannot modify non-existent prepared query: '{}'",
                q.id
            ));
        }
        if op == QueryOp::Delete {
            self.queries.by_id.remove(&q.id);
            self.queries.index = self.index.write();
            self.pending.queries = true;
            return Ok(q.id);
        }
        validate(&q).map_err(|e| format!("Invalid prepared query: {e}"))?;
        let existing = self.queries.by_id.get(&q.id);
        if !q.name.is_empty() {
            let other = self
                .queries
                .by_id
                .values()
                .find(|o| same_name(&o.name, &q.name));
            if other.is_some_and(|o| o.id != q.id) {
                return Err(format!("name '{}' aliases an existing query name", q.name));
            }
        } else if q.is_template() {
            let other = self
                .queries
                .by_id
                .values()
                .find(|o| o.is_template() && o.name.is_empty());
            if other.is_some_and(|o| o.id != q.id) {
                return Err("a query template with an empty name already exists".to_owned());
            }
        }
        if is_uuid(&q.name)
            && self
                .queries
                .by_id
                .contains_key(&q.name.to_ascii_lowercase())
        {
            return Err(format!("name '{}' aliases an existing query ID", q.name));
        }
        if !q.session.is_empty() && !self.sessions.by_id.keys().any(|s| s.as_str() == q.session) {
            return Err(format!(
                "invalid session {}",
                crate::gostr::go_quote(&q.session)
            ));
        }
        if q.is_template() {
            if q.template.kind != NAME_PREFIX_MATCH {
                return Err(format!(
                    "failed compiling template: Bad Type '{}'",
                    q.template.kind
                ));
            }
            if !q.template.regexp.is_empty() {
                Regex::new(&q.template.regexp)
                    .map_err(|e| format!("failed compiling template: Bad Regexp: {e}"))?;
            }
        }
        let create_index = existing.map(|e| e.create_index);
        let idx = self.index.write();
        q.create_index = create_index.unwrap_or(idx);
        q.modify_index = idx;
        let id = q.id.clone();
        self.queries.by_id.insert(id.clone(), q);
        self.queries.index = idx;
        self.pending.queries = true;
        Ok(id)
    }
}

/// `parseQuery`: the service (required), NearestN, node meta, the DNS TTL.
fn validate(q: &PreparedQuery) -> Result<(), String> {
    if q.token == "<hidden>" {
        return Err(format!(
            "Bad Token '{}', it looks like a query definition with a redacted token was submitted",
            q.token
        ));
    }
    if q.service.service.is_empty() {
        return Err("Must provide a Service name to query".to_owned());
    }
    if q.service.failover.nearest_n < 0 {
        return Err(format!(
            "Bad NearestN '{}', must be >= 0",
            q.service.failover.nearest_n
        ));
    }
    if !q.dns.ttl.is_empty() {
        let ns = consuela_wire::parse_go_duration(&q.dns.ttl)
            .map_err(|e| format!("Bad DNS TTL '{}': {e}", q.dns.ttl))?;
        if ns < 0 {
            return Err(format!("DNS TTL '{ns}', must be >=0"));
        }
    }
    Ok(())
}
