//! Forwarding a name's mailbox into an actor, and stopping the actor when
//! its name goes.

use consuela::messaging::Mailbox;
use ractor::{ActorCell, ActorRef};
use tokio::task::JoinHandle;

use crate::message::NamedMessage;

/// Casts every piece of mail into `actor` until the actor ends (`true`) or
/// the mailbox closes (`false`).
///
/// # Cancel safety
///
/// Cancel safe: mail not yet taken from the mailbox stays there.
pub(crate) async fn forward<M: NamedMessage>(
    mailbox: &mut Mailbox<M::Mail>,
    actor: &ActorRef<M>,
    join: &mut JoinHandle<()>,
) -> bool {
    loop {
        tokio::select! {
            biased;
            _ = &mut *join => return true,
            mail = mailbox.recv() => match mail {
                Some(mail) => {
                    if let Some(message) = M::from_mail(mail) {
                        // Fails only while the actor stops: `join` says so next.
                        let _ = actor.cast(message);
                    }
                }
                None => return false,
            },
        }
    }
}

/// Kills the actor when dropped, unless it was disarmed: an actor must never
/// outlive the name it runs under.
#[derive(Debug)]
pub(crate) struct KillOnDrop(pub(crate) Option<ActorCell>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(actor) = self.0.take() {
            actor.kill();
        }
    }
}
