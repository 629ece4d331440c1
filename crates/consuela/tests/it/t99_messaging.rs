//! Named mailboxes: `send` and `call` in-process and across members, stale
//! refusals, back-pressure, closed mailboxes, unreachable owners, TLS, and a
//! send racing a takeover.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use consuela::config::{Config, MessagingConfig, MessagingTlsConfig};
use consuela::event::Event;
use consuela::messaging::{Courier, Mailbox, SendOptions};
use consuela::{Contact, ErrorKind, FencingToken, Registry};
use consuela_testkit::tls::{ScratchDir, TestCa};
use consuela_testkit::{Latency, wait_for, wait_until};
use serde::{Deserialize, Serialize};

use crate::support::{Cluster, Events, SOON, namespace};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Job {
    id: u64,
    what: String,
}

fn job(id: u64) -> Job {
    Job {
        id,
        what: format!("job {id}"),
    }
}

/// A config of node `i` whose member runs a mail endpoint on 127.0.0.1:0.
fn with_mail(
    cluster: &Cluster,
    i: usize,
    ns: &str,
    tweak: impl FnOnce(&mut MessagingConfig),
) -> Config {
    let mut config = cluster.config(i, ns);
    let mut messaging = MessagingConfig::listen("127.0.0.1:0".parse().unwrap());
    tweak(&mut messaging);
    config.messaging = Some(messaging);
    config
}

async fn mail_registry(cluster: &Cluster, i: usize, ns: &str) -> Registry {
    Registry::start(with_mail(cluster, i, ns, |_| {}))
        .await
        .expect("registry starts")
}

#[track_caller]
fn assert_kind(kind: ErrorKind, expected: impl Fn(&ErrorKind) -> bool) {
    assert!(expected(&kind), "unexpected {kind:?}");
}

fn kind_of<T: std::fmt::Debug>(result: Result<T, consuela::Error>) -> ErrorKind {
    result.expect_err("an error").kind().clone()
}

#[tokio::test]
async fn in_process_sends_and_calls_reach_the_mailbox() {
    let cluster = Cluster::start().await;
    let ns = namespace("mail-local");
    let registry = cluster.registry(0, &ns).await;
    let (lease, mut mailbox) = registry
        .register_mailbox::<Job>("jobs/worker", Contact::default())
        .await
        .unwrap();
    assert_eq!(lease.contact().mailbox, None, "no endpoint, no URL");

    let receipt = registry.send("jobs/worker", job(1)).await.unwrap();
    assert_eq!(receipt.token, lease.fencing_token());
    assert_eq!(&receipt.holder, lease.id());
    let envelope = mailbox.recv().await.unwrap();
    assert!(!envelope.is_call());
    assert_eq!(envelope.into_message(), job(1));

    // Another type of the same JSON shape goes through the codec.
    registry
        .send("jobs/worker", serde_json::json!({"id": 2, "what": "job 2"}))
        .await
        .unwrap();
    assert_eq!(mailbox.recv().await.unwrap().into_message(), job(2));
    let bad = registry
        .send("jobs/worker", serde_json::json!({"id": "two"}))
        .await;
    assert!(matches!(kind_of(bad), ErrorKind::BadMessage(_)));
    assert!(mailbox.is_empty(), "a refused message is not delivered");

    // A call: the receiver answers through its envelope.
    let answer = tokio::spawn({
        let registry = registry.clone();
        async move { registry.call::<_, u64>("jobs/worker", job(3), SOON).await }
    });
    let envelope = mailbox.recv().await.unwrap();
    assert!(envelope.is_call());
    let id = envelope.message().id;
    envelope.reply(&(id * 10));
    assert_eq!(answer.await.unwrap().unwrap(), 30);

    assert_kind(kind_of(registry.send("jobs/nobody", job(4)).await), |k| {
        matches!(k, ErrorKind::NoOwner)
    });
    let _plain = registry
        .register("jobs/plain", Contact::default())
        .await
        .unwrap();
    assert_kind(kind_of(registry.send("jobs/plain", job(5)).await), |k| {
        matches!(k, ErrorKind::NoMailbox)
    });

    // Released: the name has no owner, and the receiver ends.
    lease.unregister().await.unwrap();
    assert_kind(kind_of(registry.send("jobs/worker", job(6)).await), |k| {
        matches!(k, ErrorKind::NoOwner)
    });
    assert!(mailbox.recv().await.is_none());
    registry.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_members_through_the_owners_endpoint() {
    let cluster = Cluster::start().await;
    let ns = namespace("mail-remote");
    let owner = mail_registry(&cluster, 0, &ns).await;
    let sender = cluster.registry(1, &ns).await;
    let (lease, mut mailbox) = owner
        .register_mailbox::<Job>("worker", Contact::at("10.0.0.5:7000"))
        .await
        .unwrap();
    let url = owner.mail_url().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // The record carries the endpoint, for every member to read.
    let holder = sender.whereis("worker").await.unwrap().unwrap();
    assert_eq!(holder.contact.mailbox.as_deref(), Some(url.as_str()));
    assert_eq!(holder.contact.address.as_deref(), Some("10.0.0.5:7000"));

    for id in 0..20 {
        let receipt = sender.send("worker", job(id)).await.unwrap();
        assert_eq!(receipt.token, lease.fencing_token());
    }
    for id in 0..20 {
        assert_eq!(
            mailbox.recv().await.unwrap().into_message(),
            job(id),
            "in order"
        );
    }

    let reply = tokio::spawn({
        let sender = sender.clone();
        async move {
            sender
                .call_with::<_, String>("worker", job(7), SOON, SendOptions::new())
                .await
        }
    });
    let envelope = mailbox.recv().await.unwrap();
    let text = envelope.message().what.to_uppercase();
    envelope.reply(&text);
    let (text, receipt) = reply.await.unwrap().unwrap();
    assert_eq!(
        (text.as_str(), receipt.token),
        ("JOB 7", lease.fencing_token())
    );

    // A JSON sender without a registry: an operator's tool.
    let courier = Courier::new(&MessagingConfig::default()).unwrap();
    let receipt = courier
        .send_json(
            sender.directory(),
            "worker",
            br#"{"id":8,"what":"by hand"}"#,
            SendOptions::new(),
        )
        .await
        .unwrap();
    assert_eq!(receipt.token, lease.fencing_token());
    assert_eq!(mailbox.recv().await.unwrap().message().what, "by hand");
    let bad = courier
        .send_json(sender.directory(), "worker", b"[1,2]", SendOptions::new())
        .await;
    assert!(matches!(kind_of(bad), ErrorKind::BadMessage(_)));

    // Not answered in time, or not at all.
    let timed_out = tokio::spawn({
        let sender = sender.clone();
        async move {
            sender
                .call::<_, u64>("worker", job(9), Duration::from_millis(200))
                .await
        }
    });
    let unanswered = mailbox.recv().await.unwrap();
    assert_kind(kind_of(timed_out.await.unwrap()), |k| {
        matches!(k, ErrorKind::CallTimeout)
    });
    drop(unanswered);
    let dropped = tokio::spawn({
        let sender = sender.clone();
        async move { sender.call::<_, u64>("worker", job(10), SOON).await }
    });
    drop(mailbox.recv().await.unwrap());
    assert_kind(kind_of(dropped.await.unwrap()), |k| {
        matches!(k, ErrorKind::NoReply)
    });

    lease.unregister().await.unwrap();
    owner.shutdown().await.unwrap();
    sender.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_for_a_superseded_registration_is_refused_as_stale() {
    let cluster = Cluster::start().await;
    let ns = namespace("mail-stale");
    let first = mail_registry(&cluster, 0, &ns).await;
    let events = Events::default();
    let second = Registry::builder(with_mail(&cluster, 1, &ns, |_| {}))
        .pulse(events.pulse())
        .start()
        .await
        .unwrap();
    let url = second.mail_url().unwrap().to_owned();
    let started = events.find(|e| match e {
        Event::MailEndpointStarted { url } => Some(url.clone()),
        _ => None,
    });
    assert_eq!(started, Some(url.clone()));
    let sender = cluster.registry(2, &ns).await;

    let (old, mut old_mailbox) = first
        .register_mailbox::<Job>("w", Contact::default())
        .await
        .unwrap();
    let old_token = old.fencing_token();
    let wrong = FencingToken::new(old_token.get() + 1000);
    for registry in [&first, &sender] {
        let refused = registry
            .send_with("w", job(0), SendOptions::new().expect(wrong))
            .await;
        let kind = kind_of(refused);
        assert!(
            matches!(kind, ErrorKind::Stale { current: Some(t) } if t == old_token),
            "{kind:?}"
        );
    }
    assert!(old_mailbox.is_empty());

    old.unregister().await.unwrap();
    let (new, mut new_mailbox) = second
        .register_mailbox::<Job>("w", Contact::default())
        .await
        .unwrap();
    assert!(new.fencing_token() > old_token);
    for registry in [&first, &second, &sender] {
        let refused = registry
            .send_with("w", job(1), SendOptions::new().expect(old_token))
            .await;
        let kind = kind_of(refused);
        assert!(
            matches!(kind, ErrorKind::Stale { current: Some(t) } if t == new.fencing_token()),
            "{kind:?}"
        );
        // Addressed to whoever owns it now, it reaches the new owner.
        let receipt = registry.send("w", job(2)).await.unwrap();
        assert_eq!(receipt.token, new.fencing_token());
        assert_eq!(new_mailbox.recv().await.unwrap().into_message(), job(2));
    }
    assert!(
        old_mailbox.recv().await.is_none(),
        "the old mailbox took nothing more"
    );

    // The endpoint itself refuses a token it does not hold.
    let courier_refusal = reqwest_post(&format!("{url}/v1/mail/w?token={old_token}"), "{}").await;
    assert_eq!(courier_refusal.0, 409);
    assert!(
        courier_refusal.1.contains("\"stale\""),
        "{}",
        courier_refusal.1
    );
    let moved = reqwest_post(&format!("{url}/v1/mail/elsewhere"), "{}").await;
    assert_eq!(moved.0, 404);
    let refused = |reason: &'static str| {
        events.count(|e| matches!(e, Event::MailRefused { reason: r, .. } if r == &reason))
    };
    assert!(
        refused("stale") >= 1 && refused("moved") >= 1,
        "{:?}",
        events.all()
    );

    new.unregister().await.unwrap();
    for r in [first, second, sender] {
        r.shutdown().await.unwrap();
    }
    cluster.shutdown().await;
}

/// One bare POST: the status and the body.
async fn reqwest_post(url: &str, body: &'static str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(url)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_mailboxes_push_back_and_closed_ones_refuse() {
    let cluster = Cluster::start().await;
    let ns = namespace("mail-full");
    let owner = Registry::start(with_mail(&cluster, 0, &ns, |m| {
        m.capacity = 2;
        m.send_timeout = Duration::from_millis(100);
    }))
    .await
    .unwrap();
    let sender = cluster.registry(1, &ns).await;
    let (_lease, mut mailbox) = owner
        .register_mailbox::<Job>("q", Contact::default())
        .await
        .unwrap();
    sender.send("q", job(1)).await.unwrap();
    owner.send("q", job(2)).await.unwrap();
    let no_wait = SendOptions::new().wait(Duration::ZERO);
    for registry in [&owner, &sender] {
        assert_kind(
            kind_of(registry.send_with("q", job(3), no_wait).await),
            |k| matches!(k, ErrorKind::MailboxFull),
        );
        // The owner's send_timeout bounds the wait of a remote sender too.
        assert_kind(kind_of(registry.send("q", job(3)).await), |k| {
            matches!(k, ErrorKind::MailboxFull)
        });
    }
    // A sender waiting for room gets in once the receiver reads.
    let waiting = tokio::spawn({
        let sender = sender.clone();
        async move {
            sender
                .send_with("q", job(4), SendOptions::new().wait(SOON))
                .await
        }
    });
    assert_eq!(mailbox.recv().await.unwrap().into_message(), job(1));
    waiting.await.unwrap().unwrap();
    assert_eq!(mailbox.recv().await.unwrap().into_message(), job(2));
    assert_eq!(mailbox.recv().await.unwrap().into_message(), job(4));

    mailbox.close();
    for registry in [&owner, &sender] {
        assert_kind(kind_of(registry.send("q", job(5)).await), |k| {
            matches!(k, ErrorKind::MailboxClosed)
        });
    }
    drop(mailbox);
    assert_kind(kind_of(sender.send("q", job(6)).await), |k| {
        matches!(k, ErrorKind::MailboxClosed)
    });
    owner.shutdown().await.unwrap();
    sender.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_owner_is_reported_as_not_delivered() {
    let cluster = Cluster::start().await;
    let ns = namespace("mail-unreachable");
    let holder = cluster.registry(0, &ns).await;
    let events = Events::default();
    let sender = Registry::builder(cluster.config(1, &ns))
        .pulse(events.pulse())
        .start()
        .await
        .unwrap();
    // A port nothing listens on: bound, then closed.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let contact = Contact {
        mailbox: Some(format!("http://{dead}")),
        ..Contact::default()
    };
    let _lease = holder.register("gone", contact).await.unwrap();
    let error = sender.send("gone", job(1)).await.unwrap_err();
    assert_eq!(
        events
            .count(|e| matches!(e, Event::MailUndelivered { name, .. } if name.as_str() == "gone")),
        1
    );
    assert!(
        matches!(
            error.kind(),
            ErrorKind::OwnerUnreachable {
                maybe_delivered: false
            }
        ),
        "{error}"
    );
    assert!(error.is_retryable());
    holder.shutdown().await.unwrap();
    sender.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_exchange_mail_over_mutual_tls() {
    let cluster = Cluster::start().await;
    let ns = namespace("mail-tls");
    let ca = TestCa::new("consuela members CA");
    let dir = ScratchDir::new("consuela-mail-tls");
    let ca_file = dir.write("ca.pem", &ca.cert_pem);
    let tls_of = |i: usize| {
        let member = ca.member();
        MessagingTlsConfig {
            cert_file: dir.write(&format!("m{i}.pem"), &member.cert_pem),
            key_file: dir.write(&format!("m{i}-key.pem"), &member.key_pem),
            ca_file: Some(ca_file.clone()),
            verify_incoming: true,
            server_name: None,
        }
    };
    let owner = Registry::start(with_mail(&cluster, 0, &ns, |m| m.tls = Some(tls_of(0))))
        .await
        .unwrap();
    let sender = Registry::start(with_mail(&cluster, 1, &ns, |m| m.tls = Some(tls_of(1))))
        .await
        .unwrap();
    assert!(owner.mail_url().unwrap().starts_with("https://127.0.0.1:"));
    let (_lease, mut mailbox) = owner
        .register_mailbox::<Job>("secure", Contact::default())
        .await
        .unwrap();
    sender.send("secure", job(1)).await.unwrap();
    assert_eq!(mailbox.recv().await.unwrap().into_message(), job(1));

    // Without a client certificate the endpoint refuses the handshake.
    let courier = Courier::new(&MessagingConfig::default()).unwrap();
    let refused = courier
        .send_json(
            sender.directory(),
            "secure",
            br#"{"id":2,"what":"x"}"#,
            SendOptions::new(),
        )
        .await;
    assert!(
        matches!(
            kind_of(refused),
            ErrorKind::OwnerUnreachable {
                maybe_delivered: false
            }
        ),
        "a failed handshake (an unknown CA) never delivers, and says so"
    );
    assert!(mailbox.is_empty());
    owner.shutdown().await.unwrap();
    sender.shutdown().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_bad_messaging_section_is_refused_with_its_reason() {
    use consuela::config::ConfigError;
    let cluster = Cluster::start().await;
    let ns = namespace("mail-config");
    let zero = with_mail(&cluster, 0, &ns, |m| m.capacity = 0);
    assert_eq!(
        zero.validate().unwrap_err(),
        ConfigError::ZeroLimit("messaging.capacity")
    );
    let advertise = with_mail(&cluster, 0, &ns, |m| m.advertise = Some("tcp://x:1".into()));
    assert!(matches!(
        advertise.validate(),
        Err(ConfigError::Advertise(_))
    ));
    // A taken port: the registry does not start, and says where.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config = with_mail(&cluster, 0, &ns, |m| m.listen = addr);
    let error = Registry::start(config).await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::Config(ConfigError::Listen { listen, .. }) if *listen == addr),
        "{error}"
    );
    let parsed = Config::from_toml(&format!(
        "nodename = \"n\"\nnamespace = \"{ns}\"\n[messaging]\nlisten = \"127.0.0.1:0\"\ncapacity = 8\nsend_timeout = \"250ms\"\n"
    ))
    .unwrap();
    let messaging = parsed.messaging.unwrap();
    assert_eq!(
        (messaging.capacity, messaging.send_timeout),
        (8, Duration::from_millis(250))
    );
    cluster.shutdown().await;
}

/// Senders hammer a name while its owner hands it over: every receipt names
/// the mailbox that has the message, no message is in two mailboxes, and the
/// old owner takes nothing once the new one holds the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_racing_a_takeover_reaches_exactly_one_owner() {
    let cluster = Cluster::start().await;
    let ns = namespace("mail-takeover");
    let roomy = |m: &mut MessagingConfig| m.capacity = 1 << 20;
    let first = Registry::start(with_mail(&cluster, 0, &ns, roomy))
        .await
        .unwrap();
    let second = Registry::start(with_mail(&cluster, 1, &ns, roomy))
        .await
        .unwrap();
    let sender = cluster.registry(2, &ns).await;
    let (old, old_mailbox) = first
        .register_mailbox::<Job>("counter", Contact::default())
        .await
        .unwrap();
    let old_token = old.fencing_token();

    // Two senders (one remote, one in the old owner's process), each with
    // its own numbers, until told to stop.
    let receipts = Arc::new(std::sync::Mutex::new(HashMap::<u64, FencingToken>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = [(sender.clone(), 0u64), (first.clone(), 1_000_000)]
        .into_iter()
        .map(|(registry, base)| {
            let (receipts, stop) = (receipts.clone(), stop.clone());
            tokio::spawn(async move {
                for id in base.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    match registry.send("counter", job(id)).await {
                        Ok(receipt) => {
                            receipts.lock().unwrap().insert(id, receipt.token);
                        }
                        Err(e) => assert!(
                            matches!(e.kind(), ErrorKind::NoOwner | ErrorKind::Stale { .. }),
                            "{e}"
                        ),
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let receipted_by = |token: FencingToken| {
        let receipts = receipts.clone();
        move || {
            let receipts = receipts.clone();
            async move {
                receipts
                    .lock()
                    .unwrap()
                    .values()
                    .filter(|t| **t == token)
                    .count()
                    >= 50
            }
        }
    };

    let taken = |mailbox: Mailbox<Job>| async move {
        let mut mailbox = mailbox;
        let mut ids = Vec::new();
        while let Some(envelope) = mailbox.try_recv() {
            ids.push(envelope.into_message().id);
        }
        (ids, mailbox)
    };
    wait_until(SOON, "the old owner took some", receipted_by(old_token)).await;
    old.unregister().await.unwrap();
    let (new, new_mailbox) = loop {
        match second
            .register_mailbox::<Job>("counter", Contact::default())
            .await
        {
            Ok(held) => break held,
            Err(e) if e.is_conflict() || e.is_retryable() => tokio::task::yield_now().await,
            Err(e) => panic!("{e}"),
        }
    };
    let (old_ids, old_mailbox) = taken(old_mailbox).await;
    wait_until(
        SOON,
        "the new owner took some",
        receipted_by(new.fencing_token()),
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
    let (old_after, _) = taken(old_mailbox).await;
    assert!(
        old_after.is_empty(),
        "the old owner took {old_after:?} after the takeover"
    );
    let (new_ids, _) = taken(new_mailbox).await;

    let receipts = receipts.lock().unwrap().clone();
    let old_set: HashSet<u64> = old_ids.iter().copied().collect();
    let new_set: HashSet<u64> = new_ids.iter().copied().collect();
    assert_eq!(old_set.len(), old_ids.len(), "no message twice");
    assert_eq!(new_set.len(), new_ids.len(), "no message twice");
    assert!(
        old_set.is_disjoint(&new_set),
        "no message in both mailboxes"
    );
    assert!(!new_set.is_empty(), "the new owner took messages");
    for (id, token) in &receipts {
        if *token == old_token {
            assert!(old_set.contains(id), "receipt of {id} by the old owner");
        } else {
            assert_eq!(*token, new.fencing_token());
            assert!(new_set.contains(id), "receipt of {id} by the new owner");
        }
    }
    // Every message in a mailbox was acknowledged (nothing timed out here).
    assert_eq!(old_set.len() + new_set.len(), receipts.len());
    new.unregister().await.unwrap();
    for r in [first, second, sender] {
        r.shutdown().await.unwrap();
    }
    cluster.shutdown().await;
}

/// A sender remembers where it delivered; when that owner has moved on, the
/// refused (or refused-connection) send looks the name up again and goes
/// to the new owner, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_to_a_remembered_owner_that_moved_goes_to_the_new_one() {
    let cluster = Cluster::start().await;
    let ns = namespace("mail-moved");
    let first = mail_registry(&cluster, 0, &ns).await;
    let second = mail_registry(&cluster, 1, &ns).await;
    let sender = cluster.registry(2, &ns).await;

    let (old, mut old_mailbox) = first
        .register_mailbox::<Job>("m", Contact::default())
        .await
        .unwrap();
    assert_eq!(
        sender.send("m", job(1)).await.unwrap().token,
        old.fencing_token()
    );
    assert_eq!(old_mailbox.recv().await.unwrap().into_message(), job(1));
    old.unregister().await.unwrap();
    let (new, mut new_mailbox) = second
        .register_mailbox::<Job>("m", Contact::default())
        .await
        .unwrap();
    // The remembered owner refuses (it no longer holds the name): the send
    // goes to the new one.
    assert_eq!(
        sender.send("m", job(2)).await.unwrap().token,
        new.fencing_token()
    );
    assert_eq!(new_mailbox.recv().await.unwrap().into_message(), job(2));
    assert!(old_mailbox.recv().await.is_none());

    // The remembered owner's member is gone altogether (its endpoint is
    // closed): the same, after at most one send that cannot know.
    new.unregister().await.unwrap();
    let (newest, mut newest_mailbox) = first
        .register_mailbox::<Job>("m", Contact::default())
        .await
        .unwrap();
    second.shutdown().await.unwrap();
    let receipt = match sender.send("m", job(3)).await {
        Ok(receipt) => receipt,
        // The connection the sender kept to the stopped endpoint may break
        // under the send before the sender sees it closed: it cannot tell
        // whether the message got in, says so, and forgets the route.
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::OwnerUnreachable {
                    maybe_delivered: true
                }
            ) =>
        {
            sender.send("m", job(3)).await.unwrap()
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(receipt.token, newest.fencing_token());
    assert_eq!(newest_mailbox.recv().await.unwrap().into_message(), job(3));
    assert!(newest_mailbox.is_empty(), "one message, once");

    // Released and not taken again: no owner.
    newest.unregister().await.unwrap();
    assert_kind(kind_of(sender.send("m", job(4)).await), |k| {
        matches!(k, ErrorKind::NoOwner)
    });
    first.shutdown().await.unwrap();
    sender.shutdown().await.unwrap();
    cluster.shutdown().await;
}

/// Whatever arrives at the endpoint gets a typed answer, and only a
/// well-formed delivery reaches the mailbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_answers_bad_requests_with_their_reason() {
    let cluster = Cluster::start().await;
    let ns = namespace("mail-bad");
    let owner = Registry::start(with_mail(&cluster, 0, &ns, |m| m.max_message_size = 64))
        .await
        .unwrap();
    let (lease, mut mailbox) = owner
        .register_mailbox::<Job>("a b/c?", Contact::default())
        .await
        .unwrap();
    let url = owner.mail_url().unwrap().to_owned();
    let http = reqwest::Client::new();
    let token = lease.fencing_token();
    let cases: [(reqwest::Method, String, String, u16, &str); 7] = [
        (
            reqwest::Method::GET,
            format!("{url}/v1/mail/a%20b/c%3F"),
            String::new(),
            405,
            "bad_request",
        ),
        (
            reqwest::Method::POST,
            format!("{url}/v1/other"),
            String::new(),
            404,
            "bad_request",
        ),
        (
            reqwest::Method::POST,
            format!("{url}/v1/mail/%FF"),
            "{}".into(),
            400,
            "bad_request",
        ),
        (
            reqwest::Method::POST,
            format!("{url}/v1/mail/a%20b/c%3F?token=x"),
            "{}".into(),
            400,
            "bad_request",
        ),
        (
            reqwest::Method::POST,
            format!("{url}/v1/mail/a%20b/c%3F?wait=soon"),
            "{}".into(),
            400,
            "bad_request",
        ),
        (
            reqwest::Method::POST,
            format!("{url}/v1/mail/a%20b/c%3F"),
            r#"{"id":"x"}"#.into(),
            400,
            "bad_message",
        ),
        (
            reqwest::Method::POST,
            format!("{url}/v1/mail/a%20b/c%3F"),
            "x".repeat(65),
            413,
            "too_large",
        ),
    ];
    for (method, target, body, status, reason) in cases {
        let response = http
            .request(method.clone(), &target)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {target}");
        let answer: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(answer["error"], reason, "{method} {target}: {answer}");
    }
    assert!(mailbox.is_empty());
    // A well-formed one, with the name escaped as the courier does.
    let response = http
        .post(format!("{url}/v1/mail/a%20b/c%3F?token={token}"))
        .body(r#"{"id":1,"what":"ok"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["consuela-token"].to_str().unwrap(),
        token.to_string()
    );
    assert_eq!(mailbox.recv().await.unwrap().message().id, 1);
    lease.unregister().await.unwrap();
    owner.shutdown().await.unwrap();
    cluster.shutdown().await;
}

/// A sender can read a name's record before its owner has the answer to the
/// registration (here the owner's answers from Consul are slowed down): the
/// owner's endpoint waits for the registration to settle instead of
/// refusing the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_as_the_registration_lands_waits_for_it() {
    let cluster = Cluster::start().await;
    let ns = namespace("mail-settling");
    let proxy = cluster.proxy().await;
    let mut config = cluster.config_via(0, &ns, &proxy.url());
    config.messaging = Some(MessagingConfig::listen(([127, 0, 0, 1], 0).into()));
    let owner = Registry::start(config).await.unwrap();
    let sender = cluster.registry(1, &ns).await;

    proxy.set_latency(Latency {
        upstream: Duration::ZERO,
        downstream: Duration::from_millis(400),
    });
    let registering = tokio::spawn({
        let owner = owner.clone();
        async move {
            owner
                .register_mailbox::<Job>("early", Contact::default())
                .await
        }
    });
    let holder = wait_for(
        SOON,
        "the record is visible",
        || sender.whereis("early"),
        |h| matches!(h, Ok(Some(_))),
    )
    .await
    .unwrap()
    .unwrap();
    let receipt = sender.send("early", job(1)).await.unwrap();
    assert_eq!(receipt.token, holder.fencing_token);
    let (lease, mut mailbox) = registering.await.unwrap().unwrap();
    assert_eq!(lease.fencing_token(), holder.fencing_token);
    assert_eq!(mailbox.recv().await.unwrap().into_message(), job(1));

    proxy.set_latency(Latency::default());
    lease.unregister().await.unwrap();
    owner.shutdown().await.unwrap();
    sender.shutdown().await.unwrap();
    cluster.shutdown().await;
}
