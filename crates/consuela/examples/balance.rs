//! Balancing requests over the live members of a service with tower: three
//! members register a presence, a fourth discovers them and spreads
//! requests with `tower::balance`; when one member leaves, it gets no more.
//!
//! Run with `cargo run -p consuela --features tower --example balance`.

#![allow(
    clippy::print_stdout,
    reason = "an example shows what happens on stdout"
)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use consuela::config::{DiscoveryConfig, PresenceCheck, PresenceConfig};
use consuela::discover::MemberDiscover;
use consuela::{Config, Registry};
use consuela_devserver::{DevServer, DevServerConfig};
use tower::balance::p2c::Balance;
use tower::load::Constant;
use tower::{Service, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = DevServer::bind(DevServerConfig::default(), ([127, 0, 0, 1], 0).into()).await?;
    let config = |member: &str| {
        let mut config = Config::new("consuela-dev", "balance-example");
        config.consul.url = Some(server.url());
        config.member = Some(member.to_owned());
        config
    };
    let mut members = Vec::new();
    for name in ["api-1", "api-2", "api-3"] {
        let mut c = config(name);
        c.presence = Some(PresenceConfig {
            check: PresenceCheck::Tcp {
                listen: ([127, 0, 0, 1], 0).into(),
                interval: Duration::from_secs(1),
            },
            ..PresenceConfig::new("api")
        });
        members.push(Registry::start(c).await?);
    }
    let mut c = config("client");
    c.discovery = Some(DiscoveryConfig::new("api"));
    let client = Registry::start(c).await?;
    let mut live = client.discovery().expect("a [discovery] section");
    live.wait_for(|m| m.len() == 3).await?;

    // One "client" per member: here it only answers with the member's name.
    let discover = MemberDiscover::new(live.clone(), |member| {
        let name = member.member.clone().unwrap_or_else(|| member.id.clone());
        tower::service_fn(move |()| {
            let name = name.clone();
            async move { Ok::<_, Infallible>(name) }
        })
    });
    let mut balanced = Balance::new(Constant::new(discover, 1));
    let mut round = async |n: usize| -> Result<BTreeMap<String, usize>, tower::BoxError> {
        let mut counts = BTreeMap::new();
        for _ in 0..n {
            let who = balanced.ready().await?.call(()).await?;
            *counts.entry(who).or_insert(0) += 1;
        }
        Ok(counts)
    };
    println!("3 members: {:?}", round(300).await?);

    let leaving = members.pop().expect("three members");
    leaving.shutdown().await?;
    live.wait_for(|m| m.len() == 2).await?;
    let after = round(200).await?;
    println!("api-3 left: {after:?}");
    assert!(
        !after.contains_key("api-3"),
        "a member that left got requests"
    );

    for member in members {
        member.shutdown().await?;
    }
    client.shutdown().await?;
    server.shutdown().await;
    Ok(())
}
