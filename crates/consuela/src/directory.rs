//! [`Directory`]: who holds which names, read without a session, and the
//! [`RegistryWatch`] stream of changes.

use consuela_client::{Client, Consistency, Watch, WatchConfig};
use consuela_wire::KvEntry;

use crate::consul::Consul;
use crate::error::Error;
use crate::holder::Holder;
use crate::name::{KeySpace, Name};
use crate::read::{self, View};
use crate::watch;
pub use crate::watch::{Change, RegistryWatch};

/// Who holds which names in a namespace, read without creating a session.
///
/// For tools and services that only look names up (a CLI, a router): a
/// [`Registry`](crate::Registry) answers the same questions through its own
/// directory, which also hides the registry's released names whose keys are
/// not deleted yet.
#[derive(Debug, Clone)]
pub struct Directory {
    consul: Consul,
    view: View,
}

impl Directory {
    /// A directory of `namespace`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName) for an
    /// invalid namespace.
    pub fn new(client: Client, namespace: &str) -> Result<Self, Error> {
        Ok(Self::with_view(
            Consul::new(client),
            View::new(KeySpace::new(namespace)?),
        ))
    }

    pub(crate) fn with_view(consul: Consul, view: View) -> Self {
        Self { consul, view }
    }

    /// Who holds `name`, with one Consul read (default consistency).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName); the outcome
    /// kinds when Consul cannot be read;
    /// [`ErrorKind::Foreign`](crate::ErrorKind::Foreign) when the key holds a
    /// value this library did not write.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn whereis(&self, name: impl AsRef<str>) -> Result<Option<Holder>, Error> {
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
    ) -> Result<Option<Holder>, Error> {
        let name = Name::new(name)?;
        self.holder(&name, consistency).await
    }

    /// Every name held under `prefix` (`""` for all), sorted by name.
    ///
    /// # Errors
    ///
    /// The outcome kinds when Consul cannot be read.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(Name, Holder)>, Error> {
        let entries = self
            .consul
            .list(&self.view.keys().prefix(prefix), Consistency::Default)
            .await?;
        Ok(self.view.holders(entries).into_iter().collect())
    }

    /// A live stream of ownership changes under `prefix`, starting with every
    /// name already held.
    pub fn watch(&self, prefix: &str) -> RegistryWatch {
        self.watch_with(prefix, WatchConfig::default())
    }

    /// [`watch`](Self::watch) with explicit blocking-query settings.
    pub fn watch_with(&self, prefix: &str, config: WatchConfig) -> RegistryWatch {
        let answers = self
            .consul
            .watch_prefix(&self.view.keys().prefix(prefix), config);
        watch::watch(answers, self.view.clone())
    }

    pub(crate) fn key(&self, name: &Name) -> String {
        self.view.keys().key(name)
    }

    /// The Consul reads behind this directory, for semaphores and groups.
    pub(crate) fn consul(&self) -> &Consul {
        &self.consul
    }

    /// The read model behind this directory.
    pub(crate) fn view(&self) -> &View {
        &self.view
    }

    /// The live holder of `name`.
    pub(crate) async fn holder(
        &self,
        name: &Name,
        consistency: Consistency,
    ) -> Result<Option<Holder>, Error> {
        match self.consul.get(&self.key(name), consistency).await? {
            Some(entry) => self.view.holder(name, &entry),
            None => Ok(None),
        }
    }

    /// Whoever locks `name`'s key, dead local holders included, and the
    /// entry: for the reaper, which must see exactly those.
    pub(crate) async fn entry(
        &self,
        name: &Name,
        consistency: Consistency,
    ) -> Result<Option<(Holder, KvEntry)>, Error> {
        let Some(entry) = self.consul.get(&self.key(name), consistency).await? else {
            return Ok(None);
        };
        Ok(read::decode(&entry)?.map(|holder| (holder, entry)))
    }

    /// Blocking queries on `name`'s key; read answers with [`Self::decode`].
    pub(crate) fn watch_key(&self, name: &Name, config: WatchConfig) -> Watch<Option<KvEntry>> {
        self.consul.watch_key(&self.key(name), config)
    }

    /// The live holder of `name` in `entry`.
    pub(crate) fn decode(&self, name: &Name, entry: &KvEntry) -> Result<Option<Holder>, Error> {
        self.view.holder(name, entry)
    }
}
