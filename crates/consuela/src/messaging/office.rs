//! [`PostOffice`]: where a message meets the table of names this member
//! holds, and [`deliver`], the one way into a mailbox.

use std::sync::Arc;
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

    /// Puts `message` through `permit` if `found`'s registration still holds
    /// `name` and the registry runs, deciding both at once with the release
    /// of the name (so no message enters a mailbox whose name is gone).
    fn commit(
        &self,
        name: &Name,
        found: &Found,
        permit: Box<dyn Permit>,
        message: Message,
        responder: Option<Responder>,
    ) -> Result<(), Refusal>;
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
    office.commit(name, found, permit, message, responder)
}
