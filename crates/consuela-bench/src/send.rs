//! `consuela-bench send`: messages to a named mailbox, in-process and from
//! another member, against a bare HTTP POST to the same mail endpoint.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use consuela::config::MessagingConfig;
use consuela::{Config, Contact, Registry};

use super::load::{self, Budget};
use super::report::Report;
use super::scenario::{self, Ctx};

/// The name the benchmark's mailbox is registered under.
const NAME: &str = "bench/mailbox";

pub(super) async fn send(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let owner = mail_owner(ctx).await?;
    let sender = scenario::start_registry(ctx, "bench-mail-sender", None, ctx.pool()).await?;
    let (lease, mut mailbox) = owner
        .register_mailbox::<u64>(NAME, Contact::default())
        .await
        .context("cannot register the mailbox")?;
    // The receiver takes every message as it comes, as a real one would.
    let drain = tokio::spawn(async move { while mailbox.recv().await.is_some() {} });
    let budget = ctx.budget(ctx.args.concurrency);

    let local = sends(&owner, budget, "send-local").await?;
    ctx.out.emit(&local)?;
    let url = format!(
        "{}/v1/mail/bench%2Fmailbox?token={}",
        owner
            .mail_url()
            .context("the owner runs no mail endpoint")?,
        lease.fencing_token()
    );
    let keys = [
        "ops_vs_baseline",
        "p50_vs_baseline",
        "cpu_vs_baseline",
        "user_vs_baseline",
    ];
    ctx.in_rounds("send-remote", &keys, async |_| {
        let base = bare_posts(ctx, &url, budget).await?;
        let remote = sends(&sender, budget, "send-remote").await?;
        let remote = with_ratios(remote, &base);
        Ok(vec![base, remote])
    })
    .await?;

    lease.unregister().await?;
    drain.abort();
    sender.shutdown().await?;
    owner.shutdown().await?;
    Ok(())
}

/// A registry running a mail endpoint on loopback, with room for every
/// message in flight.
async fn mail_owner(ctx: &Ctx<'_>) -> anyhow::Result<Registry> {
    let mut config = Config::new(ctx.args.nodename.clone(), ctx.args.namespace.clone());
    config.consul.url = Some(ctx.url.clone());
    config.member = Some("bench-mail-owner".to_owned());
    let mut messaging = MessagingConfig::listen(([127, 0, 0, 1], 0).into());
    messaging.capacity = ctx.args.concurrency.max(1024);
    config.messaging = Some(messaging);
    Registry::start(config)
        .await
        .context("cannot start the mailbox's owner")
}

/// `registry.send(NAME, i)`, `budget.concurrency` in flight.
async fn sends(
    registry: &Registry,
    budget: Budget,
    scenario: &'static str,
) -> anyhow::Result<Report> {
    let registry = registry.clone();
    let cpu = load::cpu_time();
    let run = load::drive(budget, move |i| {
        let registry = registry.clone();
        async move {
            registry.send(NAME, i).await?;
            Ok(())
        }
    })
    .await?;
    Ok(report(scenario, "registry", &run, budget).with_cpu(load::cpu_time() - cpu))
}

/// The same message POSTed to the endpoint by a bare HTTP client that
/// already knows the owner's URL and token.
async fn bare_posts(ctx: &Ctx<'_>, url: &str, budget: Budget) -> anyhow::Result<Report> {
    // Configured like the registry's courier: HTTP/1.1, TCP_NODELAY, pooled.
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(ctx.pool())
        .tcp_nodelay(true)
        .http1_only()
        .build()?;
    let url: Arc<str> = url.into();
    let cpu = load::cpu_time();
    let run = load::drive(budget, move |i| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let response = http
                .post(&*url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(i.to_string())
                .send()
                .await?;
            anyhow::ensure!(
                response.status().is_success(),
                "POST: {}",
                response.status()
            );
            response.bytes().await?;
            Ok(())
        }
    })
    .await?;
    Ok(report("send-remote", "baseline", &run, budget).with_cpu(load::cpu_time() - cpu))
}

fn report(
    scenario: &'static str,
    implementation: &'static str,
    run: &load::Run,
    budget: Budget,
) -> Report {
    let mut r = Report::new(scenario, implementation);
    r.ops = run.ops;
    r.elapsed = run.elapsed;
    r.latency = run.latency;
    r.concurrency = budget.concurrency;
    r
}

/// Throughput, p50 and CPU-per-message ratios against the bare POSTs.
fn with_ratios(reg: Report, base: &Report) -> Report {
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    let ops = round(reg.ops_per_sec() / base.ops_per_sec().max(f64::MIN_POSITIVE));
    let mut reg = reg.with("ops_vs_baseline", ops);
    if let (Some(a), Some(b)) = (reg.latency, base.latency) {
        let ratio = a.p50.as_secs_f64() / b.p50.as_secs_f64().max(f64::MIN_POSITIVE);
        reg = reg.with("p50_vs_baseline", round(ratio));
    }
    reg.with_cpu_ratios(base)
}
