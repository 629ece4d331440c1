//! `consuela dev`: a single-node, Consul-compatible development server.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use consuela_devserver::{DevServer, DevServerConfig, DevServerTls, Listen};

/// Run a Consul-compatible development server (like `consul agent -dev`).
///
/// Sessions, KV, locks with lock-delay, transactions, blocking queries, agent
/// services, checks and maintenance, catalog registration, health, events,
/// prepared queries, legacy ACLs, operator and coordinates, as a Consul
/// 1.0.8 dev agent answers them. State lives in memory. Binds loopback
/// unless told otherwise; exits on `PUT /v1/agent/leave`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  consuela dev\n  consuela dev --listen 127.0.0.1:0 --node consul0 --node consul1 --node consul2\n  consuela dev --acl-token s3cr3t\n  consuela dev --acl-token s3cr3t --acl-default-policy allow --enable-script-checks\n  consuela dev --listen 127.0.0.1:8501 --tls-cert server.pem --tls-key server-key.pem --ca ca.pem --verify-incoming\n  consuela dev --listen unix:///tmp/consul.sock"
)]
pub(crate) struct DevArgs {
    /// Address to listen on: IP:PORT (port 0 picks a free port) or
    /// unix:///PATH.
    #[arg(long, default_value = "127.0.0.1:8500", value_name = "ADDR")]
    listen: String,
    /// Serve HTTPS with this certificate (PEM; with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PKCS#8, RSA or EC PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// With --tls-cert: accept client certificates signed by these CAs (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    ca: Option<PathBuf>,
    /// With --ca: refuse clients without such a certificate (Consul's
    /// verify_incoming).
    #[arg(long, requires = "ca")]
    verify_incoming: bool,
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
    let listen = &args.listen;
    let server = match (
        listen.strip_prefix("unix://"),
        &args.tls_cert,
        &args.tls_key,
    ) {
        (Some(_), Some(_), _) => bail!("--tls-cert does not go with a unix:// --listen"),
        (Some(path), None, _) => DevServer::bind_unix(config, Path::new(path)).await,
        (None, cert, key) => {
            let addr: SocketAddr = listen.parse().with_context(|| {
                format!("invalid --listen {listen:?}: expected IP:PORT or unix:///PATH")
            })?;
            match (cert, key) {
                (Some(cert), Some(key)) => {
                    let mut tls = DevServerTls::from_files(cert, key)
                        .context("cannot read the TLS certificate or key")?;
                    if let Some(ca) = &args.ca {
                        tls = tls
                            .with_client_ca_file(ca)
                            .context("cannot read the --ca file")?;
                    }
                    let tls = tls.verify_incoming(args.verify_incoming);
                    DevServer::bind_tls(config, addr, &tls).await
                }
                _ => DevServer::bind(config, addr).await,
            }
        }
    }
    .with_context(|| format!("cannot start the dev server on {listen}"))?;
    // The first line is machine-read (CI, scripts): keep its shape.
    let mut out = std::io::stdout().lock();
    writeln!(out, "consuela dev listening on {}", server.url())?;
    match server.listen() {
        Listen::Http(addr) => writeln!(out, "export CONSUL_HTTP_ADDR={addr}")?,
        _ => writeln!(out, "export CONSUL_HTTP_ADDR={}", server.url())?,
    }
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
