//! Registered names and namespaces, and how they map to Consul keys.
//!
//! A name is a human-readable string such as `space/acceptor-10`. It is stored
//! under the key `<namespace>/<name>`; the client percent-encodes every segment
//! on the wire, so spaces, `%`, `?` and unicode are all fine. What is refused is
//! what Consul's HTTP mux would redirect or what cannot be read back: empty
//! names, empty segments (`a//b`, a leading or trailing `/`), `.` and `..`
//! segments, and control characters.

use std::fmt;
use std::sync::Arc;

/// The longest name or namespace accepted, in bytes.
///
/// Consul itself takes keys of 10,000 characters and more; the bound keeps a
/// registry's memory and URLs predictable.
pub const MAX_NAME_LEN: usize = 512;

/// A validated registered name, cheap to clone.
///
/// # Examples
///
/// ```
/// use consuela::Name;
///
/// let name = Name::new("space/acceptor-10")?;
/// assert_eq!(name.as_str(), "space/acceptor-10");
/// assert!(Name::new("a//b").is_err());
/// # Ok::<(), consuela::NameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Arc<str>);

impl Name {
    /// Validates `name`.
    ///
    /// # Errors
    ///
    /// Returns a [`NameError`] saying which rule `name` breaks.
    pub fn new(name: impl AsRef<str>) -> Result<Self, NameError> {
        let name = name.as_ref();
        validate(name)?;
        Ok(Self(Arc::from(name)))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Name {
    type Error = NameError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

/// Why a name or namespace was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is the empty string.
    #[error("name is empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    #[error("name is {len} bytes long, more than the {max} allowed")]
    TooLong {
        /// The name's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A `/`-separated segment is empty (`a//b`, or a leading or trailing `/`).
    #[error("name {name:?} has an empty segment")]
    EmptySegment {
        /// The refused name.
        name: String,
    },
    /// A segment is `.` or `..`, which Consul's HTTP mux would redirect.
    #[error("name {name:?} has a `.` or `..` segment")]
    DotSegment {
        /// The refused name.
        name: String,
    },
    /// The name holds a control character.
    #[error("name {name:?} holds a control character")]
    ControlCharacter {
        /// The refused name.
        name: String,
    },
}

/// Checks a name or namespace against the rules in the module docs.
pub(crate) fn validate(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            len: name.len(),
            max: MAX_NAME_LEN,
        });
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter { name: name.into() });
    }
    for segment in name.split('/') {
        match segment {
            "" => return Err(NameError::EmptySegment { name: name.into() }),
            "." | ".." => return Err(NameError::DotSegment { name: name.into() }),
            _ => {}
        }
    }
    Ok(())
}

/// Maps names to Consul keys under one namespace, and back.
#[derive(Debug, Clone)]
pub(crate) struct KeySpace {
    /// `<namespace>/`, the prefix of every key this registry owns.
    prefix: String,
}

impl KeySpace {
    pub(crate) fn new(namespace: &str) -> Result<Self, NameError> {
        validate(namespace)?;
        Ok(Self {
            prefix: format!("{namespace}/"),
        })
    }

    /// The key of `name`.
    pub(crate) fn key(&self, name: &Name) -> String {
        let mut key = String::with_capacity(self.prefix.len() + name.as_str().len());
        key.push_str(&self.prefix);
        key.push_str(name.as_str());
        key
    }

    /// The prefix under which names starting with `prefix` live.
    pub(crate) fn prefix(&self, prefix: &str) -> String {
        format!("{}{prefix}", self.prefix)
    }

    /// The name stored under `key`, if `key` is a valid name in this namespace.
    pub(crate) fn name(&self, key: &str) -> Option<Name> {
        key.strip_prefix(&self.prefix)
            .and_then(|rest| Name::new(rest).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_readable_names() {
        for ok in [
            "a",
            "space/acceptor-10",
            "with space",
            "per%cent?q=1",
            "ünïcødé/名前",
            "a.b/..c/d..",
        ] {
            assert_eq!(Name::new(ok).unwrap().as_str(), ok);
        }
        assert!(Name::new("x".repeat(MAX_NAME_LEN)).is_ok());
    }

    #[test]
    fn refuses_what_consul_would_redirect() {
        assert_eq!(Name::new(""), Err(NameError::Empty));
        for bad in ["/a", "a/", "a//b", "/"] {
            assert!(
                matches!(Name::new(bad), Err(NameError::EmptySegment { .. })),
                "{bad}"
            );
        }
        for bad in [".", "..", "a/./b", "a/.."] {
            assert!(
                matches!(Name::new(bad), Err(NameError::DotSegment { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            Name::new("a\nb"),
            Err(NameError::ControlCharacter { .. })
        ));
        assert!(matches!(
            Name::new("a\0"),
            Err(NameError::ControlCharacter { .. })
        ));
        assert!(matches!(
            Name::new("x".repeat(MAX_NAME_LEN + 1)),
            Err(NameError::TooLong { len: 513, max: 512 })
        ));
    }

    #[test]
    fn keys_round_trip() {
        let space = KeySpace::new("ns/app").unwrap();
        let name = Name::new("space/acceptor-10").unwrap();
        let key = space.key(&name);
        assert_eq!(key, "ns/app/space/acceptor-10");
        assert_eq!(space.name(&key), Some(name));
        assert_eq!(space.name("other/x"), None);
        assert_eq!(space.name("ns/app/"), None);
        assert_eq!(space.prefix("space/"), "ns/app/space/");
        assert!(KeySpace::new("bad//ns").is_err());
    }

    proptest::proptest! {
        #[test]
        fn valid_names_never_make_dot_or_empty_segments(s in "\\PC{0,40}") {
            if let Ok(name) = Name::new(&s) {
                proptest::prop_assert!(name.as_str().split('/').all(|seg| !seg.is_empty() && seg != "." && seg != ".."));
            }
        }
    }
}
