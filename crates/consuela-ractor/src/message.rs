//! [`NamedMessage`]: how mail sent to a name becomes an actor's message.

use consuela::messaging::Envelope;
use serde::de::DeserializeOwned;

/// The message type of an actor that runs under a name.
///
/// Senders send [`Mail`](Self::Mail) (JSON between members); each piece
/// arrives in an [`Envelope`], with a responder when it is a call, and
/// [`from_mail`](Self::from_mail) makes the actor's message of it. Keep the
/// responder in the message to answer the call from the actor's handler.
pub trait NamedMessage: ractor::Message {
    /// What senders send to the name.
    type Mail: DeserializeOwned + Send + 'static;

    /// The actor's message for one piece of mail; `None` drops it (a call
    /// then fails with [`NoReply`](consuela::ErrorKind::NoReply)).
    fn from_mail(mail: Envelope<Self::Mail>) -> Option<Self>;
}
