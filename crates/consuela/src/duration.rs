//! Serde for configuration durations: a Go duration string (`"20s"`,
//! `"1m30s"`) or a whole number of seconds.

use std::time::Duration;

use consuela_wire::{format_go_duration, parse_go_duration};
use serde::{Deserialize, Deserializer, Serializer};

/// A duration as written in a configuration file.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Raw {
    Seconds(u64),
    Text(String),
}

/// Parses a duration as configuration files and the command line write
/// them: a non-negative Go duration (`250ms`, `1m30s`, `1h`) or a whole
/// number of seconds (`5`).
///
/// # Errors
///
/// A message saying what is wrong with `text`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use consuela::config::parse_duration;
///
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
/// assert!(parse_duration("-1s").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("duration {text:?} is too long"));
    }
    let nanos = parse_go_duration(text).map_err(|e| format!("invalid duration {text:?}: {e}"))?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| format!("duration {text:?} must not be negative"))
}

/// [`parse_duration`], for the serde helpers below.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    parse_duration(text)
}

/// Formats like Go's `Duration.String`, e.g. `20s` or `1m30s`.
pub(crate) fn format(d: Duration) -> String {
    format_go_duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match Raw::deserialize(d)? {
        Raw::Seconds(s) => Ok(Duration::from_secs(s)),
        Raw::Text(t) => parse(&t).map_err(serde::de::Error::custom),
    }
}

pub(crate) mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(deserialize_with = "super::deserialize")] Duration);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}
