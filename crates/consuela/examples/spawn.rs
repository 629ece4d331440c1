//! Run work only while holding a name; it stops the moment ownership is lost.

#![allow(
    clippy::print_stdout,
    reason = "an example shows what happens on stdout"
)]

use std::time::Duration;

use consuela::{Config, Contact, Registry};
use consuela_devserver::{DevServer, DevServerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = DevServer::bind(DevServerConfig::default(), ([127, 0, 0, 1], 0).into()).await?;
    let mut config = Config::new("consuela-dev", "spawn-example");
    config.consul.url = Some(
        std::env::var("CONSUL_HTTP_ADDR").map_or_else(|_| server.url(), |a| format!("http://{a}")),
    );
    let registry = Registry::start(config).await?;

    let worker = registry
        .spawn("compactor", Contact::default(), async {
            for round in 1..=3 {
                println!("compacting, round {round}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            "done"
        })
        .await?;
    println!("running under fencing token {}", worker.fencing_token());
    println!("worker said {:?}", worker.join().await?);
    assert!(
        registry.whereis("compactor").await?.is_none(),
        "released when the future ended"
    );

    registry.shutdown().await?;
    server.shutdown().await;
    Ok(())
}
