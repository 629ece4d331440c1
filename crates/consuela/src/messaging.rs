//! Messaging a name: named mailboxes, `send` and `call`, wherever the owner runs.
//!
//! A process registers a name with a mailbox
//! ([`Registry::register_mailbox`](crate::Registry::register_mailbox)) and
//! reads messages from its [`Mailbox`]; anyone sends to the name
//! ([`Registry::send`](crate::Registry::send), [`Registry::call`](crate::Registry::call),
//! or a [`Courier`] without a registry of its own). In the owner's process a
//! message goes through the channel as is; from another member it goes as
//! JSON over HTTP(S) to the mail endpoint the owner's member runs
//! (`[messaging]` in the configuration), whose URL is in the name's record.
//!
//! # Semantics
//!
//! - **At most once.** A message is acknowledged with a [`Receipt`] once it
//!   is in the owner's mailbox; the receipt carries the owner's fencing
//!   token. A message in a mailbox whose process dies is lost: what must
//!   survive a crash is a [`call`](crate::Registry::call), answered once
//!   handled.
//! - **Never to a stale owner.** A mailbox takes messages only while its
//!   registration holds the name and the registry runs: the check and the
//!   enqueue happen under the lock the release of the name takes, before the
//!   name's key is deleted, and a fail-stop stops them before Consul can hand
//!   the name to anyone else. A message addressed with a token (every remote
//!   delivery carries the token the sender looked up, and
//!   [`SendOptions::expect`] lets the user fix it) is refused as
//!   [`Stale`](crate::ErrorKind::Stale) by a registration with another.
//! - **One retry when the name moved.** A sender looks the owner up once
//!   and remembers it ([`Courier`]). When the owner addressed refuses a
//!   message without taking it (it no longer holds the name) or refuses the
//!   connection, the sender looks the name up again, consistently, and
//!   sends once more if the owner changed. A message that may have arrived
//!   (a timeout after it was sent) is never sent again:
//!   [`OwnerUnreachable`](crate::ErrorKind::OwnerUnreachable) says so.
//! - **Bounded mailboxes.** A mailbox holds `messaging.capacity` messages;
//!   a sender waits up to `messaging.send_timeout` for room (or
//!   [`SendOptions::wait`]), then fails with
//!   [`MailboxFull`](crate::ErrorKind::MailboxFull).
//!
//! # Codec
//!
//! Messages and replies are JSON (serde_json): readable by operators
//! (`consuela send NAME JSON`) and by clients in any language, and a type
//! change that keeps the JSON shape keeps working across a rolling upgrade.
//! A sender of the mailbox's very type in the owner's process hands the
//! value over without encoding it.

mod courier;
mod endpoint;
mod inbox;
mod mailbox;
mod office;
mod options;
mod refusal;
mod routes;
mod tls;
mod wire;

pub use courier::Courier;
pub(crate) use endpoint::{Bound, Endpoint};
pub(crate) use inbox::{Inbox, Message, channel};
pub(crate) use mailbox::await_reply;
pub use mailbox::{Envelope, Mailbox, Responder};
pub(crate) use office::{Found, Letter, PostOffice, deliver};
pub use options::{Receipt, SendOptions};
pub(crate) use refusal::Refusal;
