//! Discovered members as a [`tower::discover::Discover`] stream (feature
//! `tower`), for `tower::balance` and anything else that takes one.
//!
//! ```no_run
//! # async fn demo(registry: consuela::Registry) {
//! use consuela::discover::MemberDiscover;
//!
//! // One client service per live member of the `[discovery]` service.
//! let members = registry.discovery().expect("a [discovery] section");
//! let discover = MemberDiscover::new(members, |member| {
//!     let address = format!("{}:{}", member.address, member.port);
//!     tower::service_fn(move |request: String| {
//!         let address = address.clone();
//!         async move { Ok::<_, std::convert::Infallible>(format!("{address} got {request}")) }
//!     })
//! });
//! let balanced = tower::balance::p2c::Balance::new(tower::load::Constant::new(discover, 1));
//! # drop(balanced);
//! # }
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use futures_util::stream::BoxStream;
use tokio::sync::watch;
use tower::discover::Change;

use crate::member::{Member, Members};

/// Turns every change of a member set into [`Change::Insert`] and
/// [`Change::Remove`] of a service built by `make`, keyed by the service
/// instance id. The members live at the start come first; a member whose
/// address or port changed is inserted again (replacing its service). The
/// stream ends when the member set's sender is gone (the discovery stopped).
pub struct MemberDiscover<S, F> {
    changes: BoxStream<'static, Members>,
    known: Members,
    pending: VecDeque<Change<String, S>>,
    make: F,
}

impl<S, F> std::fmt::Debug for MemberDiscover<S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberDiscover")
            .field("known", &self.known.keys().collect::<Vec<_>>())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<S, F> MemberDiscover<S, F>
where
    F: FnMut(&Member) -> S,
{
    /// Follows `members` (from [`Discovery::members`](crate::discovery::Discovery::members)
    /// or [`Registry::discovery`](crate::Registry::discovery)), making one
    /// service per member with `make`.
    pub fn new(mut members: watch::Receiver<Members>, make: F) -> Self {
        let now = members.borrow_and_update().clone();
        let changes = futures_util::stream::unfold(members, |mut members| async move {
            members.changed().await.ok()?;
            let now = members.borrow_and_update().clone();
            Some((now, members))
        });
        let mut discover = Self {
            changes: Box::pin(changes),
            known: Members::new(),
            pending: VecDeque::new(),
            make,
        };
        discover.apply(now);
        discover
    }

    /// Queues the changes from the known set to `now`.
    fn apply(&mut self, now: Members) {
        for id in self.known.keys() {
            if !now.contains_key(id) {
                self.pending.push_back(Change::Remove(id.clone()));
            }
        }
        for (id, member) in &now {
            let moved = self
                .known
                .get(id)
                .is_none_or(|old| old.address != member.address || old.port != member.port);
            if moved {
                self.pending
                    .push_back(Change::Insert(id.clone(), (self.make)(member)));
            }
        }
        self.known = now;
    }
}

impl<S, F> Stream for MemberDiscover<S, F>
where
    F: FnMut(&Member) -> S + Unpin,
    S: Unpin,
{
    type Item = Result<Change<String, S>, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(change) = self.pending.pop_front() {
                return Poll::Ready(Some(Ok(change)));
            }
            match self.changes.as_mut().poll_next(cx) {
                Poll::Ready(Some(now)) => self.apply(now),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    fn member(id: &str, port: u16) -> (String, Member) {
        let member = Member {
            id: id.to_owned(),
            member: None,
            node: "n".to_owned(),
            address: "10.0.0.1".to_owned(),
            port,
            tags: Vec::new(),
            meta: Default::default(),
        };
        (id.to_owned(), member)
    }

    fn describe(change: &Change<String, u16>) -> String {
        match change {
            Change::Insert(id, port) => format!("+{id}:{port}"),
            Change::Remove(id) => format!("-{id}"),
        }
    }

    #[tokio::test]
    async fn members_become_inserts_and_removes() {
        let (tx, rx) = watch::channel(Members::from([member("a", 1), member("b", 2)]));
        let mut discover = MemberDiscover::new(rx, |m: &Member| m.port);
        let mut next = async || describe(&discover.next().await.unwrap().unwrap());
        assert_eq!(next().await, "+a:1");
        assert_eq!(next().await, "+b:2");
        // b leaves, c arrives, a moves to another port.
        tx.send_replace(Members::from([member("a", 5), member("c", 3)]));
        assert_eq!(next().await, "-b");
        assert_eq!(next().await, "+a:5");
        assert_eq!(next().await, "+c:3");
        drop(tx);
        assert!(discover.next().await.is_none(), "ends with the discovery");
    }
}
