//! Key/value entries (`GET /v1/kv/...`, txn results).

use serde::{Deserialize, Serialize};

use crate::ids::{Index, SessionId};
use crate::serde_util::{base64_opt, null_default};

/// One KV entry as `GET /v1/kv/<key>` returns it.
///
/// Field order is Consul's: `LockIndex, Key, Flags, Value, [Session],
/// CreateIndex, ModifyIndex`. `Session` is omitted while nobody holds the key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KvEntry {
    /// How many times the key was acquired while free.
    #[serde(rename = "LockIndex", default)]
    pub lock_index: u64,
    /// Full key (never starts with `/` in practice).
    #[serde(rename = "Key", default, deserialize_with = "null_default")]
    pub key: String,
    /// Opaque 64-bit flags; parse as `u64`, never as `f64`.
    #[serde(rename = "Flags", default)]
    pub flags: u64,
    /// The value; `None` is Consul's `null` (empty values are stored as nil).
    #[serde(rename = "Value", default, with = "base64_opt")]
    pub value: Option<Vec<u8>>,
    /// The session holding the lock, if any.
    #[serde(rename = "Session", default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
    /// Index of the write that created the key.
    #[serde(rename = "CreateIndex", default)]
    pub create_index: Index,
    /// Index of the last effective change.
    #[serde(rename = "ModifyIndex", default)]
    pub modify_index: Index,
}

#[cfg(test)]
mod tests;
