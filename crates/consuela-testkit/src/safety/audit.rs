//! The audit of Consul's state: sessions polled during the run, and the checks once the faults
//! stop (beliefs against Consul, reaper queues drained, nothing left after shutdown).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use consuela_client::{Client, QueryOptions};
use consuela_devserver::{DevServer, ServerState};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

use super::clock::now_ns;
use super::config::SafetyConfig;
use super::history::{Event, HistoryWriter};
use super::supervisor::Supervisor;

/// What the checks after the run found.
#[derive(Debug, Clone, Default)]
pub struct PostRun {
    /// Members alive when the faults stopped.
    pub live_members: usize,
    /// Registrations members believed they held, each compared with Consul.
    pub beliefs_checked: usize,
    /// Everything that did not hold: lost registrations, keys of dead members, reaper queues
    /// that never drained, keys left after every member shut down.
    pub problems: Vec<String>,
}

/// Records `SessionGone` the first time a known session is missing from the dev server.
pub(crate) async fn poll_sessions(
    state: ServerState,
    history: HistoryWriter,
    stop: CancellationToken,
) {
    let mut known = BTreeSet::new();
    while !stop.is_cancelled() {
        let now = session_ids(&state.dump());
        let t = now_ns();
        for gone in known.difference(&now) {
            history.record(&Event::SessionGone {
                session: String::clone(gone),
                t,
            });
        }
        known = now;
        tokio::select! {
            () = stop.cancelled() => {}
            () = sleep(Duration::from_millis(20)) => {}
        }
    }
}

/// The session IDs in a dev server state dump.
pub(crate) fn session_ids(dump: &serde_json::Value) -> BTreeSet<String> {
    match &dump["Sessions"] {
        serde_json::Value::Object(map) => map.keys().cloned().collect(),
        serde_json::Value::Array(list) => list
            .iter()
            .filter_map(|s| {
                s["Session"]["ID"]
                    .as_str()
                    .or_else(|| s["ID"].as_str())
                    .map(str::to_owned)
            })
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// Once every fault is healed: lets the members settle, compares what they believe with
/// Consul, shuts them down, and checks that nothing is left.
pub(crate) async fn post_run(
    config: &SafetyConfig,
    supervisor: &mut Supervisor,
    server: &DevServer,
    client: &Client,
    namespace: &str,
) -> PostRun {
    let mut post = PostRun::default();
    let ttl = config.ttl;
    let settle = 3 * ttl + config.lock_delay + Duration::from_secs(15);

    // 1. Every live member runs a registry whose session Consul has, and Consul has no
    //    other session (those of dead members expired).
    let deadline = Instant::now() + settle;
    loop {
        let statuses = supervisor.statuses().await;
        let consul = session_ids(&server.state().dump());
        let live: BTreeSet<String> = statuses.iter().filter_map(|s| s.session.clone()).collect();
        let all_running = statuses.len() == supervisor.live() && statuses.iter().all(|s| s.running);
        if all_running && live == consul {
            break;
        }
        if Instant::now() > deadline {
            post.problems.push(format!(
                "sessions never settled after healing: members {statuses:?}; consul sessions {consul:?}"
            ));
            break;
        }
        sleep(Duration::from_millis(50)).await;
    }

    // 2. Freeze: no new attempts; running futures keep their names. Wait until nothing
    //    is in flight and every reaper queue drained.
    supervisor.ask_all("hold").await;
    let deadline = Instant::now() + settle;
    let statuses = loop {
        let statuses = supervisor.statuses().await;
        let quiet = statuses.len() == supervisor.live()
            && statuses
                .iter()
                .all(|s| s.running && s.inflight == 0 && s.reaper_queue == 0);
        if quiet {
            break statuses;
        }
        if Instant::now() > deadline {
            post.problems.push(format!(
                "reaper queues never drained (or members never settled): {statuses:?}"
            ));
            break statuses;
        }
        sleep(Duration::from_millis(50)).await;
    };
    post.live_members = statuses.len();

    // 3. Every registration a member believes it holds is in Consul, under its session,
    //    with its fencing token; and every key belongs to a live member that knows it.
    let prefix = format!("{namespace}/");
    let entries = client
        .kv()
        .list(&prefix, QueryOptions::new())
        .await
        .map(|r| r.value)
        .unwrap_or_default();
    let mut in_consul: BTreeMap<String, (Option<String>, u64)> = BTreeMap::new();
    let mut locks = Vec::new();
    for e in entries {
        let name = e.key.strip_prefix(&prefix).unwrap_or(&e.key).to_owned();
        // A semaphore's `.lock` stays after its holders go; its holders are checked below.
        if config.limit.is_some() && name.ends_with("/.lock") {
            locks.push((name, e.value));
            continue;
        }
        // A slot's contender key is `NAME/<session>`: believed as NAME by that session.
        let name = match (&config.limit, &e.session) {
            (Some(_), Some(session)) => name
                .strip_suffix(&format!("/{}", session.as_str()))
                .map_or(name.clone(), |n| format!("{n}@{}", session.as_str())),
            _ => name,
        };
        in_consul.insert(
            name,
            (e.session.map(|s| s.as_str().to_owned()), e.modify_index.0),
        );
    }
    if let Some(limit) = config.limit {
        for (name, value) in &locks {
            let holders = value
                .as_deref()
                .and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok())
                .and_then(|v| v["Holders"].as_object().map(serde_json::Map::len));
            // `Holders` may keep dead entries (they are pruned on the next write), but
            // never more than the limit, since every write checks it.
            if holders.is_none_or(|n| n > limit as usize) {
                post.problems
                    .push(format!("{name}: {holders:?} holders, limit {limit}"));
            }
        }
    }
    let mut believed: BTreeMap<String, (String, u64, String)> = BTreeMap::new();
    for status in &statuses {
        for (name, token) in &status.held {
            post.beliefs_checked += 1;
            let session = status.session.clone().unwrap_or_default();
            let name = &match config.limit {
                Some(_) => format!("{name}@{session}"),
                None => name.clone(),
            };
            match in_consul.get(name) {
                Some((Some(s), index)) if *s == session && *index == *token => {}
                other => post.problems.push(format!(
                    "lost registration: {} believes it holds {name} (token {token}, session {session}) but Consul has {other:?}",
                    status.member
                )),
            }
            if let Some((other, ..)) =
                believed.insert(name.clone(), (status.member.clone(), *token, session))
            {
                post.problems.push(format!(
                    "{name} believed held by both {other} and {}",
                    status.member
                ));
            }
        }
    }
    for (name, (session, index)) in &in_consul {
        if !believed.contains_key(name) {
            post.problems.push(format!(
                "orphan key {name} (session {session:?}, index {index}): no live member believes it holds it"
            ));
        }
    }

    // 4. Graceful shutdown of everyone: nothing may remain.
    supervisor.terminate_all().await;
    let deadline = Instant::now() + 2 * ttl + Duration::from_secs(5);
    loop {
        let mut keys = client
            .kv()
            .keys(&prefix, None, QueryOptions::new())
            .await
            .map(|r| r.value)
            .unwrap_or_default();
        if config.limit.is_some() {
            keys.retain(|k| !k.ends_with("/.lock"));
        }
        let sessions = session_ids(&server.state().dump());
        if keys.is_empty() && sessions.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            post.problems.push(format!(
                "after every member shut down, Consul still has keys {keys:?} and sessions {sessions:?}"
            ));
            break;
        }
        sleep(Duration::from_millis(50)).await;
    }
    post
}
