//! Exactly one of three members runs the scheduler; a graceful shutdown
//! hands it over at once.

#![allow(
    clippy::print_stdout,
    reason = "an example shows what happens on stdout"
)]

use std::time::Duration;

use consuela::{Config, Contact, Registry, singleton::SingletonConfig};
use consuela_devserver::{DevServer, DevServerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = DevServer::bind(DevServerConfig::default(), ([127, 0, 0, 1], 0).into()).await?;
    let mut members = Vec::new();
    let mut handles = Vec::new();
    for name in ["ann", "ben", "cy"] {
        let mut config = Config::new("consuela-dev", "singleton-example");
        config.consul.url = Some(server.url());
        config.member = Some(name.into());
        let registry = Registry::start(config).await?;
        let handle = registry.singleton(
            "scheduler",
            Contact::default(),
            SingletonConfig::default(),
            move || async move {
                println!("{name} runs the scheduler");
                std::future::pending::<()>().await;
            },
        )?;
        members.push(registry);
        handles.push(handle);
    }
    let leader = wait_for_leader(&handles).await;
    println!("leader: {}", members[leader].member());
    members.remove(leader).shutdown().await?;
    handles.remove(leader);
    let next = wait_for_leader(&handles).await;
    println!(
        "after a graceful shutdown, {} leads",
        members[next].member()
    );
    for h in handles {
        h.stop().await;
    }
    for m in members {
        m.shutdown().await?;
    }
    server.shutdown().await;
    Ok(())
}

async fn wait_for_leader(handles: &[consuela::singleton::SingletonHandle]) -> usize {
    loop {
        if let Some(i) = handles
            .iter()
            .position(consuela::singleton::SingletonHandle::is_leader)
        {
            return i;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
