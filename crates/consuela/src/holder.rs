//! Who holds a name: [`Holder`], its [`RegistrationId`] and the [`Contact`] it registered with.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use crate::token::FencingToken;

/// Identifies one registration: the member that made it and a member-unique
/// number. Two registrations of one name, even by the same member, never
/// share an id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RegistrationId {
    /// The member (registry instance) that holds the name.
    pub member: String,
    /// The registration's number, unique within the member.
    pub rid: u64,
}

impl fmt::Display for RegistrationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.member, self.rid)
    }
}

/// What a registering process says about itself: how to reach it, and any
/// typed metadata (anything serde can write as JSON).
///
/// # Examples
///
/// ```
/// use consuela::Contact;
///
/// let contact = Contact::at("10.0.0.5:7000").with_meta(&serde_json::json!({"shard": 3}))?;
/// assert_eq!(contact.address.as_deref(), Some("10.0.0.5:7000"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// How to reach the holder, e.g. `10.0.0.5:7000` or a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub meta: serde_json::Value,
    /// The URL of the mail endpoint that takes messages for the name (set by
    /// [`Registry::register_mailbox`](crate::Registry::register_mailbox) when
    /// the member runs one); `None` for a name without a mailbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
}

impl Contact {
    /// A contact reachable at `address`.
    pub fn at(address: impl Into<String>) -> Self {
        Self {
            address: Some(address.into()),
            meta: serde_json::Value::Null,
            mailbox: None,
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

/// What a key held by a registry stands for: a unique name, a slot of a
/// semaphore, or a membership of a group. Read from the stored record, so
/// every member and tool agrees on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// A unique name (`Registry::register`).
    #[default]
    Name,
    /// A contender for, or holder of, a slot of a semaphore of `limit` slots
    /// (`Registry::acquire_slot`); the key is `<semaphore>/<session>`.
    Slot {
        /// The limit the contender asked for.
        limit: u32,
    },
    /// A membership of a group (`Registry::join`); the key is
    /// `<group>/<session>.<n>`.
    Member,
}

/// The flags Consul's Go `api.Semaphore` stores on its keys
/// (`SemaphoreFlagValue`); a `.lock` key without them is not a semaphore's.
pub const SEMAPHORE_FLAGS: u64 = 0xe0f6_9a2b_aa41_4de0;

impl Role {
    /// The KV flags a key of this role is written with: the Go semaphore's
    /// for a slot contender, 0 otherwise.
    pub fn flags(self) -> u64 {
        match self {
            Self::Slot { .. } => SEMAPHORE_FLAGS,
            Self::Name | Self::Member => 0,
        }
    }
}

/// The holder of a name, as the registry found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    /// Which registration holds it.
    pub id: RegistrationId,
    /// How to reach the holder.
    pub contact: Contact,
    /// When it was registered, by the holder's clock; `None` when the record
    /// carries no readable time.
    pub since: Option<Timestamp>,
    /// The fencing token: the key's `ModifyIndex` when the name was acquired.
    pub fencing_token: FencingToken,
    /// What the key stands for: a name, a semaphore slot or a group membership.
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_meta() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Meta {
            shard: u32,
        }
        let contact = Contact::default().with_meta(&Meta { shard: 3 }).unwrap();
        assert_eq!(contact.meta::<Meta>().unwrap(), Meta { shard: 3 });
        assert!(contact.meta::<String>().is_err());
    }

    #[test]
    fn ids_read_as_member_and_number() {
        let id = RegistrationId {
            member: "api-7f3c".into(),
            rid: 42,
        };
        assert_eq!(id.to_string(), "api-7f3c#42");
    }
}
