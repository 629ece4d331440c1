//! Register a name, look it up from another member, hand it over.
//!
//! Runs against the Consul at `CONSUL_HTTP_ADDR`, or an embedded dev server.

#![allow(
    clippy::print_stdout,
    reason = "an example shows what happens on stdout"
)]

use consuela::{Config, Contact, Registry};
use consuela_devserver::{DevServer, DevServerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, _server) = consul().await?;
    let config = |member: &str| {
        let mut c = Config::new("consuela-dev", "quickstart");
        c.consul.url = Some(url.clone());
        c.member = Some(member.into());
        c
    };
    let alice = Registry::start(config("alice")).await?;
    let bob = Registry::start(config("bob")).await?;

    let lease = alice
        .register("jobs/reporter", Contact::at("10.0.0.1:7000"))
        .await?;
    println!(
        "alice holds jobs/reporter, fencing token {}",
        lease.fencing_token()
    );

    let err = bob
        .register("jobs/reporter", Contact::at("10.0.0.2:7000"))
        .await
        .unwrap_err();
    println!("bob cannot: {err}");

    let holder = bob.whereis("jobs/reporter").await?.expect("registered");
    println!("bob sees {} at {:?}", holder.id, holder.contact.address);

    lease.unregister().await?;
    let mine = bob
        .register("jobs/reporter", Contact::at("10.0.0.2:7000"))
        .await?;
    println!("bob holds it now, fencing token {}", mine.fencing_token());
    drop(mine);

    alice.shutdown().await?;
    bob.shutdown().await?;
    Ok(())
}

/// The Consul to use, and the embedded server kept alive while it runs.
async fn consul() -> Result<(String, Option<DevServer>), Box<dyn std::error::Error>> {
    if let Ok(addr) = std::env::var("CONSUL_HTTP_ADDR") {
        let url = if addr.contains("://") {
            addr
        } else {
            format!("http://{addr}")
        };
        return Ok((url, None));
    }
    let server = DevServer::bind(DevServerConfig::default(), ([127, 0, 0, 1], 0).into()).await?;
    Ok((server.url(), Some(server)))
}
