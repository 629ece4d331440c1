//! At most two holders at once: slots of a semaphore laid out as Consul's own
//! `api.Semaphore` (and `consul lock -n 2`) lays them out.

#![allow(
    clippy::print_stdout,
    reason = "an example shows what happens on stdout"
)]

use consuela::{Config, Contact, ErrorKind, Registry};
use consuela_devserver::{DevServer, DevServerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = DevServer::bind(DevServerConfig::default(), ([127, 0, 0, 1], 0).into()).await?;
    let url =
        std::env::var("CONSUL_HTTP_ADDR").map_or_else(|_| server.url(), |a| format!("http://{a}"));
    // Three members: one session each, so one slot each at most.
    let mut members = Vec::new();
    for i in 0..3 {
        let mut config = Config::new("consuela-dev", "semaphore-example");
        config.consul.url = Some(url.clone());
        config.member = Some(format!("worker-{i}"));
        members.push(Registry::start(config).await?);
    }

    let first = members[0]
        .acquire_slot("encoders", 2, Contact::at("10.0.0.1:9000"))
        .await?;
    let second = members[1]
        .acquire_slot("encoders", 2, Contact::at("10.0.0.2:9000"))
        .await?;
    println!(
        "two slots taken, fencing tokens {} and {}",
        first.fencing_token(),
        second.fencing_token()
    );
    match members[2]
        .acquire_slot("encoders", 2, Contact::default())
        .await
    {
        Err(e) if matches!(e.kind(), ErrorKind::SemaphoreFull { .. }) => println!("third: {e}"),
        other => panic!("expected a full semaphore, got {other:?}"),
    }
    // Every contender must agree on the limit, as with the Go client.
    if let Err(e) = members[2]
        .acquire_slot("encoders", 3, Contact::default())
        .await
    {
        println!("third with another limit: {e}");
    }

    let semaphore = members[2].semaphore("encoders").await?.expect("it exists");
    println!(
        "limit {:?}, holders {:?}",
        semaphore.limit,
        semaphore
            .holders
            .iter()
            .filter_map(|h| h.holder.as_ref()?.contact.address.clone())
            .collect::<Vec<_>>()
    );

    // A release frees the slot at once; a waiter takes it.
    let waiter = {
        let member = members[2].clone();
        tokio::spawn(async move { member.wait_slot("encoders", 2, Contact::default()).await })
    };
    first.release().await?;
    let third = waiter.await??;
    println!(
        "third took the freed slot, fencing token {}",
        third.fencing_token()
    );

    // Or run a future only while holding a slot.
    drop(third);
    let task = members[0]
        .spawn_limited("encoders", 2, Contact::default(), async { "encoded" })
        .await?;
    println!("spawned under a slot: {:?}", task.join().await?);

    drop(second);
    for member in &members {
        member.shutdown().await?;
    }
    server.shutdown().await;
    Ok(())
}
