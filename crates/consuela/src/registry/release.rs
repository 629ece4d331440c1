//! Giving names back: the last guard's release, now or in the background,
//! as one `DELETE ?cas=<fencing token>`; failures go to the reaper.

use std::sync::Arc;

use tokio::time::{Instant, timeout};

use super::core::Core;
use super::local::Held;
use super::state::State;
use crate::error::Error;
use crate::event::Event;
use crate::holder::RegistrationId;
use crate::name::Name;
use crate::reaper::Zombie;

impl Core {
    /// Drops one guard of a registration; the last one releases the name in
    /// the background (or through the reaper when there is no runtime).
    pub(crate) fn release_in_background(self: &Arc<Self>, name: Name, id: &RegistrationId) {
        let Some(held) = self.local.release(&name, id) else {
            return;
        };
        // After a fail-stop the session takes the key with it. During a
        // shutdown the name must still be deleted here: the shutdown's own
        // sweep no longer sees it, and leaving it to the session's destroy
        // would impose the lock-delay on successors.
        if matches!(*self.state.borrow(), State::Lost(_) | State::Shutdown) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let core = self.clone();
                self.tasks
                    .spawn_on(async move { core.delete(name, held).await }, &rt);
            }
            Err(_) => self.reaper.enqueue(
                Zombie {
                    name,
                    id: held.id,
                    fencing_token: Some(held.fencing_token),
                },
                true,
            ),
        }
    }

    /// Drops one guard of a registration; the last one releases the name now.
    /// Failures go to the reaper.
    pub(crate) async fn release_now(&self, name: &Name, id: &RegistrationId) -> Result<(), Error> {
        let Some(held) = self.local.release(name, id) else {
            return Ok(());
        };
        self.delete(name.clone(), held).await
    }

    /// Deletes our key of `name` with one `DELETE ?cas=<fencing token>`.
    pub(crate) async fn delete(&self, name: Name, held: Held) -> Result<(), Error> {
        let key = self.directory.key(&name);
        let started = Instant::now();
        let deleted = timeout(
            self.config.registry.registration_timeout,
            self.session.delete_if(&key, held.fencing_token),
        )
        .await
        .unwrap_or_else(|elapsed| Err(elapsed.into()));
        match deleted {
            Ok(deleted) => {
                self.reaper.kick();
                self.pulses.emit(Event::Unregistered {
                    name,
                    id: held.id,
                    stale: !deleted,
                    latency: started.elapsed(),
                });
                Ok(())
            }
            Err(error) => {
                self.pulses.emit(Event::UnregisterFailed {
                    name: name.clone(),
                    error: error.clone(),
                });
                self.reaper.enqueue(
                    Zombie {
                        name,
                        id: held.id,
                        fencing_token: Some(held.fencing_token),
                    },
                    false,
                );
                Err(error)
            }
        }
    }
}
