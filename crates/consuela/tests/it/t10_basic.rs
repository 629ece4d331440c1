//! The original's basic_SUITE regular workflow, plus bad input.

use std::sync::{Arc, Mutex};

use consuela::client::ClientConfig;
use consuela::{Config, Contact, ErrorKind, Registry};
use consuela_testkit::wait_for;

use crate::support::{Cluster, SOON, namespace};

#[tokio::test]
async fn empty_lookup_is_none() {
    let cluster = Cluster::start().await;
    let r = cluster.registry(0, &namespace("empty")).await;
    assert_eq!(r.whereis("nobody").await.unwrap(), None);
    assert!(r.list("").await.unwrap().is_empty());
    r.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_held_name_has_one_local_owner_whatever_the_contact() {
    let cluster = Cluster::start().await;
    let ns = namespace("exclusive");
    let r = cluster.registry(0, &ns).await;
    let contact = Contact::at("10.0.0.1:7000");
    let a = r.register("me", contact.clone()).await.unwrap();
    for again in [contact.clone(), Contact::at("elsewhere")] {
        let err = r.register("me", again).await.unwrap_err();
        assert!(err.is_conflict(), "{err}");
        assert_eq!(err.holder().map(|h| &h.id), Some(a.id()));
    }
    // Two spawns of one name never run together, even with equal contacts.
    let (started, mut first) = tokio::sync::mpsc::unbounded_channel();
    let task = r
        .spawn("job", contact.clone(), {
            let started = started.clone();
            async move {
                let _ = started.send(1);
                std::future::pending::<()>().await;
            }
        })
        .await
        .unwrap();
    assert_eq!(first.recv().await, Some(1));
    let second = r
        .spawn("job", contact.clone(), async move {
            let _ = started.send(2);
        })
        .await;
    assert!(second.unwrap_err().is_conflict());
    task.stop();
    assert!(matches!(
        task.join().await.unwrap_err().kind(),
        ErrorKind::Stopped
    ));
    a.unregister().await.unwrap();
    r.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_shared_registration_is_released_when_its_last_guard_goes() {
    let cluster = Cluster::start().await;
    let ns = namespace("share");
    let r = cluster.registry(0, &ns).await;
    let other = cluster.registry(1, &ns).await;
    let contact = Contact::at("10.0.0.1:7000");
    let a = r.register("me", contact.clone()).await.unwrap();
    let b = a.share();
    assert_eq!((a.id(), a.fencing_token()), (b.id(), b.fencing_token()));
    a.unregister().await.unwrap();
    let seen = other.whereis("me").await.unwrap().expect("still held");
    assert_eq!(&seen.id, b.id());
    assert_eq!(seen.contact, contact);
    assert_eq!(seen.fencing_token, b.fencing_token());
    b.unregister().await.unwrap();
    assert_eq!(other.whereis("me").await.unwrap(), None);
    r.shutdown().await.unwrap();
    other.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn many_names_for_one_owner_and_readable_names() {
    let cluster = Cluster::start().await;
    let ns = namespace("many");
    let r = cluster.registry(0, &ns).await;
    let other = cluster.registry(1, &ns).await;
    let owner = Contact::at("worker");
    let mut names: Vec<String> = (0..40).map(|i| format!("space/acceptor-{i}")).collect();
    names.extend(["with space", "per%cent?and#hash", "ünïcødé/名前", "a+b=c&d"].map(String::from));
    let mut guards = Vec::new();
    for name in &names {
        guards.push(r.register(name, owner.clone()).await.unwrap());
    }
    for name in &names {
        let seen = other
            .whereis(name)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name} not found"));
        assert_eq!(seen.id.member, r.member());
    }
    let listed = other.list("").await.unwrap();
    assert_eq!(listed.len(), names.len());
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        listed.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        sorted
    );
    assert_eq!(other.list("space/").await.unwrap().len(), 40);
    assert_eq!(r.select("space/").len(), 40);
    assert!(other.select("").is_empty(), "select is local only");
    drop(guards);
    wait_for(
        SOON,
        "every name released",
        || other.list(""),
        |l| matches!(l, Ok(v) if v.is_empty()),
    )
    .await
    .unwrap();
    r.shutdown().await.unwrap();
    other.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn conflicting_registration_names_the_owner() {
    let cluster = Cluster::start().await;
    let ns = namespace("conflict");
    let a = cluster.registry(0, &ns).await;
    let b = cluster.registry(1, &ns).await;
    let held = a.register("my_boy", Contact::at("a")).await.unwrap();
    let err = b.register("my_boy", Contact::at("b")).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(err.holder().map(|o| &o.id), Some(held.id()));
    // Within the holding member it conflicts too, without I/O.
    let err = a.register("my_boy", Contact::at("a")).await.unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::AlreadyRegistered { holder: Some(_) }
    ));
    drop(held);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn round_trip_and_instant_reregistration() {
    let cluster = Cluster::start().await;
    let ns = namespace("roundtrip");
    let a = cluster.registry(0, &ns).await;
    let b = cluster.registry(1, &ns).await;
    let mut last_token = consuela::FencingToken::default();
    for i in 0..10 {
        // Alternate members: a released name is free at once (no lock-delay).
        let (me, other) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let reg = me
            .register("instant", Contact::at(format!("round-{i}")))
            .await
            .unwrap();
        assert!(
            reg.fencing_token() > last_token,
            "fencing tokens strictly increase"
        );
        last_token = reg.fencing_token();
        assert_eq!(
            other.whereis("instant").await.unwrap().map(|o| o.id),
            Some(reg.id().clone())
        );
        reg.unregister().await.unwrap();
        assert_eq!(other.whereis("instant").await.unwrap(), None);
        assert_eq!(me.whereis("instant").await.unwrap(), None);
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn dead_local_holder_is_never_returned() {
    let cluster = Cluster::start().await;
    let ns = namespace("dead");
    let a = cluster.registry(0, &ns).await;
    let b = cluster.registry(1, &ns).await;
    let reg = a.register("slacker", Contact::default()).await.unwrap();
    drop(reg);
    // Locally the name is free at once, even before Consul heard of it.
    assert_eq!(a.whereis("slacker").await.unwrap(), None);
    wait_for(
        SOON,
        "the dead registration is cleaned",
        || b.whereis("slacker"),
        |o| matches!(o, Ok(None)),
    )
    .await
    .unwrap();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_hands_names_over_at_once() {
    let cluster = Cluster::start().await;
    let ns = namespace("handoff");
    let a = cluster.registry(0, &ns).await;
    let b = cluster.registry(1, &ns).await;
    let regs: Vec<_> = futures_util::future::try_join_all(
        (0..5).map(|i| a.register(format!("n{i}"), Contact::default())),
    )
    .await
    .unwrap();
    a.shutdown().await.unwrap();
    assert!(regs.iter().all(|r| r.is_lost()), "shutdown fires lost()");
    // No lock-delay: every name is free right away.
    for i in 0..5 {
        b.register(format!("n{i}"), Contact::default())
            .await
            .unwrap()
            .unregister()
            .await
            .unwrap();
    }
    let sessions = cluster
        .client()
        .session()
        .info(a.session(), Default::default())
        .await
        .unwrap();
    assert!(sessions.value.is_none(), "the session is destroyed");
    let err = a.register("late", Contact::default()).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Shutdown));
    drop(regs);
    b.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn bad_names_and_configs_get_typed_errors() {
    let cluster = Cluster::start().await;
    let r = cluster.registry(0, &namespace("bad")).await;
    for bad in ["", "/a", "a//b", "a/../b", ".", "nul\0"] {
        let err = r.register(bad, Contact::default()).await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidName(_)),
            "{bad:?}: {err}"
        );
        assert!(matches!(
            r.whereis(bad).await.unwrap_err().kind(),
            ErrorKind::InvalidName(_)
        ));
    }
    let mut config = cluster.config(0, "x");
    config.session.ttl = std::time::Duration::from_secs(5);
    config.session.ttl_min = std::time::Duration::from_secs(10);
    let err = Registry::start(config).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config(_)), "{err}");
    let mut config = cluster.config(0, "x");
    config.keeper.interval = consuela::config::Interval::Fixed(config.session.ttl);
    assert!(matches!(
        Registry::start(config).await.unwrap_err().kind(),
        ErrorKind::Config(_)
    ));
    assert!(matches!(
        Registry::start(Config::new("consul0", "bad//ns"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Config(_)
    ));
    r.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn start_fails_without_consul_or_with_an_unknown_node() {
    let cluster = Cluster::start().await;
    // Nothing listens on port 1.
    let config = cluster.config_via(0, "x", "http://127.0.0.1:1");
    let err = Registry::start(config).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Unavailable), "{err}");
    if !cluster.is_real() {
        let mut config = cluster.config(0, "x");
        config.nodename = "no-such-node".into();
        let err = Registry::start(config).await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Unknown | ErrorKind::Rejected),
            "{err}"
        );
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_directory_reads_without_a_session() {
    let cluster = Cluster::start().await;
    let ns = namespace("directory");
    let r = cluster.registry(0, &ns).await;
    let reg = r
        .register("svc/a", Contact::at("10.0.0.9:1"))
        .await
        .unwrap();
    // Every request the directory makes, to show none touches a session
    // (counting the agent's sessions would not work on a shared Consul).
    let paths = Arc::new(Mutex::new(Vec::new()));
    let client = {
        let paths = paths.clone();
        let mut config = ClientConfig::new(cluster.target.url.clone()).on_request(move |e| {
            paths.lock().unwrap().push(e.path.to_owned());
        });
        config.token = cluster.target.token.clone().map(Into::into);
        consuela::client::Client::new(config).unwrap()
    };
    let directory = consuela::Directory::new(client, &ns).unwrap();
    let seen = directory
        .whereis("svc/a")
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(&seen.id, reg.id());
    assert_eq!(seen.fencing_token, reg.fencing_token());
    assert_eq!(directory.list("svc/").await.unwrap().len(), 1);
    assert_eq!(directory.whereis("svc/b").await.unwrap(), None);
    let paths = paths.lock().unwrap().clone();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(
        paths.iter().all(|p| p.starts_with("/v1/kv/")),
        "no session was created or read: {paths:?}"
    );
    assert!(consuela::Directory::new(cluster.client(), "bad//ns").is_err());
    reg.unregister().await.unwrap();
    r.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_within_a_member_never_both_win() {
    let cluster = Cluster::start().await;
    let r = cluster.registry(0, &namespace("same-member")).await;
    // Equal or different contacts: exactly one wins, the others are told
    // who holds it.
    for (name, contact) in [
        (
            "same",
            Box::new(|_| Contact::at("same")) as Box<dyn Fn(usize) -> Contact>,
        ),
        ("contested", Box::new(|i| Contact::at(format!("o{i}")))),
    ] {
        let results =
            futures_util::future::join_all((0..20).map(|i| r.register(name, contact(i)))).await;
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "{name}: {results:?}");
        for err in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(err.holder().map(|o| &o.id), Some(winners[0].id()), "{err}");
        }
    }
    r.shutdown().await.unwrap();
    cluster.shutdown().await;
}
