//! The Consul the benchmark talks to: given, embedded, or a child process.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use consuela_devserver::{DevServer, DevServerConfig};
use tokio::io::AsyncBufReadExt;

use super::args::BenchArgs;

/// The server under the registry.
#[derive(Debug)]
pub(super) enum Server {
    /// `--consul URL`.
    External(String),
    /// A dev server in this process (the default).
    Embedded { server: DevServer, url: String },
    /// A dev server in a child process (`--dev-process`): this binary again,
    /// with `--serve-dev`; killed on drop.
    Process {
        url: String,
        child: tokio::process::Child,
    },
}

impl Server {
    pub(super) async fn start(args: &BenchArgs) -> anyhow::Result<Self> {
        if let Some(url) = &args.consul {
            return Ok(Self::External(url.trim_end_matches('/').to_owned()));
        }
        if args.dev_process {
            let exe = std::env::current_exe().context("cannot find the consuela-bench binary")?;
            let mut child = tokio::process::Command::new(exe)
                .args(["--serve-dev", "--nodename", &args.nodename])
                // The child serves; it must not be pointed at a Consul.
                .env_remove("CONSUELA_CONSUL_URL")
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .context("cannot start the dev server process")?;
            let stdout = child.stdout.take().context("no stdout")?;
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            // The first line is machine-read: "... listening on URL".
            let first = lines
                .next_line()
                .await?
                .context("the dev server process exited before listening")?;
            let url = first
                .rsplit(' ')
                .next()
                .filter(|u| u.starts_with("http"))
                .with_context(|| format!("unexpected first line {first:?}"))?
                .to_owned();
            // Keep draining its stdout so it never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(Self::Process { url, child });
        }
        let server = bind_dev(args).await?;
        let url = server.url();
        Ok(Self::Embedded { server, url })
    }

    pub(super) fn url(&self) -> &str {
        match self {
            Self::External(url) | Self::Process { url, .. } | Self::Embedded { url, .. } => url,
        }
    }

    /// `external`, `embedded` or `process`, as reported.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Self::External(_) => "external",
            Self::Embedded { .. } => "embedded",
            Self::Process { .. } => "process",
        }
    }

    pub(super) async fn stop(self) {
        match self {
            Self::External(_) => {}
            Self::Embedded { server, .. } => server.shutdown().await,
            Self::Process { mut child, .. } => {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    }
}

/// A dev server on a free loopback port, its agent named `--nodename`.
async fn bind_dev(args: &BenchArgs) -> anyhow::Result<DevServer> {
    let config = DevServerConfig::default().with_node_name(args.nodename.clone());
    DevServer::bind(config, ([127, 0, 0, 1], 0).into())
        .await
        .context("cannot start the dev server")
}

/// `--serve-dev`: the child of `--dev-process`. Prints
/// `consuela-bench dev server listening on URL` (the line [`Server::start`]
/// reads), then serves until killed or told to leave.
pub(super) async fn serve_dev(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let server = bind_dev(args).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "consuela-bench dev server listening on {}",
        server.url()
    )?;
    out.flush()?;
    drop(out);
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = server.stopped() => {}
    }
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
