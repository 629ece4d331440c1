//! The register procedure: claim the name locally, make the one Consul
//! request (repeated while Consul has no leader), and carry out the
//! [acquire decision](super::acquire).

use std::sync::Arc;

use tokio::time::{Instant, sleep, sleep_until, timeout_at};

use super::acquire::{self, Step};
use super::core::Core;
use super::local::{Claim, Held};
use super::options::RegisterOptions;
use super::registration::Registration;
use crate::consul::Acquired;
use crate::error::{Error, ErrorKind};
use crate::event::Event;
use crate::holder::{Contact, RegistrationId, Role};
use crate::messaging::Inbox;
use crate::name::Name;
use crate::reaper::Zombie;
use crate::record::Record;
use crate::retry::NoLeaderBackoff;
use crate::time::Timestamp;

impl Core {
    /// [`Registry::register_with`](crate::Registry::register_with).
    pub(crate) async fn register_with(
        self: &Arc<Self>,
        name: &Name,
        contact: Contact,
        options: RegisterOptions,
    ) -> Result<Registration, Error> {
        self.retry_lock_delay(options, || self.register(name, contact.clone()))
            .await
    }

    /// Runs `attempt` until it answers anything but a lock-delay, or
    /// `options` say to stop waiting the lock-delay out.
    pub(crate) async fn retry_lock_delay<T, F, Fut>(
        &self,
        options: RegisterOptions,
        mut attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let started = Instant::now();
        loop {
            let error = match attempt().await {
                Err(e) if matches!(e.kind(), ErrorKind::LockDelay) => e,
                result => return result,
            };
            let lock_delay = self.config.session.lock_delay;
            match options.retry_at(lock_delay, started, Instant::now()) {
                Some(at) => sleep_until(at).await,
                None => return Err(error),
            }
        }
    }

    /// One registration attempt: one Consul round trip.
    pub(crate) async fn register(
        self: &Arc<Self>,
        name: &Name,
        contact: Contact,
    ) -> Result<Registration, Error> {
        self.register_as(name, contact, Role::Name).await
    }

    /// One registration attempt of a key standing for `role` (a name, a
    /// semaphore contender, a group membership): the record says which, and
    /// the key carries the role's flags.
    pub(crate) async fn register_as(
        self: &Arc<Self>,
        name: &Name,
        contact: Contact,
        role: Role,
    ) -> Result<Registration, Error> {
        self.register_held(name, contact, role, None).await
    }

    /// [`register_as`](Self::register_as), with the mailbox the name is to
    /// be held with: in the table from the moment the name is held, so that
    /// no sender who reads the record finds the name without it.
    pub(crate) async fn register_held(
        self: &Arc<Self>,
        name: &Name,
        contact: Contact,
        role: Role,
        mailbox: Option<Arc<dyn Inbox>>,
    ) -> Result<Registration, Error> {
        loop {
            self.check_running()?;
            match self.local.claim(name) {
                Claim::Claimed => break,
                Claim::Wait(mut settled) => {
                    let _ = settled.changed().await;
                }
                Claim::Taken(held) => {
                    return Err(Error::new(ErrorKind::AlreadyRegistered {
                        holder: Some(Box::new(held.holder())),
                    }));
                }
            }
        }
        let id = self.next_id();
        let mut pending = Pending {
            core: self,
            name,
            id: Some(id.clone()),
        };
        let since = Timestamp::now();
        let record = Record::new(&id, &contact, since).with_role(role);
        let key = self.directory.key(name);
        let started = Instant::now();
        let answer = self
            .acquire(name, &key, &record.encode(), role.flags(), started)
            .await;
        let latency = started.elapsed();
        let decision = acquire::decide(answer);
        if !decision.zombie {
            pending.id = None;
        }
        let error = match decision.step {
            Step::Hold(fencing_token) => {
                let held = Held {
                    id: id.clone(),
                    contact,
                    since,
                    fencing_token,
                    role,
                    refs: 1,
                    mailbox,
                };
                let holder = held.holder();
                self.local.fill(name, held);
                drop(pending);
                self.reaper.kick();
                if let Err(e) = self.check_running() {
                    // Stopped while we were acquiring. After a fail-stop the
                    // session is gone or expiring and takes the key with it;
                    // during a shutdown, give the name back now.
                    if e.kind().is_shutdown() {
                        let _ = self.release_now(name, &id).await;
                    } else {
                        self.local.release(name, &id);
                    }
                    return Err(e);
                }
                self.pulses.emit(Event::Registered {
                    name: name.clone(),
                    id,
                    fencing_token,
                    latency,
                });
                return Ok(Registration::new(self.clone(), name.clone(), holder));
            }
            Step::Conflict => {
                self.reaper.kick();
                let holder = self
                    .directory
                    .holder(name, consuela_client::Consistency::Default)
                    .await
                    .ok()
                    .flatten();
                self.pulses.emit(Event::Conflict {
                    name: name.clone(),
                    holder: holder.as_ref().map(|h| h.id.clone()),
                });
                return Err(Error::new(ErrorKind::AlreadyRegistered {
                    holder: holder.map(Box::new),
                }));
            }
            Step::LockDelay => {
                self.pulses.emit(Event::LockDelayed { name: name.clone() });
                return Err(Error::new(ErrorKind::LockDelay));
            }
            Step::FailStop(reason) => {
                self.fail_stop(reason);
                Error::lost(reason)
            }
            Step::Fail(error) => error,
        };
        self.pulses.emit(Event::RegisterFailed {
            name: name.clone(),
            error: error.clone(),
        });
        // `pending` hands a maybe-applied acquisition to the reaper here.
        drop(pending);
        Err(error)
    }
}

impl Core {
    /// One acquisition within `registration_timeout` of `started`. While
    /// Consul has no leader (an election), it tries again with a short
    /// back-off: Consul refuses before applying anything then, and a repeat
    /// of the same record by the same session is harmless anyway.
    async fn acquire(
        &self,
        name: &Name,
        key: &str,
        value: &[u8],
        flags: u64,
        started: Instant,
    ) -> Result<Acquired, Error> {
        let deadline = started + self.config.registry.registration_timeout;
        let mut backoff = NoLeaderBackoff::new();
        loop {
            let answer = timeout_at(deadline, self.session.acquire(key, value.to_vec(), flags))
                .await
                .unwrap_or_else(|elapsed| Err(elapsed.into()));
            let now = Instant::now();
            let first = backoff.is_first();
            match (answer, backoff.next_before(now, deadline)) {
                (Ok(Acquired::NoLeader), Some(wait)) => {
                    if first {
                        self.pulses.emit(Event::AwaitingLeader {
                            name: name.clone(),
                            gives_up_in: deadline.saturating_duration_since(now),
                        });
                    }
                    sleep(wait).await;
                }
                (answer, _) => return answer,
            }
        }
    }
}

/// A claimed slot in the local table: freed when dropped, and, while the
/// outcome is unknown (`id` set), handed to the reaper, including when the
/// `register` future is dropped mid-flight.
struct Pending<'a> {
    core: &'a Arc<Core>,
    name: &'a Name,
    id: Option<RegistrationId>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.core.local.abandon(self.name);
        if let Some(id) = self.id.take()
            && self.core.check_running().is_ok()
        {
            self.core.reaper.enqueue(
                Zombie {
                    name: self.name.clone(),
                    id,
                    fencing_token: None,
                },
                false,
            );
        }
    }
}
