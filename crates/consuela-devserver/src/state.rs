//! All server state: one `Inner` behind one mutex, one global Raft-like index.
//!
//! Why one mutex: every Consul write is one atomic step at a new index, and a
//! session invalidation touches sessions, KV entries, lock-delays and catalog
//! checks at once. A single `std::sync::Mutex`, never held across `.await`,
//! gives that atomicity for free; every critical section is a few map
//! operations, so contention is low even at tens of thousands of requests per
//! second.
//!
//! Every public operation takes the lock through [`Locked`], whose `Drop`
//! closes the write (so each operation gets at most one index), wakes the
//! blocking queries that watch what was written, and pokes the timer task when
//! a deadline moved.

mod acl;
mod catalog;
mod dump;
mod event;
mod faults;
mod identity;
mod index;
mod kv;
mod log;
mod operator;
mod prepared;
mod session;
mod txn;
mod watch;

use std::collections::BTreeSet;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use consuela_wire::SessionId;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::DevServerConfig;

use faults::Faults;
use identity::Identity;
pub(crate) use index::Indexes;

// What the rest of the crate names of the tables. The HTTP layer and the check
// runners go through this list, never through the tables' own modules, which
// stay private: a table can be split or merged without touching its users.
pub(crate) use acl::{ANONYMOUS, Acl, AclError};
pub(crate) use catalog::{
    Catalog, CatalogDeregistration, CatalogRegistration, CheckKind, CheckSpec, NodeRecord,
    NodeSpec, RunnerSpawn, ServiceSpec,
};
pub(crate) use event::Filters;
pub(crate) use kv::prefixed;
pub(crate) use log::{Level, Line};
pub(crate) use operator::Autopilot;
pub(crate) use prepared::{
    Dns, Failover, PreparedQuery, QUERY_NOT_FOUND, QueryOp, ServiceQuery, Template,
};
pub(crate) use session::{CreateSpec, canonical_id_checked};
pub(crate) use txn::{KvOp, OpError, TxnOutcome};
pub(crate) use watch::Target;

/// What a timer in [`Inner::timers`] fires for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// A session's TTL (`last renew + TTL × multiplier`).
    Session(SessionId),
    /// A TTL check's deadline: `(node, check id)`.
    Check(String, String),
}

/// The mutable state. Only reachable through [`Shared::lock`].
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) index: Indexes,
    pub(crate) kv: kv::Kv,
    pub(crate) sessions: session::Sessions,
    pub(crate) catalog: catalog::Catalog,
    pub(crate) events: event::Events,
    pub(crate) operator: operator::Operator,
    pub(crate) queries: prepared::Queries,
    pub(crate) acls: acl::Acls,
    pub(crate) watch: watch::Hub,
    /// Session-TTL and check-TTL deadlines, earliest first (mini-redis style).
    pub(crate) timers: BTreeSet<(Instant, TimerKey)>,
    pub(crate) ttl_paused: bool,
    /// Set when `timers` changed, so the timer task re-reads its next deadline.
    pub(crate) timers_dirty: bool,
    /// A leader election is in progress: no session TTL fires.
    pub(crate) electing: bool,
    pub(crate) pending: watch::Pending,
}

impl Inner {
    /// Closes the current write: the next write gets a fresh index.
    pub(crate) fn end_write(&mut self) {
        self.index.end_write();
    }

    pub(crate) fn add_timer(&mut self, at: Instant, key: TimerKey) {
        self.timers.insert((at, key));
        self.timers_dirty = true;
    }

    pub(crate) fn remove_timer(&mut self, at: Instant, key: TimerKey) {
        self.timers.remove(&(at, key));
        self.timers_dirty = true;
    }

    /// Fires every due timer (each as its own write) and returns the next
    /// deadline. Nothing fires while TTLs are paused.
    pub(crate) fn fire_timers(&mut self, now: Instant, cfg: &DevServerConfig) -> Option<Instant> {
        if self.ttl_paused || self.electing {
            return None;
        }
        while let Some((at, _)) = self.timers.first() {
            if *at > now {
                break;
            }
            let Some((at, key)) = self.timers.pop_first() else {
                break;
            };
            match key {
                TimerKey::Session(id) => {
                    let due = self
                        .sessions
                        .by_id
                        .get(&id)
                        .is_some_and(|s| s.deadline == Some(at));
                    if due {
                        self.invalidate_session(&id, now, cfg);
                    }
                }
                TimerKey::Check(node, check) => self.check_ttl_expired(&node, &check, at, now, cfg),
            }
            self.end_write();
        }
        self.kv.sweep_lock_delays(now);
        let last = self.index.last();
        self.kv.reap_tombstones(now, last, cfg.tombstone_ttl);
        self.timers.first().map(|(at, _)| *at)
    }
}

/// Everything the HTTP layer and background tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: DevServerConfig,
    pub(crate) identity: Identity,
    inner: Mutex<Inner>,
    /// Pokes the timer task after `timers` changed.
    pub(crate) timers_changed: Notify,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
    pub(crate) faults: Faults,
    pub(crate) log: log::Log,
    /// Set by `PUT /v1/agent/leave`.
    pub(crate) left: AtomicBool,
}

/// A locked [`Inner`]; dropping it ends the write and wakes watchers.
pub(crate) struct Locked<'a> {
    guard: MutexGuard<'a, Inner>,
    shared: &'a Shared,
}

impl Deref for Locked<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.guard
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.guard
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let inner = &mut *self.guard;
        inner.index.end_write();
        let pending = std::mem::take(&mut inner.pending);
        inner.watch.notify(pending);
        if std::mem::take(&mut inner.timers_dirty) {
            self.shared.timers_changed.notify_one();
        }
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> Locked<'_> {
        // A panic while holding the lock would poison it; every state
        // operation is written not to panic, and if one did, serving the
        // (consistent-by-construction) data is still better than dying.
        let guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Locked {
            guard,
            shared: self,
        }
    }
}

/// A handle to a dev server's state: what [`router`](crate::router) serves.
///
/// Cheap to clone. Creating one spawns the timer task (session TTLs, check
/// TTLs), so it must happen inside a Tokio runtime; [`ServerState::shutdown`]
/// stops every task the state started.
#[derive(Debug, Clone)]
pub struct ServerState {
    pub(crate) shared: Arc<Shared>,
}

impl ServerState {
    /// Builds the initial state (agent node, `extra_nodes`, `serfHealth`
    /// checks, the `consul` service) and starts the timer task.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn new(config: DevServerConfig) -> Self {
        let identity = Identity {
            node_id: config
                .node_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            address: "127.0.0.1".to_owned(),
            server_port: 18300,
            started: std::time::SystemTime::now(),
        };
        let mut inner = Inner {
            index: Indexes::default(),
            kv: kv::Kv::default(),
            sessions: session::Sessions::default(),
            catalog: catalog::Catalog::default(),
            events: event::Events::default(),
            operator: operator::Operator::default(),
            queries: prepared::Queries::default(),
            acls: acl::Acls::default(),
            watch: watch::Hub::default(),
            timers: BTreeSet::new(),
            ttl_paused: false,
            timers_dirty: false,
            electing: false,
            pending: watch::Pending::default(),
        };
        inner.bootstrap_catalog(&config, &identity);
        let agents: Vec<String> = std::iter::once(config.node_name.clone())
            .chain(config.extra_nodes.iter().cloned())
            .collect();
        inner.bootstrap_operator(&agents);
        if let Some(master) = &config.acl_token {
            inner.bootstrap_acls(master);
        }
        let shared = Arc::new(Shared {
            config,
            identity,
            inner: Mutex::new(inner),
            timers_changed: Notify::new(),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            faults: Faults::default(),
            log: log::Log::default(),
            left: AtomicBool::new(false),
        });
        let state = Self { shared };
        state.log_startup();
        let task = state.clone();
        state
            .shared
            .tracker
            .spawn(async move { task.run_timers().await });
        state
    }

    /// The configuration in force.
    pub fn config(&self) -> &DevServerConfig {
        &self.shared.config
    }

    /// The last Raft-like index handed out.
    pub fn current_index(&self) -> u64 {
        self.shared.lock().index.last()
    }

    /// Writes a line to the server's log (`/v1/agent/monitor`, `tracing`).
    pub(crate) fn log(&self, level: log::Level, msg: &str) {
        self.shared.log.write(level, msg);
    }

    /// What a dev agent logs as it becomes the leader of its own cluster.
    fn log_startup(&self) {
        let s = &self.shared;
        let addr = s.identity.server_addr();
        let node = &s.config.node_name;
        for line in [
            format!("raft: Node at {addr} [Leader] entering Leader state"),
            "consul: cluster leadership acquired".to_owned(),
            format!("consul: New leader elected: {node}"),
            format!("consul: member '{node}' joined, marking health alive"),
            "agent: Synced node info".to_owned(),
        ] {
            self.log(log::Level::Info, &line);
        }
    }

    /// `PUT /v1/agent/leave`: the agent leaves the cluster and shuts down.
    /// The shutdown starts after the current request has been answered.
    pub(crate) fn leave(&self) {
        self.shared.left.store(true, Ordering::Relaxed);
        self.log(log::Level::Info, "agent: Requesting shutdown");
        let shutdown = self.shared.shutdown.clone();
        self.shared.tracker.spawn(async move {
            tokio::task::yield_now().await;
            shutdown.cancel();
        });
    }

    /// The agent's serf status: 1 alive, 3 left.
    pub(crate) fn member_status(&self) -> i64 {
        if self.shared.left.load(Ordering::Relaxed) {
            3
        } else {
            1
        }
    }

    /// Resolves once the server has begun shutting down: after
    /// [`ServerState::shutdown`], or after a client asked the agent to leave
    /// (`PUT /v1/agent/leave`).
    pub async fn stopped(&self) {
        self.shared.shutdown.cancelled().await;
    }

    /// The timer task: fires session and check TTLs at their deadlines.
    async fn run_timers(self) {
        let shared = &self.shared;
        loop {
            let next = shared.lock().fire_timers(Instant::now(), &shared.config);
            // Also wake every few seconds to sweep expired lock-delay records.
            let next = next.unwrap_or_else(|| Instant::now() + Duration::from_secs(5));
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                () = shared.timers_changed.notified() => {}
                () = shared.shutdown.cancelled() => return,
            }
        }
    }

    /// Invalidates a session now, exactly as a TTL expiry would (keys released
    /// or deleted per its Behavior, lock-delay started). `false` if unknown.
    pub fn invalidate_session(&self, id: &SessionId) -> bool {
        let Some(id) = session::canonical_id(id.as_str()) else {
            return false;
        };
        let mut g = self.shared.lock();
        g.invalidate_session(&id, Instant::now(), &self.shared.config)
    }

    /// Makes `/v1/` requests answer 500 `No cluster leader`: for the next
    /// `Some(n)` requests, or for all of them with `None`, until cleared.
    pub fn set_no_leader(&self, count: Option<u32>) {
        let v = count.map_or(-1, i64::from);
        self.shared.faults.no_leader.store(v, Ordering::Relaxed);
    }

    /// Stops answering `No cluster leader`.
    pub fn clear_no_leader(&self) {
        self.shared.faults.no_leader.store(0, Ordering::Relaxed);
    }

    /// Delays every `/v1/` response by `latency` (zero turns it off).
    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.shared.faults.latency_ms.store(ms, Ordering::Relaxed);
    }

    /// Pauses (`true`) or resumes session-TTL and check-TTL expiry. While
    /// paused nothing expires; on resume everything overdue expires at once.
    pub fn pause_ttl(&self, paused: bool) {
        let mut g = self.shared.lock();
        g.ttl_paused = paused;
        g.timers_dirty = true;
    }

    /// Holds a Raft leader election lasting `length`, as on a cluster whose
    /// leader server died. Until it ends, every request that needs the
    /// leader answers 500 `No cluster leader` as a follower does (agent
    /// endpoints, `/v1/event/*` and `?stale` reads still answer;
    /// `/v1/status/leader` answers `""`), and no session TTL fires (the
    /// timers live on the leader). When it ends, every session's TTL timer
    /// starts again from scratch (TTL × multiplier), as a new leader's
    /// `initializeSessionTimers` does. A new call replaces the election in
    /// progress.
    pub fn hold_election(&self, length: Duration) {
        let end = Instant::now() + length;
        *self
            .shared
            .faults
            .election
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(end);
        {
            let mut g = self.shared.lock();
            g.electing = true;
            g.timers_dirty = true;
        }
        let state = self.clone();
        self.shared.tracker.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep_until(end) => state.end_election(Some(end)),
                () = state.shared.shutdown.cancelled() => {}
            }
        });
    }

    /// Ends the election that was to end at `end` (any, for `None`): a new
    /// leader restarts every session's TTL timer.
    fn end_election(&self, end: Option<Instant>) {
        {
            let mut election = self
                .shared
                .faults
                .election
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if election.is_none() || (end.is_some() && *election != end) {
                return;
            }
            *election = None;
        }
        let mut g = self.shared.lock();
        g.electing = false;
        g.restart_session_timers(Instant::now(), &self.shared.config);
    }

    /// Restarts the agent, as `systemctl restart consul` does to a client
    /// agent: its HTTP listener closes for `down` (connections are refused)
    /// and every open connection is cut, in-flight requests and blocking
    /// queries included; then it listens again on the same address. Its
    /// state survives (an agent reloads its services and checks from its
    /// data directory), and the servers' session timers go on running.
    /// The cut comes just after this call returns, so an HTTP request that
    /// asked for it still gets its answer.
    pub fn restart_agent(&self, down: Duration) {
        let state = self.clone();
        self.shared.tracker.spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let back = Instant::now() + down;
            state.shared.faults.restarts.send_replace(Some(back));
        });
    }

    /// Clears every fault: no-leader, an election, latency, and a TTL pause.
    pub fn reset_faults(&self) {
        self.end_election(None);
        self.clear_no_leader();
        self.set_latency(Duration::ZERO);
        self.pause_ttl(false);
    }

    /// A JSON dump of the whole state (what `GET /_dev/state` returns).
    pub fn dump(&self) -> serde_json::Value {
        let g = self.shared.lock();
        g.dump(Instant::now(), &self.shared.faults)
    }

    /// Checks the state's internal invariants; returns every violation found.
    /// Used by the property tests; cheap enough to call after each request.
    pub fn check_invariants(&self) -> Vec<String> {
        self.shared.lock().check_invariants()
    }

    /// Cancels the background tasks (timers, TCP/HTTP checks) and ends every
    /// blocking query, then waits for the tasks to finish.
    pub async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        self.shared.tracker.close();
        self.shared.tracker.wait().await;
    }
}
