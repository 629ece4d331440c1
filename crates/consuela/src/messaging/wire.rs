//! The mail endpoint's protocol, shared by the endpoint and its senders.
//!
//! `POST /v1/mail/<name>?token=<t>&wait=<d>&call=<d>` with the message as
//! the JSON body. `token` is the fencing token the sender addresses
//! (optional: without it the current holder takes the message); `wait`
//! how long to wait for room in a full mailbox (default the endpoint's
//! `send_timeout`); `call`, when present, makes it a call answered within
//! that time. The answer to a delivered message is `200` with the owner's
//! fencing token in the `consuela-token` header, and for a call the reply's
//! JSON as the body; a refusal is a JSON `{"error": "<reason>"}` with the
//! status of [`Refusal::status`](super::refusal::Refusal::status).

use std::time::Duration;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::duration;
use crate::name::Name;
use crate::token::FencingToken;

/// Where names' mailboxes live on an endpoint.
pub(crate) const PREFIX: &str = "/v1/mail/";

/// The header carrying the owner's fencing token in an answer.
pub(crate) const TOKEN_HEADER: &str = "consuela-token";

/// Everything but unreserved characters and `/` is escaped in a path.
const PATH_SET: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'+')
    .add(b'&')
    .add(b';')
    .add(b'=');

/// The path of `name`'s mailbox.
pub(crate) fn path(name: &Name) -> String {
    format!("{PREFIX}{}", utf8_percent_encode(name.as_str(), PATH_SET))
}

/// The name a mailbox path addresses; `None` when it is not a mailbox path.
pub(crate) fn name_of(path: &str) -> Option<Result<Name, String>> {
    let encoded = path.strip_prefix(PREFIX)?;
    Some(
        percent_decode_str(encoded)
            .decode_utf8()
            .map_err(|_| "the name is not UTF-8".to_owned())
            .and_then(|name| Name::new(name).map_err(|e| e.to_string())),
    )
}

/// A delivery's parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Query {
    pub(crate) token: Option<FencingToken>,
    pub(crate) wait: Option<Duration>,
    pub(crate) call: Option<Duration>,
}

impl Query {
    /// Appends the query string (without the `?`) to `out`.
    pub(crate) fn encode_into(&self, out: &mut String) {
        use std::fmt::Write as _;
        let mut sep = "";
        if let Some(token) = self.token {
            let _ = write!(out, "token={token}");
            sep = "&";
        }
        if let Some(wait) = self.wait {
            let _ = write!(out, "{sep}wait={}", duration::format(wait));
            sep = "&";
        }
        if let Some(call) = self.call {
            let _ = write!(out, "{sep}call={}", duration::format(call));
        }
    }

    /// Reads a query string (without the `?`); unknown parameters are ignored.
    pub(crate) fn parse(query: &str) -> Result<Self, String> {
        let mut q = Self::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let duration = |value: &str| {
                duration::parse_duration(value).map_err(|e| format!("bad {key}: {e}"))
            };
            match key {
                "token" => {
                    let token = value
                        .parse::<u64>()
                        .map_err(|_| format!("bad token {value:?}"))?;
                    q.token = Some(FencingToken::new(token));
                }
                "wait" => q.wait = Some(duration(value)?),
                "call" => q.call = Some(duration(value)?),
                _ => {}
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_every_valid_name() {
        for name in ["a", "jobs/nightly", "a b?c#d%e&f=g", "ünï/cödé", "x+y;z"] {
            let name = Name::new(name).unwrap();
            let path = path(&name);
            assert!(!path[PREFIX.len()..].contains(['?', '#', ' ']), "{path}");
            assert_eq!(name_of(&path), Some(Ok(name)));
        }
        assert_eq!(name_of("/v1/kv/x"), None);
        assert!(matches!(name_of("/v1/mail/a//b"), Some(Err(_))));
        assert!(matches!(name_of("/v1/mail/%FF"), Some(Err(_))));
    }

    #[test]
    fn queries_round_trip() {
        let q = Query {
            token: Some(FencingToken::new(42)),
            wait: Some(Duration::from_millis(250)),
            call: Some(Duration::from_secs(3)),
        };
        let mut text = String::new();
        q.encode_into(&mut text);
        assert_eq!(text, "token=42&wait=250ms&call=3s");
        assert_eq!(Query::parse(&text), Ok(q));
        assert_eq!(Query::parse(""), Ok(Query::default()));
        assert!(Query::parse("token=x").is_err());
        assert!(Query::parse("wait=soon").is_err());
    }
}
