//! The runner safety run in CI: forking commands under `consuela run --wait`
//! with runner SIGKILLs, partitions and pauses, and no two trees of one name
//! alive at once. The long form is
//! `cargo run -p consuela-testkit --bin safety -- --runner target/debug/consuela --duration 600`.

use std::time::Duration;

use consuela_testkit::safety::{RunnerConfig, run_runners};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forking_commands_under_runner_kills_cuts_and_pauses_never_overlap() {
    let dir = std::env::temp_dir().join(format!("consuela-runner-safety-{}", std::process::id()));
    let mut config = RunnerConfig::new(env!("CARGO_BIN_EXE_consuela"), &dir);
    config.members = 3;
    config.duration = Duration::from_secs(15);
    config.seed = 3;
    let report = run_runners(config).await.expect("the run starts");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(report.is_ok(), "{}", report.summary());
    assert!(report.trees >= 5, "{}", report.summary());
    for kind in ["runner-kill", "cut", "pause"] {
        assert!(
            report.faults.get(kind).copied().unwrap_or(0) >= 1,
            "no {kind}: {}",
            report.summary()
        );
    }
}
