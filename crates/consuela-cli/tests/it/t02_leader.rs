//! `consuela leader`: one command at a time, the standby takes over.

use crate::support::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_runs_its_command_when_the_leader_exits() {
    let env = Env::start().await;
    let mut first = env.spawn(&[
        "--member",
        "a",
        "leader",
        "l/cron",
        "--",
        "sh",
        "-c",
        "echo \"lead $CONSUELA_MEMBER $CONSUELA_FENCING_TOKEN\"; read x; exit 0",
    ]);
    let line = first.line().await;
    assert!(line.starts_with("lead a "), "{line}");
    let first_token: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();

    let mut second = env.spawn(&[
        "--member",
        "b",
        "leader",
        "l/cron",
        "--",
        "sh",
        "-c",
        "echo \"lead $CONSUELA_MEMBER $CONSUELA_FENCING_TOKEN\"; exit 4",
    ]);
    let standby = second.stderr_until("standing by").await;
    assert!(standby.contains("a#"), "{standby}");

    first.close_stdin();
    assert_eq!(first.wait().await.code(), Some(0));
    let line = second.line().await;
    assert!(line.starts_with("lead b "), "{line}");
    let second_token: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        second_token > first_token,
        "{first_token} then {second_token}"
    );
    assert_eq!(second.wait().await.code(), Some(4));
}
