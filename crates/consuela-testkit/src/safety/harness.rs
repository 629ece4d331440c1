//! The safety run's entry point, [`run`]: sets up the dev server, proxies and members, then
//! drives the [`Harness`]'s timeline of faults and their follow-ups until the run ends.

use std::collections::BTreeMap;
use std::time::Duration;

use consuela_client::{Client, ClientConfig};
use consuela_devserver::DevServer;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::BoxError;
use super::audit::{poll_sessions, post_run};
use super::config::{SafetyConfig, devserver_config};
use super::faults::{Faults, Later, SwitchOff};
use super::history::HistoryWriter;
use super::report::SafetyReport;
use super::schedule::Fault;
use super::supervisor::Supervisor;
use crate::{FaultProxy, FaultProxyConfig, spawn_devserver_with};

/// Something the harness does at a point of the run's timeline.
#[derive(Debug)]
enum Action {
    /// Inject a fault.
    Apply(Fault),
    /// End a lasting fault, unless a newer one took its target.
    Off(SwitchOff),
    /// Start a new incarnation of a killed member, unless it is up again.
    Start {
        /// The member slot.
        slot: usize,
    },
}

/// The running run: its members, its faults, and the timeline of what comes next.
struct Harness {
    /// The dev server every member reaches through its proxy.
    server: DevServer,
    /// The member processes.
    supervisor: Supervisor,
    /// The proxies and every fault's state.
    faults: Faults,
    /// The run's start: the timeline's offsets are from here.
    begin: Instant,
    /// Pending actions by offset, then by insertion order.
    timeline: BTreeMap<(Duration, u64), Action>,
    /// Insertion counter of the timeline.
    seq: u64,
}

impl Harness {
    /// Time since the run's start.
    fn now(&self) -> Duration {
        self.begin.elapsed()
    }

    /// Queues `action` at offset `at`.
    fn at(&mut self, at: Duration, action: Action) {
        self.seq += 1;
        self.timeline.insert((at, self.seq), action);
    }

    /// Queues `action` `delay` from now.
    fn after(&mut self, delay: Duration, action: Action) {
        let at = self.now() + delay;
        self.at(at, action);
    }

    /// Runs every queued action at its time (including those it queues), then waits for the
    /// end of `duration`.
    async fn drive(&mut self, duration: Duration) {
        while let Some(((at, _), action)) = self.timeline.pop_first() {
            sleep_until(self.begin + at).await;
            self.apply(action).await;
        }
        sleep_until(self.begin + duration).await;
    }

    /// Does one action, queueing what it leaves for later.
    async fn apply(&mut self, action: Action) {
        match action {
            Action::Apply(fault) => {
                let later = self
                    .faults
                    .apply(fault, &mut self.supervisor, &self.server)
                    .await;
                match later {
                    Some(Later::Off { after, off }) => self.after(after, Action::Off(off)),
                    Some(Later::Start { after, slot }) => self.after(after, Action::Start { slot }),
                    None => {}
                }
            }
            Action::Off(off) => self
                .faults
                .switch_off(off, &mut self.supervisor, &self.server),
            Action::Start { slot } => {
                if !self.supervisor.is_up(slot) {
                    let _ = self.supervisor.start(slot);
                }
            }
        }
    }
}

/// Runs a safety run and checks it.
///
/// Every member process is killed when this future ends or is dropped.
///
/// # Errors
///
/// When the run cannot be set up (dev server, proxies, processes, history file).
pub async fn run(config: SafetyConfig) -> Result<SafetyReport, BoxError> {
    let _ = std::fs::remove_file(&config.history);
    let history = HistoryWriter::open(&config.history)?;
    let server = spawn_devserver_with(devserver_config()).await;
    let client = Client::new(ClientConfig::new(server.url()))?;
    let namespace = format!("safety/{}-{}", config.seed, std::process::id());
    let mut proxies = Vec::new();
    for _ in 0..config.members {
        let proxy_config = FaultProxyConfig {
            reset_on_mode_change: true,
            ..FaultProxyConfig::default()
        };
        proxies.push(FaultProxy::start_with(server.local_addr(), proxy_config).await?);
    }
    let urls = proxies.iter().map(FaultProxy::url).collect();
    let mut supervisor = Supervisor::new(&config, &namespace, urls, history.clone());
    for slot in 0..config.members {
        supervisor.start(slot)?;
    }
    supervisor.wait_running(Duration::from_secs(20)).await;

    let stop_polling = CancellationToken::new();
    let poller = tokio::spawn(poll_sessions(
        server.state().clone(),
        history.clone(),
        stop_polling.clone(),
    ));

    let begin = Instant::now();
    let mut h = Harness {
        faults: Faults::new(proxies, begin, &config, history),
        server,
        supervisor,
        begin,
        timeline: BTreeMap::new(),
        seq: 0,
    };
    for step in config.steps() {
        h.at(step.at, Action::Apply(step.fault));
    }
    h.drive(config.duration).await;

    h.faults.heal_all(&mut h.supervisor, &h.server);
    let post = post_run(&config, &mut h.supervisor, &h.server, &client, &namespace).await;
    stop_polling.cancel();
    let _ = poller.await;
    let Harness {
        server,
        supervisor,
        faults,
        ..
    } = h;
    drop(supervisor);
    let tally = faults.shutdown().await;
    server.shutdown().await;

    SafetyReport::from_history(
        config.limit,
        config.seed,
        config.history,
        tally.injected,
        tally.skipped,
        post,
    )
}
