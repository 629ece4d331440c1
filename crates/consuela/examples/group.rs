//! Process groups: members join a group, everyone sees who is in it, and a
//! watch reports joins and leaves.

#![allow(
    clippy::print_stdout,
    reason = "an example shows what happens on stdout"
)]

use consuela::group::GroupChange;
use consuela::{Config, Contact, Registry};
use consuela_devserver::{DevServer, DevServerConfig};
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = DevServer::bind(DevServerConfig::default(), ([127, 0, 0, 1], 0).into()).await?;
    let url =
        std::env::var("CONSUL_HTTP_ADDR").map_or_else(|_| server.url(), |a| format!("http://{a}"));
    let start = |member: &str| {
        let mut config = Config::new("consuela-dev", "group-example");
        config.consul.url = Some(url.clone());
        config.member = Some(member.to_owned());
        Registry::start(config)
    };
    let a = start("api-1").await?;
    let b = start("api-2").await?;

    let mut watch = a.watch_group("frontends")?;
    let mut next = async || -> Result<String, consuela::Error> {
        let change = watch.next().await.expect("a watch never ends")?;
        Ok(match change {
            GroupChange::Joined { holder, .. } => format!("joined: {:?}", holder.contact.address),
            GroupChange::Left { holder, .. } => format!("left: {:?}", holder.contact.address),
            other => format!("{other:?}"),
        })
    };

    let mine = a.join("frontends", Contact::at("10.0.0.1:80")).await?;
    println!("{}", next().await?);
    let theirs = b.join("frontends", Contact::at("10.0.0.2:80")).await?;
    println!("{}", next().await?);
    for (key, holder) in a.members("frontends").await? {
        println!("member {key} at {:?}", holder.contact.address);
    }
    theirs.leave().await?;
    println!("{}", next().await?);

    drop(mine);
    a.shutdown().await?;
    b.shutdown().await?;
    server.shutdown().await;
    Ok(())
}
