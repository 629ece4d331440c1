//! Messaging a name: the registry's [`PostOffice`] (its mailboxes, as
//! in-process senders reach them, and the mail endpoint through a `Weak`) and
//! [`Registry::send`] / [`Registry::call`].

use std::any::TypeId;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::core::Core;
use super::handle::Registry;
use crate::error::{Error, ErrorKind};
use crate::event::Event;
use crate::messaging::{
    Found, Letter, Message, PostOffice, Receipt, Refusal, Responder, SendOptions, await_reply,
    deliver,
};
use crate::name::Name;

impl PostOffice for Core {
    fn find(&self, name: &Name) -> Result<Found, Refusal> {
        self.check_running().map_err(|_| Refusal::Stopped)?;
        self.local.mailbox(name)
    }

    fn settling(&self, name: &Name) -> Option<watch::Receiver<()>> {
        self.local.settling(name)
    }

    fn commit(&self, name: &Name, found: &Found, letter: Letter) -> Result<(), Refusal> {
        // A fail-stop cancels `lost` before Consul can free any name (the
        // keeper's margin): past it, nothing more is taken.
        if self.lost.is_cancelled() {
            return Err(Refusal::Stopped);
        }
        self.local.commit(name, found, letter)
    }
}

impl Registry {
    /// Sends `message` to the mailbox of `name`'s owner, wherever it runs,
    /// and returns once the mailbox took it (see [`messaging`](crate::messaging)
    /// for the guarantees): in this process through the channel, else as
    /// JSON to the owner's mail endpoint. If the owner looked up no longer
    /// holds the name, it looks the name up again and sends once more.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::NoOwner`] when no one holds `name`;
    /// - [`ErrorKind::NoMailbox`] when its holder has no mailbox (or no
    ///   endpoint: its member has no `[messaging]`);
    /// - [`ErrorKind::Stale`] when the owner addressed no longer holds it
    ///   (twice, or once with [`SendOptions::expect`]);
    /// - [`ErrorKind::MailboxFull`], [`ErrorKind::MailboxClosed`];
    /// - [`ErrorKind::OwnerUnreachable`] when the owner's endpoint does not
    ///   answer (its `maybe_delivered` says whether the message may be in);
    /// - [`ErrorKind::BadMessage`] when the message does not encode or the
    ///   mailbox's type does not decode it;
    /// - the outcome kinds when Consul cannot be read;
    /// - [`ErrorKind::InvalidName`], and `SessionLost` / `Shutdown` once this
    ///   registry stopped.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a message sent before the cancellation may have been
    /// delivered.
    pub async fn send<M>(&self, name: impl AsRef<str>, message: M) -> Result<Receipt, Error>
    where
        M: Serialize + Send + 'static,
    {
        self.send_with(name, message, SendOptions::new()).await
    }

    /// [`send`](Self::send) with options: the registration to address
    /// ([`SendOptions::expect`]), how long to wait for room. Errors and
    /// cancel safety as there.
    pub async fn send_with<M>(
        &self,
        name: impl AsRef<str>,
        message: M,
        options: SendOptions,
    ) -> Result<Receipt, Error>
    where
        M: Serialize + Send + 'static,
    {
        let (receipt, _) = self.post(name.as_ref(), message, options, None).await?;
        Ok(receipt)
    }

    /// Sends `message` as a call and waits up to `timeout` for the reply
    /// (the receiver answers with [`Envelope::reply`](crate::messaging::Envelope::reply)).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and once delivered:
    /// [`ErrorKind::CallTimeout`], [`ErrorKind::NoReply`] when the receiver
    /// dropped the call, [`ErrorKind::BadMessage`] when the reply is not an
    /// `R`.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](Self::send).
    pub async fn call<M, R>(
        &self,
        name: impl AsRef<str>,
        message: M,
        timeout: Duration,
    ) -> Result<R, Error>
    where
        M: Serialize + Send + 'static,
        R: DeserializeOwned,
    {
        self.call_with(name, message, timeout, SendOptions::new())
            .await
            .map(|(reply, _)| reply)
    }

    /// [`call`](Self::call) with options, returning the receipt too. Errors
    /// and cancel safety as there.
    pub async fn call_with<M, R>(
        &self,
        name: impl AsRef<str>,
        message: M,
        timeout: Duration,
        options: SendOptions,
    ) -> Result<(R, Receipt), Error>
    where
        M: Serialize + Send + 'static,
        R: DeserializeOwned,
    {
        let (receipt, reply) = self
            .post(name.as_ref(), message, options, Some(timeout))
            .await?;
        let reply = serde_json::from_slice(&reply.unwrap_or_default())
            .map_err(|e| Error::new(ErrorKind::BadMessage(format!("the reply: {e}"))))?;
        Ok((reply, receipt))
    }

    /// A courier with this registry's messaging settings, for JSON
    /// messages whose Rust type the sender does not have.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] if its HTTP client cannot be built (only
    /// without `[messaging]`, whose courier is built at start).
    pub fn courier(&self) -> Result<&crate::messaging::Courier, Error> {
        self.core().courier()
    }

    async fn post<M>(
        &self,
        name: &str,
        message: M,
        options: SendOptions,
        call: Option<Duration>,
    ) -> Result<(Receipt, Option<Vec<u8>>), Error>
    where
        M: Serialize + Send + 'static,
    {
        let name = Name::new(name)?;
        let core = self.core();
        core.check_running()?;
        match core.find(&name) {
            Ok(found) => return in_process(core, &name, found, message, options, call).await,
            Err(Refusal::NoMailbox) => return Err(Refusal::NoMailbox.into()),
            Err(_) => {}
        }
        let body = bytes::Bytes::from(encode(&message)?);
        let routed = match core.courier() {
            Ok(courier) => {
                courier
                    .route(&core.directory, &name, body, options, call)
                    .await
            }
            Err(error) => Err(error),
        };
        if let Err(error) = &routed {
            core.pulses.emit(Event::MailUndelivered {
                name,
                error: error.clone(),
            });
        }
        routed
    }
}

/// Delivers to a mailbox of this registry: the value itself when the
/// mailbox is of its type, else through JSON.
async fn in_process<M>(
    core: &Core,
    name: &Name,
    found: Found,
    message: M,
    options: SendOptions,
    call: Option<Duration>,
) -> Result<(Receipt, Option<Vec<u8>>), Error>
where
    M: Serialize + Send + 'static,
{
    found.check(options.expect)?;
    let message: Message = if found.inbox.message_type() == TypeId::of::<M>() {
        Box::new(message)
    } else {
        found.inbox.decode(&encode(&message)?)?
    };
    let wait = options
        .wait
        .unwrap_or_else(|| core.config.messaging_settings().send_timeout);
    let receipt = Receipt {
        token: found.token,
        holder: found.id.clone(),
    };
    let Some(timeout) = call else {
        deliver(core, name, &found, message, None, wait).await?;
        return Ok((receipt, None));
    };
    let (responder, reply) = Responder::new();
    deliver(core, name, &found, message, Some(responder), wait).await?;
    let reply = await_reply(reply, timeout).await?;
    Ok((receipt, Some(reply)))
}

fn encode<M: Serialize>(message: &M) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(message).map_err(|e| Error::new(ErrorKind::BadMessage(e.to_string())))
}
