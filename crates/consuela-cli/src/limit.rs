//! `consuela run --limit N NAME`: run an OS process while holding one of N
//! slots of the semaphore NAME, shared with `consul lock -n N`.
//!
//! The slot's contender key is a registration like a name's, so the command
//! runs under the same guardian, lease and handover as `consuela run NAME`
//! (see run.rs): the handover after a crash deletes the contender key, which
//! frees the slot for every contender.

use std::process::ExitCode;

use anyhow::Context;
use tokio::time::{Instant, sleep_until};

use crate::connect::GlobalArgs;
use crate::exit::{EXIT_TAKEN, EXIT_TIMEOUT, signal_exit};
use crate::run::{self, RunArgs};
use crate::signals::Signals;
use crate::tree;

pub(crate) async fn run(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<ExitCode> {
    let limit = args.limit.context("--limit is required here")?;
    let name = &args.name;
    let mut signals = Signals::new()?;
    tree::become_subreaper().context("cannot become a child subreaper")?;
    let (registry, status, mut lease) = run::registry(global, &args.lock, name).await?;
    let deadline = args.lock.timeout.map(|t| Instant::now() + t);
    let contact = args.owner.owner();
    let take = async {
        match registry.acquire_slot(name, limit, contact.clone()).await {
            Err(e) if args.wait && e.is_conflict() => {
                eprintln!("consuela: every slot of {name} is held ({limit} of {limit}); waiting");
                registry.wait_slot(name, limit, contact).await
            }
            taken => taken,
        }
    };
    let taken = tokio::select! {
        taken = take => taken,
        () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
            let _ = registry.shutdown().await;
            eprintln!("consuela: timed out waiting for a slot of {name}");
            return Ok(ExitCode::from(EXIT_TIMEOUT));
        }
        signal = signals.recv() => {
            let _ = registry.shutdown().await;
            return Ok(ExitCode::from(signal_exit(signal.as_raw())));
        }
    };
    let slot = match taken {
        Ok(slot) => slot,
        Err(e) if e.is_conflict() => {
            if let Some(status) = &status {
                status.standing_by(None);
            }
            let _ = registry.shutdown().await;
            eprintln!("consuela: every slot of {name} is held ({limit} of {limit})");
            return Ok(ExitCode::from(EXIT_TAKEN));
        }
        Err(e) => {
            let _ = registry.shutdown().await;
            return Err(e).with_context(|| format!("cannot take a slot of {name}"));
        }
    };
    if let Some(status) = &status {
        status.held(slot.holder());
    }
    // CONSUELA_NAME is the slot's own key name, NAME/<session>: the key the
    // guardian releases after a crash of consuela.
    let key_name = slot.name().clone();
    let mut guarded = match run::spawn(
        &registry,
        &args.child,
        key_name.as_str(),
        slot.fencing_token(),
    )
    .await
    {
        Ok(guarded) => guarded,
        Err(e) => {
            let _ = slot.release().await;
            let _ = registry.shutdown().await;
            return Err(e);
        }
    };
    let outcome = run::supervise(
        &mut guarded,
        slot.lost(),
        &mut signals,
        &mut lease,
        args.child.grace,
    )
    .await;
    run::report(status.as_ref(), &outcome);
    run::finish(&registry, name, outcome, async move {
        let _ = slot.release().await;
    })
    .await
}
