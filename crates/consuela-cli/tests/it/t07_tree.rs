//! The whole process tree of a command lives and dies inside the name:
//! background jobs, double forks and `setsid` daemons included.

use std::time::Duration;

use rustix::process::Signal;
use tokio::time::Instant;

use crate::support::{Env, Proc, is_dead, wait_dead};

/// A shell that leaves processes behind in every way a script can: a
/// background job, a double fork (re-parented when its parent exits) and a
/// daemon in a session of its own (`setsid`, whose parent exits too). It
/// prints four pids (its own first), then `ready`, then runs `tail`.
fn forking(tail: &str) -> String {
    format!(
        "echo $$; sleep 600 & echo $!; (sleep 600 & echo $!); \
         echo $(setsid sh -c 'sleep 600 >/dev/null 2>&1 & echo $!'); \
         echo ready; {tail}"
    )
}

/// The four pids `forking` prints.
async fn tree(run: &mut Proc) -> Vec<i32> {
    let mut pids = Vec::new();
    loop {
        let line = run.line().await;
        if line == "ready" {
            break;
        }
        pids.push(
            line.parse()
                .unwrap_or_else(|_| panic!("unexpected line {line:?}")),
        );
    }
    assert_eq!(pids.len(), 4, "{pids:?}");
    pids
}

/// [`tree`], checking that every process of it runs.
async fn running_tree(run: &mut Proc) -> Vec<i32> {
    let pids = tree(run).await;
    for &pid in &pids {
        assert!(!is_dead(pid), "{pid} should be running");
    }
    pids
}

async fn all_dead(pids: &[i32]) {
    for &pid in pids {
        wait_dead(pid).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_of_ownership_ends_the_whole_tree() {
    let env = Env::start().await;
    let mut run = env.spawn(&["run", "t/lost", "--", "sh", "-c", &forking("wait")]);
    let pids = running_tree(&mut run).await;
    let session = env.session_of("t/lost").await.expect("t/lost is held");
    assert!(env.server.invalidate_session(&session));
    assert_eq!(run.wait().await.code(), Some(76));
    all_dead(&pids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_consuela_ends_the_whole_tree() {
    let env = Env::start().await;
    let mut run = env.spawn(&["run", "t/killed", "--", "sh", "-c", &forking("wait")]);
    let pids = running_tree(&mut run).await;
    run.signal(Signal::KILL);
    run.wait().await;
    all_dead(&pids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_to_consuela_ends_the_whole_tree() {
    let env = Env::start().await;
    let mut run = env.spawn(&["run", "t/signal", "--", "sh", "-c", &forking("wait")]);
    let pids = running_tree(&mut run).await;
    run.signal(Signal::TERM);
    // The shell dies of the forwarded SIGTERM: 128 + 15.
    assert_eq!(run.wait().await.code(), Some(143));
    all_dead(&pids).await;
    env.wait_whereis("t/signal", |code| code == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_command_leaves_behind_ends_with_it() {
    let env = Env::start().await;
    let mut run = env.spawn(&["run", "t/exit", "--", "sh", "-c", &forking("exit 3")]);
    // The shell exits at once: its leftovers may be gone before we look.
    let pids = tree(&mut run).await;
    assert_eq!(run.wait().await.code(), Some(3));
    all_dead(&pids).await;
    env.wait_whereis("t/exit", |code| code == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_takes_over_within_seconds_after_a_sigkill_of_the_holder() {
    // The defaults: TTL 20 s, lock-delay 10 s. Without the guardian's
    // handover the waiter would wait for the TTL plus the lock-delay.
    let env = Env::start_with("").await;
    let mut holder = env.spawn(&["run", "t/take", "--", "sh", "-c", &forking("wait")]);
    let pids = running_tree(&mut holder).await;
    let mut waiter = env.spawn(&["run", "--wait", "t/take", "--", "sh", "-c", "echo got"]);
    waiter.stderr_until("standing by").await;
    let killed = Instant::now();
    holder.signal(Signal::KILL);
    assert_eq!(waiter.line().await, "got");
    let took = killed.elapsed();
    all_dead(&pids).await;
    assert!(
        took < Duration::from_secs(3),
        "the waiter started {took:?} after the holder was killed"
    );
    assert_eq!(waiter.wait().await.code(), Some(0));
}

/// The base URL `--http 127.0.0.1:0` printed on stderr.
async fn status_url(run: &mut Proc) -> String {
    let line = run.stderr_until("status on ").await;
    line.rsplit("status on ").next().unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_endpoint_shows_health_ownership_and_metrics() {
    let env = Env::start().await;
    let mut holder = env.spawn(&[
        "run",
        "--http",
        "127.0.0.1:0",
        "t/status",
        "--",
        "sh",
        "-c",
        "echo held; read x; exit 0",
    ]);
    let url = status_url(&mut holder).await;
    assert_eq!(holder.line().await, "held");
    let http = reqwest::Client::new();
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let status: serde_json::Value = http
        .get(format!("{url}/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["name"], "t/status");
    assert_eq!(status["state"], "held");
    assert!(status["fencing_token"].as_u64().unwrap() > 0, "{status}");
    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("consuela_registrations_total"),
        "{metrics}"
    );
    // A standby says who holds the name.
    let mut standby = env.spawn(&[
        "leader",
        "--http",
        "127.0.0.1:0",
        "t/status",
        "--",
        "sh",
        "-c",
        "echo led",
    ]);
    let standby_url = status_url(&mut standby).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status: serde_json::Value = http
            .get(format!("{standby_url}/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["state"] == "standing_by" && status["holder"]["fencing_token"].is_u64() {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    holder.close_stdin();
    assert_eq!(holder.wait().await.code(), Some(0));
    assert_eq!(standby.line().await, "led");
    assert_eq!(standby.wait().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_consuela_cannot_keep_the_tree_alive_past_its_lease() {
    let env = Env::start().await;
    let mut run = env.spawn(&[
        "run",
        "--grace",
        "300ms",
        "t/paused",
        "--",
        "sh",
        "-c",
        &forking("wait"),
    ]);
    let pids = running_tree(&mut run).await;
    // consuela can neither renew nor tell its guardian anything now.
    run.signal(Signal::STOP);
    all_dead(&pids).await;
    run.signal(Signal::CONT);
    assert_eq!(run.wait().await.code(), Some(76));
}
