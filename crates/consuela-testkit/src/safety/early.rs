//! The hashicorp/consul#6793 case, measured: Consul invalidates a session early (autopilot's
//! dead-server cleanup) while its member still believes it is alive.
//!
//! Member A holds a name, member B keeps trying to take it. The harness invalidates A's session
//! through the dev server (optionally cutting A off from Consul at that very moment) and
//! measures how long A kept running under the name afterwards, when B started running under
//! it, and how long both ran at once.

use std::path::PathBuf;
use std::time::Duration;

use consuela_wire::SessionId;
use tokio::time::{Instant, sleep};

use super::BoxError;
use super::clock::now_ns;
use super::config::devserver_config;
use super::history::{Event, HistoryWriter, read_history};
use super::member::MemberArgs;
use super::supervisor::spawn_member;
use crate::{FaultProxy, FaultProxyConfig, Mode, spawn_devserver_with};

/// One early-invalidation scenario.
#[derive(Debug, Clone)]
pub struct EarlyInvalidation {
    /// The member binary.
    pub member_program: PathBuf,
    /// Arguments before the member arguments.
    pub member_prefix: Vec<String>,
    /// The history file (replaced).
    pub history: PathBuf,
    /// Session TTL.
    pub ttl: Duration,
    /// Lock-delay.
    pub lock_delay: Duration,
    /// Renew every TTL / this (2 is the default).
    pub renew_fraction: u32,
    /// `keeper.watch_session` of the old owner.
    pub watch_session: bool,
    /// Cut the old owner off from Consul at the moment of invalidation.
    pub cut_off: bool,
}

/// What one scenario measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlyInvalidationReport {
    /// From the invalidation to the old owner's future stopping.
    pub old_owner_ran_for: Duration,
    /// From the invalidation to the successor's future starting.
    pub successor_after: Duration,
    /// How long both ran at once (zero if the old owner stopped first).
    pub overlap: Duration,
}

impl std::fmt::Display for EarlyInvalidationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "old owner ran {:.1} ms after the invalidation; successor started after {:.1} ms; overlap {:.1} ms",
            self.old_owner_ran_for.as_secs_f64() * 1e3,
            self.successor_after.as_secs_f64() * 1e3,
            self.overlap.as_secs_f64() * 1e3
        )
    }
}

const NAME: &str = "space/singleton";

/// Runs one scenario.
///
/// # Errors
///
/// Set-up failures, or when the old owner or the successor never got the name (within
/// generous bounds derived from the TTL).
pub async fn measure_early_invalidation(
    scenario: EarlyInvalidation,
) -> Result<EarlyInvalidationReport, BoxError> {
    let _ = std::fs::remove_file(&scenario.history);
    let history = HistoryWriter::open(&scenario.history)?;
    let server = spawn_devserver_with(devserver_config()).await;
    let proxy_config = FaultProxyConfig {
        reset_on_mode_change: true,
        ..FaultProxyConfig::default()
    };
    let proxy_a = FaultProxy::start_with(server.local_addr(), proxy_config).await?;
    let proxy_b = FaultProxy::start_with(server.local_addr(), proxy_config).await?;
    let namespace = format!("early/{}", std::process::id());
    let forever = Duration::from_secs(24 * 3600);
    let args = |member: &str, url: String, node: &str, watch: bool| MemberArgs {
        history: scenario.history.clone(),
        url,
        member: member.to_owned(),
        node: node.to_owned(),
        namespace: namespace.clone(),
        names: vec![NAME.to_owned()],
        seed: 6793,
        ttl: scenario.ttl,
        lock_delay: scenario.lock_delay,
        hold: (forever, forever),
        workers: 1,
        renew_fraction: scenario.renew_fraction,
        watch_session: watch,
        unsafe_ignore_deadline: false,
        limit: None,
    };
    let bound = 3 * scenario.ttl + scenario.lock_delay + Duration::from_secs(10);

    let mut a = spawn_member(
        &scenario.member_program,
        &scenario.member_prefix,
        &args("old", proxy_a.url(), "consul0", scenario.watch_session),
        &history,
    )?;
    let acquired = wait_event(
        &scenario.history,
        bound,
        |e| matches!(e, Event::Acquired { member, .. } if member == "old"),
    )
    .await
    .ok_or("the old owner never acquired the name")?;
    let Event::Acquired { session, .. } = acquired else {
        unreachable!()
    };
    let mut b = spawn_member(
        &scenario.member_program,
        &scenario.member_prefix,
        &args("new", proxy_b.url(), "consul1", true),
        &history,
    )?;
    wait_event(
        &scenario.history,
        bound,
        |e| matches!(e, Event::Session { member, .. } if member == "new"),
    )
    .await
    .ok_or("the successor never started")?;

    if scenario.cut_off {
        proxy_a.set_mode(Mode::Stop);
    }
    let invalidated = server.invalidate_session(&SessionId::new(session.clone()));
    let t_inv = now_ns();
    if !invalidated {
        return Err("the old owner's session was already gone".into());
    }
    let old_session = session.clone();
    history.record(&Event::Invalidated {
        member: "old".into(),
        session,
        t: t_inv,
    });
    let released = wait_event(
        &scenario.history,
        bound,
        |e| matches!(e, Event::Released { session: s, .. } if *s == old_session),
    )
    .await
    .ok_or("the old owner never stopped")?;
    // The successor is whoever acquires the name next under another session: usually the
    // other member, but the old member's next registry may win the race too.
    let successor = wait_event(
        &scenario.history,
        bound,
        |e| matches!(e, Event::Acquired { session: s, .. } if *s != old_session),
    )
    .await
    .ok_or("no successor ever acquired the name")?;

    for proc in [&mut a, &mut b] {
        let _ = proc.child.start_kill();
        let _ = proc.child.wait().await;
        history.record(&Event::Killed {
            member: proc.label.clone(),
            t: now_ns(),
        });
    }
    proxy_a.shutdown().await;
    proxy_b.shutdown().await;
    server.shutdown().await;

    let nanos = |t: u64| Duration::from_nanos(t.saturating_sub(t_inv));
    Ok(EarlyInvalidationReport {
        old_owner_ran_for: nanos(released.t()),
        successor_after: nanos(successor.t()),
        overlap: Duration::from_nanos(released.t().saturating_sub(successor.t())),
    })
}

/// Polls the history until an event matches.
async fn wait_event(
    path: &std::path::Path,
    within: Duration,
    matches: impl Fn(&Event) -> bool,
) -> Option<Event> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok((events, _)) = read_history(path)
            && let Some(e) = events.into_iter().find(&matches)
        {
            return Some(e);
        }
        sleep(Duration::from_millis(10)).await;
    }
    None
}
