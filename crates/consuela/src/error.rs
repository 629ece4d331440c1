//! The crate's error: [`Error`], its [`ErrorKind`]s, and [`LostReason`].

use std::fmt;
use std::sync::Arc;

use crate::config::ConfigError;
use crate::holder::Holder;
use crate::name::NameError;
use crate::token::FencingToken;

/// Why the registry stopped guaranteeing its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LostReason {
    /// The keeper's local deadline passed without a successful renew.
    Expired,
    /// Consul said the session no longer exists (a 404 on renew, or
    /// `invalid session` on acquire).
    Invalidated,
    /// The reaper's retry policy ran out while Consul stayed unreachable.
    ReaperExhausted,
    /// Every `Registry` handle was dropped without `shutdown` (a crash, as far
    /// as Consul can tell): renewals stopped.
    Abandoned,
    /// A background task or a user hook panicked. Nothing it guarded can be
    /// trusted any more, so the registry stops as if its session were lost.
    Panicked(Task),
}

/// A part of the registry that runs code on its own: what a
/// [`LostReason::Panicked`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Task {
    /// The session keeper (renewals and the local deadline).
    Keeper,
    /// The blocking-query watch of our own session.
    SessionWatch,
    /// The zombie reaper.
    Reaper,
    /// A user's request hook (`ClientConfig::on_request`).
    RequestHook,
}

impl LostReason {
    /// Whether a member may go on with a new session after this loss
    /// ([`Registry::successor`](crate::Registry::successor)): yes when
    /// Consul expired or invalidated the session or stayed unreachable; no
    /// when every handle was dropped or something panicked.
    pub fn is_recoverable(self) -> bool {
        matches!(
            self,
            Self::Expired | Self::Invalidated | Self::ReaperExhausted
        )
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Keeper => "the session keeper",
            Self::SessionWatch => "the session watch",
            Self::Reaper => "the reaper",
            Self::RequestHook => "a request hook",
        })
    }
}

impl fmt::Display for LostReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expired => f.write_str("session deadline passed without a successful renew"),
            Self::Invalidated => f.write_str("Consul invalidated the session"),
            Self::ReaperExhausted => f.write_str("the reaper gave up reaching Consul"),
            Self::Abandoned => f.write_str("every registry handle was dropped without shutdown"),
            Self::Panicked(task) => write!(f, "panic in {task}"),
        }
    }
}

/// What went wrong, with the retry meaning of each case.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Expected outcome: another process holds the name. Not retryable as is;
    /// wait for the owner to go (for example with [`crate::Registry::watch`]).
    AlreadyRegistered {
        /// The current holder, when it could be read (it may have gone since).
        holder: Option<Box<Holder>>,
    },
    /// The name was freed by an invalidated session and Consul's lock-delay
    /// still blocks it. Retryable after the lock-delay.
    LockDelay,
    /// The name is not valid. Not retryable.
    InvalidName(NameError),
    /// The configuration is not valid. Not retryable.
    Config(ConfigError),
    /// A Consul request certainly did not take effect (connection refused,
    /// 501, 503). Retryable.
    Unavailable,
    /// A Consul request may or may not have taken effect (timeout, reset,
    /// 500). The registry reconciles it through the reaper. Retryable.
    Unknown,
    /// Consul refused the request (ACL 401/403, 400, an unexpected answer).
    /// Not retryable without a fix.
    Rejected,
    /// The key holds a value this library did not write. Not retryable.
    Foreign,
    /// Fatal: the session is lost; this registry guarantees no name any more.
    SessionLost(LostReason),
    /// Fatal: the registry was shut down.
    Shutdown,
    /// A spawned future was stopped on request.
    Stopped,
    /// A spawned future panicked.
    Panicked,
    /// Expected outcome: every slot of the semaphore is held by a live
    /// holder. Retryable once a holder goes (or use
    /// [`Registry::wait_slot`](crate::Registry::wait_slot)).
    SemaphoreFull {
        /// The semaphore's limit.
        limit: u32,
    },
    /// The semaphore's `.lock` key (`in_lock`), or a live contender's record,
    /// says another limit than the one asked for; every contender must agree
    /// on it, as Consul's Go `api.Semaphore` requires. Not retryable as is.
    LimitMismatch {
        /// The limit found.
        found: i64,
        /// The limit asked for.
        local: u32,
        /// Whether `found` is `.lock`'s (else a contender's record).
        in_lock: bool,
    },
    /// A semaphore limit of zero. Not retryable.
    InvalidLimit,
    /// Messaging: no one holds the name. Retryable once someone registers it.
    NoOwner,
    /// Messaging: the name's holder has no mailbox this sender can reach (it
    /// registered none, or its member runs no mail endpoint). Not retryable
    /// as is.
    NoMailbox,
    /// Messaging: the owner's mail endpoint could not be reached.
    /// `maybe_delivered` is false when the message certainly did not leave
    /// (the connection was refused), true when it may have been enqueued
    /// (a timeout or reset after it was sent): delivery is at most once, so
    /// the sender must not assume either.
    OwnerUnreachable {
        /// Whether the message may have been enqueued all the same.
        maybe_delivered: bool,
    },
    /// Messaging: the message was addressed to a registration that no longer
    /// owns the name (the token the sender expected is not the owner's).
    /// Not delivered. Look the name up again to address the new owner.
    Stale {
        /// The fencing token of the registration that owns the name now,
        /// when known.
        current: Option<FencingToken>,
    },
    /// Messaging: the mailbox stayed full for `messaging.send_timeout`.
    /// Not delivered; retryable.
    MailboxFull,
    /// Messaging: the owner dropped its mailbox's receiver while still
    /// holding the name. Not delivered.
    MailboxClosed,
    /// Messaging: the message does not encode, does not decode as the
    /// mailbox's type, or is larger than the endpoint accepts (the detail
    /// says which). Not delivered; not retryable.
    BadMessage(String),
    /// Messaging: a call's reply did not come within its timeout. The
    /// request was delivered.
    CallTimeout,
    /// Messaging: the receiver of a call dropped it without replying. The
    /// request was delivered.
    NoReply,
}

impl ErrorKind {
    /// True for [`ErrorKind::Shutdown`].
    pub fn is_shutdown(&self) -> bool {
        matches!(self, Self::Shutdown)
    }
}

/// The registry's error: a kind plus, where there is one, the underlying cause.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self { kind, source: None }
    }

    pub(crate) fn with_source(
        kind: ErrorKind,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            source: Some(Arc::new(source)),
        }
    }

    /// The error every call answers once the registry lost its session.
    pub(crate) fn lost(reason: LostReason) -> Self {
        Self::new(ErrorKind::SessionLost(reason))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// True when trying again later may succeed: lock-delay, Consul unavailable
    /// or an unknown outcome; for messages, no owner yet, a full mailbox or an
    /// owner that certainly did not get the message.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::LockDelay
                | ErrorKind::Unavailable
                | ErrorKind::Unknown
                | ErrorKind::NoOwner
                | ErrorKind::MailboxFull
                | ErrorKind::OwnerUnreachable {
                    maybe_delivered: false
                }
        )
    }

    /// True when another process holds the name, or every slot of the
    /// semaphore.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::AlreadyRegistered { .. } | ErrorKind::SemaphoreFull { .. }
        )
    }

    /// True when this registry can do nothing more: session lost or shut down.
    pub fn is_fatal(&self) -> bool {
        matches!(self.kind, ErrorKind::SessionLost(_) | ErrorKind::Shutdown)
    }

    /// The current holder, for [`ErrorKind::AlreadyRegistered`].
    pub fn holder(&self) -> Option<&Holder> {
        match &self.kind {
            ErrorKind::AlreadyRegistered { holder } => holder.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::AlreadyRegistered { holder: Some(h) } => {
                write!(f, "name already registered by {}", h.id)
            }
            ErrorKind::AlreadyRegistered { holder: None } => f.write_str("name already registered"),
            ErrorKind::LockDelay => f.write_str("name is blocked by Consul's lock-delay"),
            ErrorKind::InvalidName(e) => write!(f, "{e}"),
            ErrorKind::Config(e) => write!(f, "{e}"),
            ErrorKind::Unavailable => f.write_str("Consul is unavailable"),
            ErrorKind::Unknown => f.write_str("the outcome of a Consul request is unknown"),
            ErrorKind::Rejected => f.write_str("Consul rejected the request"),
            ErrorKind::Foreign => f.write_str("the key holds a value consuela did not write"),
            ErrorKind::SessionLost(reason) => write!(f, "session lost: {reason}"),
            ErrorKind::Shutdown => f.write_str("the registry is shut down"),
            ErrorKind::Stopped => f.write_str("the spawned future was stopped"),
            ErrorKind::Panicked => f.write_str("the spawned future panicked"),
            ErrorKind::SemaphoreFull { limit } => {
                write!(
                    f,
                    "every slot of the semaphore is held ({limit} of {limit})"
                )
            }
            ErrorKind::LimitMismatch {
                found,
                local,
                in_lock: true,
            } => write!(
                f,
                "semaphore limit conflict (lock: {found}, local: {local})"
            ),
            ErrorKind::LimitMismatch { found, local, .. } => write!(
                f,
                "semaphore limit conflict (contender: {found}, local: {local})"
            ),
            ErrorKind::InvalidLimit => f.write_str("a semaphore's limit must be at least 1"),
            ErrorKind::NoOwner => f.write_str("no one holds the name"),
            ErrorKind::NoMailbox => f.write_str("the name's holder has no reachable mailbox"),
            ErrorKind::OwnerUnreachable {
                maybe_delivered: false,
            } => f.write_str("the owner's mail endpoint is unreachable; not delivered"),
            ErrorKind::OwnerUnreachable {
                maybe_delivered: true,
            } => f.write_str(
                "the owner's mail endpoint stopped answering; the message may have been delivered",
            ),
            ErrorKind::Stale { current: Some(t) } => {
                write!(
                    f,
                    "stale address: the name is now held with fencing token {t}"
                )
            }
            ErrorKind::Stale { current: None } => {
                f.write_str("stale address: the registration no longer holds the name")
            }
            ErrorKind::MailboxFull => f.write_str("the mailbox is full"),
            ErrorKind::MailboxClosed => f.write_str("the mailbox is closed"),
            ErrorKind::BadMessage(detail) => write!(f, "bad message: {detail}"),
            ErrorKind::CallTimeout => f.write_str("no reply within the call's timeout"),
            ErrorKind::NoReply => f.write_str("the receiver dropped the call without replying"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        Self::new(ErrorKind::InvalidName(e))
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Self::new(ErrorKind::Config(e))
    }
}

/// A client error, classified by whether the request may have taken effect.
impl From<consuela_client::Error> for Error {
    fn from(e: consuela_client::Error) -> Self {
        use consuela_client::Outcome;
        let kind = match e.outcome() {
            Outcome::Failed => ErrorKind::Unavailable,
            Outcome::Unknown => ErrorKind::Unknown,
            Outcome::Done => ErrorKind::Rejected,
        };
        Self::with_source(kind, e)
    }
}

/// A registration attempt that ran out of time: it may have taken effect.
impl From<tokio::time::error::Elapsed> for Error {
    fn from(e: tokio::time::error::Elapsed) -> Self {
        Self::with_source(ErrorKind::Unknown, e)
    }
}

/// A Consul refusal that fits no known case, kept as an error's source.
#[derive(Debug)]
pub(crate) struct Refusal(pub(crate) String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}
