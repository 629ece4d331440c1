//! Query strings as Go's `url.ParseQuery` reads them, and the common
//! blocking/consistency parameters.

use std::time::Duration;

use axum::response::Response;
use http::StatusCode;

use super::text;
use crate::config::DevServerConfig;
use crate::gostr::go_query_escape;

/// Decoded `key=value` pairs in request order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = b.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(h).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

impl Query {
    /// Parses a raw query; pairs with bad escapes are dropped, as
    /// `Request.URL.Query()` does.
    pub(crate) fn parse(raw: &str) -> Self {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                Some((unescape(k)?, unescape(v)?))
            })
            .collect();
        Self { pairs }
    }

    /// The first value of `name` (`Some("")` for a bare `?name`).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` is present at all (Consul's presence flags).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// Go's `Values.Encode()`: sorted by key, query-escaped.
    pub(crate) fn encode_sorted(&self) -> String {
        let mut pairs = self.pairs.clone();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", go_query_escape(k), go_query_escape(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// `?index`, `?wait`, `?stale`, `?consistent` of a read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct QueryOpts {
    pub(crate) index: u64,
    pub(crate) wait: Option<i64>,
    pub(crate) stale: bool,
    pub(crate) consistent: bool,
}

impl QueryOpts {
    /// Parses in Consul's order: consistency conflict, then wait, then index.
    pub(crate) fn parse(q: &Query) -> Result<Self, Response> {
        let mut stale = q.has("stale");
        let consistent = q.has("consistent");
        if let Some(max) = q.get("max_stale").filter(|m| !m.is_empty()) {
            let ns = consuela_wire::parse_go_duration(max).map_err(|_| {
                text(
                    StatusCode::BAD_REQUEST,
                    format!("Invalid max_stale value {}", crate::gostr::go_quote(max)),
                )
            })?;
            stale |= ns > 0;
        }
        if stale && consistent {
            return Err(text(
                StatusCode::BAD_REQUEST,
                "Cannot specify ?stale with ?consistent, conflicting semantics.",
            ));
        }
        let mut opts = Self::parse_wait(q)?;
        opts.stale = stale;
        opts.consistent = consistent;
        Ok(opts)
    }

    /// Consul's `parseWait` alone: `?wait`, then `?index` (endpoints that
    /// take no consistency mode, like `/v1/event/list`).
    pub(crate) fn parse_wait(q: &Query) -> Result<Self, Response> {
        let mut opts = Self::default();
        if let Some(w) = q.get("wait").filter(|w| !w.is_empty()) {
            let ns = consuela_wire::parse_go_duration(w)
                .map_err(|_| text(StatusCode::BAD_REQUEST, "Invalid wait time"))?;
            opts.wait = Some(ns);
        }
        if let Some(i) = q.get("index").filter(|i| !i.is_empty()) {
            // Go's strconv.ParseUint: no sign, digits only.
            opts.index = crate::gostr::parse_uint(i)
                .map_err(|_| text(StatusCode::BAD_REQUEST, "Invalid index"))?;
        }
        Ok(opts)
    }

    /// `X-Consul-Effective-Consistency` for catalog and health reads.
    pub(crate) fn consistency(&self) -> &'static str {
        if self.stale {
            "stale"
        } else if self.consistent {
            "consistent"
        } else {
            "leader"
        }
    }

    /// How long a blocking query may wait: `wait` (default when ≤ 0 or
    /// absent, clamped to the maximum) plus up to `wait/16` of jitter.
    pub(crate) fn timeout(&self, cfg: &DevServerConfig) -> Duration {
        let wait = match self.wait {
            Some(ns) if ns > 0 => Duration::from_nanos(ns.unsigned_abs()),
            _ => cfg.default_query_time,
        }
        .min(cfg.max_query_time);
        let jitter_max = wait / 16;
        let jitter = if jitter_max.is_zero() {
            Duration::ZERO
        } else {
            let ns = u64::try_from(jitter_max.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(rand::random_range(0..ns))
        };
        wait + jitter
    }
}

/// [`check_dc`] for blocking reads, whose failed RPC still writes the zero
/// query meta.
pub(crate) fn check_dc_read(q: &Query, cfg: &DevServerConfig) -> Result<(), Response> {
    check_dc(q, cfg).map_err(super::zero_meta)
}

/// `?dc=`: anything but our datacenter has no path.
pub(crate) fn check_dc(q: &Query, cfg: &DevServerConfig) -> Result<(), Response> {
    match q.get("dc") {
        Some(dc) if !dc.is_empty() && dc != cfg.datacenter => Err(text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No path to datacenter",
        )),
        _ => Ok(()),
    }
}
