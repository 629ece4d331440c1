//! The agent's user-event buffer: what `/v1/event/fire` delivers to this
//! node and `/v1/event/list` reads. Events are gossip, not Raft: firing one
//! takes no index.

use std::collections::VecDeque;

use consuela_wire::UserEvent;
use regex::Regex;

use super::Inner;
use crate::policy::{Authz, Kind};

/// Consul keeps the last 256 events per agent.
const BUFFER: usize = 256;

/// The compiled filters of an event, as the receiving agent applies them.
#[derive(Debug, Default)]
pub(crate) struct Filters {
    pub(crate) node: Option<Regex>,
    pub(crate) service: Option<Regex>,
    pub(crate) tag: Option<Regex>,
}

/// Delivered events, oldest first, and the serf event clock.
#[derive(Debug, Default)]
pub(crate) struct Events {
    buf: VecDeque<UserEvent>,
    clock: u64,
}

impl Events {
    /// Serf's event clock: the Lamport time the next event gets.
    pub(crate) fn clock(&self) -> u64 {
        self.clock + 1
    }

    /// The buffered events named `name` (all without a name) that `authz`
    /// may read, oldest first, and the list's index: 1 when empty, else the
    /// last event's.
    pub(crate) fn list(&self, name: Option<&str>, authz: &Authz) -> (Vec<UserEvent>, u64) {
        let list: Vec<UserEvent> = self
            .buf
            .iter()
            .filter(|e| name.is_none_or(|n| e.name == n) && authz.read(Kind::Event, &e.name))
            .cloned()
            .collect();
        let index = list.last().map_or(1, UserEvent::index);
        (list, index)
    }
}

impl Inner {
    /// Fires `event`: it is delivered to this agent (and buffered) when the
    /// filters match this node and its services. Returns the event as the
    /// fire endpoint answers it (Lamport time 0).
    pub(crate) fn fire_event(&mut self, event: UserEvent, filters: &Filters) -> UserEvent {
        if self.event_matches_this_node(filters) {
            self.events.clock += 1;
            let mut delivered = event.clone();
            delivered.ltime = self.events.clock;
            if self.events.buf.len() == BUFFER {
                self.events.buf.pop_front();
            }
            self.events.buf.push_back(delivered);
            self.pending.events = true;
        }
        event
    }

    /// Consul's `shouldProcessUserEvent`: unanchored matches of the node
    /// name, of a local service id, and of a tag of such a service.
    fn event_matches_this_node(&self, f: &Filters) -> bool {
        if let Some(node) = &f.node
            && !node.is_match(&self.catalog.agent_node)
        {
            return false;
        }
        let Some(service) = &f.service else {
            return true;
        };
        self.catalog
            .agent_services()
            .filter(|s| service.is_match(&s.id))
            .any(|s| {
                f.tag
                    .as_ref()
                    .is_none_or(|tag| s.tags.iter().any(|t| tag.is_match(t)))
            })
    }
}
