//! The coordination key of a semaphore, `<prefix>/.lock`, and the pure
//! decisions made from one read of the prefix.
//!
//! The layout is Consul's Go `api.Semaphore`'s, so that `consul lock -n` and
//! consuela share slots: the value is `{"Limit":N,"Holders":{"<session>":true}}`
//! with the flags [`SEMAPHORE_FLAGS`], written only by check-and-set on its
//! `ModifyIndex`. A holder counts only while its session still holds a key
//! under the prefix (its contender key); the others are pruned on every read.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use consuela_wire::{Index, KvEntry, SessionId};
use serde::{Deserialize, Serialize};

use crate::holder::{Role, SEMAPHORE_FLAGS};
use crate::record::Record;

/// The key under a semaphore's prefix that coordinates its contenders.
pub(crate) const LOCK_KEY: &str = ".lock";

/// The `.lock` value, field names as the Go client writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LockValue {
    /// The Go client's `int`: a hand-written value may hold anything.
    #[serde(rename = "Limit")]
    pub(crate) limit: i64,
    /// Session id -> `true`; a set in effect.
    #[serde(rename = "Holders", default)]
    pub(crate) holders: Option<BTreeMap<String, bool>>,
}

impl LockValue {
    fn holder_set(&self) -> BTreeSet<String> {
        self.holders
            .iter()
            .flatten()
            .filter(|(_, held)| **held)
            .map(|(session, _)| session.clone())
            .collect()
    }

    fn encode(limit: i64, holders: &BTreeSet<String>) -> Vec<u8> {
        let value = Self {
            limit,
            holders: Some(holders.iter().map(|s| (s.clone(), true)).collect()),
        };
        serde_json::to_vec(&value).expect("a lock value always serializes")
    }
}

/// Why a prefix cannot be used as the semaphore asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `.lock` exists without the semaphore flags (a `consul lock` key, say).
    NotASemaphore,
    /// `.lock`'s value is not `{"Limit", "Holders"}` JSON.
    BadLock(String),
    /// The limit recorded in `.lock` (`in_lock`) or by a live consuela
    /// contender differs from ours.
    LimitMismatch {
        found: i64,
        local: u32,
        in_lock: bool,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotASemaphore => f.write_str("existing key does not match semaphore use"),
            Self::BadLock(e) => write!(f, "lock decoding failed: {e}"),
            Self::LimitMismatch {
                found,
                local,
                in_lock: true,
            } => write!(
                f,
                "semaphore limit conflict (lock: {found}, local: {local})"
            ),
            Self::LimitMismatch { found, local, .. } => {
                write!(
                    f,
                    "semaphore limit conflict (contender: {found}, local: {local})"
                )
            }
        }
    }
}

/// One read of a semaphore's prefix, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    /// The `.lock` limit, `None` when there is no `.lock` yet.
    pub(crate) limit: Option<i64>,
    /// Sessions in `.lock`'s holders that still hold a key under the prefix.
    pub(crate) holders: BTreeSet<String>,
    /// Sessions in `.lock`'s holders that no longer do: dead, to be pruned.
    pub(crate) dead: BTreeSet<String>,
    /// The `.lock`'s `ModifyIndex` (0: absent, so a CAS creates it).
    pub(crate) lock_index: Index,
    /// Live consuela contenders' recorded limits, by session.
    contender_limits: BTreeMap<String, u32>,
}

impl Table {
    /// Decodes the entries under `prefix` (which ends with `/`).
    pub(crate) fn read(prefix: &str, entries: &[KvEntry]) -> Result<Self, Refusal> {
        let lock_key = format!("{prefix}{LOCK_KEY}");
        let alive: BTreeSet<&str> = entries
            .iter()
            .filter_map(|e| e.session.as_ref().map(SessionId::as_str))
            .collect();
        let mut contender_limits = BTreeMap::new();
        for entry in entries {
            let Some(session) = &entry.session else {
                continue;
            };
            if let Some(Role::Slot { limit }) = entry
                .value
                .as_deref()
                .and_then(|v| Record::decode(v).ok())
                .map(|r| r.role())
            {
                contender_limits.insert(session.as_str().to_owned(), limit);
            }
        }
        let Some(lock) = entries.iter().find(|e| e.key == lock_key) else {
            return Ok(Self {
                limit: None,
                holders: BTreeSet::new(),
                dead: BTreeSet::new(),
                lock_index: Index(0),
                contender_limits,
            });
        };
        if lock.flags != SEMAPHORE_FLAGS {
            return Err(Refusal::NotASemaphore);
        }
        let value: LockValue = match lock.value.as_deref() {
            // The Go client reads a value-less `.lock` as an empty one.
            None => LockValue::default(),
            Some(bytes) => {
                serde_json::from_slice(bytes).map_err(|e| Refusal::BadLock(e.to_string()))?
            }
        };
        let limit = lock.value.as_ref().map(|_| value.limit);
        let (holders, dead) = value
            .holder_set()
            .into_iter()
            .partition(|s| alive.contains(s.as_str()));
        Ok(Self {
            limit,
            holders,
            dead,
            lock_index: lock.modify_index,
            contender_limits,
        })
    }

    /// Whether `session` holds a slot.
    pub(crate) fn holds(&self, session: &SessionId) -> bool {
        self.holders.contains(session.as_str())
    }

    /// What a contender of `session` asking for `limit` slots does next.
    ///
    /// `held_back` are dead holders whose slots are not given out yet: they
    /// count against the limit and stay in the `.lock` written, so that every
    /// consuela contender waits for them (see [`Table::dead`]).
    pub(crate) fn plan(
        &self,
        session: &SessionId,
        limit: u32,
        held_back: &BTreeSet<String>,
    ) -> Result<Plan, Refusal> {
        if let Some(found) = self.limit
            && found != i64::from(limit)
        {
            return Err(Refusal::LimitMismatch {
                found,
                local: limit,
                in_lock: true,
            });
        }
        if let Some((_, found)) = self.contender_limits.iter().find(|(_, l)| **l != limit) {
            return Err(Refusal::LimitMismatch {
                found: i64::from(*found),
                local: limit,
                in_lock: false,
            });
        }
        if self.holds(session) {
            return Ok(Plan::Held);
        }
        let held_back: BTreeSet<String> = held_back.intersection(&self.dead).cloned().collect();
        if self.holders.len() + held_back.len() >= limit as usize {
            return Ok(Plan::Full);
        }
        let mut holders = self.holders.clone();
        holders.extend(held_back);
        holders.insert(session.as_str().to_owned());
        Ok(Plan::Take {
            value: LockValue::encode(i64::from(limit), &holders),
            index: self.lock_index,
        })
    }

    /// The `.lock` value without `session` (live or dead), to write by CAS
    /// at [`lock_index`](Self::lock_index) on release; `None` when there is
    /// nothing to remove. Other dead holders stay, as the Go client's
    /// release leaves them: a contender may be holding their slots back.
    pub(crate) fn without(&self, session: &SessionId) -> Option<Vec<u8>> {
        let limit = self.limit?;
        if !self.holds(session) && !self.dead.contains(session.as_str()) {
            return None;
        }
        let mut holders: BTreeSet<String> = self.holders.union(&self.dead).cloned().collect();
        holders.remove(session.as_str());
        Some(LockValue::encode(limit, &holders))
    }
}

/// The next step of an acquisition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Our session is among the live holders: the slot is ours.
    Held,
    /// Every slot is taken by a live holder: wait for the prefix to change.
    Full,
    /// Write `value` to `.lock` by CAS at `index` (0: create it).
    Take { value: Vec<u8>, index: Index },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::holder::{Contact, RegistrationId};
    use crate::time::Timestamp;

    const PREFIX: &str = "ns/sem/";

    fn lock(value: &str, index: u64) -> KvEntry {
        KvEntry {
            key: format!("{PREFIX}.lock"),
            flags: SEMAPHORE_FLAGS,
            value: Some(value.as_bytes().to_vec()),
            modify_index: Index(index),
            ..KvEntry::default()
        }
    }

    fn contender(session: &str, value: Option<Vec<u8>>) -> KvEntry {
        KvEntry {
            key: format!("{PREFIX}{session}"),
            flags: SEMAPHORE_FLAGS,
            session: Some(SessionId::from(session)),
            value,
            modify_index: Index(3),
            ..KvEntry::default()
        }
    }

    fn ours(limit: u32) -> Option<Vec<u8>> {
        let id = RegistrationId {
            member: "m".into(),
            rid: 1,
        };
        let since = Timestamp::from_system(std::time::UNIX_EPOCH);
        Some(
            Record::new(&id, &Contact::default(), since)
                .with_role(Role::Slot { limit })
                .encode(),
        )
    }

    fn me() -> SessionId {
        SessionId::from("me")
    }

    #[test]
    fn an_absent_lock_is_created_by_cas_at_zero() {
        let table = Table::read(PREFIX, &[contender("me", ours(2))]).unwrap();
        let Plan::Take { value, index } = table.plan(&me(), 2, &BTreeSet::new()).unwrap() else {
            panic!("expected a take");
        };
        assert_eq!(index, Index(0));
        assert_eq!(
            String::from_utf8(value).unwrap(),
            r#"{"Limit":2,"Holders":{"me":true}}"#
        );
    }

    #[test]
    fn dead_holders_are_pruned_and_live_ones_fill_the_limit() {
        let entries = [
            lock(r#"{"Limit":2,"Holders":{"a":true,"dead":true}}"#, 7),
            contender("a", Some(b"go value".to_vec())),
            contender("me", ours(2)),
        ];
        let table = Table::read(PREFIX, &entries).unwrap();
        assert_eq!(table.holders.iter().collect::<Vec<_>>(), ["a"]);
        let Plan::Take { value, index } = table.plan(&me(), 2, &BTreeSet::new()).unwrap() else {
            panic!("expected a take");
        };
        assert_eq!(index, Index(7));
        assert_eq!(
            String::from_utf8(value).unwrap(),
            r#"{"Limit":2,"Holders":{"a":true,"me":true}}"#
        );
        let full = [
            lock(r#"{"Limit":1,"Holders":{"a":true}}"#, 7),
            contender("a", None),
            contender("me", ours(1)),
        ];
        let table = Table::read(PREFIX, &full).unwrap();
        assert_eq!(table.plan(&me(), 1, &BTreeSet::new()).unwrap(), Plan::Full);
        assert_eq!(table.without(&me()), None);
    }

    #[test]
    fn held_back_dead_holders_count_and_stay_in_the_lock() {
        let with_limit = |limit: u32| {
            let value = format!(r#"{{"Limit":{limit},"Holders":{{"a":true,"dead":true}}}}"#);
            let entries = [
                lock(&value, 7),
                contender("a", None),
                contender("me", ours(limit)),
            ];
            Table::read(PREFIX, &entries).unwrap()
        };
        let held_back: BTreeSet<String> = ["dead".to_owned()].into();
        let table = with_limit(2);
        assert_eq!(table.dead.iter().collect::<Vec<_>>(), ["dead"]);
        assert_eq!(table.plan(&me(), 2, &held_back).unwrap(), Plan::Full);
        assert!(matches!(
            table.plan(&me(), 2, &BTreeSet::new()).unwrap(),
            Plan::Take { .. }
        ));
        let Plan::Take { value, .. } = with_limit(3).plan(&me(), 3, &held_back).unwrap() else {
            panic!("expected a take");
        };
        assert_eq!(
            String::from_utf8(value).unwrap(),
            r#"{"Limit":3,"Holders":{"a":true,"dead":true,"me":true}}"#
        );
    }

    #[test]
    fn a_holder_already_listed_holds_and_can_be_removed() {
        let entries = [
            lock(r#"{"Limit":1,"Holders":{"me":true}}"#, 9),
            contender("me", ours(1)),
        ];
        let table = Table::read(PREFIX, &entries).unwrap();
        assert_eq!(table.plan(&me(), 1, &BTreeSet::new()).unwrap(), Plan::Held);
        assert_eq!(
            String::from_utf8(table.without(&me()).unwrap()).unwrap(),
            r#"{"Limit":1,"Holders":{}}"#
        );
    }

    #[test]
    fn limit_mismatches_in_the_lock_or_a_contender_are_refused() {
        let table = Table::read(PREFIX, &[lock(r#"{"Limit":3,"Holders":{}}"#, 2)]).unwrap();
        let refusal = table.plan(&me(), 2, &BTreeSet::new()).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "semaphore limit conflict (lock: 3, local: 2)"
        );
        let table = Table::read(PREFIX, &[contender("other", ours(5))]).unwrap();
        let refusal = table.plan(&me(), 2, &BTreeSet::new()).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::LimitMismatch {
                found: 5,
                local: 2,
                in_lock: false
            }
        );
    }

    #[test]
    fn a_lock_without_the_flags_or_json_is_not_a_semaphore() {
        let mut plain = lock(r#"{"Limit":1}"#, 2);
        plain.flags = 0x2ddc_cbc0_58a5_0c18;
        assert_eq!(Table::read(PREFIX, &[plain]), Err(Refusal::NotASemaphore));
        let garbage = lock("not json", 2);
        assert!(matches!(
            Table::read(PREFIX, &[garbage]),
            Err(Refusal::BadLock(_))
        ));
    }
}
