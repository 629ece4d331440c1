//! A live view of who owns which names: [`Registry::watch`](crate::Registry::watch).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use consuela_client::{Client, Watch, WatchConfig};
use consuela_wire::KvEntry;
use futures_util::stream::{BoxStream, Stream, StreamExt};

use crate::directory::owner_record;
use crate::error::Error;
use crate::name::{KeySpace, Name};
use crate::record::Registered;
use crate::registry::consul::from_client;

/// One change of ownership under a watched prefix.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// A name got an owner (on the first answer: every name already owned).
    Registered {
        /// The name.
        name: Name,
        /// Its owner.
        owner: Registered,
    },
    /// A name lost its owner.
    Unregistered {
        /// The name.
        name: Name,
        /// The owner it had.
        previous: Registered,
    },
    /// A name went from one owner to another between two reads.
    OwnerChanged {
        /// The name.
        name: Name,
        /// The owner it had.
        previous: Registered,
        /// The owner it has now.
        current: Registered,
    },
}

/// A stream of [`Change`]s, driven by Consul blocking queries. Read errors
/// are yielded as items; the stream then backs off and goes on. It never
/// ends on its own; drop it to stop.
pub struct RegistryWatch {
    inner: BoxStream<'static, Result<Change, Error>>,
}

impl fmt::Debug for RegistryWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryWatch").finish_non_exhaustive()
    }
}

impl Stream for RegistryWatch {
    type Item = Result<Change, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

struct State {
    answers: Watch<Vec<KvEntry>>,
    keys: KeySpace,
    known: BTreeMap<Name, Registered>,
    pending: VecDeque<Result<Change, Error>>,
}

pub(crate) fn watch(
    client: &Client,
    keys: KeySpace,
    prefix: &str,
    config: WatchConfig,
) -> RegistryWatch {
    let answers = client.kv().watch_prefix(&keys.prefix(prefix), config);
    let state = State {
        answers,
        keys,
        known: BTreeMap::new(),
        pending: VecDeque::new(),
    };
    let inner = futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.pending.pop_front() {
                return Some((item, state));
            }
            match state.answers.next().await? {
                Ok(answer) => {
                    let now = owners(&state.keys, answer.value);
                    state
                        .pending
                        .extend(diff(&state.known, &now).into_iter().map(Ok));
                    state.known = now;
                }
                Err(e) => state.pending.push_back(Err(from_client(e))),
            }
        }
    })
    .boxed();
    RegistryWatch { inner }
}

/// The owned names among `entries` (locked keys holding our records).
fn owners(keys: &KeySpace, entries: Vec<KvEntry>) -> BTreeMap<Name, Registered> {
    entries
        .into_iter()
        .filter_map(|e| {
            let name = keys.name(&e.key)?;
            let record = owner_record(&e).ok()??;
            Some((name, record.into_registered(e.modify_index.0)))
        })
        .collect()
}

/// What changed from `before` to `after`, in name order.
fn diff(before: &BTreeMap<Name, Registered>, after: &BTreeMap<Name, Registered>) -> Vec<Change> {
    let mut changes = Vec::new();
    for (name, previous) in before {
        match after.get(name) {
            None => changes.push(Change::Unregistered {
                name: name.clone(),
                previous: previous.clone(),
            }),
            Some(current)
                if current.fencing_token != previous.fencing_token || current.id != previous.id =>
            {
                changes.push(Change::OwnerChanged {
                    name: name.clone(),
                    previous: previous.clone(),
                    current: current.clone(),
                });
            }
            Some(_) => {}
        }
    }
    for (name, owner) in after {
        if !before.contains_key(name) {
            changes.push(Change::Registered {
                name: name.clone(),
                owner: owner.clone(),
            });
        }
    }
    changes.sort_by(|a, b| change_name(a).cmp(change_name(b)));
    changes
}

fn change_name(change: &Change) -> &Name {
    match change {
        Change::Registered { name, .. }
        | Change::Unregistered { name, .. }
        | Change::OwnerChanged { name, .. } => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Owner, ProcessId};

    fn reg(member: &str, token: u64) -> Registered {
        Registered {
            id: ProcessId {
                member: member.into(),
                rid: 1,
            },
            owner: Owner::default(),
            since: String::new(),
            fencing_token: token,
        }
    }

    fn map(items: &[(&str, Registered)]) -> BTreeMap<Name, Registered> {
        items
            .iter()
            .map(|(n, r)| (Name::new(n).unwrap(), r.clone()))
            .collect()
    }

    #[test]
    fn diff_reports_every_kind_of_change_in_name_order() {
        let before = map(&[
            ("a", reg("m1", 1)),
            ("b", reg("m1", 2)),
            ("c", reg("m1", 3)),
        ]);
        let after = map(&[
            ("a", reg("m1", 1)),
            ("b", reg("m2", 9)),
            ("d", reg("m2", 10)),
        ]);
        let changes = diff(&before, &after);
        let names: Vec<_> = changes.iter().map(|c| change_name(c).as_str()).collect();
        assert_eq!(names, ["b", "c", "d"]);
        assert!(
            matches!(&changes[0], Change::OwnerChanged { current, .. } if current.fencing_token == 9)
        );
        assert!(matches!(&changes[1], Change::Unregistered { .. }));
        assert!(matches!(&changes[2], Change::Registered { .. }));
        assert!(diff(&after, &after).is_empty());
    }
}
