//! Typed identifiers. Each is a thin newtype so that a session id can never be
//! passed where a node name is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a string.
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A Consul session id: a UUID-shaped string (8-4-4-4-12 lowercase hex).
    /// Consul does not check the RFC 4122 version bits, and neither do we.
    SessionId
);
string_id!(
    /// The name of a node in the catalog (e.g. the agent's node name).
    NodeName
);
string_id!(
    /// An agent-local service id (defaults to the service name).
    ServiceId
);
string_id!(
    /// A health check id, e.g. `serfHealth` or `service:web-1`.
    CheckId
);

/// A Raft index (`CreateIndex`, `ModifyIndex`, `X-Consul-Index`, ...).
///
/// Always a `u64`: Consul's indexes, like `Flags`, must never go through `f64`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Index(pub u64);

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u64> for Index {
    fn from(v: u64) -> Self {
        Self(v)
    }
}
