//! `PUT /v1/txn`: operations, results and errors.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::SessionId;
use crate::kv::KvEntry;
use crate::serde_util::{base64_opt, is_zero, null_default};

/// A KV transaction verb. Unknown verbs are kept verbatim so a server can answer
/// `unknown KV verb "<v>"` and a client can round-trip them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvVerb {
    /// `set`: write unconditionally.
    Set,
    /// `cas`: write if `ModifyIndex == Index` (0 = key must not exist).
    Cas,
    /// `lock`: acquire with `Session`.
    Lock,
    /// `unlock`: release with `Session`.
    Unlock,
    /// `get`: read one key (fails if missing).
    Get,
    /// `get-or-empty`: read one key, or a stub if missing (newer Consul).
    GetOrEmpty,
    /// `get-tree`: read every key under the prefix.
    GetTree,
    /// `check-index`: fail unless `ModifyIndex == Index`.
    CheckIndex,
    /// `check-session`: fail unless the key is held by `Session`.
    CheckSession,
    /// `check-not-exists`: fail if the key exists.
    CheckNotExists,
    /// `delete`: delete unconditionally.
    Delete,
    /// `delete-cas`: delete if `ModifyIndex == Index`.
    DeleteCas,
    /// `delete-tree`: delete every key under the prefix.
    DeleteTree,
    /// Anything else, kept as sent.
    Unknown(String),
}

impl KvVerb {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Set => "set",
            Self::Cas => "cas",
            Self::Lock => "lock",
            Self::Unlock => "unlock",
            Self::Get => "get",
            Self::GetOrEmpty => "get-or-empty",
            Self::GetTree => "get-tree",
            Self::CheckIndex => "check-index",
            Self::CheckSession => "check-session",
            Self::CheckNotExists => "check-not-exists",
            Self::Delete => "delete",
            Self::DeleteCas => "delete-cas",
            Self::DeleteTree => "delete-tree",
            Self::Unknown(s) => s,
        }
    }

    /// Whether the verb does not write (Consul's `!isWrite`: every verb but
    /// set, delete, delete-cas, delete-tree, cas, lock and unlock, unknown
    /// ones included). A transaction made only of these is served as a read
    /// (query-meta fields in the body, no Raft write).
    pub fn is_read(&self) -> bool {
        !matches!(
            self,
            Self::Set
                | Self::Delete
                | Self::DeleteCas
                | Self::DeleteTree
                | Self::Cas
                | Self::Lock
                | Self::Unlock
        )
    }
}

impl From<&str> for KvVerb {
    fn from(s: &str) -> Self {
        match s {
            "set" => Self::Set,
            "cas" => Self::Cas,
            "lock" => Self::Lock,
            "unlock" => Self::Unlock,
            "get" => Self::Get,
            "get-or-empty" => Self::GetOrEmpty,
            "get-tree" => Self::GetTree,
            "check-index" => Self::CheckIndex,
            "check-session" => Self::CheckSession,
            "check-not-exists" => Self::CheckNotExists,
            "delete" => Self::Delete,
            "delete-cas" => Self::DeleteCas,
            "delete-tree" => Self::DeleteTree,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for KvVerb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for KvVerb {
    fn default() -> Self {
        Self::Unknown(String::new())
    }
}

impl Serialize for KvVerb {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for KvVerb {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        Ok(Self::from(s.as_deref().unwrap_or("")))
    }
}

/// A KV operation inside a transaction. Empty fields are not sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KvTxnOp {
    /// What to do.
    #[serde(rename = "Verb", default)]
    pub verb: KvVerb,
    /// Key or prefix.
    #[serde(rename = "Key", default, deserialize_with = "null_default")]
    pub key: String,
    /// Value (base64 on the wire).
    #[serde(
        rename = "Value",
        default,
        with = "base64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<Vec<u8>>,
    /// Flags to store.
    #[serde(rename = "Flags", default, skip_serializing_if = "is_zero")]
    pub flags: u64,
    /// Compare index for `cas`, `delete-cas`, `check-index`.
    #[serde(rename = "Index", default, skip_serializing_if = "is_zero")]
    pub index: u64,
    /// Session for `lock`, `unlock`, `check-session`.
    #[serde(rename = "Session", default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
}

/// One transaction operation: `{"KV": {...}}`. Other kinds (`Node`, `Service`,
/// `Check`) are not modelled and are ignored on decode.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TxnOp {
    /// The KV operation.
    #[serde(rename = "KV", default, skip_serializing_if = "Option::is_none")]
    pub kv: Option<KvTxnOp>,
}

impl From<KvTxnOp> for TxnOp {
    fn from(op: KvTxnOp) -> Self {
        Self { kv: Some(op) }
    }
}

/// One result entry. Only some ops produce one, so `Results[i]` does not
/// correspond to op `i`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TxnResult {
    /// The entry (with `Value: null` for everything but reads).
    #[serde(rename = "KV", default, skip_serializing_if = "Option::is_none")]
    pub kv: Option<KvEntry>,
}

/// One failed op of a rolled-back transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TxnError {
    /// Position of the failing op in the request.
    #[serde(rename = "OpIndex", default)]
    pub op_index: usize,
    /// Consul's error text, e.g. `failed to lock key "k", lock is already held`.
    #[serde(rename = "What", default, deserialize_with = "null_default")]
    pub what: String,
}

/// Body of a txn answer: 200 with `Results` and `Errors: null`, or 409 with
/// `Results: null` and every failing op in `Errors`. Read-only transactions also
/// carry query-meta fields (`Index`, `KnownLeader`, ...), which are ignored here.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TxnResponse {
    /// Results, `null` on failure.
    #[serde(rename = "Results", default)]
    pub results: Option<Vec<TxnResult>>,
    /// Errors, `null` on success.
    #[serde(rename = "Errors", default)]
    pub errors: Option<Vec<TxnError>>,
}

#[cfg(test)]
mod tests;
