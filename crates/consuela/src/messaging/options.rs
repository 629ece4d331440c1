//! [`SendOptions`] and the [`Receipt`] of a delivered message.

use std::time::Duration;

use crate::holder::RegistrationId;
use crate::token::FencingToken;

/// How to send a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOptions {
    pub(crate) expect: Option<FencingToken>,
    pub(crate) wait: Option<Duration>,
}

impl SendOptions {
    /// The defaults: whoever owns the name now, waiting up to the owner's
    /// `messaging.send_timeout` for room in its mailbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Deliver only to the registration with this fencing token: if the
    /// name has moved on, the message is refused as
    /// [`Stale`](crate::ErrorKind::Stale) and not sent anywhere else.
    #[must_use]
    pub fn expect(mut self, token: FencingToken) -> Self {
        self.expect = Some(token);
        self
    }

    /// Wait at most this long for room in a full mailbox (zero: fail with
    /// [`MailboxFull`](crate::ErrorKind::MailboxFull) at once).
    #[must_use]
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }
}

/// Proof that a mailbox accepted a message: which registration took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The fencing token of the registration whose mailbox took it.
    pub token: FencingToken,
    /// That registration.
    pub holder: RegistrationId,
}
