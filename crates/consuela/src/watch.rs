//! [`RegistryWatch`]: a live stream of ownership changes, from blocking queries.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use consuela_client::Watch;
use consuela_wire::KvEntry;
use futures_util::stream::{BoxStream, Stream, StreamExt};

use crate::error::Error;
use crate::holder::Holder;
use crate::name::Name;
use crate::read::View;

/// One change of ownership under a watched prefix.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// A name got an owner (on the first answer: every name already owned).
    Registered {
        /// The name.
        name: Name,
        /// Its holder.
        holder: Holder,
    },
    /// A name lost its owner.
    Unregistered {
        /// The name.
        name: Name,
        /// The owner it had.
        previous: Holder,
    },
    /// A name went from one owner to another between two reads.
    OwnerChanged {
        /// The name.
        name: Name,
        /// The owner it had.
        previous: Holder,
        /// The owner it has now.
        current: Holder,
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
    view: View,
    known: BTreeMap<Name, Holder>,
    pending: VecDeque<Result<Change, Error>>,
}

/// Turns blocking-query answers into changes, reading them through `view`.
pub(crate) fn watch(answers: Watch<Vec<KvEntry>>, view: View) -> RegistryWatch {
    let state = State {
        answers,
        view,
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
                    let now = state.view.holders(answer.value);
                    state
                        .pending
                        .extend(diff(&state.known, &now).into_iter().map(Ok));
                    state.known = now;
                }
                Err(e) => state.pending.push_back(Err(e.into())),
            }
        }
    })
    .boxed();
    RegistryWatch { inner }
}

/// What changed from `before` to `after`, in name order.
fn diff(before: &BTreeMap<Name, Holder>, after: &BTreeMap<Name, Holder>) -> Vec<Change> {
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
                holder: owner.clone(),
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
    use crate::holder::{Contact, RegistrationId};

    fn reg(member: &str, token: u64) -> Holder {
        Holder {
            id: RegistrationId {
                member: member.into(),
                rid: 1,
            },
            contact: Contact::default(),
            since: None,
            fencing_token: token.into(),
            role: crate::holder::Role::Name,
        }
    }

    fn map(items: &[(&str, Holder)]) -> BTreeMap<Name, Holder> {
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
            matches!(&changes[0], Change::OwnerChanged { current, .. } if current.fencing_token.get() == 9)
        );
        assert!(matches!(&changes[1], Change::Unregistered { .. }));
        assert!(matches!(&changes[2], Change::Registered { .. }));
        assert!(diff(&after, &after).is_empty());
    }
}
