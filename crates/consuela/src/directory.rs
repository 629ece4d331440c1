//! Read-only lookups without a session: [`Directory`].

use consuela_client::{Client, Consistency, QueryOptions, WatchConfig};
use consuela_wire::KvEntry;

use crate::error::{Error, ErrorKind};
use crate::name::{KeySpace, Name};
use crate::record::{Record, Registered};
use crate::registry::consul::from_client;
use crate::watch::{self, RegistryWatch};

/// Who owns which names in a namespace, read without creating a session.
///
/// For tools and services that only look names up (a CLI, a router): a
/// [`Registry`](crate::Registry) answers the same questions but needs a
/// session, because it can also register.
#[derive(Debug, Clone)]
pub struct Directory {
    client: Client,
    keys: KeySpace,
}

impl Directory {
    /// A directory of `namespace`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`] for an invalid namespace.
    pub fn new(client: Client, namespace: &str) -> Result<Self, Error> {
        Ok(Self {
            client,
            keys: KeySpace::new(namespace)?,
        })
    }

    /// Who holds `name`, with one Consul read (default consistency).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`]; the outcome kinds when Consul cannot be
    /// read; [`ErrorKind::Foreign`] when the key holds a value this library
    /// did not write.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn whereis(&self, name: impl AsRef<str>) -> Result<Option<Registered>, Error> {
        self.whereis_with(name, Consistency::Default).await
    }

    /// [`whereis`](Self::whereis) with a chosen read consistency.
    ///
    /// # Errors
    ///
    /// As [`whereis`](Self::whereis).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn whereis_with(
        &self,
        name: impl AsRef<str>,
        consistency: Consistency,
    ) -> Result<Option<Registered>, Error> {
        let name = Name::new(name)?;
        Ok(self
            .read(&name, consistency)
            .await?
            .map(|(record, entry)| record.into_registered(entry.modify_index.0)))
    }

    /// Every name registered under `prefix` (`""` for all), sorted.
    ///
    /// # Errors
    ///
    /// The outcome kinds when Consul cannot be read.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(Name, Registered)>, Error> {
        Ok(self
            .entries(prefix, Consistency::Default)
            .await?
            .into_iter()
            .map(|(name, record, entry)| (name, record.into_registered(entry.modify_index.0)))
            .collect())
    }

    /// A live stream of ownership changes under `prefix`, starting with every
    /// name already owned.
    pub fn watch(&self, prefix: &str) -> RegistryWatch {
        self.watch_with(prefix, WatchConfig::default())
    }

    /// [`watch`](Self::watch) with explicit blocking-query settings.
    pub fn watch_with(&self, prefix: &str, config: WatchConfig) -> RegistryWatch {
        watch::watch(&self.client, self.keys.clone(), prefix, config)
    }

    pub(crate) fn key(&self, name: &Name) -> String {
        self.keys.key(name)
    }

    /// The owner record of `name` and its entry; `None` when free.
    pub(crate) async fn read(
        &self,
        name: &Name,
        consistency: Consistency,
    ) -> Result<Option<(Record, KvEntry)>, Error> {
        let opts = QueryOptions::new().with_consistency(consistency);
        let entry = self
            .client
            .kv()
            .get(&self.keys.key(name), opts)
            .await
            .map_err(from_client)?
            .value;
        match entry {
            Some(entry) => Ok(owner_record(&entry)?.map(|record| (record, entry))),
            None => Ok(None),
        }
    }

    /// Owned names under `prefix` with their records; keys outside the name
    /// rules or with foreign values are skipped.
    pub(crate) async fn entries(
        &self,
        prefix: &str,
        consistency: Consistency,
    ) -> Result<Vec<(Name, Record, KvEntry)>, Error> {
        let opts = QueryOptions::new().with_consistency(consistency);
        let entries = self
            .client
            .kv()
            .list(&self.keys.prefix(prefix), opts)
            .await
            .map_err(from_client)?
            .value;
        Ok(entries
            .into_iter()
            .filter_map(|entry| {
                let name = self.keys.name(&entry.key)?;
                let record = owner_record(&entry).ok()??;
                Some((name, record, entry))
            })
            .collect())
    }
}

/// The owner record under a key: `None` when no session holds it (free, or
/// released), [`ErrorKind::Foreign`] when its value is not ours.
pub(crate) fn owner_record(entry: &KvEntry) -> Result<Option<Record>, Error> {
    if entry.session.is_none() {
        return Ok(None);
    }
    let value = entry
        .value
        .as_deref()
        .ok_or_else(|| Error::new(ErrorKind::Foreign))?;
    Record::decode(value)
        .map(Some)
        .map_err(|e| Error::with_source(ErrorKind::Foreign, e))
}
