//! The read model: one decode of a KV entry into a [`Holder`], and one filter
//! that hides this member's own dead registrations.
//!
//! Every read of who holds a name goes through [`View`]: `whereis`, `list`
//! and `watch` of a [`Registry`](crate::Registry) or a
//! [`Directory`](crate::Directory), and a singleton's standby. So they all
//! agree on what counts as held.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use consuela_wire::KvEntry;

use crate::error::{Error, ErrorKind};
use crate::holder::{Holder, Role};
use crate::name::{KeySpace, Name};
use crate::record::Record;
use crate::slot_table::Table;

/// Tells registrations this member still holds from ones it gave up.
///
/// A key stays locked by our session after we released the name locally
/// until the reaper (or a background release) deletes it; such a holder is
/// dead, and reads must report the name free.
pub(crate) trait Liveness: Send + Sync + fmt::Debug {
    /// Whether `holder`, found under `name` in `entry`, is one of this
    /// member's registrations that it no longer holds.
    fn is_dead(&self, name: &Name, holder: &Holder, entry: &KvEntry) -> bool;
}

/// Decodes the holder under a key: `None` when no session holds it (free, or
/// released), [`ErrorKind::Foreign`] when its value is not ours.
pub(crate) fn decode(entry: &KvEntry) -> Result<Option<Holder>, Error> {
    if entry.session.is_none() {
        return Ok(None);
    }
    let value = entry
        .value
        .as_deref()
        .ok_or_else(|| Error::new(ErrorKind::Foreign))?;
    let record = Record::decode(value).map_err(|e| Error::with_source(ErrorKind::Foreign, e))?;
    Ok(Some(record.into_holder(entry.modify_index.into())))
}

/// A namespace's keys, read as holders, with dead local holders hidden.
#[derive(Debug, Clone)]
pub(crate) struct View {
    keys: KeySpace,
    liveness: Option<Arc<dyn Liveness>>,
}

impl View {
    /// A view that hides nothing (no session, so no local holders).
    pub(crate) fn new(keys: KeySpace) -> Self {
        Self {
            keys,
            liveness: None,
        }
    }

    /// The same view, hiding what `liveness` calls dead.
    pub(crate) fn with_liveness(mut self, liveness: Arc<dyn Liveness>) -> Self {
        self.liveness = Some(liveness);
        self
    }

    pub(crate) fn keys(&self) -> &KeySpace {
        &self.keys
    }

    /// The live holder of `name` in `entry`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Foreign`] when the key holds a value this library did
    /// not write.
    pub(crate) fn holder(&self, name: &Name, entry: &KvEntry) -> Result<Option<Holder>, Error> {
        let Some(holder) = decode(entry)? else {
            return Ok(None);
        };
        if self
            .liveness
            .as_ref()
            .is_some_and(|l| l.is_dead(name, &holder, entry))
        {
            return Ok(None);
        }
        Ok(Some(holder))
    }

    /// The live holders among `entries`, by name; keys outside the name rules
    /// and foreign values are skipped, and so are semaphore contenders that
    /// do not hold a slot (yet): a contender key counts as held only while
    /// its semaphore's `.lock`, read in the same answer, lists its session.
    pub(crate) fn holders(&self, entries: Vec<KvEntry>) -> BTreeMap<Name, Holder> {
        let mut tables: BTreeMap<String, Option<Table>> = BTreeMap::new();
        let mut out = BTreeMap::new();
        for entry in &entries {
            let Some(name) = self.keys.name(&entry.key) else {
                continue;
            };
            let Ok(Some(holder)) = self.holder(&name, entry) else {
                continue;
            };
            if let Role::Slot { .. } = holder.role {
                let parent = match entry.key.rfind('/') {
                    Some(at) => &entry.key[..=at],
                    None => "",
                };
                let table = tables.entry(parent.to_owned()).or_insert_with(|| {
                    let under: Vec<KvEntry> = entries
                        .iter()
                        .filter(|e| e.key.starts_with(parent))
                        .cloned()
                        .collect();
                    Table::read(parent, &under).ok()
                });
                let holds = table
                    .as_ref()
                    .zip(entry.session.as_ref())
                    .is_some_and(|(table, session)| table.holds(session));
                if !holds {
                    continue;
                }
            }
            out.insert(name, holder);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use consuela_wire::{Index, SessionId};

    use super::*;
    use crate::holder::{Contact, RegistrationId};
    use crate::time::Timestamp;

    fn entry(key: &str, session: Option<&str>, value: Option<&[u8]>, index: u64) -> KvEntry {
        KvEntry {
            key: key.into(),
            session: session.map(SessionId::from),
            value: value.map(<[u8]>::to_vec),
            modify_index: Index(index),
            ..KvEntry::default()
        }
    }

    fn record(member: &str, rid: u64) -> Vec<u8> {
        let id = RegistrationId {
            member: member.into(),
            rid,
        };
        Record::new(
            &id,
            &Contact::at("a:1"),
            Timestamp::from_system(std::time::UNIX_EPOCH),
        )
        .encode()
    }

    #[derive(Debug)]
    struct DeadRid(u64);

    impl Liveness for DeadRid {
        fn is_dead(&self, _: &Name, holder: &Holder, _: &KvEntry) -> bool {
            holder.id.rid == self.0
        }
    }

    #[test]
    fn one_decode_for_free_held_and_foreign_keys() {
        let held = record("m", 1);
        let holder = decode(&entry("ns/a", Some("s"), Some(&held), 9))
            .unwrap()
            .unwrap();
        assert_eq!((holder.id.rid, holder.fencing_token.get()), (1, 9));
        assert_eq!(
            holder.since,
            Some(Timestamp::from_system(std::time::UNIX_EPOCH))
        );
        assert_eq!(decode(&entry("ns/a", None, Some(&held), 9)).unwrap(), None);
        for foreign in [None, Some(&b"\x83d"[..])] {
            let e = decode(&entry("ns/a", Some("s"), foreign, 9)).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::Foreign));
        }
    }

    #[test]
    fn waiting_semaphore_contenders_are_not_holders() {
        use crate::holder::{Contact, RegistrationId, Role, SEMAPHORE_FLAGS};
        let slot = |rid: u64| {
            let id = RegistrationId {
                member: "m".into(),
                rid,
            };
            let since = Timestamp::from_system(std::time::UNIX_EPOCH);
            Record::new(&id, &Contact::default(), since)
                .with_role(Role::Slot { limit: 1 })
                .encode()
        };
        let (a, b) = (slot(1), slot(2));
        let mut lock = entry(
            "ns/sem/.lock",
            None,
            Some(br#"{"Limit":1,"Holders":{"s1":true}}"#),
            5,
        );
        lock.flags = SEMAPHORE_FLAGS;
        let view = View::new(KeySpace::new("ns").unwrap());
        let all = view.holders(vec![
            lock.clone(),
            entry("ns/sem/s1", Some("s1"), Some(&a), 3),
            entry("ns/sem/s2", Some("s2"), Some(&b), 4),
        ]);
        assert_eq!(all.keys().map(Name::as_str).collect::<Vec<_>>(), ["sem/s1"]);
        // Without its `.lock` in the answer, no contender counts as a holder.
        let none = view.holders(vec![entry("ns/sem/s1", Some("s1"), Some(&a), 3)]);
        assert!(none.is_empty());
    }

    #[test]
    fn views_hide_dead_local_holders_everywhere() {
        let keys = KeySpace::new("ns").unwrap();
        let view = View::new(keys).with_liveness(Arc::new(DeadRid(2)));
        let (live, dead) = (record("m", 1), record("m", 2));
        let a = Name::new("a").unwrap();
        assert!(
            view.holder(&a, &entry("ns/a", Some("s"), Some(&live), 3))
                .unwrap()
                .is_some()
        );
        assert_eq!(
            view.holder(&a, &entry("ns/a", Some("s"), Some(&dead), 4))
                .unwrap(),
            None
        );
        let all = view.holders(vec![
            entry("ns/a", Some("s"), Some(&live), 3),
            entry("ns/b", Some("s"), Some(&dead), 4),
            entry("ns/c", Some("s"), Some(b"foreign"), 5),
            entry("ns/d", None, Some(&live), 6),
            entry("ns/e//f", Some("s"), Some(&live), 7),
        ]);
        assert_eq!(all.keys().map(Name::as_str).collect::<Vec<_>>(), ["a"]);
    }
}
