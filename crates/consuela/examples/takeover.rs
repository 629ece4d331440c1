//! Measures how long a standby takes to lead after the leader crashes or
//! shuts down gracefully, with a TTL-only session and with a session bound
//! to a presence check.
//!
//! By default the timings are scaled down (TTL 2 s, lock-delay 1 s, check
//! every 200 ms) so it finishes quickly; with `TAKEOVER_DEFAULTS=1` it uses
//! the registry's defaults (TTL 20 s, lock-delay 10 s, check every 5 s) and
//! takes a few minutes.

#![allow(
    clippy::print_stdout,
    reason = "an example shows what happens on stdout"
)]

use std::time::Duration;

use consuela::{
    Config, Contact, Registry, presence::Presence, presence::PresenceCheck,
    presence::PresenceConfig, singleton::SingletonConfig, singleton::SingletonHandle,
};
use consuela_devserver::{DevServer, DevServerConfig};
use tokio::time::Instant;

struct Timings {
    ttl: Duration,
    lock_delay: Duration,
    check_interval: Duration,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let defaults = std::env::var("TAKEOVER_DEFAULTS").is_ok_and(|v| v == "1");
    let t = if defaults {
        Timings {
            ttl: Duration::from_secs(20),
            lock_delay: Duration::from_secs(10),
            check_interval: Duration::from_secs(5),
        }
    } else {
        Timings {
            ttl: Duration::from_secs(2),
            lock_delay: Duration::from_secs(1),
            check_interval: Duration::from_millis(200),
        }
    };
    let mut server_config = DevServerConfig::default();
    server_config.session_ttl_min = Duration::from_millis(100);
    server_config.check_interval_min = Duration::from_millis(10);
    let server = DevServer::bind(server_config, ([127, 0, 0, 1], 0).into()).await?;
    println!(
        "TTL {:?}, lock-delay {:?}, presence check every {:?} (Consul's 2x TTL multiplier)",
        t.ttl, t.lock_delay, t.check_interval
    );
    for presence in [false, true] {
        let kind = if presence {
            "presence-bound"
        } else {
            "TTL-only"
        };
        let crash = run(&server, &t, presence, true).await?;
        println!("{kind:>15} session, leader crashes:       standby leads after {crash:?}");
        let graceful = run(&server, &t, presence, false).await?;
        println!("{kind:>15} session, graceful shutdown:   standby leads after {graceful:?}");
    }
    server.shutdown().await;
    Ok(())
}

/// One leader, one standby; returns the time from the leader's end to the
/// standby's lead.
async fn run(
    server: &DevServer,
    t: &Timings,
    presence: bool,
    crash: bool,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let namespace = format!("takeover-{presence}-{crash}");
    let member = |name: &str| {
        let mut c = Config::new("consuela-dev", namespace.as_str());
        c.consul.url = Some(server.url());
        c.member = Some(name.into());
        c.session.ttl = t.ttl;
        c.session.ttl_min = Duration::from_millis(100);
        c.session.lock_delay = t.lock_delay;
        c
    };
    let mut leader_config = member("leader");
    let check = if presence {
        let client =
            consuela::client::Client::new(consuela::client::ClientConfig::new(server.url()))?;
        let config = PresenceConfig {
            check: PresenceCheck::Tcp {
                listen: ([127, 0, 0, 1], 0).into(),
                interval: t.check_interval,
            },
            ..PresenceConfig::new(namespace.as_str())
        };
        let p = Presence::start(client, "leader", config).await?;
        p.bind(&mut leader_config);
        Some(p)
    } else {
        None
    };
    let leader = Registry::start(leader_config).await?;
    let lead = join(&leader)?;
    wait_leader(&lead).await;
    let standby_registry = Registry::start(member("standby")).await?;
    let standby = join(&standby_registry)?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ended = Instant::now();
    if crash {
        // As a crashed process: no more renewals, no more answers to checks.
        if let Some(p) = &check {
            p.stop_checks().await;
        }
        drop(leader);
        drop(lead);
    } else {
        leader.shutdown().await?;
        drop(lead);
    }
    wait_leader(&standby).await;
    let took = ended.elapsed();
    standby.stop().await;
    standby_registry.shutdown().await?;
    if let Some(p) = check {
        p.shutdown().await?;
    }
    Ok(took)
}

fn join(registry: &Registry) -> Result<SingletonHandle, consuela::Error> {
    registry.singleton(
        "scheduler",
        Contact::default(),
        SingletonConfig::default(),
        std::future::pending,
    )
}

async fn wait_leader(handle: &SingletonHandle) {
    let mut state = handle.subscribe();
    let _ = state
        .wait_for(|l| matches!(l, consuela::singleton::Leadership::Leader { .. }))
        .await;
}
