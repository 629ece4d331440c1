//! The `metrics` feature: [`MetricsPulse`] records registry figures through the `metrics` facade.

use crate::event::{Event, Pulse};

/// Records latencies, failures, the reaper queue and losses from events.
///
/// Every registry built with the `metrics` feature has one; add it yourself
/// to [`Discovery::start`](crate::discovery::Discovery::start) or anywhere else events flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsPulse;

impl Pulse for MetricsPulse {
    fn handle(&self, event: &Event) {
        record(event);
    }
}

fn record(event: &Event) {
    match event {
        Event::Registered { latency, .. } => {
            metrics::histogram!("consuela_register_seconds").record(latency.as_secs_f64());
            metrics::counter!("consuela_registrations_total").increment(1);
        }
        Event::Conflict { .. } => metrics::counter!("consuela_conflicts_total").increment(1),
        Event::LockDelayed { .. } => metrics::counter!("consuela_lock_delayed_total").increment(1),
        Event::RegisterFailed { .. } => {
            metrics::counter!("consuela_register_failures_total").increment(1);
        }
        Event::Unregistered { latency, .. } => {
            metrics::histogram!("consuela_unregister_seconds").record(latency.as_secs_f64());
        }
        Event::UnregisterFailed { .. } => {
            metrics::counter!("consuela_unregister_failures_total").increment(1);
        }
        Event::Renewed { latency, .. } => {
            metrics::histogram!("consuela_renew_seconds").record(latency.as_secs_f64());
        }
        Event::RenewFailed { .. } => {
            metrics::counter!("consuela_renew_failures_total").increment(1)
        }
        Event::ZombieEnqueued { queue, .. } | Event::ZombieReaped { queue, .. } => {
            metrics::gauge!("consuela_reaper_queue").set(*queue as f64);
        }
        Event::ReapFailed { .. } => metrics::counter!("consuela_reap_failures_total").increment(1),
        Event::Lost { .. } => metrics::counter!("consuela_lost_total").increment(1),
        Event::Replaced { .. } => {
            metrics::counter!("consuela_sessions_replaced_total").increment(1)
        }
        Event::MailRefused { reason, .. } => {
            metrics::counter!("consuela_mail_refused_total", "reason" => *reason).increment(1);
        }
        Event::MailUndelivered { .. } => {
            metrics::counter!("consuela_mail_undelivered_total").increment(1);
        }
        _ => {}
    }
}
