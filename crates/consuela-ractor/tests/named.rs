//! `spawn_named`: the actor gets the name's mail and calls, runs only while
//! the name is held, and the name goes when the actor stops.

use std::time::Duration;

use consuela::messaging::{Envelope, Responder};
use consuela::{Config, ErrorKind, Registry};
use consuela_ractor::{Error, Exit, NamedMessage, spawn_named};
use consuela_testkit::consuela_devserver::{DevServer, DevServerConfig};
use consuela_testkit::wait_for;
use ractor::{Actor, ActorProcessingErr, ActorRef, ActorStatus};

const SOON: Duration = Duration::from_secs(10);

enum Msg {
    Add(u64),
    Total(Responder),
    Quit,
}

#[derive(serde::Deserialize)]
enum Mail {
    Add(u64),
    Total,
    Quit,
}

impl NamedMessage for Msg {
    type Mail = Mail;
    fn from_mail(mail: Envelope<Mail>) -> Option<Self> {
        match mail.into_parts() {
            (Mail::Add(n), _) => Some(Msg::Add(n)),
            (Mail::Total, Some(reply)) => Some(Msg::Total(reply)),
            (Mail::Total, None) => None,
            (Mail::Quit, _) => Some(Msg::Quit),
        }
    }
}

struct Adder {
    fail_start: bool,
}

impl Actor for Adder {
    type Msg = Msg;
    type State = u64;
    type Arguments = u64;

    async fn pre_start(&self, _: ActorRef<Msg>, start: u64) -> Result<u64, ActorProcessingErr> {
        if self.fail_start {
            return Err("refuses to start".into());
        }
        Ok(start)
    }

    async fn handle(
        &self,
        myself: ActorRef<Msg>,
        message: Msg,
        total: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            Msg::Add(n) => *total += n,
            Msg::Total(reply) => {
                reply.respond(total);
            }
            Msg::Quit => myself.stop(None),
        }
        Ok(())
    }
}

/// A registry on the Consul at `CONSUL_HTTP_ADDR`, or on a dev server of
/// its own (kept alive by the first value), under a namespace of its own.
async fn setup(test: &str) -> (Option<DevServer>, Registry) {
    let probe = consuela_testkit::consul_target().await;
    let (server, url, token, node, ttl) = if probe.is_real() {
        let client = consuela::client::Client::new(probe.client_config()).unwrap();
        let node = client.agent().self_().await.unwrap().config.node_name;
        let (url, token) = (probe.url.clone(), probe.token.clone());
        (None, url, token, node.to_string(), Duration::from_secs(10))
    } else {
        probe.shutdown().await;
        let mut server_config = DevServerConfig::default();
        server_config.session_ttl_min = Duration::from_millis(100);
        let server = DevServer::bind(server_config, ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let url = server.url();
        (
            Some(server),
            url,
            None,
            "consuela-dev".to_owned(),
            Duration::from_secs(1),
        )
    };
    let namespace = format!("ractor-{test}-{}", std::process::id());
    let mut config = Config::new(node, namespace);
    config.consul.url = Some(url);
    config.consul.token = token;
    config.session.ttl = ttl;
    config.session.ttl_min = ttl;
    config.session.lock_delay = Duration::from_millis(100);
    let registry = Registry::start(config).await.unwrap();
    (server, registry)
}

async fn teardown(server: Option<DevServer>) {
    if let Some(server) = server {
        server.shutdown().await;
    }
}

#[tokio::test]
async fn mail_and_calls_reach_the_actor_and_its_end_releases_the_name() {
    let (server, registry) = setup("mail").await;
    let adder = spawn_named(&registry, "adder", Adder { fail_start: false }, 10)
        .await
        .unwrap();
    let holder = registry.whereis("adder").await.unwrap().unwrap();
    assert_eq!(holder.fencing_token, adder.fencing_token());
    registry
        .send("adder", serde_json::json!({"Add": 5}))
        .await
        .unwrap();
    registry
        .send("adder", serde_json::json!({"Add": 7}))
        .await
        .unwrap();
    let total: u64 = registry.call("adder", "Total", SOON).await.unwrap();
    assert_eq!(total, 22);
    // A cast of `Total` has no one to answer: dropped, as from_mail says.
    registry.send("adder", "Total").await.unwrap();

    // The actor stops itself: the name is released after it.
    registry.send("adder", "Quit").await.unwrap();
    let exit = adder.wait().await;
    assert!(matches!(exit, Exit::Stopped), "{exit:?}");
    assert!(registry.whereis("adder").await.unwrap().is_none());
    let kind = registry
        .send("adder", "Total")
        .await
        .unwrap_err()
        .kind()
        .clone();
    assert!(matches!(kind, ErrorKind::NoOwner), "{kind:?}");

    // Stopped from outside, the same.
    let adder = spawn_named(&registry, "adder", Adder { fail_start: false }, 0)
        .await
        .unwrap();
    let actor = adder.actor().clone();
    assert!(matches!(adder.stop().await, Exit::Stopped));
    assert_eq!(actor.get_status(), ActorStatus::Stopped);
    assert!(registry.whereis("adder").await.unwrap().is_none());

    // An actor that does not start leaves no name behind.
    let failed = spawn_named(&registry, "adder", Adder { fail_start: true }, 0).await;
    assert!(matches!(failed, Err(Error::Spawn(_))), "{:?}", failed.err());
    assert!(registry.whereis("adder").await.unwrap().is_none());
    registry.shutdown().await.unwrap();
    teardown(server).await;
}

#[tokio::test]
async fn losing_the_name_kills_the_actor() {
    let (server, registry) = setup("loss").await;
    let adder = spawn_named(&registry, "doomed", Adder { fail_start: false }, 0)
        .await
        .unwrap();
    let actor = adder.actor().clone();
    // Consul forgets the session, as after a partition longer than the TTL.
    registry
        .client()
        .session()
        .destroy(registry.session())
        .await
        .unwrap();
    let exit = adder.wait().await;
    assert!(matches!(exit, Exit::Lost(_)), "{exit:?}");
    wait_for(
        SOON,
        "the actor is dead",
        || {
            let actor = actor.clone();
            async move { actor.get_status() }
        },
        |status| *status == ActorStatus::Stopped,
    )
    .await;
    let _ = registry.shutdown().await;
    teardown(server).await;
}
