//! `consuela run`: free and taken names, --wait, exit codes, loss, signals.

use rustix::process::Signal;

use crate::support::{Env, wait_dead};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_name_runs_the_command_with_its_identity_and_passes_its_exit_code() {
    let env = Env::start().await;
    let mut run = env.spawn(&[
        "--member",
        "m1",
        "run",
        "r/free",
        "--",
        "sh",
        "-c",
        "echo \"$CONSUELA_NAME $CONSUELA_MEMBER $CONSUELA_FENCING_TOKEN\"; exit 7",
    ]);
    let line = run.line().await;
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields[..2], ["r/free", "m1"], "{line}");
    assert!(fields[2].parse::<u64>().unwrap() > 0, "{line}");
    assert_eq!(run.wait().await.code(), Some(7));
    // The name was released on exit.
    let out = env.output(&["whereis", "r/free"]).await;
    assert_eq!(out.code, 1, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_name_exits_75_and_wait_acquires_after_the_holder_exits() {
    let env = Env::start().await;
    let mut holder = env.spawn(&[
        "run",
        "r/taken",
        "--",
        "sh",
        "-c",
        "echo held; read x; exit 0",
    ]);
    assert_eq!(holder.line().await, "held");

    let taken = env.output(&["run", "r/taken", "--", "true"]).await;
    assert_eq!(taken.code, 75, "{taken:?}");
    assert_eq!(taken.stderr.lines().count(), 1, "{taken:?}");
    assert!(taken.stderr.contains("r/taken is held by"), "{taken:?}");

    let mut waiter = env.spawn(&[
        "run",
        "--wait",
        "r/taken",
        "--",
        "sh",
        "-c",
        "echo \"got $CONSUELA_FENCING_TOKEN\"",
    ]);
    waiter.stderr_until("standing by").await;
    holder.close_stdin();
    assert_eq!(holder.wait().await.code(), Some(0));
    let got = waiter.line().await;
    assert!(got.starts_with("got "), "{got}");
    assert_eq!(waiter.wait().await.code(), Some(0));
}

/// A waiter whose own session is lost (as in a Consul election longer than
/// its margin) starts a new one and goes on waiting; only a holder stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_goes_on_after_losing_its_own_session() {
    let env = Env::start().await;
    let mut holder = env.spawn(&[
        "run",
        "r/wait-lost",
        "--",
        "sh",
        "-c",
        "echo held; read x; exit 0",
    ]);
    assert_eq!(holder.line().await, "held");
    let held = env.session_of("r/wait-lost").await.expect("held");
    let mut waiter = env.spawn(&[
        "run",
        "--wait",
        "r/wait-lost",
        "--",
        "sh",
        "-c",
        "echo \"got $CONSUELA_FENCING_TOKEN\"",
    ]);
    waiter.stderr_until("standing by").await;
    let client =
        consuela_client::Client::new(consuela_client::ClientConfig::new(env.server.url())).unwrap();
    let sessions = client
        .session()
        .list(consuela_client::QueryOptions::default())
        .await
        .unwrap()
        .value;
    let waiting: Vec<_> = sessions.iter().filter(|s| s.id != held).collect();
    assert_eq!(waiting.len(), 1, "{sessions:?}");
    assert!(env.server.invalidate_session(&waiting[0].id));
    waiter
        .stderr_until("started a new session after losing the previous one")
        .await;
    holder.close_stdin();
    assert_eq!(holder.wait().await.code(), Some(0));
    let got = waiter.line().await;
    assert!(got.starts_with("got "), "{got}");
    assert_eq!(waiter.wait().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_session_kills_a_child_that_ignores_sigterm_and_exits_76() {
    let env = Env::start().await;
    let mut run = env.spawn(&[
        "run",
        "--grace",
        "300ms",
        "r/lost",
        "--",
        "sh",
        "-c",
        "trap '' TERM; echo $$; while :; do sleep 0.05; done",
    ]);
    let pid: i32 = run.line().await.parse().unwrap();
    let session = env.session_of("r/lost").await.expect("r/lost is held");
    assert!(env.server.invalidate_session(&session));
    assert_eq!(run.wait().await.code(), Some(76));
    wait_dead(pid).await;
    let stderr = run.stderr_rest().await;
    assert!(stderr.contains("lost ownership of r/lost"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_are_forwarded_to_the_command() {
    let env = Env::start().await;
    let mut run = env.spawn(&[
        "run",
        "r/signal",
        "--",
        "sh",
        "-c",
        "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done",
    ]);
    assert_eq!(run.line().await, "ready");
    run.signal(Signal::TERM);
    assert_eq!(run.line().await, "got-term");
    assert_eq!(run.wait().await.code(), Some(3));
    env.wait_whereis("r/signal", |code| code == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_consuela_kills_the_command() {
    let env = Env::start().await;
    let mut run = env.spawn(&[
        "run",
        "r/pdeath",
        "--",
        "sh",
        "-c",
        "echo $$; exec sleep 60",
    ]);
    let pid: i32 = run.line().await.parse().unwrap();
    run.signal(Signal::KILL);
    run.wait().await;
    wait_dead(pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_command_exits_127_and_releases_the_name() {
    let env = Env::start().await;
    let out = env
        .output(&["run", "r/missing", "--", "/nonexistent/command"])
        .await;
    assert_eq!(out.code, 127, "{out:?}");
    env.wait_whereis("r/missing", |code| code == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_cannot_be_executed_exits_126_and_releases_the_name() {
    let env = Env::start().await;
    // A file without the execute bit.
    let script = std::env::temp_dir().join(format!("consuela-noexec-{}", std::process::id()));
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let out = env
        .output(&["run", "r/noexec", "--", script.to_str().unwrap()])
        .await;
    let _ = std::fs::remove_file(&script);
    assert_eq!(out.code, 126, "{out:?}");
    env.wait_whereis("r/noexec", |code| code == 1).await;
}

/// During a Consul leader election the session and the registration wait
/// for the new leader (within registry.registration_timeout), and say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_waits_through_a_short_leader_election() {
    let env = Env::start().await;
    env.server
        .hold_election(std::time::Duration::from_millis(700));
    let out = env
        .output(&["run", "r/election", "--", "echo", "ran"])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.trim(), "ran");
    assert!(
        out.stderr.contains("Consul has no leader; waiting"),
        "{out:?}"
    );
}
