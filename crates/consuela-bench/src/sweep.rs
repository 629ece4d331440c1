//! `consuela-bench sweep`: every figure of `docs/performance.md` in one run.
//!
//! 1. register+unregister pairs, registry (batched and not) vs baseline, from
//!    1 to 256 in flight (`--point-secs` each), with CPU time per pair;
//! 2. remote `whereis` vs bare GET, 1 and 64 in flight;
//! 3. memory at 1,000, 10,000 and `--names` held names, local `whereis` with
//!    `--names` held;
//! 4. Consul requests made while holding 1, 10,000 and `--names` names
//!    (three registries side by side, `--hold-secs`).

use std::sync::Arc;
use std::time::Duration;

use super::baseline::Bare;
use super::load::{self, Budget};
use super::report::Report;
use super::scenario::{self, Ctx, Holder};
use consuela::Name;

/// In-flight counts of the concurrency curve.
const CONCURRENCY: [usize; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

pub(super) async fn run(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let point = Duration::from_secs_f64(ctx.args.point_secs);
    let max_c = CONCURRENCY[CONCURRENCY.len() - 1];

    // 1. Throughput vs concurrency.
    let registry = scenario::start_registry(ctx, "sweep-register", None, max_c).await?;
    let unbatched =
        scenario::start_registry_batching(ctx, "sweep-register-unbatched", None, max_c, 1).await?;
    let bare = Bare::connect(
        &ctx.url,
        &ctx.args.nodename,
        max_c,
        ctx.args.baseline_client,
    )
    .await?;
    for c in CONCURRENCY {
        let budget = Budget {
            concurrency: c,
            ops: u64::MAX,
            time: point,
        };
        let tag = c.to_string();
        for r in scenario::register_vs_baseline(
            ctx,
            &registry,
            Some(&unbatched),
            Some(&bare),
            budget,
            &tag,
        )
        .await?
        {
            ctx.out.emit(&r)?;
        }
    }

    // 2. Remote lookups vs bare GETs.
    let holder = scenario::start_registry(ctx, "sweep-holder", None, 64).await?;
    let held = scenario::fill(&holder, "remote", 0..1000).await?;
    let names = Arc::new((0..1000).map(|i| format!("remote/{i}")).collect::<Vec<_>>());
    for c in [1, 64] {
        let budget = Budget {
            concurrency: c,
            ops: u64::MAX,
            time: point,
        };
        for r in scenario::remote_vs_baseline(ctx, &registry, Some(&bare), &names, budget).await? {
            ctx.out.emit(&r)?;
        }
    }
    bare.close().await;
    holder.shutdown().await?;
    drop(held);
    unbatched.shutdown().await?;
    registry.shutdown().await?;

    // 3. Memory vs names held, and local lookups.
    let big_n = ctx.args.names;
    let ten_n = big_n.min(10_000);
    let mut one = Holder::start(ctx, "sweep-hold-1").await?;
    one.grow("hold1", 1).await?;
    let mut ten = Holder::start(ctx, "sweep-hold-10k").await?;
    ten.grow("hold10k", ten_n).await?;
    let before = load::rss_kib();
    let mut big = Holder::start(ctx, "sweep-hold-big").await?;
    for milestone in [1_000, 10_000, 30_000, 100_000, big_n] {
        if milestone > big_n || milestone <= big.held.len() {
            continue;
        }
        ctx.out.note(format_args!(
            "growing to {milestone} names, load {}",
            load::loadavg()
        ));
        let started = tokio::time::Instant::now();
        let from = big.held.len();
        big.grow("big", milestone).await?;
        let fill_secs = started.elapsed().as_secs_f64();
        let delta = load::rss_kib().saturating_sub(before);
        let mut r = Report::new("memory", "registry");
        r.names = milestone;
        let rate = (milestone - from) as f64 / fill_secs.max(f64::MIN_POSITIVE);
        ctx.out.emit(
            &r.with("rss_delta_kib", delta)
                .with("bytes_per_name", (delta * 1024) as f64 / milestone as f64)
                .with("fill_per_sec", rate.round()),
        )?;
    }
    let lookup_names = (0..big_n)
        .map(|i| Name::new(format!("big/{i}")))
        .collect::<Result<Vec<_>, _>>()?;
    let r = scenario::local_lookups(&big.registry, lookup_names, point).await?;
    ctx.out.emit(&r)?;

    // 4. Keeper traffic, all three holders in the same window.
    ctx.out.note(format_args!(
        "holding 1, {ten_n} and {big_n} names for {:.0}s",
        ctx.args.hold_secs
    ));
    let window = Duration::from_secs_f64(ctx.args.hold_secs);
    for r in scenario::count_requests(&[&one, &ten, &big], window).await? {
        ctx.out.emit(&r)?;
    }
    ctx.out.note("releasing");
    for h in [one, ten, big] {
        h.registry.shutdown().await?;
        drop(h.held);
    }
    Ok(())
}
