//! [`spawn_named_singleton`]: one incarnation of an actor in the cluster,
//! restarted on another member after a failover.

use consuela::singleton::SingletonHandle;
use consuela::{Contact, FencingToken, Registry};
use ractor::Actor;

use crate::forward::{KillOnDrop, forward};
use crate::message::NamedMessage;

/// Keeps one actor running under `name` across the members that call this:
/// the member that holds the name runs an incarnation made by
/// `factory(fencing_token)`, the others stand by (with the registry's
/// `[leader]` settings) and start their own when the name is free. Mail
/// sent to the name reaches whichever incarnation runs.
///
/// An incarnation is killed when its member loses the name; when it stops
/// on its own the name is released and the members compete again. Its
/// mailbox goes with it: mail it had not handled is lost (at most once).
/// The fencing token tells incarnations apart, in increasing order.
///
/// Must be called within a Tokio runtime.
///
/// # Errors
///
/// [`ErrorKind::InvalidName`](consuela::ErrorKind::InvalidName) for a bad name.
pub fn spawn_named_singleton<A, F>(
    registry: &Registry,
    name: impl AsRef<str>,
    mut factory: F,
) -> Result<SingletonHandle, consuela::Error>
where
    A: Actor,
    A::Msg: NamedMessage,
    F: FnMut(FencingToken) -> (A, A::Arguments) + Send + 'static,
{
    let config = registry.config().leader.clone();
    registry.mailbox_singleton::<<A::Msg as NamedMessage>::Mail, _, _>(
        name,
        Contact::default(),
        config,
        move |mut mailbox, token| {
            let (actor, args) = factory(token);
            async move {
                let (actor_ref, mut join) = match A::spawn(None, actor, args).await {
                    Ok(spawned) => spawned,
                    Err(error) => {
                        tracing::warn!(%error, "the named singleton's actor did not start");
                        return;
                    }
                };
                let mut guard = KillOnDrop(Some(actor_ref.get_cell()));
                if forward(&mut mailbox, &actor_ref, &mut join).await {
                    guard.0 = None;
                }
            }
        },
    )
}
