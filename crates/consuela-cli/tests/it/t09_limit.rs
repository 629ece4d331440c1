//! `consuela run --limit` and `consuela join`: slots and memberships held by
//! OS processes, and how whereis, ls and watch show them.

use crate::support::Env;

fn held(lines: &str) -> usize {
    lines.lines().filter(|l| l.contains("slot")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_limit_holds_one_of_n_slots_and_waiters_take_freed_ones() {
    let env = Env::start().await;
    let hold = [
        "run",
        "--limit",
        "2",
        "r/pool",
        "--",
        "sh",
        "-c",
        "echo \"held $CONSUELA_NAME\"; read x; exit 0",
    ];
    let mut first = env.spawn(&hold);
    let mut second = env.spawn(&hold);
    assert!(first.line().await.starts_with("held r/pool/"));
    assert!(second.line().await.starts_with("held r/pool/"));

    let full = env
        .output(&["run", "--limit", "2", "r/pool", "--", "true"])
        .await;
    assert_eq!(full.code, 75, "{full:?}");
    assert!(
        full.stderr
            .contains("every slot of r/pool is held (2 of 2)"),
        "{full:?}"
    );

    let mismatch = env
        .output(&["run", "--limit", "3", "r/pool", "--", "true"])
        .await;
    assert_eq!(mismatch.code, 70, "{mismatch:?}");
    assert!(
        mismatch
            .stderr
            .contains("semaphore limit conflict (lock: 2, local: 3)"),
        "{mismatch:?}"
    );

    let whereis = env.output(&["whereis", "r/pool"]).await;
    assert_eq!(whereis.code, 0, "{whereis:?}");
    assert!(
        whereis
            .stdout
            .starts_with("r/pool: semaphore, 2 of 2 slots held, 0 waiting"),
        "{whereis:?}"
    );
    let ls = env.output(&["ls", "r/", "--json"]).await;
    let rows: serde_json::Value = serde_json::from_str(&ls.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter().all(|r| r["kind"] == "slot" && r["limit"] == 2),
        "{rows:?}"
    );

    let mut waiter = env.spawn(&[
        "run", "--limit", "2", "--wait", "r/pool", "--", "sh", "-c", "echo got",
    ]);
    waiter.stderr_until("waiting").await;
    let mut watch = env.spawn(&["watch", "r/"]);
    let mut initial = String::new();
    for _ in 0..2 {
        initial.push_str(&watch.line().await);
        initial.push('\n');
    }
    assert_eq!(held(&initial), 2, "{initial}");
    first.close_stdin();
    assert_eq!(first.wait().await.code(), Some(0));
    assert_eq!(waiter.line().await, "got");
    assert_eq!(waiter.wait().await.code(), Some(0));
    // The watch saw the first holder go and the waiter come and go.
    let mut changes = Vec::new();
    while changes
        .iter()
        .filter(|l: &&String| l.starts_with('-'))
        .count()
        < 2
    {
        changes.push(watch.line().await);
    }
    assert!(
        changes
            .iter()
            .any(|l| l.starts_with('+') && l.ends_with(" slot")),
        "{changes:?}"
    );
    second.close_stdin();
    assert_eq!(second.wait().await.code(), Some(0));
    let out = env.output(&["whereis", "r/pool"]).await;
    assert_eq!(out.code, 1, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_holds_a_membership_while_the_command_runs() {
    let env = Env::start().await;
    let member = |address: &'static str| {
        env.spawn(&[
            "join",
            "--address",
            address,
            "g/workers",
            "--",
            "sh",
            "-c",
            "echo in; read x; exit 0",
        ])
    };
    let mut a = member("10.0.0.1:1");
    let mut b = member("10.0.0.2:1");
    assert_eq!(a.line().await, "in");
    assert_eq!(b.line().await, "in");
    let whereis = env.output(&["whereis", "g/workers"]).await;
    assert_eq!(whereis.code, 0, "{whereis:?}");
    assert!(
        whereis.stdout.starts_with("g/workers: group, 2 members"),
        "{whereis:?}"
    );
    assert!(whereis.stdout.contains("10.0.0.1:1") && whereis.stdout.contains("10.0.0.2:1"));

    let mut watch = env.spawn(&["watch", "g/workers/"]);
    for _ in 0..2 {
        let line = watch.line().await;
        assert!(
            line.starts_with("+ g/workers/") && line.ends_with(" member"),
            "{line}"
        );
    }
    a.close_stdin();
    assert_eq!(a.wait().await.code(), Some(0));
    let left = watch.line().await;
    assert!(
        left.starts_with("- g/workers/") && left.contains("10.0.0.1:1"),
        "{left}"
    );
    let ls = env.output(&["ls", "g/"]).await;
    assert_eq!(ls.stdout.lines().count(), 2, "{ls:?}");
    assert!(
        ls.stdout.contains("member") && ls.stdout.contains("10.0.0.2:1"),
        "{ls:?}"
    );
    b.close_stdin();
    assert_eq!(b.wait().await.code(), Some(0));
    assert_eq!(env.output(&["whereis", "g/workers"]).await.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_holder_frees_its_slot_through_the_guardian() {
    // The guardian's handover deletes the slot's contender key once the tree
    // is gone, so a waiter gets the slot without waiting out the session.
    let env =
        Env::start_with("[session]\nttl = \"30s\"\nttl_min = \"100ms\"\nlock_delay = \"200ms\"\n")
            .await;
    let mut holder = env.spawn(&[
        "run",
        "--limit",
        "1",
        "r/one",
        "--",
        "sh",
        "-c",
        "echo $$; exec sleep 60",
    ]);
    let pid: i32 = holder.line().await.parse().unwrap();
    let mut waiter = env.spawn(&[
        "run",
        "--limit",
        "1",
        "--wait",
        "--timeout",
        "15s",
        "r/one",
        "--",
        "sh",
        "-c",
        "echo got",
    ]);
    waiter.stderr_until("waiting").await;
    holder.signal(rustix::process::Signal::KILL);
    holder.wait().await;
    crate::support::wait_dead(pid).await;
    // Well inside the 30 s TTL the dead session would otherwise keep it for.
    assert_eq!(waiter.line().await, "got");
    assert_eq!(waiter.wait().await.code(), Some(0));
}

/// A join never waits, so `--timeout` is a usage error rather than a flag
/// silently ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_refuses_a_timeout() {
    let env = Env::start().await;
    let out = env
        .output(&["join", "--timeout", "5s", "g/timeout", "--", "true"])
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("--timeout does not apply to join"),
        "{out:?}"
    );
    let whereis = env.output(&["whereis", "g/timeout"]).await;
    assert_ne!(whereis.code, 0, "nothing joined: {whereis:?}");
}
