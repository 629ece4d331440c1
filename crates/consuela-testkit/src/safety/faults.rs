//! Fault injection: applies each [`Fault`] to the members' proxies, the member processes or the
//! dev server, and switches every lasting fault on and off through one generation-guarded
//! [`Toggle`] per target.
//!
//! A lasting fault (cut, latency, pause, no leader) is switched on with [`Toggle::on`], which
//! hands out a new [`Generation`], and is switched off later with that generation. A switch-off
//! whose generation is not the target's current one is stale (a newer fault took the target
//! meanwhile, or the target was healed or died) and does nothing, so the end of an earlier
//! fault never ends a newer one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use consuela_devserver::DevServer;
use consuela_wire::SessionId;
use tokio::time::Instant;

use super::checker::{IntervalEnd, check};
use super::clock::now_ns;
use super::config::SafetyConfig;
use super::history::{Event, HistoryWriter, read_history};
use super::schedule::{CutMode, Fault};
use super::supervisor::Supervisor;
use crate::{FaultProxy, Latency, Mode};

/// What a [`Toggle`] switches: one lasting fault on one member, or on the dev server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The member's proxy cuts it off ([`Fault::Cut`]).
    Cut(usize),
    /// The member's proxy adds latency ([`Fault::Latency`]).
    Latency(usize),
    /// The member's process is stopped ([`Fault::Pause`]).
    Pause(usize),
    /// The dev server has no leader ([`Fault::NoLeader`]).
    NoLeader,
}

impl Target {
    /// The member slot it is on (`None`: the dev server, everyone).
    fn slot(self) -> Option<usize> {
        match self {
            Self::Cut(slot) | Self::Latency(slot) | Self::Pause(slot) => Some(slot),
            Self::NoLeader => None,
        }
    }
}

/// One switch-on of a [`Toggle`]: only a switch-off carrying it ends that fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generation(u64);

/// Whether a target's lasting fault is on, and which switch-on it is.
#[derive(Debug, Default)]
pub(crate) struct Toggle {
    /// Switch-ons so far: the generation of the latest.
    generation: u64,
    on: bool,
}

impl Toggle {
    /// Switches on (again, if already on: the newer fault takes over) and returns the
    /// generation a switch-off must carry.
    pub(crate) fn on(&mut self) -> Generation {
        self.generation += 1;
        self.on = true;
        Generation(self.generation)
    }

    /// Switches off if `generation` is the current switch-on; returns whether it did. A stale
    /// generation (a later `on`, or an `on` already ended) changes nothing.
    pub(crate) fn off(&mut self, generation: Generation) -> bool {
        if self.on && self.generation == generation.0 {
            self.on = false;
            true
        } else {
            false
        }
    }

    /// Switches off whatever generation is on (healing everything, or the target is gone);
    /// returns whether it was on. Every outstanding switch-off becomes stale.
    pub(crate) fn clear(&mut self) -> bool {
        std::mem::replace(&mut self.on, false)
    }

    /// Whether a fault is on.
    pub(crate) fn is_on(&self) -> bool {
        self.on
    }
}

/// A pending switch-off of a lasting fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SwitchOff {
    /// What to switch off.
    pub(crate) target: Target,
    /// The switch-on it ends.
    pub(crate) generation: Generation,
}

/// What an applied fault leaves to be done later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Later {
    /// After `after`, [`Faults::switch_off`] `off`.
    Off {
        /// Delay from now.
        after: Duration,
        /// The switch-off.
        off: SwitchOff,
    },
    /// After `after`, start a new incarnation of the killed member `slot` (if still down).
    Start {
        /// Delay from now.
        after: Duration,
        /// The member slot.
        slot: usize,
    },
}

/// Faults injected and skipped, by kind ([`Fault::kind`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// Faults injected.
    pub(crate) injected: BTreeMap<&'static str, u64>,
    /// Faults skipped because they did not apply.
    pub(crate) skipped: BTreeMap<&'static str, u64>,
}

/// The fault state of one member slot.
#[derive(Debug)]
struct MemberFaults {
    /// The member's way to Consul.
    proxy: FaultProxy,
    /// [`Target::Cut`].
    cut: Toggle,
    /// [`Target::Latency`].
    latency: Toggle,
    /// [`Target::Pause`]: on exactly while the supervisor has the member paused.
    pause: Toggle,
    /// Last time a fault on this member ended (offset from the run's start).
    disturbed: Duration,
    /// No network fault or pause before this: an invalidation is being learned of.
    quiet_until: Duration,
}

/// The fault injector of a run: every member's proxy and toggles, the dev server's no-leader
/// toggle, and the tally.
#[derive(Debug)]
pub(crate) struct Faults {
    /// The run's start: offsets are from here.
    begin: Instant,
    /// The members' lock-delay: how long an invalidation keeps other faults off.
    lock_delay: Duration,
    /// The history file, read to find a name's holder.
    history_path: PathBuf,
    /// Where faults, heals and invalidations are recorded.
    history: HistoryWriter,
    /// Per member slot.
    members: Vec<MemberFaults>,
    /// [`Target::NoLeader`].
    no_leader: Toggle,
    /// Last time a fault on every member (no leader) ended.
    global_disturbed: Duration,
    /// No network fault, pause or no-leader before this, on any member.
    global_quiet_until: Duration,
    /// Faults injected and skipped so far.
    tally: Tally,
}

impl Faults {
    /// One member slot per proxy, in slot order; offsets count from `begin`.
    pub(crate) fn new(
        proxies: Vec<FaultProxy>,
        begin: Instant,
        config: &SafetyConfig,
        history: HistoryWriter,
    ) -> Self {
        Self {
            begin,
            lock_delay: config.lock_delay,
            history_path: config.history.clone(),
            history,
            members: proxies
                .into_iter()
                .map(|proxy| MemberFaults {
                    proxy,
                    cut: Toggle::default(),
                    latency: Toggle::default(),
                    pause: Toggle::default(),
                    disturbed: Duration::ZERO,
                    quiet_until: Duration::ZERO,
                })
                .collect(),
            no_leader: Toggle::default(),
            global_disturbed: Duration::ZERO,
            global_quiet_until: Duration::ZERO,
            tally: Tally::default(),
        }
    }

    /// Time since the run's start.
    fn now(&self) -> Duration {
        self.begin.elapsed()
    }

    /// The toggle of `target`.
    fn toggle(&mut self, target: Target) -> &mut Toggle {
        match target {
            Target::Cut(slot) => &mut self.members[slot].cut,
            Target::Latency(slot) => &mut self.members[slot].latency,
            Target::Pause(slot) => &mut self.members[slot].pause,
            Target::NoLeader => &mut self.no_leader,
        }
    }

    /// Records a `Fault` event about `slot`'s current process (or everyone).
    fn event(&self, supervisor: &Supervisor, kind: &str, slot: Option<usize>, detail: String) {
        self.history.record(&Event::Fault {
            kind: kind.to_owned(),
            member: slot.and_then(|s| supervisor.label(s)),
            detail,
            t: now_ns(),
        });
    }

    /// Counts a skipped fault.
    fn skip(&mut self, kind: &'static str) -> Option<Later> {
        *self.tally.skipped.entry(kind).or_default() += 1;
        None
    }

    /// Whether a network fault or pause may hit `slot` now.
    fn may_disturb(&self, supervisor: &Supervisor, slot: usize) -> bool {
        let now = self.now();
        let m = &self.members[slot];
        supervisor.is_up(slot) && now >= m.quiet_until && now >= self.global_quiet_until
    }

    /// Applies `fault` if it applies now (counting it as injected) or counts it as skipped;
    /// returns what it leaves for later.
    pub(crate) async fn apply(
        &mut self,
        fault: Fault,
        supervisor: &mut Supervisor,
        server: &DevServer,
    ) -> Option<Later> {
        let kind = fault.kind();
        let later = match fault {
            Fault::Cut { member, .. } | Fault::Latency { member, .. } => {
                if !self.may_disturb(supervisor, member) {
                    return self.skip(kind);
                }
                Some(self.switch_on(&fault, supervisor, server))
            }
            Fault::Pause { member, .. } => {
                debug_assert_eq!(
                    self.members[member].pause.is_on(),
                    supervisor.is_paused(member),
                    "a member's pause toggle is on exactly while it is paused"
                );
                if !self.may_disturb(supervisor, member) || self.members[member].pause.is_on() {
                    return self.skip(kind);
                }
                Some(self.switch_on(&fault, supervisor, server))
            }
            Fault::NoLeader { .. } => {
                if self.now() < self.global_quiet_until || self.no_leader.is_on() {
                    return self.skip(kind);
                }
                Some(self.switch_on(&fault, supervisor, server))
            }
            Fault::Kill {
                member,
                restart_after,
            } => {
                if !supervisor.is_up(member) {
                    return self.skip(kind);
                }
                self.event(
                    supervisor,
                    kind,
                    Some(member),
                    format!("restart after {restart_after:?}"),
                );
                supervisor.kill(member).await;
                // Its pause (if any) died with it: nothing to resume.
                self.members[member].pause.clear();
                Some(Later::Start {
                    after: restart_after,
                    slot: member,
                })
            }
            Fault::Restart { member } => {
                if !supervisor.is_up(member) {
                    return self.skip(kind);
                }
                self.event(supervisor, kind, Some(member), String::new());
                self.clear(Target::Pause(member), supervisor, server);
                supervisor.terminate(member).await;
                let _ = supervisor.start(member);
                None
            }
            Fault::Invalidate { member } => {
                if !self.invalidate(member, supervisor, server).await {
                    return self.skip(kind);
                }
                None
            }
            Fault::CutHolder { name, mode, for_ } => {
                let Some(member) = self.holder(&name, supervisor) else {
                    return self.skip(kind);
                };
                return Box::pin(self.apply(Fault::Cut { member, mode, for_ }, supervisor, server))
                    .await;
            }
        };
        *self.tally.injected.entry(kind).or_default() += 1;
        later
    }

    /// Switches a lasting fault on: its effect, a new generation of its target's toggle, its
    /// `Fault` event; returns its switch-off.
    fn switch_on(
        &mut self,
        fault: &Fault,
        supervisor: &mut Supervisor,
        server: &DevServer,
    ) -> Later {
        let (target, for_, detail) = match *fault {
            Fault::Cut { member, mode, for_ } => {
                self.members[member].proxy.set_mode(match mode {
                    CutMode::Stop => Mode::Stop,
                    CutMode::Ignore => Mode::Ignore,
                });
                (Target::Cut(member), for_, format!("{for_:?}"))
            }
            Fault::Latency {
                member,
                delay,
                for_,
            } => {
                self.members[member].proxy.set_latency(Latency::both(delay));
                (
                    Target::Latency(member),
                    for_,
                    format!("{delay:?} for {for_:?}"),
                )
            }
            Fault::Pause { member, for_ } => {
                supervisor.pause(member, for_);
                (Target::Pause(member), for_, format!("{for_:?}"))
            }
            Fault::NoLeader { for_ } => {
                server.set_no_leader(None);
                (Target::NoLeader, for_, format!("{for_:?}"))
            }
            Fault::Kill { .. }
            | Fault::Restart { .. }
            | Fault::Invalidate { .. }
            | Fault::CutHolder { .. } => unreachable!("only lasting faults are switched on"),
        };
        let generation = self.toggle(target).on();
        self.event(supervisor, fault.kind(), target.slot(), detail);
        Later::Off {
            after: for_,
            off: SwitchOff { target, generation },
        }
    }

    /// Switches a lasting fault off, unless `off` is stale: its target's toggle has moved on
    /// to a newer fault, or was cleared.
    pub(crate) fn switch_off(
        &mut self,
        off: SwitchOff,
        supervisor: &mut Supervisor,
        server: &DevServer,
    ) {
        if self.toggle(off.target).off(off.generation) {
            self.heal(off.target, supervisor, server);
        }
    }

    /// Switches `target` off whatever its generation, if it is on.
    fn clear(&mut self, target: Target, supervisor: &mut Supervisor, server: &DevServer) {
        if self.toggle(target).clear() {
            self.heal(target, supervisor, server);
        }
    }

    /// Undoes `target`'s effect (its toggle is already off) and records the heal.
    fn heal(&mut self, target: Target, supervisor: &mut Supervisor, server: &DevServer) {
        let now = self.now();
        let (slot, kind) = match target {
            Target::Cut(slot) => {
                self.members[slot].proxy.set_mode(Mode::Pass);
                (slot, "cut-heal")
            }
            Target::Latency(slot) => {
                self.members[slot].proxy.set_latency(Latency::default());
                (slot, "latency-heal")
            }
            Target::Pause(slot) => {
                if !supervisor.resume(slot) {
                    return;
                }
                (slot, "pause-heal")
            }
            Target::NoLeader => {
                server.clear_no_leader();
                self.global_disturbed = now;
                self.event(supervisor, "no-leader-heal", None, String::new());
                return;
            }
        };
        self.members[slot].disturbed = now;
        self.event(supervisor, kind, Some(slot), String::new());
    }

    /// Invalidates `member`'s session if it can learn of it well within the lock-delay
    /// (reachable and running, nothing disturbed it lately) and records `Invalidated`; returns
    /// whether it did.
    async fn invalidate(
        &mut self,
        member: usize,
        supervisor: &mut Supervisor,
        server: &DevServer,
    ) -> bool {
        // Its session watch may still be backing off after an earlier fault, but its next
        // renew (at most TTL/4 away) answers 404.
        let now = self.now();
        let settle = Duration::from_millis(200);
        let m = &self.members[member];
        let calm = supervisor.is_up(member)
            && !m.pause.is_on()
            && !m.cut.is_on()
            && !m.latency.is_on()
            && !self.no_leader.is_on()
            && now >= m.disturbed + settle
            && now >= self.global_disturbed + settle;
        if !calm {
            return false;
        }
        let Some(status) = supervisor.status(member).await else {
            return false;
        };
        let (Some(session), true) = (status.session, status.running) else {
            return false;
        };
        if !server.invalidate_session(&SessionId::new(session.clone())) {
            return false;
        }
        self.history.record(&Event::Invalidated {
            member: status.member,
            session,
            t: now_ns(),
        });
        let quiet = self.now() + self.lock_delay + Duration::from_millis(500);
        self.members[member].quiet_until = quiet;
        self.global_quiet_until = self.global_quiet_until.max(quiet);
        true
    }

    /// The slot of whichever member holds `name` now, read from the history.
    fn holder(&self, name: &str, supervisor: &Supervisor) -> Option<usize> {
        let (events, _) = read_history(&self.history_path).ok()?;
        let label = check(&events)
            .intervals
            .get(name)?
            .iter()
            .find(|i| i.how == IntervalEnd::Open)
            .map(|i| i.member.clone())?;
        supervisor.slot_of(&label)
    }

    /// Heals everything at once when the faults stop: the dev server's faults, every proxy,
    /// every paused member. Every outstanding switch-off becomes stale.
    pub(crate) fn heal_all(&mut self, supervisor: &mut Supervisor, server: &DevServer) {
        self.event(supervisor, "heal-all", None, String::new());
        server.reset_faults();
        self.no_leader.clear();
        for slot in 0..self.members.len() {
            let m = &mut self.members[slot];
            m.proxy.set_mode(Mode::Pass);
            m.proxy.set_latency(Latency::default());
            m.cut.clear();
            m.latency.clear();
            self.clear(Target::Pause(slot), supervisor, server);
        }
    }

    /// Shuts every proxy down; returns the tally.
    pub(crate) async fn shutdown(self) -> Tally {
        for m in self.members {
            m.proxy.shutdown().await;
        }
        self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_switch_off_never_ends_a_newer_fault() {
        let mut t = Toggle::default();
        let first = t.on();
        let second = t.on();
        assert!(!t.off(first), "the first fault's end is stale");
        assert!(t.is_on());
        assert!(t.off(second));
        assert!(!t.is_on());
        assert!(!t.off(second), "an ended fault ends once");
    }

    #[test]
    fn clearing_makes_every_switch_off_stale() {
        let mut t = Toggle::default();
        let g = t.on();
        assert!(t.clear());
        assert!(!t.clear());
        assert!(!t.off(g));
        let h = t.on();
        assert_ne!(g, h);
        assert!(!t.off(g), "an older generation never ends a newer fault");
        assert!(t.off(h));
    }
}
