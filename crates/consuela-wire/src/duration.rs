//! Go's `time.ParseDuration` and `time.Duration.String`, and [`GoDuration`], a
//! signed nanosecond count that reads either form Consul uses on the wire.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::gostr::go_quote;

/// A duration parse error; its `Display` is Go's error text, e.g.
/// `time: invalid duration "abc"` or `time: missing unit in duration "10"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(String);

impl DurationError {
    fn invalid(orig: &str) -> Self {
        Self(format!("time: invalid duration {}", go_quote(orig)))
    }
}

const NS: u64 = 1;
const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;

fn unit_of(u: &str) -> Option<u64> {
    Some(match u {
        "ns" => NS,
        "us" | "\u{b5}s" | "\u{3bc}s" => US,
        "ms" => MS,
        "s" => SEC,
        "m" => MIN,
        "h" => HOUR,
        _ => return None,
    })
}

/// Parses a Go duration string (`"10s"`, `"1.5h"`, `"1h30m"`, `"300ms"`, `"-2s"`,
/// `"0"`) into signed nanoseconds, with Go's grammar and Go's error texts.
/// A bare number other than `0` is an error (`missing unit`).
pub fn parse_go_duration(orig: &str) -> Result<i64, DurationError> {
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next()
        && (c == '-' || c == '+')
    {
        neg = c == '-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(DurationError::invalid(orig));
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes()[0];
        if !(b == b'.' || b.is_ascii_digit()) {
            return Err(DurationError::invalid(orig));
        }
        // Integer part.
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let pre = digits > 0;
        let mut v: u64 = 0;
        for d in s[..digits].bytes() {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .filter(|v| *v <= 1 << 63)
                .ok_or_else(|| DurationError::invalid(orig))?;
        }
        s = &s[digits..];
        // Fraction part: keep as many digits as fit, like Go's leadingFraction.
        let mut frac: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if let Some(rest) = s.strip_prefix('.') {
            s = rest;
            let n = s.bytes().take_while(u8::is_ascii_digit).count();
            post = n > 0;
            let mut overflow = false;
            for d in s[..n].bytes() {
                if overflow {
                    continue;
                }
                match frac
                    .checked_mul(10)
                    .and_then(|f| f.checked_add(u64::from(d - b'0')))
                {
                    Some(f) if f <= 1 << 63 => {
                        frac = f;
                        scale *= 10.0;
                    }
                    _ => overflow = true,
                }
            }
            s = &s[n..];
        }
        if !pre && !post {
            return Err(DurationError::invalid(orig));
        }
        // Unit.
        let ulen = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let u = &s[..ulen];
        s = &s[ulen..];
        if u.is_empty() {
            return Err(DurationError(format!(
                "time: missing unit in duration {}",
                go_quote(orig)
            )));
        }
        let unit = unit_of(u).ok_or_else(|| {
            DurationError(format!(
                "time: unknown unit {} in duration {}",
                go_quote(u),
                go_quote(orig)
            ))
        })?;
        if v > (1 << 63) / unit {
            return Err(DurationError::invalid(orig));
        }
        v *= unit;
        if frac > 0 {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let add = (frac as f64 * (unit as f64 / scale)) as u64;
            v = v
                .checked_add(add)
                .filter(|v| *v <= 1 << 63)
                .ok_or_else(|| DurationError::invalid(orig))?;
        }
        total = total
            .checked_add(v)
            .filter(|t| *t <= 1 << 63)
            .ok_or_else(|| DurationError::invalid(orig))?;
    }
    if neg {
        // -(1<<63) is representable.
        return Ok((total as i128).wrapping_neg() as i64);
    }
    i64::try_from(total).map_err(|_| DurationError::invalid(orig))
}

/// Formats signed nanoseconds like Go's `Duration.String`: `"0s"`, `"1.5s"`,
/// `"100ms"`, `"1m30s"`, `"24h0m0s"`.
pub fn format_go_duration(d: i64) -> String {
    if d == 0 {
        return "0s".to_owned();
    }
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let mut out = String::new();
    if u < SEC {
        if u < US {
            out = format!("{u}ns");
        } else if u < MS {
            out = format!("{}\u{b5}s", frac(u, 3));
        } else {
            out = format!("{}ms", frac(u, 6));
        }
    } else {
        let secs = frac(u % MIN, 9);
        u /= MIN;
        out.push_str(&secs);
        out.push('s');
        if u > 0 {
            out = format!("{}m{}", u % 60, out);
            u /= 60;
            if u > 0 {
                out = format!("{u}h{out}");
            }
        }
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// `v / 10^prec` printed with the fractional part's trailing zeros removed.
fn frac(v: u64, prec: u32) -> String {
    let p = 10u64.pow(prec);
    let int = v / p;
    let mut f = v % p;
    if f == 0 {
        return int.to_string();
    }
    let mut width = prec as usize;
    while f.is_multiple_of(10) {
        f /= 10;
        width -= 1;
    }
    format!("{int}.{f:0width$}")
}

/// A signed duration in nanoseconds, as Consul's Go `time.Duration` fields are.
///
/// Serializes as a JSON integer (what Consul returns, e.g. `"LockDelay":
/// 15000000000`). Deserializes from an integer (nanoseconds) or a Go duration
/// string (`"15s"`), since different Consul versions and clients send either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub i64);

impl GoDuration {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// From a std duration (saturating at `i64::MAX` ns).
    pub fn from_std(d: Duration) -> Self {
        Self(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// As a std duration; negative values become zero.
    pub fn to_std(self) -> Duration {
        Duration::from_nanos(u64::try_from(self.0).unwrap_or(0))
    }

    /// Nanoseconds.
    pub fn as_nanos(self) -> i64 {
        self.0
    }

    /// Go's string form, e.g. `"15s"`.
    pub fn to_go_string(self) -> String {
        format_go_duration(self.0)
    }

    /// Serializes as a Go duration string (`"15s"`) instead of an integer; for
    /// request bodies, where `"0s"` must stay expressible.
    pub fn serialize_as_string<S: Serializer>(v: &Option<Self>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_str(&d.to_go_string()),
            None => s.serialize_none(),
        }
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_go_duration(self.0))
    }
}

impl From<Duration> for GoDuration {
    fn from(d: Duration) -> Self {
        Self::from_std(d)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = GoDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("nanoseconds or a Go duration string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoDuration, E> {
                Ok(GoDuration(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoDuration, E> {
                Ok(GoDuration(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            #[allow(clippy::cast_possible_truncation)]
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<GoDuration, E> {
                Ok(GoDuration(v as i64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<GoDuration, E> {
                if v.is_empty() {
                    return Ok(GoDuration(0));
                }
                parse_go_duration(v).map(GoDuration).map_err(E::custom)
            }
            fn visit_unit<E: de::Error>(self) -> Result<GoDuration, E> {
                Ok(GoDuration(0))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests;
