//! Request events for observability hooks.

use std::time::Duration;

use reqwest::Method;

use crate::error::{ErrorKind, Outcome};

/// One finished request, given to the [`RequestHook`](crate::RequestHook).
///
/// It never contains the ACL token (the token travels in a header and is not recorded) nor the
/// query string.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestEvent<'a> {
    /// HTTP method.
    pub method: &'a Method,
    /// Request path without the query string, e.g. `/v1/kv/app/lock`.
    pub path: &'a str,
    /// HTTP status, if an answer arrived.
    pub status: Option<u16>,
    /// Time from sending to the end of the body (or the failure).
    pub latency: Duration,
    /// The outcome class: `Done` for every definite answer the endpoint defines (including a
    /// 404 on a KV read or a 409 on a txn), otherwise the error's outcome.
    pub outcome: Outcome,
    /// The error kind when the call failed.
    pub error: Option<ErrorKind>,
    /// Whether this was a blocking query (`index` > 0).
    pub blocking: bool,
}
