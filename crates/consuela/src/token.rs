//! The fencing token: the number that orders successive owners of a name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The key's Consul `ModifyIndex` at the moment a name was acquired.
///
/// It strictly increases across successive owners of a name, so a downstream
/// system that remembers the highest token it has seen can refuse writes from
/// a stale owner (one whose ownership was lost while it was cut off).
///
/// # Examples
///
/// ```
/// use consuela::FencingToken;
///
/// let old = FencingToken::new(41);
/// let new = FencingToken::new(97);
/// assert!(new > old);
/// assert_eq!(new.to_string(), "97");
/// assert_eq!(u64::from(new), 97);
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct FencingToken(u64);

impl FencingToken {
    /// A token of this value (for instance one read back from storage).
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The token as a number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for FencingToken {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

impl From<FencingToken> for u64 {
    fn from(token: FencingToken) -> Self {
        token.0
    }
}

impl From<consuela_wire::Index> for FencingToken {
    fn from(index: consuela_wire::Index) -> Self {
        Self(index.0)
    }
}

impl From<FencingToken> for consuela_wire::Index {
    fn from(token: FencingToken) -> Self {
        Self(token.0)
    }
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
