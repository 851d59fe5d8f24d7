//! What both delivery modes decide the same way: which events never reach the handler
//! ([`precheck`]), whether a failed attempt gets another ([`retry_delay`]), the dead letter of
//! an event that is given up on ([`dead_letter`]), and sending what a handler published
//! ([`outbox`]). Core NATS (`super::core`) and JetStream (`super::jetstream`) differ only in
//! how they receive, settle and retry.

pub mod dead_letter;
pub mod outbox;

use std::time::Duration;

use crate::deployment::Deployment;
use crate::event::Event;
use crate::invoke::InvokeError;
use crate::text::humanize;
use sluice_protocol::DeadLetterReason;

/// An event dead-lettered before its handler runs.
pub struct Rejected {
    /// `Sluice-Dlq-Reason`.
    pub reason: DeadLetterReason,
    /// `Sluice-Dlq-Error`.
    pub error: String,
}

/// Rejects an event the function must not see: too large, too old, or not matching its
/// schema.
pub fn precheck(deployment: &Deployment, event: &Event) -> Option<Rejected> {
    let max_payload = deployment.function().manifest().limits.max_payload;
    let rejected = if event.payload.len() as u64 > max_payload {
        Some(Rejected {
            reason: DeadLetterReason::PayloadTooLarge,
            error: format!(
                "payload of {} bytes exceeds limits.max_payload = {max_payload} bytes",
                event.payload.len()
            ),
        })
    } else {
        expired(deployment, event).or_else(|| mismatched(deployment, event))
    }?;
    deployment.trace_unhandled(event, rejected.reason, &rejected.error);
    Some(rejected)
}

/// Rejects an event whose payload does not match the function's `[schema]`.
impl Rejected {
    /// The dead letter's verdict after `attempts` deliveries.
    pub fn verdict(&self, attempts: u32) -> dead_letter::Verdict<'_> {
        dead_letter::Verdict {
            reason: self.reason,
            error: &self.error,
            attempts,
            transcript: None,
        }
    }
}

fn mismatched(deployment: &Deployment, event: &Event) -> Option<Rejected> {
    let mismatch = deployment.function().check_schema(event).err()?;
    tracing::warn!("schema mismatch: {mismatch}");
    Some(Rejected {
        reason: DeadLetterReason::SchemaMismatch,
        error: mismatch.to_string(),
    })
}

/// Rejects an event older than `delivery.max_event_age`.
pub fn expired(deployment: &Deployment, event: &Event) -> Option<Rejected> {
    let max_age = deployment.function().manifest().delivery.max_event_age?;
    let age = event.age();
    (age > max_age).then(|| Rejected {
        reason: DeadLetterReason::Expired,
        error: format!(
            "event is {} old, more than delivery.max_event_age = {}",
            humanize(round(age)),
            humanize(max_age)
        ),
    })
}

/// How long to wait before the next attempt after attempt number `attempt` failed with
/// `error` (`next` names what happens then: "retrying", "redelivering"), counted as a retry;
/// `None` when the failure is permanent or the attempts are used up. Logs either way.
pub fn retry_delay(
    deployment: &Deployment,
    error: &InvokeError,
    attempt: u32,
    next: &str,
) -> Option<std::time::Duration> {
    let retry = &deployment.function().manifest().retry;
    if !(error.is_retryable() && retry.allows_another(attempt)) {
        tracing::warn!(attempt, "giving up: {error}");
        return None;
    }
    let delay = retry.delay(attempt, error.retry_after(), rand::random::<f64>());
    tracing::warn!(
        attempt,
        "attempt failed: {error}; {next} in {}",
        crate::text::humanize(delay)
    );
    deployment.stats.retried();
    Some(delay)
}

fn round(delay: Duration) -> Duration {
    Duration::from_millis(delay.as_millis() as u64)
}
