//! A live map of who owns what under a prefix.

#![allow(
    clippy::print_stdout,
    reason = "an example shows what happens on stdout"
)]

use consuela::{Config, Contact, Registry, directory::Change};
use consuela_devserver::{DevServer, DevServerConfig};
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = DevServer::bind(DevServerConfig::default(), ([127, 0, 0, 1], 0).into()).await?;
    let mut config = Config::new("consuela-dev", "watch-example");
    config.consul.url = Some(server.url());
    let registry = Registry::start(config).await?;

    let a = registry
        .register("workers/a", Contact::at("10.0.0.1:1"))
        .await?;
    let b = registry
        .register("workers/b", Contact::at("10.0.0.2:1"))
        .await?;
    // The first answer lists every name already owned.
    let mut changes = registry.watch("workers/");
    for _ in 0..2 {
        print(changes.next().await.expect("the watch goes on")?);
    }
    a.unregister().await?;
    print(changes.next().await.expect("the watch goes on")?);
    drop(b);
    registry.shutdown().await?;
    server.shutdown().await;
    Ok(())
}

fn print(change: Change) {
    match change {
        Change::Registered { name, holder } => println!("+ {name} -> {}", holder.id),
        Change::Unregistered { name, .. } => println!("- {name}"),
        Change::OwnerChanged { name, current, .. } => println!("~ {name} -> {}", current.id),
        other => println!("{other:?}"),
    }
}
