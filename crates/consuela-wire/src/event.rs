//! User events: `PUT /v1/event/fire/<name>` and `GET /v1/event/list`.

use serde::{Deserialize, Serialize};

use crate::serde_util::{base64_opt, null_default};

/// A user event, in Consul 1.0.8's field order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserEvent {
    /// Event id (UUID).
    #[serde(rename = "ID", default, deserialize_with = "null_default")]
    pub id: String,
    /// Event name.
    #[serde(rename = "Name", default, deserialize_with = "null_default")]
    pub name: String,
    /// Payload bytes (base64 on the wire; `null` when none).
    #[serde(rename = "Payload", default, with = "base64_opt")]
    pub payload: Option<Vec<u8>>,
    /// Regular expression of the node names that process the event.
    #[serde(rename = "NodeFilter", default, deserialize_with = "null_default")]
    pub node_filter: String,
    /// Regular expression of the service ids that process the event.
    #[serde(rename = "ServiceFilter", default, deserialize_with = "null_default")]
    pub service_filter: String,
    /// Regular expression of the service tags that process the event.
    #[serde(rename = "TagFilter", default, deserialize_with = "null_default")]
    pub tag_filter: String,
    /// Event format version (1).
    #[serde(rename = "Version", default)]
    pub version: u64,
    /// Lamport time of delivery (0 in the answer to a fire).
    #[serde(rename = "LTime", default)]
    pub ltime: u64,
}

impl UserEvent {
    /// The blocking-query index Consul derives from an event id: the XOR of
    /// the id's two 64-bit halves (`uuidToUint64`). 0 for a malformed id.
    pub fn index(&self) -> u64 {
        let hex: String = self.id.chars().filter(|c| *c != '-').collect();
        if hex.len() != 32 {
            return 0;
        }
        let half = |s: &str| u64::from_str_radix(s, 16).unwrap_or(0);
        half(&hex[..16]) ^ half(&hex[16..])
    }
}

#[cfg(test)]
mod tests {
    use super::UserEvent;

    #[test]
    fn index_is_the_xor_of_the_id_halves() {
        let e = UserEvent {
            id: "00000000-0000-0001-0000-000000000003".to_owned(),
            ..UserEvent::default()
        };
        assert_eq!(e.index(), 1 ^ 3);
        let e = UserEvent {
            id: "not-a-uuid".to_owned(),
            ..UserEvent::default()
        };
        assert_eq!(e.index(), 0);
    }

    #[test]
    fn payload_is_base64_or_null() {
        let e = UserEvent {
            id: "x".to_owned(),
            name: "deploy".to_owned(),
            payload: Some(b"\x00\xffbin".to_vec()),
            version: 1,
            ..UserEvent::default()
        };
        let s = serde_json::to_string(&e).unwrap();
        assert!(s.contains(r#""Payload":"AP9iaW4=""#), "{s}");
        let back: UserEvent = serde_json::from_str(&s).unwrap();
        assert_eq!(back, e);
        let none: UserEvent = serde_json::from_str(r#"{"ID":"x","Payload":null}"#).unwrap();
        assert_eq!(none.payload, None);
    }
}
