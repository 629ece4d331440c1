//! [`spawn_named`]: one actor under one name, and its [`NamedActor`] handle.

use consuela::registry::SpawnHandle;
use consuela::{Contact, FencingToken, Holder, Registry};
use ractor::{Actor, ActorRef};

use crate::error::Error;
use crate::forward::{KillOnDrop, forward};
use crate::message::NamedMessage;

/// How a named actor ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum Exit {
    /// The actor stopped (on its own, or by [`NamedActor::stop`]); the name
    /// was released after it.
    Stopped,
    /// Ownership was lost or the registry stopped: the actor was killed at
    /// once, and the error says why.
    Lost(consuela::Error),
}

/// An actor running under a name. Dropping the handle leaves it running.
#[derive(Debug)]
pub struct NamedActor<M: NamedMessage> {
    actor: ActorRef<M>,
    task: SpawnHandle<()>,
}

impl<M: NamedMessage> NamedActor<M> {
    /// The actor, for messages from this process that need no name.
    pub fn actor(&self) -> &ActorRef<M> {
        &self.actor
    }

    /// The name's holder: this registration.
    pub fn holder(&self) -> &Holder {
        self.task.holder()
    }

    /// The registration's fencing token.
    pub fn fencing_token(&self) -> FencingToken {
        self.task.fencing_token()
    }

    /// Whether the actor has ended and the name is released or lost.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the actor (after the message it is handling), then releases
    /// the name.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the stop is requested at once; cancelling only stops
    /// the wait.
    pub async fn stop(self) -> Exit {
        self.actor.stop(None);
        self.wait().await
    }

    /// Waits for the actor to end.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future leaves the actor running.
    pub async fn wait(self) -> Exit {
        match self.task.join().await {
            Ok(()) => Exit::Stopped,
            Err(error) => Exit::Lost(error),
        }
    }
}

/// Registers `name` with a mailbox and runs `actor` (started with `args`)
/// while the name is held: mail sent to the name reaches it through
/// [`NamedMessage::from_mail`]. The actor is killed as soon as ownership is
/// lost; the name is released when the actor stops.
///
/// Mail is forwarded from the name's bounded mailbox into the actor's own
/// (unbounded) one as it arrives.
///
/// # Errors
///
/// [`Error::Registry`] when the name cannot be registered (as
/// [`Registry::register`]), [`Error::Spawn`] when the actor does not start
/// (the name is released then).
///
/// # Cancel safety
///
/// As [`Registry::register`]: a name acquired for a cancelled call is
/// released.
pub async fn spawn_named<A>(
    registry: &Registry,
    name: impl AsRef<str>,
    actor: A,
    args: A::Arguments,
) -> Result<NamedActor<A::Msg>, Error>
where
    A: Actor,
    A::Msg: NamedMessage,
{
    let (registration, mut mailbox) = registry
        .register_mailbox::<<A::Msg as NamedMessage>::Mail>(name, Contact::default())
        .await?;
    let (actor_ref, mut join) = match A::spawn(None, actor, args).await {
        Ok(spawned) => spawned,
        Err(error) => {
            let _ = registration.unregister().await;
            return Err(error.into());
        }
    };
    let forwarded = actor_ref.clone();
    let task = registration.spawn(async move {
        let mut guard = KillOnDrop(Some(forwarded.get_cell()));
        if forward(&mut mailbox, &forwarded, &mut join).await {
            // The actor ended on its own: nothing to kill.
            guard.0 = None;
        }
    });
    Ok(NamedActor {
        actor: actor_ref,
        task,
    })
}
