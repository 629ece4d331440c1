//! The names almost every user of the registry imports: `use consuela::prelude::*;`.

pub use crate::config::Config;
pub use crate::error::{Error, ErrorKind};
pub use crate::holder::{Contact, Holder};
pub use crate::name::Name;
pub use crate::registry::{RegisterOptions, Registration, Registry};
pub use crate::token::FencingToken;
