//! Discovery: the live members of a Consul service, via blocking queries on
//! `/v1/health/service/<service>?passing`.

use std::sync::Arc;

use consuela_client::{Client, WatchConfig};
use consuela_wire::HealthServiceEntry;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::config::DiscoveryConfig;
use crate::event::{Event, Pulse, Pulses};
pub use crate::member::{Member, Members};
use crate::presence::MEMBER_META_KEY;

/// A running discovery. Dropping it stops the watch.
#[derive(Debug)]
pub struct Discovery {
    members: watch::Receiver<Members>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Discovery {
    /// Starts watching. Events ([`Event::MemberUp`], [`Event::MemberDown`])
    /// go to `pulse`; the member set is on [`members`](Self::members).
    ///
    /// Must be called within a Tokio runtime.
    pub fn start(client: Client, config: DiscoveryConfig, pulse: impl Pulse) -> Self {
        let mut pulses = Pulses::default();
        pulses.add(None, Arc::new(pulse));
        let (tx, rx) = watch::channel(Members::new());
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(run(client, config, pulses, tx, stop.clone()));
        tasks.close();
        Self {
            members: rx,
            stop,
            tasks,
        }
    }

    /// A receiver of the member set; it sees every change.
    pub fn members(&self) -> watch::Receiver<Members> {
        self.members.clone()
    }

    /// Stops the watch and waits for it.
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.tasks.wait().await;
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn run(
    client: Client,
    config: DiscoveryConfig,
    pulses: Pulses,
    tx: watch::Sender<Members>,
    stop: CancellationToken,
) {
    let first_tag = config.tags.first().cloned();
    let service = config.service.clone();
    let watch_client = client.clone();
    let mut answers =
        consuela_client::watch(WatchConfig::default().wait(config.wait), move |opts| {
            let client = watch_client.clone();
            let service = service.clone();
            let tag = first_tag.clone();
            async move {
                client
                    .health()
                    .service(&service, tag.as_deref(), true, opts)
                    .await
            }
        });
    loop {
        let answer = tokio::select! {
            () = stop.cancelled() => return,
            answer = answers.next() => match answer {
                Some(answer) => answer,
                None => return,
            },
        };
        match answer {
            Ok(answer) => {
                let now = members(answer.value, &config.tags);
                let before = tx.borrow().clone();
                for (id, member) in &now {
                    if !before.contains_key(id) {
                        pulses.emit(Event::MemberUp {
                            member: member.clone(),
                        });
                    }
                }
                for (id, member) in &before {
                    if !now.contains_key(id) {
                        pulses.emit(Event::MemberDown {
                            member: member.clone(),
                        });
                    }
                }
                tx.send_if_modified(|m| {
                    let changed = *m != now;
                    *m = now;
                    changed
                });
            }
            Err(e) => pulses.emit(Event::DiscoveryFailed { error: e.into() }),
        }
    }
}

/// Passing instances carrying every tag.
fn members(entries: Vec<HealthServiceEntry>, tags: &[String]) -> Members {
    entries
        .into_iter()
        .filter(|e| e.is_passing() && tags.iter().all(|t| e.service.tags.contains(t)))
        .map(|e| {
            let meta = e.service.meta.unwrap_or_default();
            let address = if e.service.address.is_empty() {
                e.node.address
            } else {
                e.service.address
            };
            let member = Member {
                id: e.service.id.to_string(),
                member: meta.get(MEMBER_META_KEY).cloned(),
                node: e.node.node.to_string(),
                address,
                port: e.service.port,
                tags: e.service.tags,
                meta,
            };
            (member.id.clone(), member)
        })
        .collect()
}
