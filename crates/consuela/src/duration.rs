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

/// Parses a non-negative Go duration string.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let nanos = parse_go_duration(text).map_err(|e| e.to_string())?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| format!("duration {text:?} must not be negative"))
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
