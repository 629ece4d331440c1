//! Process groups: many members under one name, found together (Erlang
//! `pg`, syn's groups), with Consul's consistency and the registry's
//! fail-stop.
//!
//! A membership of group `GROUP` is the key `<namespace>/GROUP/<session>.<n>`,
//! acquired with the registry's session like a name and holding the usual
//! record marked `"kind":"member"`. So a membership ends when its
//! [`Membership`] guard is dropped or [`leave`](Membership::leave)s, when the
//! registry shuts down (its keys are deleted), and when the session is lost
//! (every [`Membership::lost`] fires and Consul deletes the keys with the
//! session). One member may join a group many times; each join is its own
//! key.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use consuela_client::{Consistency, WatchConfig};
use futures_util::stream::{BoxStream, Stream, StreamExt};
use tokio_util::sync::WaitForCancellationFuture;

use crate::directory::{Change, Directory};
use crate::error::Error;
use crate::holder::{Contact, Holder, Role};
use crate::name::Name;
use crate::registry::{Registration, Registry};
use crate::token::FencingToken;

/// Numbers this process's memberships, so that every join has its own key.
static NEXT_JOIN: AtomicU64 = AtomicU64::new(1);

/// Proof that this member belongs to a group. Dropping it leaves the group
/// in the background; [`leave`](Self::leave) leaves and waits.
#[derive(Debug)]
#[must_use = "dropping a Membership leaves the group"]
pub struct Membership {
    group: Name,
    registration: Registration,
}

impl Membership {
    /// The group.
    pub fn group(&self) -> &Name {
        &self.group
    }

    /// The membership's own key name, `GROUP/<session>.<n>`.
    pub fn key(&self) -> &Name {
        self.registration.name()
    }

    /// The membership as other members read it.
    pub fn holder(&self) -> &Holder {
        self.registration.holder()
    }

    /// The membership key's `ModifyIndex` at the join.
    pub fn fencing_token(&self) -> FencingToken {
        self.registration.fencing_token()
    }

    /// Whether the membership can no longer be guaranteed.
    pub fn is_lost(&self) -> bool {
        self.registration.is_lost()
    }

    /// Resolves when the membership can no longer be guaranteed (session
    /// lost, registry dropped or shut down).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn lost(&self) -> WaitForCancellationFuture<'_> {
        self.registration.lost()
    }

    /// Leaves the group with one Consul request and waits for it.
    ///
    /// # Errors
    ///
    /// The outcome kinds when Consul did not answer definitely; the key then
    /// goes to the reaper, which keeps trying.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in effect: a failed or cancelled removal is still handed
    /// to the reaper.
    pub async fn leave(self) -> Result<(), Error> {
        self.registration.unregister().await
    }
}

/// One change of a group's membership.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GroupChange {
    /// A member joined (on the first answer: every current member).
    Joined {
        /// The membership's key name, `GROUP/<session>.<n>`.
        key: Name,
        /// The member.
        holder: Holder,
    },
    /// A member left (or its session ended).
    Left {
        /// The membership's key name.
        key: Name,
        /// The member it was.
        holder: Holder,
    },
}

/// A stream of [`GroupChange`]s, driven by Consul blocking queries on the
/// group's prefix. Read errors are yielded as items; the stream then backs
/// off and goes on. It never ends on its own; drop it to stop.
pub struct GroupWatch {
    inner: BoxStream<'static, Result<GroupChange, Error>>,
}

impl fmt::Debug for GroupWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupWatch").finish_non_exhaustive()
    }
}

impl Stream for GroupWatch {
    type Item = Result<GroupChange, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// Whether `name` is a membership key directly under `group`.
fn is_member_key(group: &Name, name: &Name, holder: &Holder) -> bool {
    holder.role == Role::Member
        && name
            .as_str()
            .strip_prefix(group.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|rest| !rest.contains('/'))
}

impl Directory {
    /// The members of `group`, with one consistent Consul read, sorted by
    /// membership key.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName); the outcome
    /// kinds when Consul cannot be read.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn members(&self, group: impl AsRef<str>) -> Result<Vec<(Name, Holder)>, Error> {
        let group = Name::new(group)?;
        let prefix = format!("{}/", self.key(&group));
        let entries = self.consul().list(&prefix, Consistency::Consistent).await?;
        Ok(self
            .view()
            .holders(entries)
            .into_iter()
            .filter(|(name, holder)| is_member_key(&group, name, holder))
            .collect())
    }

    /// A live stream of `group`'s membership changes, starting with every
    /// current member.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName) for a bad group name.
    pub fn watch_group(&self, group: impl AsRef<str>) -> Result<GroupWatch, Error> {
        self.watch_group_with(group, WatchConfig::default())
    }

    /// [`watch_group`](Self::watch_group) with explicit blocking-query settings.
    ///
    /// # Errors
    ///
    /// As [`watch_group`](Self::watch_group).
    pub fn watch_group_with(
        &self,
        group: impl AsRef<str>,
        config: WatchConfig,
    ) -> Result<GroupWatch, Error> {
        let group = Name::new(group)?;
        let changes = self.watch_with(&format!("{group}/"), config);
        let inner = changes
            .filter_map(move |change| {
                let change = match change {
                    Err(e) => Some(Err(e)),
                    Ok(Change::Registered { name, holder }) => {
                        is_member_key(&group, &name, &holder)
                            .then_some(Ok(GroupChange::Joined { key: name, holder }))
                    }
                    Ok(Change::Unregistered { name, previous }) => {
                        is_member_key(&group, &name, &previous).then_some(Ok(GroupChange::Left {
                            key: name,
                            holder: previous,
                        }))
                    }
                    // A membership key is never re-acquired by another
                    // session (its name carries ours): treat it as a new join.
                    Ok(Change::OwnerChanged { name, current, .. }) => {
                        is_member_key(&group, &name, &current).then_some(Ok(GroupChange::Joined {
                            key: name,
                            holder: current,
                        }))
                    }
                };
                std::future::ready(change)
            })
            .boxed();
        Ok(GroupWatch { inner })
    }
}

impl Registry {
    /// Joins `group` as `contact`: one Consul round trip that acquires the
    /// membership key `GROUP/<session>.<n>` with the registry's session.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register) (a membership key is never held by
    /// anyone else, so `AlreadyRegistered` does not occur).
    ///
    /// # Cancel safety
    ///
    /// As [`register`](Self::register): an acquisition in flight when the
    /// future is dropped goes to the reaper.
    pub async fn join(
        &self,
        group: impl AsRef<str>,
        contact: Contact,
    ) -> Result<Membership, Error> {
        let group = Name::new(group)?;
        let n = NEXT_JOIN.fetch_add(1, Ordering::Relaxed);
        let key = Name::new(format!("{group}/{}.{n}", self.session().as_str()))?;
        let registration = self.register_as(&key, contact, Role::Member).await?;
        Ok(Membership {
            group,
            registration,
        })
    }

    /// The members of `group`: one consistent Consul read, this member's
    /// memberships it already left hidden.
    ///
    /// # Errors
    ///
    /// As [`Directory::members`], and the fatal kinds once the registry stopped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn members(&self, group: impl AsRef<str>) -> Result<Vec<(Name, Holder)>, Error> {
        self.check_running()?;
        self.directory().members(group).await
    }

    /// A live stream of `group`'s membership changes (see
    /// [`Directory::watch_group`]).
    ///
    /// # Errors
    ///
    /// As [`Directory::watch_group`].
    pub fn watch_group(&self, group: impl AsRef<str>) -> Result<GroupWatch, Error> {
        self.directory().watch_group(group)
    }
}
