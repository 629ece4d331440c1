//! Shared set-up: a Consul target with three nodes, fast registry configs,
//! and event capture.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consuela::{Config, Registry, config::Interval, config::RetryPolicy, event::Event};
use consuela_client::{Client, ClientConfig};
use consuela_devserver::DevServerConfig;
use consuela_testkit::{ConsulTarget, FaultProxy, consul_target, spawn_devserver_with, trace_init};

/// Generous bound for anything that should happen "soon".
pub(crate) const SOON: Duration = Duration::from_secs(10);

/// A Consul to test against, with three node names to bind sessions to
/// (`consul0..2` on the dev server, as the original's suites use).
pub(crate) struct Cluster {
    pub(crate) target: ConsulTarget,
    pub(crate) nodes: [String; 3],
    /// TTL used by [`Cluster::config`]: short on the dev server, Consul's
    /// minimum on a real agent.
    pub(crate) ttl: Duration,
    pub(crate) ttl_min: Duration,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A namespace no other test (or earlier run) uses.
pub(crate) fn namespace(test: &str) -> String {
    format!(
        "consuela-test/{test}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Cluster {
    /// A dev server with a low TTL floor and Consul's 2x TTL multiplier, or
    /// the real Consul at `CONSUL_HTTP_ADDR`.
    pub(crate) async fn start() -> Self {
        Self::start_with(|c| c).await
    }

    pub(crate) async fn start_with(tweak: impl FnOnce(DevServerConfig) -> DevServerConfig) -> Self {
        trace_init();
        let probe = consul_target_without_server().await;
        if let Some(target) = probe {
            let client = client_for(&target);
            let node = client
                .agent()
                .self_()
                .await
                .expect("agent/self")
                .config
                .node_name;
            let node = node.to_string();
            return Self {
                target,
                nodes: [node.clone(), node.clone(), node],
                ttl: Duration::from_secs(10),
                ttl_min: Duration::from_secs(10),
            };
        }
        let mut config =
            DevServerConfig::default().with_extra_nodes(["consul0", "consul1", "consul2"]);
        config.session_ttl_min = Duration::from_millis(100);
        let server = spawn_devserver_with(tweak(config)).await;
        Self {
            target: ConsulTarget {
                url: server.url(),
                token: None,
                devserver: Some(server),
            },
            nodes: ["consul0".into(), "consul1".into(), "consul2".into()],
            ttl: Duration::from_secs(2),
            ttl_min: Duration::from_millis(100),
        }
    }

    pub(crate) fn is_real(&self) -> bool {
        self.target.is_real()
    }

    /// A registry config bound to node `i`, talking to `url` (the server, or
    /// a proxy in front of it).
    pub(crate) fn config_via(&self, i: usize, namespace: &str, url: &str) -> Config {
        let mut c = Config::new(self.nodes[i].clone(), namespace);
        c.consul.url = Some(url.to_owned());
        c.consul.token = self.target.token.clone();
        c.consul.request_timeout = Duration::from_secs(2);
        c.consul.connect_timeout = Duration::from_millis(500);
        c.session.ttl = self.ttl;
        c.session.ttl_min = self.ttl_min;
        c.session.lock_delay = Duration::from_secs(1);
        c.keeper.interval = Interval::Ratio(1, 4);
        c.reaper.retry =
            RetryPolicy::linear(Duration::from_millis(100)).max_total_timeout(SOON * 3);
        c.reaper.shutdown_timeout = Duration::from_secs(2);
        c
    }

    pub(crate) fn config(&self, i: usize, namespace: &str) -> Config {
        self.config_via(i, namespace, &self.target.url)
    }

    pub(crate) async fn registry(&self, i: usize, namespace: &str) -> Registry {
        Registry::start(self.config(i, namespace))
            .await
            .expect("registry starts")
    }

    /// A plain client for checking Consul's state behind the registry's back.
    pub(crate) fn client(&self) -> Client {
        client_for(&self.target)
    }

    pub(crate) async fn proxy(&self) -> FaultProxy {
        FaultProxy::start(self.target.socket_addr())
            .await
            .expect("proxy starts")
    }

    pub(crate) async fn shutdown(self) {
        self.target.shutdown().await;
    }
}

async fn consul_target_without_server() -> Option<ConsulTarget> {
    std::env::var("CONSUL_HTTP_ADDR")
        .ok()
        .filter(|a| !a.trim().is_empty())?;
    Some(consul_target().await)
}

fn client_for(target: &ConsulTarget) -> Client {
    let mut config = ClientConfig::new(target.url.clone());
    config.token = target.token.clone().map(Into::into);
    Client::new(config).expect("client")
}

/// Why a singleton stopped competing, waiting at most [`SOON`] for it.
pub(crate) async fn stop_reason(
    handle: &consuela::singleton::SingletonHandle,
) -> consuela::singleton::StopReason {
    use consuela::singleton::Leadership;
    let mut state = handle.subscribe();
    let stopped = tokio::time::timeout(
        SOON,
        state.wait_for(|l| matches!(l, Leadership::Stopped(_))),
    )
    .await
    .expect("the singleton stops in time")
    .expect("state")
    .clone();
    match stopped {
        Leadership::Stopped(reason) => reason,
        other => unreachable!("waited for Stopped, got {other:?}"),
    }
}

/// The node name of the agent a test talks to (sessions bind to checks of
/// their own node only).
pub(crate) async fn agent_node(cluster: &Cluster) -> String {
    cluster
        .client()
        .agent()
        .self_()
        .await
        .unwrap()
        .config
        .node_name
        .to_string()
}

/// Records every event a registry emits.
#[derive(Clone, Default)]
pub(crate) struct Events(Arc<Mutex<Vec<Event>>>);

impl Events {
    pub(crate) fn pulse(&self) -> impl Fn(&Event) + Send + Sync + 'static {
        let events = self.0.clone();
        move |e: &Event| events.lock().unwrap().push(e.clone())
    }

    /// The first event `pick` picks something from.
    pub(crate) fn find<T>(&self, pick: impl Fn(&Event) -> Option<T>) -> Option<T> {
        self.0.lock().unwrap().iter().find_map(pick)
    }

    /// Every event so far.
    pub(crate) fn all(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }

    pub(crate) fn count(&self, matches: impl Fn(&Event) -> bool) -> usize {
        self.0.lock().unwrap().iter().filter(|e| matches(e)).count()
    }
}
