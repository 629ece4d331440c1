//! Messaging a name: one member registers `jobs/inbox` with a mailbox, another
//! sends to the name and calls it; after a handover, a message addressed to
//! the old owner's fencing token is refused as stale, and the name's new
//! owner gets what is sent to the name.
//!
//! Runs against the Consul at `CONSUL_HTTP_ADDR`, or an embedded dev server.

#![allow(
    clippy::print_stdout,
    reason = "an example shows what happens on stdout"
)]

use std::time::Duration;

use consuela::config::MessagingConfig;
use consuela::messaging::SendOptions;
use consuela::{Config, Contact, Registry};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
enum Job {
    Compact { table: String },
    Status,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The Consul at CONSUL_HTTP_ADDR, or a dev server kept alive by `target`.
    let target = consuela_testkit::consul_target().await;
    let url = target.url.clone();
    let node = if target.is_real() {
        let client = consuela::client::Client::new(target.client_config())?;
        client.agent().self_().await?.config.node_name.to_string()
    } else {
        "consuela-dev".to_owned()
    };
    let member = |name: &str| {
        let mut c = Config::new(node.clone(), "mailbox-example");
        c.consul.url = Some(url.clone());
        c.consul.token.clone_from(&target.token);
        c.member = Some(name.into());
        // Each member runs a mail endpoint; port 0 picks one.
        c.messaging = Some(MessagingConfig::listen(([127, 0, 0, 1], 0).into()));
        c
    };
    let alice = Registry::start(member("alice")).await?;
    let bob = Registry::start(member("bob")).await?;

    let (lease, mut inbox) = alice
        .register_mailbox::<Job>("jobs/inbox", Contact::default())
        .await?;
    println!(
        "alice holds jobs/inbox (fencing token {}), mail at {}",
        lease.fencing_token(),
        alice.mail_url().unwrap_or("-")
    );
    // Alice's worker: counts what it did, answers calls.
    let worker = tokio::spawn(async move {
        let mut done = 0u32;
        while let Some(envelope) = inbox.recv().await {
            match envelope.message() {
                Job::Compact { table } => {
                    println!("alice compacts {table}");
                    done += 1;
                }
                Job::Status => {
                    envelope.reply(&format!("alice did {done} jobs"));
                }
            }
        }
    });

    let receipt = bob
        .send(
            "jobs/inbox",
            Job::Compact {
                table: "users".into(),
            },
        )
        .await?;
    println!(
        "bob's job was taken by {} (token {})",
        receipt.holder, receipt.token
    );
    let status: String = bob
        .call("jobs/inbox", Job::Status, Duration::from_secs(2))
        .await?;
    println!("bob asked for the status: {status}");

    // Alice hands the name over; bob takes it with a mailbox of his own.
    let old_token = lease.fencing_token();
    lease.unregister().await?;
    worker.await?;
    let (bobs, mut bobs_inbox) = bob
        .register_mailbox::<Job>("jobs/inbox", Contact::default())
        .await?;
    let stale = alice
        .send_with(
            "jobs/inbox",
            Job::Status,
            SendOptions::new().expect(old_token),
        )
        .await
        .unwrap_err();
    println!("a message for token {old_token}: {stale}");
    alice
        .send(
            "jobs/inbox",
            Job::Compact {
                table: "orders".into(),
            },
        )
        .await?;
    if let Some(envelope) = bobs_inbox.recv().await {
        println!(
            "bob (token {}) got {:?}",
            bobs.fencing_token(),
            envelope.into_message()
        );
    }
    drop(bobs);
    alice.shutdown().await?;
    bob.shutdown().await?;
    target.shutdown().await;
    Ok(())
}
