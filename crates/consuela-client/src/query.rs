//! Read options and response metadata: consistency modes and blocking-query parameters.

use std::time::Duration;

use consuela_wire::Index;
use reqwest::header::HeaderMap;

use crate::request::Query;

/// Consul's default wait for a blocking query without `wait` (5 minutes).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(300);

/// Consul's maximum wait; longer waits are clamped by the server (10 minutes).
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// Read consistency mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Consistency {
    /// The leader answers without re-checking its leadership (Consul's default).
    #[default]
    Default,
    /// The leader confirms its leadership with a quorum first (`?consistent`).
    Consistent,
    /// Any server answers, possibly stale (`?stale`).
    Stale,
}

/// Options of a read.
///
/// With `index` set to a non-zero value the read becomes a *blocking query*: Consul holds the
/// answer until the result's index exceeds `index` or `wait` passes (default 5 min, at most
/// 10 min, plus up to `wait/16` of jitter). The client extends its request timeout accordingly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// The index to block on (`X-Consul-Index` of the previous answer). `None` or `0` does not
    /// block.
    pub index: Option<Index>,
    /// The longest time to block. Sent as whole milliseconds.
    pub wait: Option<Duration>,
    /// The consistency mode.
    pub consistency: Consistency,
}

impl QueryOptions {
    /// A non-blocking read in the default mode.
    pub fn new() -> Self {
        Self::default()
    }

    /// A blocking read on `index` for at most `wait`.
    pub fn blocking(index: Index, wait: Duration) -> Self {
        Self {
            index: Some(index),
            wait: Some(wait),
            consistency: Consistency::Default,
        }
    }

    /// Sets the consistency mode.
    #[must_use]
    pub fn with_consistency(mut self, consistency: Consistency) -> Self {
        self.consistency = consistency;
        self
    }

    /// Whether this read blocks (a non-zero index).
    pub fn is_blocking(&self) -> bool {
        self.index.is_some_and(|index| index.0 > 0)
    }

    /// How long Consul may hold the answer: zero for a non-blocking read, otherwise the wait
    /// (default 5 min, clamped to 10 min) plus the maximum jitter of wait/16.
    pub fn max_server_hold(&self) -> Duration {
        if !self.is_blocking() {
            return Duration::ZERO;
        }
        let wait = match self.wait {
            Some(wait) if !wait.is_zero() => wait.min(MAX_WAIT),
            _ => DEFAULT_WAIT,
        };
        wait + wait / 16
    }

    pub(crate) fn apply(&self, query: &mut Query) {
        match self.consistency {
            Consistency::Default => {}
            Consistency::Consistent => {
                query.flag("consistent");
            }
            Consistency::Stale => {
                query.flag("stale");
            }
        }
        if let Some(index) = self.index.filter(|index| index.0 > 0) {
            query.number("index", index.0);
            if let Some(wait) = self.wait {
                query.duration("wait", wait);
            }
        }
    }
}

/// The answer of a read, with Consul's query metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueryResponse<T> {
    /// The decoded value.
    pub value: T,
    /// `X-Consul-Index`: pass it as [`QueryOptions::index`] to block for the next change.
    /// `Index(0)` when the header was absent.
    pub index: Index,
    /// `X-Consul-KnownLeader`.
    pub known_leader: bool,
    /// `X-Consul-LastContact`: time since the answering server last heard from the leader.
    pub last_contact: Duration,
}

impl<T> QueryResponse<T> {
    pub(crate) fn new(value: T, meta: QueryMeta) -> Self {
        Self {
            value,
            index: meta.index,
            known_leader: meta.known_leader,
            last_contact: meta.last_contact,
        }
    }

    /// Maps the value, keeping the metadata.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> QueryResponse<U> {
        QueryResponse {
            value: f(self.value),
            index: self.index,
            known_leader: self.known_leader,
            last_contact: self.last_contact,
        }
    }
}

/// Metadata headers of a read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct QueryMeta {
    pub(crate) index: Index,
    pub(crate) known_leader: bool,
    pub(crate) last_contact: Duration,
}

impl QueryMeta {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let index = text("x-consul-index")
            .and_then(|value| value.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let known_leader = text("x-consul-knownleader").is_some_and(|value| value.trim() == "true");
        let last_contact = text("x-consul-lastcontact")
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map_or(Duration::ZERO, Duration::from_millis);
        Self {
            index: Index(index),
            known_leader,
            last_contact,
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn meta_headers_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "X-Consul-Index",
            HeaderValue::from_static("18446744073709551615"),
        );
        headers.insert("X-Consul-Knownleader", HeaderValue::from_static("true"));
        headers.insert("X-Consul-Lastcontact", HeaderValue::from_static("12"));
        let meta = QueryMeta::from_headers(&headers);
        assert_eq!(meta.index, Index(u64::MAX));
        assert!(meta.known_leader);
        assert_eq!(meta.last_contact, Duration::from_millis(12));
        assert_eq!(
            QueryMeta::from_headers(&HeaderMap::new()),
            QueryMeta::default()
        );
    }

    #[test]
    fn options_render_and_bound_the_hold() {
        let mut query = Query::new();
        QueryOptions::blocking(Index(7), Duration::from_secs(16))
            .with_consistency(Consistency::Stale)
            .apply(&mut query);
        assert_eq!(query.as_str(), "stale&index=7&wait=16000ms");
        let mut query = Query::new();
        QueryOptions {
            index: Some(Index(0)),
            wait: Some(Duration::from_secs(1)),
            consistency: Consistency::Consistent,
        }
        .apply(&mut query);
        assert_eq!(query.as_str(), "consistent");

        assert_eq!(QueryOptions::new().max_server_hold(), Duration::ZERO);
        assert_eq!(
            QueryOptions::blocking(Index(1), Duration::from_secs(16)).max_server_hold(),
            Duration::from_secs(17)
        );
        let no_wait = QueryOptions {
            index: Some(Index(1)),
            ..QueryOptions::new()
        };
        assert_eq!(no_wait.max_server_hold(), DEFAULT_WAIT + DEFAULT_WAIT / 16);
        assert_eq!(
            QueryOptions::blocking(Index(1), Duration::from_secs(3600)).max_server_hold(),
            MAX_WAIT + MAX_WAIT / 16
        );
    }
}
