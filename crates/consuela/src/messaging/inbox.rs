//! [`Inbox`]: a mailbox's sending side with its message type erased, so that
//! the table of names and the mail endpoint hold mailboxes of every type.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::mailbox::{Envelope, Mailbox, Responder};
use super::refusal::Refusal;

/// A message of the inbox's type, boxed.
pub(crate) type Message = Box<dyn Any + Send>;

/// A mailbox's sending side.
pub(crate) trait Inbox: Send + Sync + fmt::Debug {
    /// The mailbox's message type: a sender of that very type hands its
    /// message over as is, any other is encoded and decoded.
    fn message_type(&self) -> TypeId;

    /// Decodes a JSON body into a [`Message`] of the mailbox's type.
    fn decode(&self, body: &[u8]) -> Result<Message, Refusal>;

    /// Room for one message: at once, or within `wait` (zero: no waiting).
    ///
    /// # Errors
    ///
    /// [`Refusal::Full`] when there is none within `wait`;
    /// [`Refusal::Closed`] when the receiver is gone.
    fn reserve(&self, wait: Duration) -> BoxFuture<'static, Result<Box<dyn Permit>, Refusal>>;
}

/// Room for one message in a mailbox.
pub(crate) trait Permit: Send {
    /// Puts `message` in the mailbox. Fails only for a message of another
    /// type than the mailbox's.
    fn send(self: Box<Self>, message: Message, responder: Option<Responder>)
    -> Result<(), Refusal>;
}

/// A new bounded mailbox of `M`: its erased sending side and its receiver.
pub(crate) fn channel<M>(capacity: usize) -> (Arc<dyn Inbox>, Mailbox<M>)
where
    M: DeserializeOwned + Send + 'static,
{
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (Arc::new(Typed { tx }), Mailbox::new(rx))
}

struct Typed<M> {
    tx: mpsc::Sender<Envelope<M>>,
}

impl<M> fmt::Debug for Typed<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("type", &std::any::type_name::<M>())
            .field("room", &self.tx.capacity())
            .finish()
    }
}

impl<M> Inbox for Typed<M>
where
    M: DeserializeOwned + Send + 'static,
{
    fn message_type(&self) -> TypeId {
        TypeId::of::<M>()
    }

    fn decode(&self, body: &[u8]) -> Result<Message, Refusal> {
        serde_json::from_slice::<M>(body)
            .map(|m| Box::new(m) as Message)
            .map_err(|e| Refusal::BadMessage(e.to_string()))
    }

    fn reserve(&self, wait: Duration) -> BoxFuture<'static, Result<Box<dyn Permit>, Refusal>> {
        let tx = self.tx.clone();
        Box::pin(async move {
            if wait.is_zero() {
                return match tx.try_reserve_owned() {
                    Ok(permit) => Ok(Box::new(permit) as Box<dyn Permit>),
                    Err(TrySendError::Full(_)) => Err(Refusal::Full),
                    Err(TrySendError::Closed(_)) => Err(Refusal::Closed),
                };
            }
            match tokio::time::timeout(wait, tx.reserve_owned()).await {
                Ok(Ok(permit)) => Ok(Box::new(permit) as Box<dyn Permit>),
                Ok(Err(_)) => Err(Refusal::Closed),
                Err(_) => Err(Refusal::Full),
            }
        })
    }
}

impl<M: Send + 'static> Permit for mpsc::OwnedPermit<Envelope<M>> {
    fn send(
        self: Box<Self>,
        message: Message,
        responder: Option<Responder>,
    ) -> Result<(), Refusal> {
        let message = message
            .downcast::<M>()
            .map_err(|_| Refusal::BadMessage(format!("not a {}", std::any::type_name::<M>())))?;
        (*self).send(Envelope::new(*message, responder));
        Ok(())
    }
}
