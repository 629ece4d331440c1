//! The value stored under a registered name's key: [`Record`], versioned JSON.
//!
//! The value is readable in the Consul UI and from any language:
//!
//! ```json
//! {"v":1,"member":"api-7f3c","rid":"42","address":"10.0.0.5:7000","meta":{"role":"acceptor"},"since":"2026-12-01T00:00:00Z"}
//! ```
//!
//! A name registered with a mailbox adds `"mailbox":"http://10.0.0.5:7400"`,
//! its member's mail endpoint. Unknown fields are ignored on read, so later
//! versions may add some.

use serde::{Deserialize, Serialize};

use crate::holder::{Contact, Holder, RegistrationId, Role};
use crate::time::Timestamp;
use crate::token::FencingToken;

/// The version of the value format this crate writes.
pub const RECORD_VERSION: u32 = 1;

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
    /// `"slot"` (a semaphore contender) or `"member"` (a group membership);
    /// absent for a unique name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    /// The limit a semaphore contender asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) limit: Option<u32>,
    /// The URL of the holder's mail endpoint, for a name with a mailbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mailbox: Option<String>,
}

impl Record {
    pub(crate) fn new(id: &RegistrationId, contact: &Contact, since: Timestamp) -> Self {
        Self {
            v: RECORD_VERSION,
            member: id.member.clone(),
            rid: id.rid,
            address: contact.address.clone(),
            meta: contact.meta.clone(),
            since: since.to_string(),
            kind: None,
            limit: None,
            mailbox: contact.mailbox.clone(),
        }
    }

    /// The same record, marked with what the key stands for.
    pub(crate) fn with_role(mut self, role: Role) -> Self {
        (self.kind, self.limit) = match role {
            Role::Name => (None, None),
            Role::Slot { limit } => (Some("slot".to_owned()), Some(limit)),
            Role::Member => (Some("member".to_owned()), None),
        };
        self
    }

    /// What the key stands for; an unknown kind reads as a name.
    pub(crate) fn role(&self) -> Role {
        match (self.kind.as_deref(), self.limit) {
            (Some("slot"), Some(limit)) => Role::Slot { limit },
            (Some("member"), _) => Role::Member,
            _ => Role::Name,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a record always serializes")
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub(crate) fn into_holder(self, fencing_token: FencingToken) -> Holder {
        let role = self.role();
        Holder {
            role,
            since: self.since.parse().ok(),
            id: RegistrationId {
                member: self.member,
                rid: self.rid,
            },
            contact: Contact {
                address: self.address,
                meta: self.meta,
                mailbox: self.mailbox,
            },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_reads_as_documented() {
        let id = RegistrationId {
            member: "api-7f3c".into(),
            rid: 42,
        };
        let contact = Contact::at("10.0.0.5:7000")
            .with_meta(&serde_json::json!({"role": "acceptor"}))
            .unwrap();
        let since = "2026-12-01T00:20:42Z".parse().unwrap();
        let record = Record::new(&id, &contact, since);
        let text = String::from_utf8(record.encode()).unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"member":"api-7f3c","rid":"42","address":"10.0.0.5:7000","meta":{"role":"acceptor"},"since":"2026-12-01T00:20:42Z"}"#
        );
        assert_eq!(Record::decode(text.as_bytes()).unwrap(), record);
        let holder = record.into_holder(FencingToken::new(7));
        assert_eq!(holder.id, id);
        assert_eq!(holder.contact, contact);
        assert_eq!(holder.since, Some(since));
        assert_eq!(holder.fencing_token, FencingToken::new(7));
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
    fn roles_are_written_and_read_back() {
        let id = RegistrationId {
            member: "m".into(),
            rid: 1,
        };
        let since = "2026-12-01T00:20:42Z".parse().unwrap();
        for role in [Role::Name, Role::Slot { limit: 3 }, Role::Member] {
            let record = Record::new(&id, &Contact::default(), since).with_role(role);
            let back = Record::decode(&record.encode()).unwrap();
            assert_eq!(back.role(), role);
        }
        let slot = Record::new(&id, &Contact::default(), since).with_role(Role::Slot { limit: 2 });
        let text = String::from_utf8(slot.encode()).unwrap();
        assert!(text.ends_with(r#""kind":"slot","limit":2}"#), "{text}");
        let future = Record::decode(br#"{"v":1,"member":"m","rid":"1","kind":"later"}"#).unwrap();
        assert_eq!(future.role(), Role::Name);
    }
}
