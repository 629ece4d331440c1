//! Check status changes: TTL updates and expiry, runner results.

use consuela_wire::HealthStatus;
use tokio::time::Instant;

use super::CheckKind;
use crate::config::DevServerConfig;
use crate::state::{Inner, TimerKey};

/// Output size limit of checks (Consul's `BufSize`).
const OUTPUT_MAX: usize = 4096;

pub(super) fn truncate_output(s: &str) -> String {
    if s.len() <= OUTPUT_MAX {
        return s.to_owned();
    }
    let mut end = OUTPUT_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{} ... (captured {} of {} bytes)",
        &s[..end],
        OUTPUT_MAX,
        s.len()
    )
}

impl Inner {
    /// Sets a check's status and output. A status change is a catalog write
    /// (and, to critical, invalidates bound sessions in the same write); an
    /// output-only change is not, as Consul syncs those lazily.
    pub(crate) fn set_check_status(
        &mut self,
        node: &str,
        id: &str,
        status: HealthStatus,
        output: &str,
        now: Instant,
        cfg: &DevServerConfig,
    ) {
        let key = (node.to_owned(), id.to_owned());
        let Some(c) = self.catalog.checks.get_mut(&key) else {
            return;
        };
        c.output = truncate_output(output);
        if c.status == status {
            return;
        }
        c.status = status;
        let service_id = c.service_id.clone();
        let idx = self.touch_checks(node, &service_id);
        if let Some(c) = self.catalog.checks.get_mut(&key) {
            c.modify_index = idx;
        }
        if matches!(status, HealthStatus::Critical | HealthStatus::Maintenance) {
            self.invalidate_sessions_for_check(node, id, now, cfg);
        }
    }

    /// pass/warn/fail/update of a TTL check: sets the status and re-arms the
    /// TTL. Err is Consul's 500 text for unknown and non-TTL checks.
    pub(crate) fn update_ttl_check(
        &mut self,
        id: &str,
        status: HealthStatus,
        output: &str,
        now: Instant,
        cfg: &DevServerConfig,
    ) -> Result<(), String> {
        let node = self.catalog.agent_node.clone();
        let key = (node.clone(), id.to_owned());
        let (ttl, old) = match self.catalog.checks.get(&key) {
            Some(c) if c.origin == super::Origin::Agent => match &c.kind {
                CheckKind::Ttl(ttl) => (*ttl, c.ttl_deadline),
                _ => return Err(no_ttl(id)),
            },
            _ => return Err(no_ttl(id)),
        };
        if let Some(at) = old {
            self.remove_timer(at, TimerKey::Check(node.clone(), id.to_owned()));
        }
        let at = now + ttl;
        self.add_timer(at, TimerKey::Check(node.clone(), id.to_owned()));
        if let Some(c) = self.catalog.checks.get_mut(&key) {
            c.ttl_deadline = Some(at);
        }
        self.set_check_status(&node, id, status, output, now, cfg);
        Ok(())
    }

    /// A TTL check's timer fired.
    pub(crate) fn check_ttl_expired(
        &mut self,
        node: &str,
        id: &str,
        at: Instant,
        now: Instant,
        cfg: &DevServerConfig,
    ) {
        let key = (node.to_owned(), id.to_owned());
        let Some(c) = self.catalog.checks.get_mut(&key) else {
            return;
        };
        if c.ttl_deadline != Some(at) {
            return;
        }
        c.ttl_deadline = None;
        let output = if c.output.is_empty() {
            "TTL expired".to_owned()
        } else {
            format!(
                "TTL expired (last output before timeout follows): {}",
                c.output
            )
        };
        self.set_check_status(node, id, HealthStatus::Critical, &output, now, cfg);
    }
}

fn no_ttl(id: &str) -> String {
    format!(
        "CheckID {} does not have associated TTL",
        crate::gostr::go_quote(id)
    )
}
