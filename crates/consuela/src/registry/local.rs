//! The table of names this member holds, and the liveness it lends the read model.
//!
//! A slot is `Pending` while the acquiring request is in flight, so that two
//! concurrent registrations of one name by this member never both reach Consul
//! (with the same session both would be told `true`). The lock is a plain
//! mutex held only for map operations, never across an `.await`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, MutexGuard};

use consuela_wire::{KvEntry, SessionId};
use tokio::sync::watch;

use crate::holder::{Contact, Holder, RegistrationId, Role};
use crate::messaging::{Found, Inbox, Letter, Refusal};
use crate::name::Name;
use crate::read::Liveness;
use crate::time::Timestamp;
use crate::token::FencingToken;

/// A name this member holds.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub(crate) id: RegistrationId,
    pub(crate) contact: Contact,
    pub(crate) since: Timestamp,
    pub(crate) fencing_token: FencingToken,
    pub(crate) role: Role,
    /// Live `Registration` guards for this name
    /// ([`Registration::share`](crate::Registration::share) hands out more).
    pub(crate) refs: usize,
    /// The mailbox registered with the name, if any.
    pub(crate) mailbox: Option<Arc<dyn Inbox>>,
}

impl Held {
    pub(crate) fn holder(&self) -> Holder {
        Holder {
            id: self.id.clone(),
            contact: self.contact.clone(),
            since: Some(self.since),
            fencing_token: self.fencing_token,
            role: self.role,
        }
    }
}

#[derive(Debug)]
enum Slot {
    /// Dropping the sender (when the slot is filled or freed) wakes every
    /// receiver, including ones that subscribed just before.
    Pending(watch::Sender<()>),
    Held(Held),
}

/// What [`Local::claim`] found.
#[derive(Debug)]
pub(crate) enum Claim {
    /// The slot is ours to fill: go to Consul, then [`Local::fill`] or [`Local::abandon`].
    Claimed,
    /// Another registration of this name by this member is in flight: wait
    /// until `changed()` returns (it errs when the slot settles), then retry.
    Wait(watch::Receiver<()>),
    /// Already held by a registration of this member: a name has one local
    /// owner, whatever the contact.
    Taken(Held),
}

#[derive(Debug, Default)]
pub(crate) struct Local {
    slots: Mutex<HashMap<Name, Slot>>,
}

impl Local {
    fn lock(&self) -> MutexGuard<'_, HashMap<Name, Slot>> {
        // A panic while holding this lock cannot leave the map half-updated
        // (every critical section is a single map operation), so poisoning is
        // ignored.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn claim(&self, name: &Name) -> Claim {
        match self.lock().entry(name.clone()) {
            Entry::Vacant(v) => {
                v.insert(Slot::Pending(watch::Sender::new(())));
                Claim::Claimed
            }
            Entry::Occupied(o) => match o.get() {
                Slot::Pending(tx) => Claim::Wait(tx.subscribe()),
                Slot::Held(h) => Claim::Taken(h.clone()),
            },
        }
    }

    /// One more guard of `id`'s registration of `name`, if it is still held.
    pub(crate) fn share(&self, name: &Name, id: &RegistrationId) -> bool {
        match self.lock().get_mut(name) {
            Some(Slot::Held(h)) if h.id == *id => {
                h.refs += 1;
                true
            }
            _ => false,
        }
    }

    /// The acquisition succeeded.
    pub(crate) fn fill(&self, name: &Name, held: Held) {
        self.lock().insert(name.clone(), Slot::Held(held));
    }

    /// The acquisition failed: free the slot and wake waiters.
    pub(crate) fn abandon(&self, name: &Name) {
        let mut slots = self.lock();
        if matches!(slots.get(name), Some(Slot::Pending(_))) {
            slots.remove(name);
        }
    }

    /// Drops one guard of `id`'s registration of `name`. Returns the entry
    /// when it was the last guard (the name must now be released).
    pub(crate) fn release(&self, name: &Name, id: &RegistrationId) -> Option<Held> {
        let mut slots = self.lock();
        let Some(Slot::Held(h)) = slots.get_mut(name) else {
            return None;
        };
        if h.id != *id {
            return None;
        }
        h.refs -= 1;
        if h.refs > 0 {
            return None;
        }
        match slots.remove(name) {
            Some(Slot::Held(h)) => Some(h),
            _ => None,
        }
    }

    /// The mailbox `name` is held with.
    ///
    /// # Errors
    ///
    /// [`Refusal::Moved`] when the name is not held, [`Refusal::NoMailbox`]
    /// when it is held without a mailbox.
    pub(crate) fn mailbox(&self, name: &Name) -> Result<Found, Refusal> {
        match self.lock().get(name) {
            Some(Slot::Held(h)) => match &h.mailbox {
                Some(inbox) => Ok(Found {
                    id: h.id.clone(),
                    token: h.fencing_token,
                    inbox: inbox.clone(),
                }),
                None => Err(Refusal::NoMailbox),
            },
            _ => Err(Refusal::Moved),
        }
    }

    /// While a registration of `name` by this member is in flight, a
    /// receiver whose `changed()` returns (with an error) once it settles.
    pub(crate) fn settling(&self, name: &Name) -> Option<watch::Receiver<()>> {
        match self.lock().get(name) {
            Some(Slot::Pending(tx)) => Some(tx.subscribe()),
            _ => None,
        }
    }

    /// Posts `letter` into `found`'s mailbox if its registration still
    /// holds `name`: under the table's lock, so that no release slips in
    /// between the check and the enqueue.
    pub(crate) fn commit(&self, name: &Name, found: &Found, letter: Letter) -> Result<(), Refusal> {
        let slots = self.lock();
        match slots.get(name) {
            Some(Slot::Held(h)) if h.id == found.id => letter.post(),
            _ => Err(Refusal::Moved),
        }
    }

    pub(crate) fn get(&self, name: &Name) -> Option<Holder> {
        match self.lock().get(name) {
            Some(Slot::Held(h)) => Some(h.holder()),
            _ => None,
        }
    }

    pub(crate) fn holds(&self, name: &Name, id: &RegistrationId) -> bool {
        matches!(self.lock().get(name), Some(Slot::Held(h)) if h.id == *id)
    }

    /// Local names starting with `prefix`, sorted.
    pub(crate) fn select(&self, prefix: &str) -> Vec<(Name, Holder)> {
        let mut out: Vec<_> = self
            .lock()
            .iter()
            .filter(|(name, _)| name.as_str().starts_with(prefix))
            .filter_map(|(name, slot)| match slot {
                Slot::Held(h) => Some((name.clone(), h.holder())),
                Slot::Pending(_) => None,
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Empties the table, returning what was held.
    pub(crate) fn drain(&self) -> Vec<(Name, Held)> {
        let mut slots = self.lock();
        let mut out = Vec::with_capacity(slots.len());
        for (name, slot) in slots.drain() {
            if let Slot::Held(h) = slot {
                out.push((name, h));
            }
        }
        out
    }

    /// Names held, not counting registrations in flight.
    pub(crate) fn len(&self) -> usize {
        self.lock()
            .values()
            .filter(|slot| matches!(slot, Slot::Held(_)))
            .count()
    }
}

/// This member's view of its own keys: a key locked by our session for a
/// registration the table no longer holds is dead (released locally, its
/// removal pending).
#[derive(Debug)]
pub(crate) struct Mine {
    pub(crate) member: String,
    pub(crate) session: SessionId,
    pub(crate) local: Arc<Local>,
}

impl Liveness for Mine {
    fn is_dead(&self, name: &Name, holder: &Holder, entry: &KvEntry) -> bool {
        holder.id.member == self.member
            && entry.session.as_ref() == Some(&self.session)
            && !self.local.holds(name, &holder.id)
    }
}
