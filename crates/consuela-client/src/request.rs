//! URL building. Only this crate builds Consul URLs, and only through this module.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Url;

use crate::error::{ConfigError, Error};

/// Everything but RFC 3986 unreserved characters is escaped in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Query values: the same set (escapes `&`, `=`, `+`, `#`, `%`, space and so on).
const QUERY_VALUE: &AsciiSet = SEGMENT;

/// Where the agent is: the base URL requests are built on, and the unix socket they go
/// through, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `http(s)://host:port[/prefix]` without a trailing slash; `http://localhost` for a socket.
    pub(crate) base: String,
    /// The socket of a `unix://` address.
    pub(crate) unix: Option<PathBuf>,
    /// The address as it should be shown: `base`, or `unix:///path`.
    pub(crate) display: String,
}

/// Parses the agent address as Consul's Go client does: `host:port` (taken as `http`),
/// `http://`, `https://` (optionally with a path prefix for a reverse proxy) or
/// `unix:///path/to/socket`. Any other scheme is refused.
pub(crate) fn parse_endpoint(address: &str) -> Result<Endpoint, Error> {
    let address = address.trim();
    let invalid = |reason: &str| -> Error {
        ConfigError::Address {
            address: address.to_owned(),
            reason: reason.to_owned(),
        }
        .into()
    };
    if let Some(path) = address.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(invalid("missing socket path"));
        }
        return Ok(Endpoint {
            // Requests over a socket still need an authority; Consul ignores it.
            base: "http://localhost".to_owned(),
            unix: Some(PathBuf::from(path)),
            display: address.to_owned(),
        });
    }
    let with_scheme = match address.split_once("://") {
        Some((scheme, _))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            address.to_owned()
        }
        Some((scheme, _)) => {
            return Err(invalid(&format!(
                "unknown scheme {scheme:?} (expected http, https or unix)"
            )));
        }
        None => format!("http://{address}"),
    };
    let url = Url::parse(&with_scheme).map_err(|error| invalid(&error.to_string()))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("missing host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("query strings and fragments are not allowed"));
    }
    let base = with_scheme.trim_end_matches('/').to_owned();
    Ok(Endpoint {
        display: base.clone(),
        base,
        unix: None,
    })
}

/// Checks that `key` maps to a canonical URL path, so Consul's mux does not answer 301.
///
/// `prefix` allows the empty key (the whole store).
pub(crate) fn validate_key(key: &str, prefix: bool) -> Result<(), Error> {
    if key.is_empty() {
        return if prefix {
            Ok(())
        } else {
            Err(Error::invalid_input("empty key"))
        };
    }
    if key.starts_with('/') {
        return Err(Error::invalid_input(format!(
            "key {key:?} starts with '/' (Consul would redirect)"
        )));
    }
    // A trailing '/' (an empty last segment) is a legal, distinct key; inner ones are not.
    if key.contains("//") {
        return Err(Error::invalid_input(format!(
            "key {key:?} contains an empty segment (Consul would redirect)"
        )));
    }
    if key
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(Error::invalid_input(format!(
            "key {key:?} contains a '.' or '..' segment (Consul would redirect)"
        )));
    }
    Ok(())
}

/// Checks a single path segment identifier (session ID, service ID, check ID, name).
pub(crate) fn validate_segment(what: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid_input(format!("empty {what}")));
    }
    if value == "." || value == ".." {
        return Err(Error::invalid_input(format!("invalid {what} {value:?}")));
    }
    Ok(())
}

/// Appends `key` to `path`, percent-encoding each segment and keeping the `/` separators.
pub(crate) fn push_key(path: &mut String, key: &str) {
    for (i, segment) in key.split('/').enumerate() {
        if i > 0 {
            path.push('/');
        }
        push_segment(path, segment);
    }
}

/// Appends one percent-encoded path segment.
pub(crate) fn push_segment(path: &mut String, segment: &str) {
    for part in utf8_percent_encode(segment, SEGMENT) {
        path.push_str(part);
    }
}

/// A query string under construction.
#[derive(Debug, Default, Clone)]
pub(crate) struct Query {
    buf: String,
}

impl Query {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn sep(&mut self) {
        if !self.buf.is_empty() {
            self.buf.push('&');
        }
    }

    /// A presence flag such as `recurse` or `stale`.
    pub(crate) fn flag(&mut self, name: &str) -> &mut Self {
        self.sep();
        self.buf.push_str(name);
        self
    }

    pub(crate) fn pair(&mut self, name: &str, value: &str) -> &mut Self {
        self.sep();
        self.buf.push_str(name);
        self.buf.push('=');
        for part in utf8_percent_encode(value, QUERY_VALUE) {
            self.buf.push_str(part);
        }
        self
    }

    pub(crate) fn number(&mut self, name: &str, value: u64) -> &mut Self {
        self.sep();
        let _ = write!(self.buf, "{name}={value}");
        self
    }

    /// A Go duration in whole milliseconds, as the Go client sends it (positive sub-millisecond
    /// values round up to `1ms`).
    pub(crate) fn duration(&mut self, name: &str, value: Duration) -> &mut Self {
        self.sep();
        let _ = write!(self.buf, "{name}={}", go_millis(value));
        self
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.buf
    }
}

/// Formats a duration as whole milliseconds (`"15000ms"`), rounding positive sub-millisecond
/// values up to `1ms`.
pub(crate) fn go_millis(value: Duration) -> String {
    let mut millis = value.as_millis();
    if millis == 0 && !value.is_zero() {
        millis = 1;
    }
    format!("{millis}ms")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn key_path(key: &str) -> String {
        let mut path = String::from("/v1/kv/");
        push_key(&mut path, key);
        path
    }

    #[test]
    fn keys_are_encoded_per_segment() {
        assert_eq!(key_path("a/b/c"), "/v1/kv/a/b/c");
        assert_eq!(key_path("space/acceptor 10"), "/v1/kv/space/acceptor%2010");
        assert_eq!(key_path("q?x=1&y#z"), "/v1/kv/q%3Fx%3D1%26y%23z");
        assert_eq!(key_path("100%"), "/v1/kv/100%25");
        assert_eq!(key_path("a+b"), "/v1/kv/a%2Bb");
        assert_eq!(key_path("dir/"), "/v1/kv/dir/");
        assert_eq!(key_path("ключ/ü"), "/v1/kv/%D0%BA%D0%BB%D1%8E%D1%87/%C3%BC");
        assert_eq!(key_path("v1.2_x-y~z"), "/v1/kv/v1.2_x-y~z");
    }

    #[test]
    fn non_canonical_keys_are_rejected() {
        for key in ["/a", "a//b", "a/./b", "a/../b", "..", ".", "a/.."] {
            let error = validate_key(key, false).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidInput, "{key}");
        }
        assert!(validate_key("", false).is_err());
        assert!(validate_key("", true).is_ok());
        for key in ["a", "a/b", "a/b/", "a/...", ".hidden/x", "a b"] {
            assert!(validate_key(key, false).is_ok(), "{key}");
        }
    }

    #[test]
    fn query_building() {
        let mut query = Query::new();
        query
            .flag("recurse")
            .number("index", 42)
            .duration("wait", Duration::from_secs(15))
            .pair("note", "a b&c=d");
        assert_eq!(
            query.as_str(),
            "recurse&index=42&wait=15000ms&note=a%20b%26c%3Dd"
        );
        assert_eq!(go_millis(Duration::from_micros(10)), "1ms");
        assert_eq!(go_millis(Duration::ZERO), "0ms");
        assert_eq!(go_millis(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn endpoints() {
        let base = |address: &str| parse_endpoint(address).map(|endpoint| endpoint.base);
        assert_eq!(base("127.0.0.1:8500").unwrap(), "http://127.0.0.1:8500");
        assert_eq!(base("https://c:8501/").unwrap(), "https://c:8501");
        assert_eq!(
            base("https://c:8501/consul/").unwrap(),
            "https://c:8501/consul"
        );
        assert!(base("ftp://c").is_err());
        assert!(base("http://c/?x=1").is_err());
        assert!(base("http://").is_err());
        assert!(base("unix://").is_err());
        let socket = parse_endpoint("unix:///run/consul/http.sock").unwrap();
        assert_eq!(socket.base, "http://localhost");
        assert_eq!(socket.unix, Some(PathBuf::from("/run/consul/http.sock")));
        assert_eq!(socket.display, "unix:///run/consul/http.sock");
    }
}
