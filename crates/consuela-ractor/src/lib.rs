//! consuela-ractor: [ractor](https://docs.rs/ractor) actors under
//! cluster-wide unique consuela names, reachable by name from any member.
//!
//! [`spawn_named`] registers a name with a mailbox, starts the actor, and
//! forwards every message sent to the name
//! ([`Registry::send`](consuela::Registry::send) /
//! [`call`](consuela::Registry::call), from any member) into it. The actor
//! runs only while the name is held: it is killed the moment ownership is
//! lost, and the name is released when it stops. [`spawn_named_singleton`]
//! keeps one such actor running in the cluster: every member that calls it
//! stands by, and after a failover a standby starts a fresh incarnation.
//!
//! The actor's message type says how mail becomes its messages
//! ([`NamedMessage`]): a plain send, or a call with its
//! [`Responder`](consuela::messaging::Responder).
//!
//! ```no_run
//! use consuela::messaging::Envelope;
//! use consuela_ractor::{NamedMessage, spawn_named};
//! use ractor::{Actor, ActorProcessingErr, ActorRef};
//!
//! struct Counter;
//!
//! enum CounterMsg {
//!     Add(u64),
//! }
//!
//! impl NamedMessage for CounterMsg {
//!     type Mail = u64;
//!     fn from_mail(mail: Envelope<u64>) -> Option<Self> {
//!         Some(CounterMsg::Add(mail.into_message()))
//!     }
//! }
//!
//! impl Actor for Counter {
//!     type Msg = CounterMsg;
//!     type State = u64;
//!     type Arguments = ();
//!     async fn pre_start(&self, _: ActorRef<CounterMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
//!         Ok(0)
//!     }
//!     async fn handle(&self, _: ActorRef<CounterMsg>, msg: CounterMsg, total: &mut u64) -> Result<(), ActorProcessingErr> {
//!         let CounterMsg::Add(n) = msg;
//!         *total += n;
//!         Ok(())
//!     }
//! }
//!
//! # async fn demo(registry: consuela::Registry) -> Result<(), consuela_ractor::Error> {
//! let counter = spawn_named(&registry, "counter", Counter, ()).await?;
//! registry.send("counter", 5u64).await?;
//! counter.stop().await;
//! # Ok(())
//! # }
//! ```

mod error;
mod forward;
mod message;
mod named;
mod singleton;

pub use error::Error;
pub use message::NamedMessage;
pub use named::{Exit, NamedActor, spawn_named};
pub use singleton::spawn_named_singleton;
