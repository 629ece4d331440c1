//! Key/value store: `/v1/kv/*`.
//!
//! Keys are sent percent-encoded per segment; keys that Consul's HTTP mux would redirect
//! (leading `/`, empty inner segments, `.`/`..` segments) are refused before sending with
//! [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput).

use bytes::Bytes;
use consuela_wire::{Index, KvEntry, SessionId};

use crate::client::{Call, Client};
use crate::error::Error;
use crate::query::{QueryOptions, QueryResponse};
use crate::request::{push_key, validate_key};
use crate::watch::{Watch, WatchConfig, watch};

/// Options of [`Kv::put`].
///
/// At most one of `cas`, `acquire`, `release` may be set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// Flags to store. Every PUT replaces the flags, so the default `0` clears them.
    pub flags: u64,
    /// Check-and-set: write only if the key's `ModifyIndex` equals this (`Index(0)`: only if the
    /// key does not exist).
    pub cas: Option<Index>,
    /// Acquire the key's lock with this session.
    pub acquire: Option<SessionId>,
    /// Release the key's lock held by this session.
    pub release: Option<SessionId>,
}

/// Options of [`Kv::delete`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Delete only if the key's `ModifyIndex` equals this.
    pub cas: Option<Index>,
    /// Delete every key with this prefix.
    pub recurse: bool,
}

/// KV endpoints. Obtain with [`Client::kv`].
#[derive(Debug, Clone, Copy)]
pub struct Kv<'a> {
    client: &'a Client,
}

fn kv_path(key: &str, prefix: bool) -> Result<String, Error> {
    validate_key(key, prefix)?;
    let mut path = String::with_capacity(8 + key.len() + key.len() / 2);
    path.push_str("/v1/kv/");
    push_key(&mut path, key);
    Ok(path)
}

impl<'a> Kv<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// Reads one key (`GET /v1/kv/<key>`); `value` is `None` when the key does not exist.
    ///
    /// The returned index is the key's `ModifyIndex` when it exists, otherwise the KV table
    /// index: block on it (with the same key) to wait for a change.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for an empty or
    /// non-canonical key; transport and server errors. A missing key is not an error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn get(
        self,
        key: &str,
        opts: QueryOptions,
    ) -> Result<QueryResponse<Option<KvEntry>>, Error> {
        let mut call = Call::get(kv_path(key, false)?);
        call.read_options(opts);
        let response = self.client.send(call, &[404]).await?;
        let meta = response.meta();
        if response.status().as_u16() == 404 {
            return Ok(QueryResponse::new(None, meta));
        }
        let mut entries = response.json::<Vec<KvEntry>>()?;
        let entry = if entries.is_empty() {
            None
        } else {
            Some(entries.swap_remove(0))
        };
        Ok(QueryResponse::new(entry, meta))
    }

    /// Reads every key starting with `prefix` (`GET /v1/kv/<prefix>?recurse`), sorted bytewise.
    /// A plain string-prefix match: `a` matches `ab`. `""` lists the whole store.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get). An empty result is `Ok` with an empty vector.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn list(
        self,
        prefix: &str,
        opts: QueryOptions,
    ) -> Result<QueryResponse<Vec<KvEntry>>, Error> {
        let mut call = Call::get(kv_path(prefix, true)?);
        call.query.flag("recurse");
        call.read_options(opts);
        let response = self.client.send(call, &[404]).await?;
        let meta = response.meta();
        if response.status().as_u16() == 404 {
            return Ok(QueryResponse::new(Vec::new(), meta));
        }
        Ok(QueryResponse::new(response.json()?, meta))
    }

    /// Lists the key names under `prefix` (`GET /v1/kv/<prefix>?keys`). With a `separator`,
    /// deeper keys fold into `prefix/sub/`-style entries.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get). An empty result is `Ok` with an empty vector.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn keys(
        self,
        prefix: &str,
        separator: Option<&str>,
        opts: QueryOptions,
    ) -> Result<QueryResponse<Vec<String>>, Error> {
        let mut call = Call::get(kv_path(prefix, true)?);
        call.query.flag("keys");
        if let Some(separator) = separator {
            call.query.pair("separator", separator);
        }
        call.read_options(opts);
        let response = self.client.send(call, &[404]).await?;
        let meta = response.meta();
        if response.status().as_u16() == 404 {
            return Ok(QueryResponse::new(Vec::new(), meta));
        }
        Ok(QueryResponse::new(response.json()?, meta))
    }

    /// Writes a key (`PUT /v1/kv/<key>`) and returns Consul's boolean answer.
    ///
    /// `true` means written (or acquired, or released); `false` means a refused check-and-set,
    /// an acquire of a key held by another session or under lock-delay, or a release by a
    /// non-holder. A plain write always answers `true`.
    ///
    /// Every PUT replaces both value and flags, acquire and release included.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a bad key or more than
    /// one of `cas`/`acquire`/`release`;
    /// [`ErrorKind::Server`](crate::ErrorKind::Server) for 500 `invalid session "…"` (acquire
    /// with a dead session); [`ErrorKind::BadRequest`](crate::ErrorKind::BadRequest) for 413
    /// (value too large); transport errors.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; the write may or may not have been applied.
    pub async fn put(
        self,
        key: &str,
        value: impl Into<Bytes>,
        opts: PutOptions,
    ) -> Result<bool, Error> {
        let conditions = usize::from(opts.cas.is_some())
            + usize::from(opts.acquire.is_some())
            + usize::from(opts.release.is_some());
        if conditions > 1 {
            return Err(Error::invalid_input(
                "at most one of cas, acquire and release may be set",
            ));
        }
        let mut call = Call::put(kv_path(key, false)?).body(value.into());
        if opts.flags != 0 {
            call.query.number("flags", opts.flags);
        }
        if let Some(cas) = opts.cas {
            call.query.number("cas", cas.0);
        }
        if let Some(session) = &opts.acquire {
            call.query.pair("acquire", session.as_str());
        }
        if let Some(session) = &opts.release {
            call.query.pair("release", session.as_str());
        }
        self.client.send(call, &[]).await?.bool()
    }

    /// Acquires the lock on `key` for `session`, storing `value` (flags 0).
    /// See [`put`](Self::put).
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put).
    ///
    /// # Cancel safety
    ///
    /// As [`put`](Self::put): the key may or may not be held afterwards.
    pub async fn acquire(
        self,
        key: &str,
        value: impl Into<Bytes>,
        session: &SessionId,
    ) -> Result<bool, Error> {
        let opts = PutOptions {
            acquire: Some(session.clone()),
            ..PutOptions::default()
        };
        self.put(key, value, opts).await
    }

    /// Releases the lock on `key` held by `session`, storing `value` (flags 0). Releasing does
    /// not start a lock-delay. See [`put`](Self::put).
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put).
    ///
    /// # Cancel safety
    ///
    /// As [`put`](Self::put).
    pub async fn release(
        self,
        key: &str,
        value: impl Into<Bytes>,
        session: &SessionId,
    ) -> Result<bool, Error> {
        let opts = PutOptions {
            release: Some(session.clone()),
            ..PutOptions::default()
        };
        self.put(key, value, opts).await
    }

    /// Writes `key` only if its `ModifyIndex` equals `index` (`Index(0)`: only if missing).
    /// See [`put`](Self::put).
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put).
    ///
    /// # Cancel safety
    ///
    /// As [`put`](Self::put).
    pub async fn cas(
        self,
        key: &str,
        value: impl Into<Bytes>,
        index: Index,
    ) -> Result<bool, Error> {
        let opts = PutOptions {
            cas: Some(index),
            ..PutOptions::default()
        };
        self.put(key, value, opts).await
    }

    /// Deletes a key, or a whole prefix with `recurse` (`DELETE /v1/kv/<key>`).
    ///
    /// Returns `true` when deleted (also for a missing key), `false` when a `cas` check failed.
    /// Deleting a held key is allowed (locks are advisory).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a bad key, an empty key
    /// without `recurse`, or `cas` together with `recurse`; transport and server errors.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; the delete may or may not have been applied.
    pub async fn delete(self, key: &str, opts: DeleteOptions) -> Result<bool, Error> {
        if opts.recurse && opts.cas.is_some() {
            return Err(Error::invalid_input("cas and recurse cannot be combined"));
        }
        let mut call = Call::delete(kv_path(key, opts.recurse)?);
        if opts.recurse {
            call.query.flag("recurse");
        }
        if let Some(cas) = opts.cas {
            call.query.number("cas", cas.0);
        }
        self.client.send(call, &[]).await?.bool()
    }

    /// Watches one key: a [`Watch`] yielding the entry (or `None`) each time it changes.
    ///
    /// The watch owns a clone of the client and the key; drop it to stop.
    pub fn watch(self, key: &str, config: WatchConfig) -> Watch<Option<KvEntry>> {
        let client = self.client.clone();
        let key = key.to_owned();
        watch(config, move |opts| {
            let client = client.clone();
            let key = key.clone();
            async move { client.kv().get(&key, opts).await }
        })
    }

    /// Watches every key under `prefix`: a [`Watch`] yielding the entries on each change.
    pub fn watch_prefix(self, prefix: &str, config: WatchConfig) -> Watch<Vec<KvEntry>> {
        let client = self.client.clone();
        let prefix = prefix.to_owned();
        watch(config, move |opts| {
            let client = client.clone();
            let prefix = prefix.clone();
            async move { client.kv().list(&prefix, opts).await }
        })
    }
}
