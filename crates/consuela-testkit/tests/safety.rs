//! Layer 4: the Jepsen-style safety run, against member processes of the `safety-member`
//! binary, plus the hashicorp/consul#6793 (early invalidation) measurements.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use consuela::{Config, Contact, ErrorKind, FencingToken, Registry, config::Interval};
use consuela_testkit::consuela_devserver::DevServerConfig;
use consuela_testkit::safety::{
    EarlyInvalidation, SafetyConfig, SafetyReport, ViolationKind, check,
    measure_early_invalidation, read_history, run,
};
use consuela_testkit::{FaultProxy, Mode, spawn_devserver_with, trace_init};

const MEMBER: &str = env!("CARGO_BIN_EXE_safety-member");

fn history(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("consuela-{test}-{}.jsonl", std::process::id()))
}

fn done(report: &SafetyReport) {
    eprintln!("{}", report.summary());
    if report.is_ok() {
        let _ = std::fs::remove_file(&report.history);
    }
}

async fn ci_run(test: &str, members: usize, seconds: u64, seed: u64) {
    ci_run_limit(test, members, seconds, seed, None).await;
}

async fn ci_run_limit(test: &str, members: usize, seconds: u64, seed: u64, limit: Option<u32>) {
    trace_init();
    let mut config = SafetyConfig::new(MEMBER, history(test));
    config.limit = limit;
    config.members = members;
    config.duration = Duration::from_secs(seconds);
    config.seed = seed;
    let report = run(config).await.expect("the run starts");
    if limit.is_some_and(|l| l > 1) {
        // The workload really held slots side by side: as unique names, it would fail.
        let (events, _) = read_history(&report.history).expect("the history");
        let as_names = check(&events);
        assert!(
            as_names
                .violations
                .iter()
                .any(|v| v.kind == ViolationKind::Overlap),
            "no two holders of a semaphore ever overlapped: {}",
            report.summary()
        );
    }
    done(&report);
    assert!(
        report.check.violations.is_empty(),
        "violations:\n{}",
        report.summary()
    );
    assert!(report.post.problems.is_empty(), "{}", report.summary());
    assert!(report.check.interval_count() >= 20, "{}", report.summary());
    assert!(
        report.faults.values().sum::<u64>() >= 10,
        "{}",
        report.summary()
    );
    assert_eq!(report.bad_lines, 0);
    assert_eq!(report.check.unmatched_releases, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_run_four_members_seed_1() {
    ci_run("safety-seed-1", 4, 20, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_run_three_members_seed_2() {
    ci_run("safety-seed-2", 3, 15, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_run_semaphores_of_two_slots_seed_3() {
    // Four members, two workers each, on five semaphores of two slots.
    ci_run_limit("safety-limit-seed-3", 4, 15, 3, Some(2)).await;
}

/// With the keeper's deadline ignored, a member cut off from Consul keeps running after its
/// session expired and a successor took its name: the checker must see it.
#[cfg(feature = "unsafe-ignore-deadline")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keeper_ignoring_its_deadline_is_caught_by_the_checker() {
    use consuela_testkit::safety::{CutMode, Fault, FaultPlan, Step, ViolationKind};

    trace_init();
    let mut config = SafetyConfig::new(MEMBER, history("safety-unsafe"));
    config.members = 3;
    config.names = vec!["space/singleton".into()];
    config.hold = (Duration::from_secs(3600), Duration::from_secs(3600));
    config.workers = 1;
    config.ttl = Duration::from_secs(1);
    config.lock_delay = Duration::from_millis(500);
    config.duration = Duration::from_secs(7);
    config.unsafe_ignore_deadline = true;
    config.faults = FaultPlan::Script(vec![Step {
        at: Duration::from_secs(1),
        fault: Fault::CutHolder {
            name: "space/singleton".into(),
            mode: CutMode::Stop,
            for_: Duration::from_secs(5),
        },
    }]);
    let report = run(config).await.expect("the run starts");
    eprintln!("{}", report.summary());
    assert_eq!(
        report.faults.get("cut-stop"),
        Some(&1),
        "{}",
        report.summary()
    );
    let first = report
        .check
        .first_violation()
        .unwrap_or_else(|| panic!("the checker missed the overlap:\n{}", report.summary()));
    assert_eq!(first.kind, ViolationKind::Overlap);
    assert_ne!(first.first.member, first.second.member);
    assert!(!first.context.is_empty());
    let _ = std::fs::remove_file(&report.history);
}

/// hashicorp/consul#6793, scaled down from the defaults (TTL 20 s, lock-delay 10 s, renew every
/// TTL/2) by ten: TTL 2 s, lock-delay 1 s, renew every TTL/2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_invalidation_window() {
    trace_init();
    let scenario = |test: &str, watch_session, cut_off| EarlyInvalidation {
        member_program: MEMBER.into(),
        member_prefix: Vec::new(),
        history: history(test),
        ttl: Duration::from_secs(2),
        lock_delay: Duration::from_secs(1),
        renew_fraction: 2,
        watch_session,
        cut_off,
    };
    let (watched, unwatched, cut) = tokio::join!(
        measure_early_invalidation(scenario("early-watch", true, false)),
        measure_early_invalidation(scenario("early-nowatch", false, false)),
        measure_early_invalidation(scenario("early-cut", true, true)),
    );
    let (watched, unwatched, cut) = (
        watched.expect("watched"),
        unwatched.expect("unwatched"),
        cut.expect("cut off"),
    );
    eprintln!("watch_session on,  reachable: {watched}");
    eprintln!("watch_session off, reachable: {unwatched}");
    eprintln!("watch_session on,  cut off:   {cut}");
    for r in [watched, unwatched, cut] {
        // Consul's lock-delay holds the successor back.
        assert!(r.successor_after >= Duration::from_secs(1), "{r}");
    }
    // A reachable member watching its session stops long before the lock-delay ends.
    assert_eq!(watched.overlap, Duration::ZERO, "{watched}");
    // A member cut off stops at its keeper's deadline, at most one TTL after the invalidation.
    assert!(cut.old_owner_ran_for <= Duration::from_secs(3), "{cut}");
    for test in ["early-watch", "early-nowatch", "early-cut"] {
        let _ = std::fs::remove_file(history(test));
    }
}

/// A downstream store that remembers the highest fencing token it has seen and refuses writes
/// carrying a lower one.
#[derive(Default)]
struct FencedStore {
    state: Mutex<(FencingToken, Vec<Write>)>,
}

/// Who wrote, with which token, and whether the store accepted it.
type Write = (&'static str, FencingToken, bool);

impl FencedStore {
    fn write(&self, writer: &'static str, token: FencingToken) -> bool {
        let mut state = self.state.lock().unwrap();
        let ok = token >= state.0;
        if ok {
            state.0 = token;
        }
        state.1.push((writer, token, ok));
        ok
    }

    fn log(&self) -> Vec<Write> {
        self.state.lock().unwrap().1.clone()
    }
}

fn config(url: String, member: &str, ttl: Duration) -> Config {
    let mut c = Config::new("consul0", "fencing");
    c.member = Some(member.to_owned());
    c.consul.url = Some(url);
    c.consul.request_timeout = Duration::from_millis(500);
    c.consul.connect_timeout = Duration::from_millis(300);
    c.session.ttl = ttl;
    c.session.ttl_min = Duration::from_millis(100);
    c.session.lock_delay = Duration::from_secs(1);
    c.keeper.interval = Interval::Ratio(1, 4);
    c
}

/// The early-invalidation hole, closed for a downstream resource: the old owner writes only
/// until `lost()` fires, and each write carries its fencing token, so the writes it makes while
/// it still (wrongly) believes it owns the name are refused once the successor wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fencing_tokens_close_the_early_invalidation_window() {
    trace_init();
    let server = spawn_devserver_with(
        DevServerConfig::fast().with_extra_nodes(["consul0", "consul1", "consul2"]),
    )
    .await;
    // `Stop` closes live connections too, so the cut is immediate.
    let proxy = FaultProxy::start(server.local_addr()).await.expect("proxy");
    // The old owner's TTL is long, so that it surely still believes in its session when the
    // successor has taken over (one lock-delay after the invalidation).
    let a = Registry::start(config(proxy.url(), "old", Duration::from_secs(6)))
        .await
        .expect("old owner starts");
    let b = Registry::start(config(server.url(), "new", Duration::from_secs(2)))
        .await
        .expect("successor starts");
    let store = std::sync::Arc::new(FencedStore::default());
    let name = "space/singleton";

    let lease_a = a
        .register(name, Contact::at("old"))
        .await
        .expect("old owner registers");
    let token_a = lease_a.fencing_token();
    let (wrote_tx, mut wrote_rx) = tokio::sync::watch::channel(0u32);
    let writer = tokio::spawn({
        let store = store.clone();
        async move {
            // A member reacting to lost(): write while the lease holds, stop the moment it
            // does not.
            let mut writes = 0u32;
            loop {
                tokio::select! {
                    biased;
                    () = lease_a.lost() => return (writes, lease_a),
                    () = tokio::time::sleep(Duration::from_millis(10)) => {
                        store.write("old", token_a);
                        writes += 1;
                        wrote_tx.send_replace(writes);
                    }
                }
            }
        }
    });
    wrote_rx.wait_for(|w| *w > 0).await.expect("first write");

    // Autopilot removes the old owner's server: its session is invalidated while the old
    // owner is cut off from Consul, so neither its renewals nor its session watch tell it.
    proxy.set_mode(Mode::Stop);
    assert!(server.invalidate_session(a.session()));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let lease_b = loop {
        match b.register(name, Contact::at("new")).await {
            Ok(lease) => break lease,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::LockDelay | ErrorKind::AlreadyRegistered { .. }
                ) =>
            {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the successor never got the name"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("successor: {e}"),
        }
    };
    assert!(lease_b.fencing_token() > token_a);
    assert!(store.write("new", lease_b.fencing_token()));

    // The hole: the old owner still believes it owns the name, and keeps writing...
    let seen = *wrote_rx.borrow_and_update();
    wrote_rx
        .wait_for(|w| *w > seen + 2)
        .await
        .expect("the old owner writes on");
    // ...until its keeper's deadline, at most one TTL after the invalidation.
    let (writes, lease_a) = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .expect("lost() fires at the keeper's deadline")
        .expect("writer");
    assert!(lease_a.is_lost());

    let log = store.log();
    let first_new = log
        .iter()
        .position(|w| w.0 == "new")
        .expect("successor wrote");
    let stale: Vec<_> = log[first_new..].iter().filter(|w| w.0 == "old").collect();
    assert!(
        !stale.is_empty(),
        "the old owner wrote after the successor: {log:?}"
    );
    assert!(
        stale.iter().all(|w| !w.2),
        "every stale write is refused: {log:?}"
    );
    assert!(log[..first_new].iter().all(|w| w.2));
    eprintln!(
        "old owner: {writes} writes, {} after the successor took over, all refused",
        stale.len()
    );
    drop(lease_b);
    let _ = b.shutdown().await;
    let _ = a.shutdown().await;
    proxy.shutdown().await;
    server.shutdown().await;
}
