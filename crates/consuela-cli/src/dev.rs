//! `consuela dev`: a single-node, Consul-compatible development server.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use consuela_devserver::{DevServer, DevServerConfig};

/// Run a Consul-compatible development server (like `consul agent -dev`).
///
/// Sessions, KV, locks with lock-delay, transactions, blocking queries, agent
/// services, checks and maintenance, catalog registration, health, events,
/// prepared queries, legacy ACLs, operator and coordinates, as a Consul
/// 1.0.8 dev agent answers them. State lives in memory. Binds loopback
/// unless told otherwise; exits on `PUT /v1/agent/leave`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  consuela dev\n  consuela dev --listen 127.0.0.1:0 --node consul0 --node consul1 --node consul2\n  consuela dev --acl-token s3cr3t\n  consuela dev --acl-token s3cr3t --acl-default-policy allow --enable-script-checks"
)]
pub(crate) struct DevArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8500")]
    listen: SocketAddr,
    /// Extra Consul node names to register (sessions can be bound to them).
    #[arg(long = "node", value_name = "NAME")]
    nodes: Vec<String>,
    /// The agent's own node name.
    #[arg(long, default_value = "consuela-dev")]
    node_name: String,
    /// The agent's node id (a UUID; random by default).
    #[arg(long, value_name = "UUID")]
    node_id: Option<String>,
    /// Turn on the legacy ACL system with this master (management) token.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "CONSUELA_DEV_ACL_TOKEN",
        hide_env_values = true
    )]
    acl_token: Option<String>,
    /// With --acl-token: what tokens may do where their rules say nothing
    /// (Consul's acl_default_policy; Consul defaults to allow).
    #[arg(long, value_enum, default_value_t = AclDefault::Deny)]
    acl_default_policy: AclDefault,
    /// With --acl-token: enforce node, session and agent rules (Consul's
    /// acl_enforce_version_8).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    acl_enforce_version_8: bool,
    /// Allow script checks (`Script`/`Args`): they run commands on this host,
    /// as Consul's `enable_script_checks`.
    #[arg(long)]
    enable_script_checks: bool,
}

/// `--acl-default-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AclDefault {
    Allow,
    Deny,
}

pub(crate) async fn run(args: DevArgs) -> anyhow::Result<ExitCode> {
    let mut config = DevServerConfig::default()
        .with_node_name(args.node_name)
        .with_extra_nodes(args.nodes);
    config.acl_token = args.acl_token;
    config.acl_default_allow = args.acl_default_policy == AclDefault::Allow;
    config.acl_enforce_version_8 = args.acl_enforce_version_8;
    config.node_id = args.node_id;
    config.enable_script_checks = args.enable_script_checks;
    let server = DevServer::bind(config, args.listen)
        .await
        .with_context(|| format!("cannot start the dev server on {}", args.listen))?;
    // The first line is machine-read (CI, scripts): keep its shape.
    let mut out = std::io::stdout().lock();
    writeln!(out, "consuela dev listening on {}", server.url())?;
    writeln!(out, "export CONSUL_HTTP_ADDR={}", server.local_addr())?;
    out.flush()?;
    drop(out);
    tokio::select! {
        () = shutdown_signal() => {}
        // `PUT /v1/agent/leave`: a Consul agent exits after leaving.
        () = server.stopped() => {}
    }
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
