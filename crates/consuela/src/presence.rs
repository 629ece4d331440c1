//! Presence: this member as a Consul service with a health check.
//!
//! The check is either a TCP check served by a listener we own (Consul
//! connects; we accept and close, as the original did) or a TTL check we keep
//! passing. Bind the registry session to it ([`Presence::bind`]) and Consul
//! frees a dead member's names within the check interval instead of 2×TTL.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use consuela_client::Client;
use consuela_wire::{CheckDefinition, CheckId, HealthStatus, ServiceId, ServiceRegistration};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
pub use crate::config::{PresenceCheck, PresenceConfig};
use crate::duration;
use crate::error::{Error, ErrorKind};
use crate::event::{Event, Pulses};

/// The service-meta key that carries the member name.
pub const MEMBER_META_KEY: &str = "consuela-member";

/// A registered presence. [`shutdown`](Self::shutdown) deregisters it.
#[derive(Debug)]
pub struct Presence {
    client: Client,
    service_id: ServiceId,
    check_id: CheckId,
    listen: Option<SocketAddr>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Presence {
    /// Starts the check's listener (or TTL reporter) and registers the
    /// service with `replace-existing-checks`, so re-registration is
    /// idempotent. The check starts `passing`, so a session can bind to it
    /// at once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`]-like failures as [`ErrorKind::Rejected`] (bad
    /// listen address, refused registration) and the outcome kinds when
    /// Consul cannot be reached.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a cancelled start may leave the service registered.
    pub async fn start(
        client: Client,
        member: &str,
        config: PresenceConfig,
    ) -> Result<Self, Error> {
        Self::start_with(client, member, config, crate::event::TracingPulse).await
    }

    /// [`start`](Self::start), with events ([`Event::PresenceStarted`],
    /// [`Event::PresenceChecked`]) going to `pulse`.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    ///
    /// # Cancel safety
    ///
    /// As [`start`](Self::start).
    pub async fn start_with(
        client: Client,
        member: &str,
        config: PresenceConfig,
        pulse: impl crate::event::Pulse,
    ) -> Result<Self, Error> {
        let mut pulses = Pulses::default();
        pulses.add(None, std::sync::Arc::new(pulse));
        let service_id = ServiceId::new(
            config
                .service_id
                .clone()
                .unwrap_or_else(|| format!("{}-{member}", config.service)),
        );
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let (check, listen, check_id) = match &config.check {
            PresenceCheck::Tcp { listen, interval } => {
                let listener = TcpListener::bind(listen)
                    .await
                    .map_err(|e| Error::with_source(ErrorKind::Rejected, e))?;
                let local = listener
                    .local_addr()
                    .map_err(|e| Error::with_source(ErrorKind::Rejected, e))?;
                let target = dial_target(local, config.address.as_deref());
                // Unique per listener, so a restarted member never inherits
                // the old check's state.
                let check_id = CheckId::new(format!("service:{service_id}:{}", local.port()));
                tasks.spawn(accept_loop(
                    listener,
                    stop.clone(),
                    pulses.clone(),
                    config.service.clone(),
                ));
                let check = CheckDefinition {
                    check_id: Some(check_id.clone()),
                    name: Some(format!("consuela presence of {member}")),
                    tcp: Some(target),
                    interval: Some(duration::format(*interval)),
                    timeout: Some(duration::format((*interval).min(Duration::from_secs(5)))),
                    status: Some(HealthStatus::Passing),
                    deregister_critical_service_after: config
                        .deregister_critical_after
                        .map(duration::format),
                    ..CheckDefinition::default()
                };
                (check, Some(local), check_id)
            }
            PresenceCheck::Ttl { ttl } => {
                let check_id = CheckId::new(format!("service:{service_id}:ttl"));
                let check = CheckDefinition {
                    check_id: Some(check_id.clone()),
                    name: Some(format!("consuela presence of {member}")),
                    ttl: Some(duration::format(*ttl)),
                    status: Some(HealthStatus::Passing),
                    deregister_critical_service_after: config
                        .deregister_critical_after
                        .map(duration::format),
                    ..CheckDefinition::default()
                };
                tasks.spawn(ttl_loop(
                    client.clone(),
                    check_id.clone(),
                    *ttl,
                    stop.clone(),
                ));
                (check, None, check_id)
            }
        };
        let mut meta = BTreeMap::new();
        meta.insert(MEMBER_META_KEY.to_owned(), member.to_owned());
        let registration = ServiceRegistration {
            id: Some(service_id.clone()),
            name: config.service.clone(),
            tags: Some(config.tags.clone()),
            address: config.address.clone().or_else(|| {
                listen
                    .filter(|a| !a.ip().is_unspecified())
                    .map(|a| a.ip().to_string())
            }),
            port: config.port.or(listen.map(|a| a.port())),
            meta: Some(meta),
            check: Some(check),
            ..ServiceRegistration::default()
        };
        if let Err(e) = client.agent().register_service(&registration, true).await {
            stop.cancel();
            return Err(e.into());
        }
        tasks.close();
        pulses.emit(Event::PresenceStarted {
            service: config.service,
            check: check_id.to_string(),
        });
        Ok(Self {
            client,
            service_id,
            check_id,
            listen,
            stop,
            tasks,
        })
    }

    /// The check id, to bind a session to.
    pub fn check_id(&self) -> &CheckId {
        &self.check_id
    }

    /// The service id.
    pub fn service_id(&self) -> &ServiceId {
        &self.service_id
    }

    /// The TCP check's listener address, for a TCP check.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen
    }

    /// Binds a registry configuration's session to this presence's check.
    pub fn bind(&self, config: &mut Config) {
        config.session.checks.push(self.check_id.to_string());
    }

    /// Stops answering checks without deregistering (as a crash would):
    /// Consul marks the check critical at its next run.
    pub async fn stop_checks(&self) {
        self.stop.cancel();
        self.tasks.wait().await;
    }

    /// Stops answering checks and deregisters the service.
    ///
    /// # Errors
    ///
    /// The outcome kinds when Consul cannot be reached (the service then
    /// stays until Consul's `DeregisterCriticalServiceAfter`, if set).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.stop_checks().await;
        match self
            .client
            .agent()
            .deregister_service(&self.service_id)
            .await
        {
            Ok(()) => Ok(()),
            // Newer agents answer 404 for an unknown service: already gone.
            Err(e) if e.kind() == consuela_client::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// `host:port` for Consul to dial, IPv6 in brackets.
fn dial_target(local: SocketAddr, advertised: Option<&str>) -> String {
    match advertised {
        Some(host) if host.contains(':') => format!("[{host}]:{}", local.port()),
        Some(host) => format!("{host}:{}", local.port()),
        None if local.ip().is_unspecified() => format!("127.0.0.1:{}", local.port()),
        None => local.to_string(),
    }
}

async fn accept_loop(
    listener: TcpListener,
    stop: CancellationToken,
    pulses: Pulses,
    service: String,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => {
                if let Ok((socket, peer)) = accepted {
                    drop(socket);
                    pulses.emit(Event::PresenceChecked { service: service.clone(), peer });
                }
            }
        }
    }
}

async fn ttl_loop(client: Client, check: CheckId, ttl: Duration, stop: CancellationToken) {
    let every = ttl / 3;
    loop {
        let _ = client.agent().pass_check(&check, None).await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_targets_as_the_original_encodes_them() {
        let local: SocketAddr = "0.0.0.0:4242".parse().unwrap();
        assert_eq!(dial_target(local, Some("10.0.0.1")), "10.0.0.1:4242");
        assert_eq!(dial_target(local, Some("::")), "[::]:4242");
        assert_eq!(dial_target(local, Some("fc00::1")), "[fc00::1]:4242");
        assert_eq!(dial_target(local, None), "127.0.0.1:4242");
        let bound: SocketAddr = "127.0.0.2:7".parse().unwrap();
        assert_eq!(dial_target(bound, None), "127.0.0.2:7");
    }

    #[test]
    fn config_from_toml() {
        let c: PresenceConfig = toml::from_str(
            "service = \"api\"\ntags = [\"eu\"]\n[check]\nkind = \"ttl\"\nttl = \"15s\"\n",
        )
        .unwrap();
        assert_eq!(
            c.check,
            PresenceCheck::Ttl {
                ttl: Duration::from_secs(15)
            }
        );
        let c: PresenceConfig = toml::from_str("service = \"api\"\n").unwrap();
        assert!(
            matches!(c.check, PresenceCheck::Tcp { interval, .. } if interval == Duration::from_secs(5))
        );
    }
}
