//! One event's life after admission: attempts with backoff, then the outbox or a dead letter.

use std::sync::Arc;
use std::time::Duration;

use sluice_protocol::DeadLetterReason;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use super::intake::{Admitted, Queue};
use super::{Deployment, Dispatcher, event_span, retry_delay};
use crate::breaker;
use crate::dead_letter;
use crate::event::Event;
use crate::event::headers;
use crate::host::OutgoingMessage;
use crate::invoke::humanize;
use crate::ordering::KeyRelease;

/// Most events one task runs one after another before it ends and gives its permit back to
/// the intake. A task that never has to wait (a fast handler, a free publish buffer) runs
/// them in one poll, so this bounds how long it keeps its worker thread from other tasks
/// (16 fresh Rust instances are about 0.2 ms); 16 and 64 measured the same throughput.
pub const CHAIN: u32 = 16;

/// Runs `admitted`, then, while events succeed and another is ready in `queue`, the next
/// one with the same permit: one task serves a run of events without a spawn or a wake-up of
/// the intake between them. An event that is dead-lettered ends the run (its permit was
/// given back when its last attempt failed).
pub async fn chain(
    dispatcher: Dispatcher,
    queue: Arc<Queue>,
    mut admitted: Admitted,
    mut permit: OwnedSemaphorePermit,
) {
    for _ in 1..CHAIN {
        let Some(kept) = run(&dispatcher, admitted, permit).await else {
            return;
        };
        let Some(next) = queue.next_for(kept.semaphore()) else {
            return;
        };
        (admitted, permit) = (next, kept);
    }
    run(&dispatcher, admitted, permit).await;
}

/// One admitted event in its own span; returns the permit when the event succeeded.
async fn run(
    dispatcher: &Dispatcher,
    admitted: Admitted,
    permit: OwnedSemaphorePermit,
) -> Option<OwnedSemaphorePermit> {
    let Admitted {
        deployment,
        message,
        key,
    } = admitted;
    deployment.stats.received();
    let event = Arc::new(Event::from_message(message));
    let span = event_span(deployment.function.name(), &event, None);
    process(dispatcher, &deployment, event, permit, key)
        .instrument(span)
        .await
}

/// Runs `event` through the function until it succeeds, fails permanently or runs out of
/// attempts. Holds `permit` while an instance runs and gives it back while waiting to retry;
/// returns it when an attempt succeeded (after publishing what the handler sent), so the task
/// can run another event with it.
pub async fn process(
    dispatcher: &Dispatcher,
    deployment: &Deployment,
    event: Arc<Event>,
    permit: OwnedSemaphorePermit,
    // Held until the event is finished: its key's next event waits for it, retries included.
    _key: Option<KeyRelease>,
) -> Option<OwnedSemaphorePermit> {
    let function = &deployment.function;
    if let Some(rejected) = precheck(deployment, &event) {
        drop(permit);
        deployment.breaker.cancel_probe();
        dead_letter(
            dispatcher,
            deployment,
            &event,
            rejected.reason,
            &rejected.error,
            0,
        )
        .await;
        return None;
    }
    let mut permit = Some(permit);
    let mut attempt = 1;
    loop {
        tracing::Span::current().record("attempt", attempt);
        let permit_held = match permit.take() {
            Some(permit) => permit,
            None => {
                // A retry waits for the circuit like a new event would, and may be its probe.
                deployment.breaker.ready().await;
                deployment.breaker.admit();
                deployment
                    .permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("function permits are never closed")
            }
        };
        if let Some(rejected) = expired(deployment, &event) {
            drop(permit_held);
            deployment.breaker.cancel_probe();
            dead_letter(
                dispatcher,
                deployment,
                &event,
                rejected.reason,
                &rejected.error,
                attempt - 1,
            )
            .await;
            return None;
        }
        let result = {
            let _running = deployment.stats.start_instance();
            // Boxed: the attempt's state (store, instantiation and call futures) is most of
            // this task's size; inline, it is moved with the task (unboxed measured 1.5 %
            // more host instructions per event).
            Box::pin(crate::batch::invoke_batched(
                &dispatcher.engine,
                function,
                &event,
                attempt,
            ))
            .await
        };
        deployment.breaker.record(match &result {
            Err(error) if error.is_retryable() => breaker::Outcome::Failing,
            _ => breaker::Outcome::Healthy,
        });
        let error = match result {
            Ok(messages) => {
                deployment.stats.succeeded();
                // Published under the permit, so a slow broker holds back admissions too.
                publish_all(dispatcher, deployment, messages).await;
                return Some(permit_held);
            }
            Err(error) => error,
        };
        drop(permit_held);
        if let Some(delay) = retry_delay(deployment, &error, attempt, "retrying") {
            tokio::time::sleep(delay).await;
            attempt += 1;
            continue;
        }
        dead_letter(
            dispatcher,
            deployment,
            &event,
            error.reason(),
            &error.to_string(),
            attempt,
        )
        .await;
        return None;
    }
}

/// An event dead-lettered before its handler runs.
pub(super) struct Rejected {
    /// `Sluice-Dlq-Reason`.
    pub reason: DeadLetterReason,
    /// `Sluice-Dlq-Error`.
    pub error: String,
}

/// Rejects an event the function must not see: too large, too old, or not matching its
/// schema.
pub(super) fn precheck(deployment: &Deployment, event: &Event) -> Option<Rejected> {
    let max_payload = deployment.function.manifest().limits.max_payload;
    if event.payload.len() as u64 > max_payload {
        return Some(Rejected {
            reason: DeadLetterReason::PayloadTooLarge,
            error: format!(
                "payload of {} bytes exceeds limits.max_payload = {max_payload} bytes",
                event.payload.len()
            ),
        });
    }
    expired(deployment, event).or_else(|| mismatched(deployment, event))
}

/// Rejects an event whose payload does not match the function's `[schema]`.
fn mismatched(deployment: &Deployment, event: &Event) -> Option<Rejected> {
    let mismatch = deployment.function.check_schema(event).err()?;
    tracing::warn!("schema mismatch: {mismatch}");
    Some(Rejected {
        reason: DeadLetterReason::SchemaMismatch,
        error: mismatch.to_string(),
    })
}

/// Rejects an event older than `delivery.max_event_age`.
fn expired(deployment: &Deployment, event: &Event) -> Option<Rejected> {
    let max_age = deployment.function.manifest().delivery.max_event_age?;
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

/// The dead letter of `event`, or `None` when the function drops what fails
/// (`dead_letter.subject = "none"`; counted and logged here).
pub(super) fn letter(
    deployment: &Deployment,
    event: &Event,
    reason: DeadLetterReason,
    error: &str,
    attempts: u32,
) -> Option<OutgoingMessage> {
    let Some(subject) = deployment.function.manifest().dead_letter.as_deref() else {
        deployment.stats.dropped();
        tracing::error!(
            reason = reason.as_str(),
            "event dropped (dead_letter.subject = \"none\"): {error}"
        );
        return None;
    };
    let function = deployment.function.name();
    Some(dead_letter::message(
        subject, event, function, reason, error, attempts,
    ))
}

async fn dead_letter(
    dispatcher: &Dispatcher,
    deployment: &Deployment,
    event: &Event,
    reason: DeadLetterReason,
    error: &str,
    attempts: u32,
) {
    let Some(message) = letter(deployment, event, reason, error, attempts) else {
        return;
    };
    let subject = message.subject.clone();
    match send(dispatcher, message).await {
        Ok(()) => {
            deployment.stats.dead_lettered(reason);
            tracing::info!(
                reason = reason.as_str(),
                dead_letter_subject = subject,
                "event dead-lettered"
            );
        }
        Err(publish_error) => {
            deployment.stats.dropped();
            tracing::error!(
                reason = reason.as_str(),
                dead_letter_subject = subject,
                "event lost: dead letter could not be published: {publish_error}"
            );
        }
    }
}

async fn publish_all(dispatcher: &Dispatcher, deployment: &Deployment, messages: Vec<OutgoingMessage>) {
    let (mut ok, mut failed) = (0, 0);
    for message in messages {
        // A `Subject` shares its bytes: kept for the error line without copying the string.
        let subject = async_nats::Subject::from(message.subject);
        let headers = headers::to_nats(message.headers);
        let sent = dispatcher
            .client
            .publish_with_headers(subject.clone(), headers, message.payload)
            .await;
        match sent {
            Ok(()) => ok += 1,
            Err(error) => {
                failed += 1;
                tracing::error!(%subject, "publishing the handler's message failed: {error}");
            }
        }
    }
    deployment.stats.published(ok, failed);
}

async fn send(dispatcher: &Dispatcher, message: OutgoingMessage) -> Result<(), async_nats::PublishError> {
    let headers = headers::to_nats(message.headers);
    dispatcher
        .client
        .publish_with_headers(message.subject, headers, message.payload)
        .await
}

/// Publishes `message`; when a stream captures its subject, waits for the stream's ack.
/// Other subjects get a plain publish: it reaches the server before the ack that follows it
/// on the same connection, and no stream would keep it anyway.
pub(super) async fn send_confirmed(dispatcher: &Dispatcher, message: OutgoingMessage) -> Result<(), String> {
    if !dispatcher.routes.captured(&message.subject).await {
        return send(dispatcher, message).await.map_err(|error| error.to_string());
    }
    let headers = headers::to_nats(message.headers);
    let ack = dispatcher
        .jetstream
        .publish_with_headers(message.subject, headers, message.payload)
        .await
        .map_err(|error| error.to_string())?;
    ack.await.map(drop).map_err(|error| error.to_string())
}

fn round(delay: Duration) -> Duration {
    Duration::from_millis(delay.as_millis() as u64)
}
