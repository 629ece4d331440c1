//! `consuela join GROUP -- CMD`: run an OS process while it is a member of
//! GROUP.
//!
//! The membership key is a registration like a name's, so the command runs
//! under the same guardian, lease and handover as `consuela run NAME` (see
//! run.rs): when ownership is lost the command is stopped, and after a crash
//! of consuela the guardian removes the membership once the tree is gone.

use std::process::ExitCode;

use anyhow::Context;

use crate::connect::GlobalArgs;
use crate::exit::EXIT_USAGE;
use crate::run::{self, ChildArgs, LockArgs, OwnerArgs};
use crate::signals::Signals;
use crate::tree;

/// Run a command while it is a member of GROUP.
///
/// Joins GROUP (one Consul round trip; many processes may be members at
/// once), runs the command under the guardian of `consuela run`, and leaves
/// the group when it exits. Members are listed by `consuela whereis GROUP`
/// and `consuela ls GROUP/`, and joins and leaves show in `consuela watch
/// GROUP/`. When the membership is lost (the session expired or was
/// invalidated) the command is stopped and consuela exits with 76. The
/// command finds CONSUELA_NAME (the membership's key name,
/// GROUP/<session>.<n>), CONSUELA_MEMBER and CONSUELA_FENCING_TOKEN in its
/// environment. --timeout is refused (exit 2): a join never waits.
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Examples:\n  consuela join workers -- ./worker\n  consuela join --address 10.0.0.5:7000 web/frontends -- ./frontend\n\n",
    crate::exit::exit_codes!()
))]
pub(crate) struct JoinArgs {
    /// The group to join.
    group: String,
    #[command(flatten)]
    owner: OwnerArgs,
    #[command(flatten)]
    lock: LockArgs,
    #[command(flatten)]
    child: ChildArgs,
    #[command(flatten)]
    pub(crate) consul: GlobalArgs,
}

pub(crate) async fn join(global: &GlobalArgs, args: JoinArgs) -> anyhow::Result<ExitCode> {
    if args.lock.timeout.is_some() {
        // A usage error, with clap's exit code: silently ignoring it would
        // let a script believe it bounded something.
        eprintln!("consuela: --timeout does not apply to join: a join never waits");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let group = &args.group;
    let mut signals = Signals::new()?;
    tree::become_subreaper().context("cannot become a child subreaper")?;
    let (registry, status, mut lease) = run::registry(global, &args.lock, group).await?;
    let membership = match registry.join(group, args.owner.owner()).await {
        Ok(membership) => membership,
        Err(e) => {
            let _ = registry.shutdown().await;
            return Err(e).with_context(|| format!("cannot join {group}"));
        }
    };
    if let Some(status) = &status {
        status.held(membership.holder());
    }
    let key_name = membership.key().clone();
    let token = membership.fencing_token();
    let mut guarded = match run::spawn(&registry, &args.child, key_name.as_str(), token).await {
        Ok(guarded) => guarded,
        Err(e) => {
            let _ = membership.leave().await;
            let _ = registry.shutdown().await;
            return Err(e);
        }
    };
    let outcome = run::supervise(
        &mut guarded,
        membership.lost(),
        &mut signals,
        &mut lease,
        args.child.grace,
    )
    .await;
    run::report(status.as_ref(), &outcome);
    run::finish(&registry, group, outcome, async move {
        let _ = membership.leave().await;
    })
    .await
}
