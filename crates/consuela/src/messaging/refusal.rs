//! [`Refusal`]: why a member did not take a message, and how the refusal
//! travels between members (an HTTP status and a one-word JSON reason).

use crate::error::{Error, ErrorKind};
use crate::token::FencingToken;

/// Why a member did not take a message (or, for the last two, a call's
/// reply did not come).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// This member does not hold the name (it moved, or was never here).
    /// Not delivered.
    Moved,
    /// This member holds the name without a mailbox. Not delivered.
    NoMailbox,
    /// The name is held here by another registration than the sender
    /// addressed. Not delivered.
    Stale {
        /// The token of the registration that holds the name here.
        current: FencingToken,
    },
    /// The mailbox stayed full. Not delivered.
    Full,
    /// The mailbox's receiver is gone. Not delivered.
    Closed,
    /// The body is not a message of the mailbox's type. Not delivered.
    BadMessage(String),
    /// The body is larger than the endpoint accepts. Not delivered.
    TooLarge(usize),
    /// The member's registry stopped (lost or shut down). Not delivered.
    Stopped,
    /// The call's reply did not come in time. Delivered.
    Timeout,
    /// The receiver dropped the call unanswered. Delivered.
    NoReply,
}

impl Refusal {
    /// The HTTP status and the reason word of the refusal on the wire.
    pub(crate) fn status(&self) -> (u16, &'static str) {
        match self {
            Self::Moved => (404, "moved"),
            Self::NoMailbox => (404, "no_mailbox"),
            Self::Stale { .. } => (409, "stale"),
            Self::Full => (429, "full"),
            Self::Closed => (410, "closed"),
            Self::BadMessage(_) => (400, "bad_message"),
            Self::TooLarge(_) => (413, "too_large"),
            Self::Stopped => (503, "stopped"),
            Self::Timeout => (504, "timeout"),
            Self::NoReply => (502, "no_reply"),
        }
    }

    /// The JSON body of the refusal: `{"error":"<reason>", ...}`.
    pub(crate) fn body(&self) -> serde_json::Value {
        let (_, reason) = self.status();
        match self {
            Self::Stale { current } => {
                serde_json::json!({"error": reason, "token": current.get().to_string()})
            }
            Self::BadMessage(detail) => serde_json::json!({"error": reason, "detail": detail}),
            Self::TooLarge(limit) => serde_json::json!({"error": reason, "limit": limit}),
            _ => serde_json::json!({"error": reason}),
        }
    }

    /// Reads a refusal back from its reason word and JSON body; `None` for
    /// an answer that is not one of ours.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let text = |field: &str| value.get(field).and_then(|v| v.as_str());
        Some(match text("error")? {
            "moved" => Self::Moved,
            "no_mailbox" => Self::NoMailbox,
            "stale" => Self::Stale {
                current: FencingToken::new(text("token")?.parse().ok()?),
            },
            "full" => Self::Full,
            "closed" => Self::Closed,
            "bad_message" => Self::BadMessage(text("detail").unwrap_or_default().to_owned()),
            "too_large" => {
                Self::TooLarge(value.get("limit").and_then(|v| v.as_u64()).unwrap_or(0) as usize)
            }
            "stopped" => Self::Stopped,
            "timeout" => Self::Timeout,
            "no_reply" => Self::NoReply,
            _ => return None,
        })
    }

    /// Whether the message certainly did not reach the mailbox because the
    /// name is not (or no longer) held where it was sent: a fresh lookup may
    /// find the owner elsewhere.
    pub(crate) fn is_moved(&self) -> bool {
        matches!(self, Self::Moved | Self::Stopped | Self::Stale { .. })
    }
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        Error::new(match refusal {
            Refusal::Moved | Refusal::Stopped => ErrorKind::Stale { current: None },
            Refusal::NoMailbox => ErrorKind::NoMailbox,
            Refusal::Stale { current } => ErrorKind::Stale {
                current: Some(current),
            },
            Refusal::Full => ErrorKind::MailboxFull,
            Refusal::Closed => ErrorKind::MailboxClosed,
            Refusal::BadMessage(detail) => ErrorKind::BadMessage(detail),
            Refusal::TooLarge(limit) => {
                ErrorKind::BadMessage(format!("larger than the {limit} bytes the owner accepts"))
            }
            Refusal::Timeout => ErrorKind::CallTimeout,
            Refusal::NoReply => ErrorKind::NoReply,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_reads_back_from_its_body() {
        let all = [
            Refusal::Moved,
            Refusal::NoMailbox,
            Refusal::Stale {
                current: FencingToken::new(u64::MAX),
            },
            Refusal::Full,
            Refusal::Closed,
            Refusal::BadMessage("expected u64".into()),
            Refusal::TooLarge(1024),
            Refusal::Stopped,
            Refusal::Timeout,
            Refusal::NoReply,
        ];
        for refusal in all {
            let body = serde_json::to_vec(&refusal.body()).unwrap();
            assert_eq!(Refusal::parse(&body), Some(refusal));
        }
        assert_eq!(Refusal::parse(br#"{"error":"later"}"#), None);
        assert_eq!(Refusal::parse(b"<html>"), None);
    }
}
