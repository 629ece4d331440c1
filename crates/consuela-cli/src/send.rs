//! `consuela send`: a JSON message to the mailbox of a name's owner.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use consuela::messaging::{Courier, SendOptions};
use consuela::{ErrorKind, FencingToken};

use crate::connect::GlobalArgs;
use crate::exit::{EXIT_ERROR, EXIT_TIMEOUT, EXIT_UNDELIVERED, EXIT_USAGE};

/// Send a JSON message to the mailbox of NAME's owner, wherever it runs.
///
/// The owner must hold NAME with a mailbox (`Registry::register_mailbox`,
/// a named actor). The message is delivered at most once: 0 means it is in
/// the owner's mailbox, and stderr names the owner's fencing token. With
/// --call it waits for the reply and prints it on stdout. The owner's
/// endpoint is reached with the `[messaging.tls]` settings of the
/// configuration file, if any.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  consuela send jobs/compactor '{\"compact\": \"users\"}'\n  echo '\"status\"' | consuela send --call --timeout 2s db/primary -\n  consuela send --fencing-token 4711 jobs/compactor '\"stop\"'"
)]
pub(crate) struct SendArgs {
    /// The name whose owner gets the message.
    name: String,
    /// The message: JSON text, or `-` to read it from stdin.
    message: String,
    /// Deliver only to the registration with this fencing token; a message
    /// for an owner that has moved on is refused (exit 74).
    #[arg(long, value_name = "N")]
    fencing_token: Option<u64>,
    /// Wait for the receiver's reply and print it.
    #[arg(long)]
    call: bool,
    /// How long --call waits for the reply.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// Fail at once when the mailbox is full, instead of waiting for room.
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    pub(crate) consul: GlobalArgs,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    consuela::config::parse_duration(text)
}

pub(crate) async fn send(global: &GlobalArgs, args: SendArgs) -> anyhow::Result<ExitCode> {
    let text = if args.message == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the message from stdin")?;
        text
    } else {
        args.message.clone()
    };
    if let Err(error) = serde_json::from_str::<serde_json::Value>(&text) {
        eprintln!("consuela: the message is not JSON: {error}");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let config = global.config().await?;
    let courier =
        Courier::new(&config.messaging_settings()).context("invalid [messaging] settings")?;
    let directory = global.directory().await?;
    let mut options = SendOptions::new();
    if let Some(token) = args.fencing_token {
        options = options.expect(FencingToken::new(token));
    }
    if args.no_wait {
        options = options.wait(Duration::ZERO);
    }
    let sent = if args.call {
        courier
            .call_json(
                &directory,
                &args.name,
                text.as_bytes(),
                args.timeout,
                options,
            )
            .await
            .map(|(receipt, reply)| (receipt, Some(reply)))
    } else {
        courier
            .send_json(&directory, &args.name, text.as_bytes(), options)
            .await
            .map(|receipt| (receipt, None))
    };
    match sent {
        Ok((receipt, reply)) => {
            eprintln!(
                "consuela: delivered to {} (fencing token {})",
                receipt.holder, receipt.token
            );
            if let Some(reply) = reply {
                let mut out = std::io::stdout().lock();
                out.write_all(&reply)?;
                out.write_all(b"\n")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("consuela: {}: {error}", args.name);
            Ok(ExitCode::from(exit_for(error.kind())))
        }
    }
}

/// The exit code of a failed send.
fn exit_for(kind: &ErrorKind) -> u8 {
    match kind {
        ErrorKind::NoOwner => 1,
        ErrorKind::InvalidName(_) => EXIT_USAGE,
        ErrorKind::NoMailbox
        | ErrorKind::Stale { .. }
        | ErrorKind::MailboxFull
        | ErrorKind::MailboxClosed
        | ErrorKind::BadMessage(_)
        | ErrorKind::OwnerUnreachable {
            maybe_delivered: false,
        } => EXIT_UNDELIVERED,
        ErrorKind::CallTimeout
        | ErrorKind::NoReply
        | ErrorKind::OwnerUnreachable {
            maybe_delivered: true,
        } => EXIT_TIMEOUT,
        _ => EXIT_ERROR,
    }
}
