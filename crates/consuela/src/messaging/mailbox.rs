//! The receiving side: [`Mailbox`], the [`Envelope`] each message comes in,
//! and the [`Responder`] of a call.

use std::fmt;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::refusal::Refusal;

/// What a call's caller waits for: the reply's JSON, or why it cannot be had.
pub(crate) type Reply = Result<Vec<u8>, String>;

/// The receiver of a named mailbox
/// ([`Registry::register_mailbox`](crate::Registry::register_mailbox)).
///
/// It yields messages in the order the mailbox accepted them. Once the name
/// is released or lost the mailbox accepts nothing more; what it accepted
/// before is still yielded, then [`recv`](Self::recv) answers `None`.
/// Dropping it closes the mailbox: senders get
/// [`MailboxClosed`](crate::ErrorKind::MailboxClosed) while the name is held.
pub struct Mailbox<M> {
    rx: mpsc::Receiver<Envelope<M>>,
}

impl<M> fmt::Debug for Mailbox<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox")
            .field("queued", &self.rx.len())
            .finish_non_exhaustive()
    }
}

impl<M> Mailbox<M> {
    pub(crate) fn new(rx: mpsc::Receiver<Envelope<M>>) -> Self {
        Self { rx }
    }

    /// The next message; `None` once the mailbox is closed and empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a message is never lost to a cancelled `recv`.
    pub async fn recv(&mut self) -> Option<Envelope<M>> {
        self.rx.recv().await
    }

    /// The next message if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Envelope<M>> {
        self.rx.try_recv().ok()
    }

    /// Messages queued now.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// Stops accepting messages (senders get `MailboxClosed`) while still
    /// yielding those already queued.
    pub fn close(&mut self) {
        self.rx.close();
    }
}

/// One message, and for a call the [`Responder`] that answers it.
#[derive(Debug)]
pub struct Envelope<M> {
    message: M,
    responder: Option<Responder>,
}

impl<M> Envelope<M> {
    pub(crate) fn new(message: M, responder: Option<Responder>) -> Self {
        Self { message, responder }
    }

    /// The message.
    pub fn message(&self) -> &M {
        &self.message
    }

    /// Whether the sender waits for a reply ([`Registry::call`](crate::Registry::call)).
    pub fn is_call(&self) -> bool {
        self.responder.is_some()
    }

    /// The message, dropping the responder (a call then fails with
    /// [`NoReply`](crate::ErrorKind::NoReply)).
    pub fn into_message(self) -> M {
        self.message
    }

    /// The message and, for a call, its responder.
    pub fn into_parts(self) -> (M, Option<Responder>) {
        (self.message, self.responder)
    }

    /// Answers a call with `reply` and hands back the message. For a plain
    /// send the reply is dropped.
    pub fn reply<R: Serialize>(self, reply: &R) -> M {
        if let Some(responder) = self.responder {
            responder.respond(reply);
        }
        self.message
    }
}

/// Answers one call. Dropping it unanswered fails the call with
/// [`NoReply`](crate::ErrorKind::NoReply).
pub struct Responder {
    tx: oneshot::Sender<Reply>,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("waiting", &!self.tx.is_closed())
            .finish()
    }
}

impl Responder {
    pub(crate) fn new() -> (Self, oneshot::Receiver<Reply>) {
        let (tx, rx) = oneshot::channel();
        (Self { tx }, rx)
    }

    /// Sends `reply` to the caller (as JSON). Returns whether the caller
    /// was still waiting; a reply that does not serialize fails the call
    /// with [`BadMessage`](crate::ErrorKind::BadMessage).
    pub fn respond<R: Serialize + ?Sized>(self, reply: &R) -> bool {
        let reply = serde_json::to_vec(reply).map_err(|e| e.to_string());
        self.tx.send(reply).is_ok()
    }

    /// Whether the caller stopped waiting (its timeout passed).
    pub fn is_abandoned(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Waits up to `timeout` for a call's reply.
///
/// # Errors
///
/// [`Refusal::Timeout`], [`Refusal::NoReply`] when the responder was dropped,
/// [`Refusal::BadMessage`] when the reply did not serialize.
pub(crate) async fn await_reply(
    reply: oneshot::Receiver<Reply>,
    timeout: std::time::Duration,
) -> Result<Vec<u8>, Refusal> {
    match tokio::time::timeout(timeout, reply).await {
        Ok(Ok(Ok(reply))) => Ok(reply),
        Ok(Ok(Err(detail))) => Err(Refusal::BadMessage(format!("the reply: {detail}"))),
        Ok(Err(_)) => Err(Refusal::NoReply),
        Err(_) => Err(Refusal::Timeout),
    }
}
