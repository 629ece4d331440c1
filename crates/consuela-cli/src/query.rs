//! `consuela whereis`, `consuela ls` and `consuela watch`: who owns what.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use consuela::semaphore::SlotHolder;
use consuela::{Directory, Holder, Role, directory::Change};
use futures_util::StreamExt;

use crate::connect::GlobalArgs;

/// Show who holds NAME: member, address, since, fencing token.
///
/// For a semaphore NAME (`run --limit`, `consul lock -n`) it shows every
/// holder of a slot, and for a group every member. Exits with 1 (and prints
/// nothing on stdout) when NAME has no owner, holder or member.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  consuela whereis jobs/compactor\n  consuela whereis --json db/primary | jq -r .address"
)]
pub(crate) struct WhereisArgs {
    /// The name to look up.
    name: String,
    /// Print a JSON object instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub(crate) consul: GlobalArgs,
}

/// List the names registered under PREFIX (all by default), sorted.
///
/// A table with one row per name: name, kind, member, address, since,
/// fencing token. A semaphore's slots show as NAME/<session> of kind `slot`
/// (only the holders, not the contenders waiting for one), a group's
/// memberships as GROUP/<session>.<n> of kind `member`. --json prints an
/// array of objects for scripts.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  consuela ls\n  consuela ls jobs/\n  consuela --namespace billing ls --json"
)]
pub(crate) struct LsArgs {
    /// Only names starting with this prefix.
    #[arg(default_value = "")]
    prefix: String,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub(crate) consul: GlobalArgs,
}

/// Print one line per ownership change under PREFIX (all by default), live.
///
/// Starts with a line for every name already owned. Lines read
/// `+ NAME OWNER` (registered), `- NAME OWNER` (released, the previous
/// owner) and `~ NAME OWNER` (a new owner). A semaphore's slots and a
/// group's memberships show as their own keys (NAME/<session>,
/// GROUP/<session>.<n>), with `slot` or `member` at the end of the line:
/// `+` when a slot is taken or a member joins, `-` when it goes. Runs until
/// interrupted.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  consuela watch\n  consuela watch jobs/ --json")]
pub(crate) struct WatchArgs {
    /// Only names starting with this prefix.
    #[arg(default_value = "")]
    prefix: String,
    /// Print one JSON object per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub(crate) consul: GlobalArgs,
}

pub(crate) async fn whereis(global: &GlobalArgs, args: WhereisArgs) -> anyhow::Result<ExitCode> {
    let directory = global.directory().await?;
    let found = directory.whereis(&args.name).await;
    let found = found.with_context(|| format!("cannot look up {}", args.name))?;
    let Some(owner) = found else {
        return whereis_many(&directory, &args).await;
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", to_json(&args.name, &owner))?;
    } else {
        write!(out, "{}", table(&[(args.name.clone(), owner)]))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `whereis` of a semaphore's holders or a group's members.
async fn whereis_many(directory: &Directory, args: &WhereisArgs) -> anyhow::Result<ExitCode> {
    let semaphore = directory.semaphore(&args.name).await;
    let semaphore = semaphore.with_context(|| format!("cannot look up {}", args.name))?;
    let mut out = std::io::stdout().lock();
    if let Some(semaphore) = semaphore.filter(|s| !s.holders.is_empty()) {
        if args.json {
            let slot = |h: &SlotHolder| {
                let mut value = match &h.holder {
                    Some(holder) => to_json(&args.name, holder),
                    None => serde_json::json!({ "name": args.name }),
                };
                value["session"] = h.session.as_str().into();
                value
            };
            let value = serde_json::json!({
                "name": args.name,
                "kind": "semaphore",
                "limit": semaphore.limit,
                "holders": semaphore.holders.iter().map(slot).collect::<Vec<_>>(),
                "waiting": semaphore.waiting.iter().map(slot).collect::<Vec<_>>(),
            });
            writeln!(out, "{value}")?;
        } else {
            let limit = semaphore
                .limit
                .map_or_else(|| "?".to_owned(), |l| l.to_string());
            writeln!(
                out,
                "{}: semaphore, {} of {limit} slots held, {} waiting",
                args.name,
                semaphore.holders.len(),
                semaphore.waiting.len()
            )?;
            write!(out, "{}", slots_table(&semaphore.holders))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let members = directory.members(&args.name).await;
    let members = members.with_context(|| format!("cannot look up {}", args.name))?;
    if members.is_empty() {
        eprintln!("consuela: {} has no owner", args.name);
        return Ok(ExitCode::from(1));
    }
    let rows: Vec<(String, Holder)> = members
        .into_iter()
        .map(|(name, holder)| (name.as_str().to_owned(), holder))
        .collect();
    if args.json {
        let array: Vec<_> = rows.iter().map(|(n, h)| to_json(n, h)).collect();
        writeln!(out, "{}", serde_json::Value::Array(array))?;
    } else {
        writeln!(out, "{}: group, {} members", args.name, rows.len())?;
        write!(out, "{}", table(&rows))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A semaphore's holders: session, member, address, since, fencing token
/// (`-` for a holder that is not consuela's, such as `consul lock -n`).
fn slots_table(holders: &[SlotHolder]) -> String {
    let mut cells = vec![[
        "SESSION".to_owned(),
        "MEMBER".to_owned(),
        "ADDRESS".to_owned(),
        "SINCE".to_owned(),
        "FENCING TOKEN".to_owned(),
    ]];
    let dash = || "-".to_owned();
    cells.extend(holders.iter().map(|h| match &h.holder {
        Some(holder) => [
            h.session.as_str().to_owned(),
            holder.id.to_string(),
            holder.contact.address.clone().unwrap_or_else(dash),
            holder.since.map_or_else(dash, |t| t.to_string()),
            holder.fencing_token.to_string(),
        ],
        None => [
            h.session.as_str().to_owned(),
            dash(),
            dash(),
            dash(),
            dash(),
        ],
    }));
    render(&cells)
}

pub(crate) async fn ls(global: &GlobalArgs, args: LsArgs) -> anyhow::Result<ExitCode> {
    let directory = global.directory().await?;
    let listed = directory.list(&args.prefix).await;
    let rows: Vec<(String, Holder)> = listed
        .context("cannot list names")?
        .into_iter()
        .map(|(name, owner)| (name.as_str().to_owned(), owner))
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        let array: Vec<_> = rows.iter().map(|(n, o)| to_json(n, o)).collect();
        writeln!(out, "{}", serde_json::Value::Array(array))?;
    } else {
        write!(out, "{}", table(&rows))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn watch(global: &GlobalArgs, args: WatchArgs) -> anyhow::Result<ExitCode> {
    let directory = global.directory().await?;
    watch_until_signal(&directory, &args).await
}

async fn watch_until_signal(directory: &Directory, args: &WatchArgs) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle signals")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle signals")?;
    let mut changes = directory.watch(&args.prefix);
    loop {
        let change = tokio::select! {
            _ = term.recv() => return Ok(ExitCode::SUCCESS),
            _ = int.recv() => return Ok(ExitCode::SUCCESS),
            change = changes.next() => change,
        };
        match change {
            None => return Ok(ExitCode::SUCCESS),
            Some(Err(e)) => eprintln!("consuela: watch: {e} (retrying)"),
            Some(Ok(change)) => {
                let line = if args.json {
                    change_json(&change).to_string()
                } else {
                    change_line(&change)
                };
                let mut out = std::io::stdout().lock();
                // A closed pipe (`consuela watch | head`) ends the watch.
                if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    }
}

/// `+ NAME member#rid address token=N`
pub(crate) fn change_line(change: &Change) -> String {
    let (sign, name, holder) = match change {
        Change::Registered { name, holder } => ('+', name, holder),
        Change::Unregistered { name, previous } => ('-', name, previous),
        Change::OwnerChanged { name, current, .. } => ('~', name, current),
        _ => return format!("? {change:?}"),
    };
    let mut line = format!(
        "{sign} {} {} {} token={}",
        name.as_str(),
        holder.id,
        holder.contact.address.as_deref().unwrap_or("-"),
        holder.fencing_token
    );
    if holder.role != Role::Name {
        line.push(' ');
        line.push_str(kind(holder.role));
    }
    line
}

/// What a row stands for: `name`, `slot` or `member`.
fn kind(role: Role) -> &'static str {
    match role {
        Role::Slot { .. } => "slot",
        Role::Member => "member",
        _ => "name",
    }
}

fn change_json(change: &Change) -> serde_json::Value {
    let (event, name, holder) = match change {
        Change::Registered { name, holder } => ("registered", name, holder),
        Change::Unregistered { name, previous } => ("unregistered", name, previous),
        Change::OwnerChanged { name, current, .. } => ("owner_changed", name, current),
        _ => return serde_json::json!({ "event": "unknown" }),
    };
    let mut value = to_json(name.as_str(), holder);
    value["event"] = event.into();
    value
}

fn to_json(name: &str, holder: &Holder) -> serde_json::Value {
    let limit = match holder.role {
        Role::Slot { limit } => Some(limit),
        _ => None,
    };
    serde_json::json!({
        "name": name,
        "kind": kind(holder.role),
        "limit": limit,
        "member": holder.id.member,
        "rid": holder.id.rid,
        "address": holder.contact.address,
        "meta": holder.contact.meta,
        "mailbox": holder.contact.mailbox,
        "since": holder.since,
        "fencing_token": holder.fencing_token,
    })
}

/// A left-aligned table with a header row.
pub(crate) fn table(rows: &[(String, Holder)]) -> String {
    let mut cells = vec![[
        "NAME".to_owned(),
        "KIND".to_owned(),
        "MEMBER".to_owned(),
        "ADDRESS".to_owned(),
        "SINCE".to_owned(),
        "FENCING TOKEN".to_owned(),
    ]];
    cells.extend(rows.iter().map(|(name, holder)| {
        [
            name.clone(),
            kind(holder.role).to_owned(),
            holder.id.to_string(),
            holder
                .contact
                .address
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
            holder
                .since
                .map_or_else(|| "-".to_owned(), |t| t.to_string()),
            holder.fencing_token.to_string(),
        ]
    }));
    render(&cells)
}

/// Renders rows of cells as aligned columns separated by two spaces.
pub(crate) fn render<const N: usize>(cells: &[[String; N]]) -> String {
    let mut widths = [0; N];
    for row in cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in cells {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if i + 1 < N {
                line.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count()));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}
