//! The value stored under a registered name's key, and who owns a name.
//!
//! The value is versioned JSON, readable in the Consul UI and from any language:
//!
//! ```json
//! {"v":1,"member":"api-7f3c","rid":"42","address":"10.0.0.5:7000","meta":{"role":"acceptor"},"since":"2026-12-01T00:00:00Z"}
//! ```
//!
//! Unknown fields are ignored on read, so later versions may add some.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The version of the value format this crate writes.
pub const RECORD_VERSION: u32 = 1;

/// Identifies one registration: the member that made it and a member-unique id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessId {
    /// The member (registry instance) that holds the name.
    pub member: String,
    /// The registration id, unique within the member.
    pub rid: u64,
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.member, self.rid)
    }
}

/// What a registering process says about itself: how to reach it, and any
/// typed metadata (anything serde can write as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    /// How to reach the owner, e.g. `10.0.0.5:7000` or a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub meta: serde_json::Value,
}

impl Owner {
    /// An owner reachable at `address`.
    pub fn at(address: impl Into<String>) -> Self {
        Self {
            address: Some(address.into()),
            meta: serde_json::Value::Null,
        }
    }

    /// Attaches typed metadata.
    ///
    /// # Errors
    ///
    /// If `meta` cannot be represented as JSON.
    pub fn with_meta<T: Serialize>(mut self, meta: &T) -> Result<Self, serde_json::Error> {
        self.meta = serde_json::to_value(meta)?;
        Ok(self)
    }

    /// Reads the metadata back as `T`.
    ///
    /// # Errors
    ///
    /// If the stored metadata does not fit `T`.
    pub fn meta<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.meta)
    }
}

/// The owner of a name, as the registry found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// Who holds it.
    pub id: ProcessId,
    /// How to reach it.
    pub owner: Owner,
    /// When it was registered, as RFC 3339 text from the owner's clock.
    pub since: String,
    /// The fencing token: the key's `ModifyIndex` when the name was acquired.
    /// It strictly increases across successive owners of a name.
    pub fencing_token: u64,
}

/// The JSON value under a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) v: u32,
    pub(crate) member: String,
    /// A string, so that other languages read it without precision loss.
    #[serde(with = "rid_text")]
    pub(crate) rid: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) address: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub(crate) meta: serde_json::Value,
    #[serde(default)]
    pub(crate) since: String,
}

impl Record {
    pub(crate) fn new(id: &ProcessId, owner: &Owner, since: SystemTime) -> Self {
        Self {
            v: RECORD_VERSION,
            member: id.member.clone(),
            rid: id.rid,
            address: owner.address.clone(),
            meta: owner.meta.clone(),
            since: rfc3339(since),
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a record always serializes")
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub(crate) fn id(&self) -> ProcessId {
        ProcessId {
            member: self.member.clone(),
            rid: self.rid,
        }
    }

    pub(crate) fn into_registered(self, fencing_token: u64) -> Registered {
        Registered {
            id: ProcessId {
                member: self.member,
                rid: self.rid,
            },
            owner: Owner {
                address: self.address,
                meta: self.meta,
            },
            since: self.since,
            fencing_token,
        }
    }
}

mod rid_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(rid: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(rid)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Rid {
            Text(String),
            Number(u64),
        }
        match Rid::deserialize(d)? {
            Rid::Number(n) => Ok(n),
            Rid::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Formats `t` as RFC 3339 UTC with second precision, e.g. `2026-12-01T00:20:42Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    consuela_wire::CivilTime::from_system(t).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn record_round_trips_and_reads_as_documented() {
        let id = ProcessId {
            member: "api-7f3c".into(),
            rid: 42,
        };
        let owner = Owner::at("10.0.0.5:7000")
            .with_meta(&serde_json::json!({"role": "acceptor"}))
            .unwrap();
        let record = Record::new(&id, &owner, UNIX_EPOCH + Duration::from_secs(1_796_084_442));
        let text = String::from_utf8(record.encode()).unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"member":"api-7f3c","rid":"42","address":"10.0.0.5:7000","meta":{"role":"acceptor"},"since":"2026-12-01T00:20:42Z"}"#
        );
        assert_eq!(Record::decode(text.as_bytes()).unwrap(), record);
        let registered = record.into_registered(7);
        assert_eq!(registered.id, id);
        assert_eq!(registered.owner, owner);
        assert_eq!(registered.fencing_token, 7);
    }

    #[test]
    fn decoding_tolerates_newer_and_sparser_values() {
        let r =
            Record::decode(br#"{"v":2,"member":"m","rid":7,"extra":[1,2],"since":"x"}"#).unwrap();
        assert_eq!(
            (r.v, r.rid, r.address, r.meta),
            (2, 7, None, serde_json::Value::Null)
        );
        assert!(
            Record::decode(b"\x83d\x00\x02me").is_err(),
            "an Erlang term is not ours"
        );
        assert!(Record::decode(br#"{"v":1,"member":"m","rid":"x"}"#).is_err());
    }

    #[test]
    fn typed_meta() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Meta {
            shard: u32,
        }
        let owner = Owner::default().with_meta(&Meta { shard: 3 }).unwrap();
        assert_eq!(owner.meta::<Meta>().unwrap(), Meta { shard: 3 });
        assert!(owner.meta::<String>().is_err());
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }
}
