//! The session keeper: renewal, destroy on shutdown, and fail-stop before
//! Consul could hand the names to anyone else.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use consuela::{Contact, LostReason, Registry, Task, event::Event, registry::State};
use consuela_testkit::{Mode, wait_until, wait_watch};

use crate::support::{Cluster, Events, SOON, namespace};

#[tokio::test]
async fn session_renews_across_three_ttls() {
    let cluster = Cluster::start().await;
    let events = Events::default();
    let r = Registry::builder(cluster.config(0, &namespace("renews")))
        .pulse(events.pulse())
        .start()
        .await
        .unwrap();
    let reg = r.register("held", Contact::default()).await.unwrap();
    // With interval TTL/4, twelve renewals span three TTLs.
    wait_until(SOON * 6, "twelve renewals", || async {
        events.count(|e| matches!(e, Event::Renewed { .. })) >= 12
    })
    .await;
    assert_eq!(r.state(), State::Running);
    assert!(!reg.is_lost());
    let info = cluster
        .client()
        .session()
        .info(r.session(), Default::default())
        .await
        .unwrap();
    assert!(info.value.is_some(), "the session is alive");
    drop(reg);
    r.shutdown().await.unwrap();
    let info = cluster
        .client()
        .session()
        .info(r.session(), Default::default())
        .await
        .unwrap();
    assert!(info.value.is_none(), "shutdown destroys the session");
    assert_eq!(r.state(), State::Shutdown);
    cluster.shutdown().await;
}

#[tokio::test]
async fn unreachable_consul_fires_lost_before_the_session_is_invalidated() {
    let cluster = Cluster::start().await;
    let ns = namespace("deadline");
    let proxy = cluster.proxy().await;
    let r = Registry::start(cluster.config_via(0, &ns, &proxy.url()))
        .await
        .unwrap();
    let observer = cluster.registry(1, &ns).await;
    let reg = r.register("guarded", Contact::default()).await.unwrap();
    proxy.set_mode(Mode::Ignore);
    tokio::time::timeout(SOON * 3, reg.lost())
        .await
        .expect("lost() fires");
    // At this instant Consul still has the session and the name: the
    // registry gave up first.
    let info = cluster
        .client()
        .session()
        .info(r.session(), Default::default())
        .await
        .unwrap();
    assert!(
        info.value.is_some(),
        "Consul has not invalidated the session yet"
    );
    assert!(observer.whereis("guarded").await.unwrap().is_some());
    assert_eq!(r.state(), State::Lost(LostReason::Expired));
    // Consul then expires the session and frees the name.
    consuela_testkit::wait_for(
        SOON * 6,
        "Consul frees the name",
        || observer.whereis("guarded"),
        |o| matches!(o, Ok(None)),
    )
    .await
    .unwrap();
    drop(reg);
    observer.shutdown().await.unwrap();
    proxy.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_404_on_renew_fail_stops_at_once() {
    let cluster = Cluster::start().await;
    let events = Events::default();
    let mut config = cluster.config(0, &namespace("renew404"));
    // Only the renewals may notice.
    config.keeper.watch_session = false;
    let r = Registry::builder(config)
        .pulse(events.pulse())
        .start()
        .await
        .unwrap();
    let reg = r.register("held", Contact::default()).await.unwrap();
    cluster
        .client()
        .session()
        .destroy(r.session())
        .await
        .unwrap();
    let mut state = r.subscribe();
    // Within one renew interval (TTL/4), far sooner than the deadline.
    let within = cluster.ttl / 2;
    tokio::time::timeout(
        within,
        wait_watch(&mut state, within, "fail-stop", |s| {
            *s == State::Lost(LostReason::Invalidated)
        }),
    )
    .await
    .expect("fail-stop within half a TTL");
    assert!(reg.is_lost());
    assert_eq!(
        events.count(|e| matches!(
            e,
            Event::Lost {
                reason: LostReason::Invalidated
            }
        )),
        1
    );
    let err = r.whereis("held").await.unwrap_err();
    assert!(err.is_fatal(), "{err}");
    cluster.shutdown().await;
}

#[tokio::test]
async fn dropping_every_handle_is_a_crash() {
    let cluster = Cluster::start().await;
    let ns = namespace("crash");
    let r = cluster.registry(0, &ns).await;
    let observer = cluster.registry(1, &ns).await;
    let reg = r.register("orphan", Contact::default()).await.unwrap();
    drop(r);
    assert!(reg.is_lost(), "dropping the registry fires lost()");
    // Nothing was released: the name stays held until Consul expires the session.
    assert!(observer.whereis("orphan").await.unwrap().is_some());
    drop(reg);
    consuela_testkit::wait_for(
        SOON * 6,
        "the session expires and the name is freed",
        || observer.whereis("orphan"),
        |o| matches!(o, Ok(None)),
    )
    .await
    .unwrap();
    observer.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn panicking_handlers_never_stop_the_registry() {
    let cluster = Cluster::start().await;
    let r = Registry::builder(cluster.config(0, &namespace("panic")))
        .pulse(|_: &Event| panic!("a broken handler"))
        .start()
        .await
        .unwrap();
    let reg = r.register("fine", Contact::default()).await.unwrap();
    wait_until(SOON, "a renew passes through the handler", || async {
        r.pulse_panics() >= 3
    })
    .await;
    assert_eq!(r.state(), State::Running);
    reg.unregister().await.unwrap();
    r.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn the_session_watch_notices_an_early_invalidation_at_once() {
    let cluster = Cluster::start().await;
    let mut config = cluster.config(0, &namespace("watch-session"));
    // Renewals alone would take half a minute to notice.
    config.session.ttl = Duration::from_secs(120);
    config.keeper.interval = consuela::config::Interval::Ratio(1, 4);
    let r = Registry::start(config).await.unwrap();
    let reg = r.register("held", Contact::default()).await.unwrap();
    let destroyed = tokio::time::Instant::now();
    cluster
        .client()
        .session()
        .destroy(r.session())
        .await
        .unwrap();
    tokio::time::timeout(SOON, reg.lost())
        .await
        .expect("lost() fires");
    let noticed = destroyed.elapsed();
    assert!(
        noticed < Duration::from_secs(5),
        "noticed after {noticed:?}"
    );
    assert_eq!(r.state(), State::Lost(LostReason::Invalidated));
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_panicking_request_hook_fail_stops_the_registry() {
    let cluster = Cluster::start().await;
    let config = cluster.config(0, &namespace("hook-panic"));
    let armed = Arc::new(AtomicBool::new(false));
    let client = config.client_config().on_request({
        let armed = armed.clone();
        move |e| {
            if armed.load(Ordering::SeqCst) && e.path.starts_with("/v1/session/renew/") {
                panic!("a broken request hook");
            }
        }
    });
    let r = Registry::builder(config)
        .client_config(client)
        .start()
        .await
        .unwrap();
    let reg = r.register("held", Contact::default()).await.unwrap();
    armed.store(true, Ordering::SeqCst);
    let mut state = r.subscribe();
    wait_watch(&mut state, SOON, "the registry fail-stops", |s| {
        *s == State::Lost(LostReason::Panicked(Task::RequestHook))
    })
    .await;
    assert!(reg.is_lost());
    let err = r.register("after", Contact::default()).await.unwrap_err();
    assert!(err.is_fatal());
    assert_eq!(err.to_string(), "session lost: panic in a request hook");
    assert!(!r.health().await.is_ok());
    drop(reg);
    cluster.shutdown().await;
}

#[tokio::test]
async fn health_reports_the_session_consul_and_the_reaper() {
    let cluster = Cluster::start().await;
    let ns = namespace("health");
    let proxy = cluster.proxy().await;
    let mut config = cluster.config_via(0, &ns, &proxy.url());
    config.session.ttl = Duration::from_secs(20).max(cluster.ttl);
    let r = Registry::start(config).await.unwrap();
    let health = r.health().await;
    assert!(health.is_ok(), "{health}");
    let reg = r.register("h", Contact::default()).await.unwrap();
    proxy.set_mode(Mode::Stop);
    drop(reg);
    wait_until(SOON, "the reaper keeps failing", || async {
        r.health().await.reaper_failing_for.is_some()
    })
    .await;
    let health = r.health().await;
    assert!(!health.is_ok());
    assert!(health.session.is_err(), "{health}");
    assert_eq!(health.reaper_queue, 1);
    proxy.set_mode(Mode::Pass);
    wait_until(SOON, "healthy again", || async { r.health().await.is_ok() }).await;
    // Consul no longer has the session: unhealthy even before the keeper knows.
    cluster
        .client()
        .session()
        .destroy(r.session())
        .await
        .unwrap();
    let health = r.health().await;
    assert!(matches!(health.session, Ok(false)) || health.state != State::Running);
    assert!(!health.is_ok(), "{health}");
    proxy.shutdown().await;
    cluster.shutdown().await;
}

/// Set in the child process of the test below: the Consul URL and namespace.
const EXIT_CHILD: &str = "CONSUELA_TEST_ON_LOST_EXIT";

#[tokio::test]
async fn on_lost_exit_ends_the_process_with_code_70() {
    if let Ok(setup) = std::env::var(EXIT_CHILD) {
        // The child: hold a name with on_lost = "exit" until the process ends.
        let (url, ns) = setup.split_once(' ').expect("url and namespace");
        let cluster = Cluster::start().await;
        let mut config = cluster.config_via(0, ns, url);
        config.on_lost = consuela::config::OnLost::Exit;
        let r = Registry::start(config).await.unwrap();
        let _held = r.register("exit", Contact::default()).await.unwrap();
        let mut out = std::io::stdout();
        std::io::Write::write_all(&mut out, format!("ready {}\n", r.session()).as_bytes()).unwrap();
        std::io::Write::flush(&mut out).unwrap();
        std::future::pending::<()>().await;
    }
    let cluster = Cluster::start().await;
    let ns = namespace("on-lost-exit");
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "t40_keeper::on_lost_exit_ends_the_process_with_code_70",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(EXIT_CHILD, format!("{} {ns}", cluster.target.url))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().unwrap()));
    let session = tokio::time::timeout(SOON, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(session) = line.strip_prefix("ready ") {
                return session.to_owned();
            }
        }
        panic!("the child ended before it was ready");
    })
    .await
    .expect("the child gets ready");
    // Consul drops the child's session behind its back.
    cluster
        .client()
        .session()
        .destroy(&consuela::SessionId::new(session))
        .await
        .unwrap();
    let status = tokio::time::timeout(SOON, child.wait())
        .await
        .expect("the child exits")
        .unwrap();
    assert_eq!(status.code(), Some(consuela::EXIT_CODE_SESSION_LOST));
    cluster.shutdown().await;
}
