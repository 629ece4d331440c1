//! Runs a dev server until Ctrl-C.
//!
//! ```text
//! cargo run -p consuela-devserver --example devserver -- --listen 127.0.0.1:0
//! ```
//!
//! The first stdout line is `listening on http://ADDR`. Flags: `--listen ADDR`
//! (default 127.0.0.1:8500), `--node NAME`, `--extra-node NAME` (repeatable),
//! `--acl-token TOKEN`, `--fast` (lowered TTL floor for quick experiments).

use std::io::Write as _;
use std::net::SocketAddr;

use consuela_devserver::{DevServer, DevServerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen: SocketAddr = "127.0.0.1:8500".parse()?;
    let mut config = DevServerConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value()?.parse()?,
            "--node" => config.node_name = value()?,
            "--extra-node" => config.extra_nodes.push(value()?),
            "--acl-token" => config.acl_token = Some(value()?),
            "--fast" => {
                let fast = DevServerConfig::fast();
                config.session_ttl_min = fast.session_ttl_min;
                config.check_interval_min = fast.check_interval_min;
            }
            "-h" | "--help" => {
                eprintln!(
                    "usage: devserver [--listen ADDR] [--node NAME] [--extra-node NAME]... [--acl-token T] [--fast]"
                );
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let server = DevServer::bind(config, listen).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", server.url())?;
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
