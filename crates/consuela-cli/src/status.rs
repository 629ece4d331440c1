//! `--http ADDR` of `run` and `leader`: a status endpoint for probes and
//! sidecars.
//!
//! - `GET /healthz`: 200 `ok` while the registry is healthy (running, its
//!   session alive in Consul, the reaper not failing), else 503 and why.
//! - `GET /status`: JSON: the name, whether this process holds it or stands
//!   by, the holder, the fencing token, since when, the member and session.
//! - `GET /metrics`: the registry's metrics in Prometheus text format.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use consuela::{FencingToken, Holder, Registry, Timestamp};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use tokio::sync::watch;

/// What `/status` answers.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Status {
    name: String,
    member: String,
    session: String,
    /// `starting`, `held`, `standing_by`, `lost` or `stopped`.
    state: &'static str,
    /// The current holder, when known (this process when `held`).
    holder: Option<HolderView>,
    fencing_token: Option<FencingToken>,
    since: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize)]
struct HolderView {
    member: String,
    rid: u64,
    address: Option<String>,
    fencing_token: FencingToken,
    since: Option<Timestamp>,
}

impl From<&Holder> for HolderView {
    fn from(holder: &Holder) -> Self {
        Self {
            member: holder.id.member.clone(),
            rid: holder.id.rid,
            address: holder.contact.address.clone(),
            fencing_token: holder.fencing_token,
            since: holder.since,
        }
    }
}

/// Installs the Prometheus recorder for the `metrics` facade. Call it before
/// the registry starts, so every figure is recorded.
///
/// # Errors
///
/// When another recorder is installed already.
pub(crate) fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")
}

/// The running endpoint; updating it changes what `/status` says.
#[derive(Debug)]
pub(crate) struct StatusHandle {
    state: watch::Sender<Status>,
}

impl StatusHandle {
    /// This process holds the name.
    pub(crate) fn held(&self, holder: &Holder) {
        self.state.send_modify(|s| {
            s.state = "held";
            s.fencing_token = Some(holder.fencing_token);
            s.since = holder.since;
            s.holder = Some(holder.into());
        });
    }

    /// This process holds the name, known by its token only (a singleton).
    pub(crate) fn leading(&self, fencing_token: FencingToken, since: Timestamp) {
        self.state.send_modify(|s| {
            s.state = "held";
            s.fencing_token = Some(fencing_token);
            s.since = Some(since);
            s.holder = None;
        });
    }

    /// Someone else holds the name (or nobody yet); this process waits.
    pub(crate) fn standing_by(&self, holder: Option<&Holder>) {
        self.state.send_modify(|s| {
            s.state = "standing_by";
            s.fencing_token = None;
            s.since = None;
            s.holder = holder.map(Into::into);
        });
    }

    /// Ownership was lost, or the command ended.
    pub(crate) fn ended(&self, lost: bool) {
        self.state.send_modify(|s| {
            s.state = if lost { "lost" } else { "stopped" };
        });
    }
}

#[derive(Clone)]
struct Ctx {
    registry: Registry,
    state: watch::Receiver<Status>,
    metrics: PrometheusHandle,
}

/// Serves the endpoint on `addr` for `name` until the process exits, and
/// says where on stderr.
///
/// # Errors
///
/// When `addr` cannot be bound.
pub(crate) async fn serve(
    addr: SocketAddr,
    registry: &Registry,
    name: &str,
    metrics: PrometheusHandle,
) -> anyhow::Result<StatusHandle> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for --http"))?;
    let local = listener.local_addr()?;
    let (tx, rx) = watch::channel(Status {
        name: name.to_owned(),
        member: registry.member().to_owned(),
        session: registry.session().to_string(),
        state: "starting",
        holder: None,
        fencing_token: None,
        since: None,
    });
    let ctx = Ctx {
        registry: registry.clone(),
        state: rx,
        metrics,
    };
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/status", get(status))
        .route("/metrics", get(render_metrics))
        .with_state(ctx);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    eprintln!("consuela: status on http://{local}");
    Ok(StatusHandle { state: tx })
}

async fn healthz(State(ctx): State<Ctx>) -> Response {
    // A standby that lost its session goes on with a new one.
    let health = ctx.registry.latest().health().await;
    if health.is_ok() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("{health}\n")).into_response()
    }
}

async fn status(State(ctx): State<Ctx>) -> Response {
    let status = ctx.state.borrow().clone();
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&status).unwrap_or_default(),
    )
        .into_response()
}

async fn render_metrics(State(ctx): State<Ctx>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        ctx.metrics.render(),
    )
        .into_response()
}
