//! [`PostOffice`]: where a message meets the table of names this member
//! holds, and [`deliver`], the one way into a mailbox.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;

use super::inbox::{Inbox, Message, Permit};
use super::mailbox::Responder;
use super::refusal::Refusal;
use crate::holder::RegistrationId;
use crate::name::Name;
use crate::token::FencingToken;

/// A mailbox this member holds a name with.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) id: RegistrationId,
    pub(crate) token: FencingToken,
    pub(crate) inbox: Arc<dyn Inbox>,
}

impl Found {
    /// Refuses a message addressed to another registration than this one.
    pub(crate) fn check(&self, expect: Option<FencingToken>) -> Result<(), Refusal> {
        match expect {
            Some(token) if token != self.token => Err(Refusal::Stale {
                current: self.token,
            }),
            _ => Ok(()),
        }
    }
}

/// A message with room reserved for it in a mailbox, and for a call the
/// responder that answers it.
pub(crate) struct Letter {
    pub(crate) permit: Box<dyn Permit>,
    pub(crate) message: Message,
    pub(crate) responder: Option<Responder>,
}

impl Letter {
    /// Puts the message into the mailbox its room is in.
    pub(crate) fn post(self) -> Result<(), Refusal> {
        self.permit.send(self.message, self.responder)
    }
}

/// The names a member holds, as mail sees them.
pub(crate) trait PostOffice: Send + Sync {
    /// The mailbox of `name`.
    ///
    /// # Errors
    ///
    /// [`Refusal::Moved`] when the name is not held here,
    /// [`Refusal::NoMailbox`] when it is held without a mailbox,
    /// [`Refusal::Stopped`] once the registry stopped.
    fn find(&self, name: &Name) -> Result<Found, Refusal>;

    /// While this member's registration of `name` is in flight, a receiver
    /// whose `changed()` returns once it settles: its record may be read
    /// before the member holds the name.
    fn settling(&self, name: &Name) -> Option<watch::Receiver<()>>;

    /// Posts `letter` if `found`'s registration still holds `name` and the
    /// registry runs, deciding both at once with the release of the name
    /// (so no message enters a mailbox whose name is gone).
    fn commit(&self, name: &Name, found: &Found, letter: Letter) -> Result<(), Refusal>;
}

/// A post office held weakly (the mail endpoint's way into a registry, which
/// it must not keep alive): gone, it refuses as stopped.
impl<T: PostOffice> PostOffice for Weak<T> {
    fn find(&self, name: &Name) -> Result<Found, Refusal> {
        self.upgrade().ok_or(Refusal::Stopped)?.find(name)
    }

    fn settling(&self, name: &Name) -> Option<watch::Receiver<()>> {
        self.upgrade()?.settling(name)
    }

    fn commit(&self, name: &Name, found: &Found, letter: Letter) -> Result<(), Refusal> {
        self.upgrade()
            .ok_or(Refusal::Stopped)?
            .commit(name, found, letter)
    }
}

/// Delivers `message` to `found`'s mailbox: waits up to `wait` for room,
/// then commits it.
///
/// # Cancel safety
///
/// Cancel safe: a cancelled delivery delivers nothing.
pub(crate) async fn deliver(
    office: &dyn PostOffice,
    name: &Name,
    found: &Found,
    message: Message,
    responder: Option<Responder>,
    wait: Duration,
) -> Result<(), Refusal> {
    let permit = found.inbox.reserve(wait).await?;
    let letter = Letter {
        permit,
        message,
        responder,
    };
    office.commit(name, found, letter)
}
