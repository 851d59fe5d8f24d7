//! One event's life after admission: attempts with backoff, then the outbox or a dead letter.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;

use super::{Deployment, Dispatcher};
use crate::dead_letter;
use crate::event::Event;
use crate::event::headers;
use crate::host::OutgoingMessage;
use crate::invoke::{humanize, invoke};

/// Runs `event` through the function until it succeeds, fails permanently or runs out of
/// attempts. Holds `permit` while an instance runs and gives it back while waiting to retry.
pub async fn process(
    dispatcher: Dispatcher,
    deployment: Arc<Deployment>,
    event: Arc<Event>,
    permit: OwnedSemaphorePermit,
) {
    let function = &deployment.function;
    let manifest = function.manifest();
    if event.payload.len() as u64 > manifest.limits.max_payload {
        let error = format!(
            "payload of {} bytes exceeds limits.max_payload = {} bytes",
            event.payload.len(),
            manifest.limits.max_payload
        );
        drop(permit);
        return dead_letter(&dispatcher, &deployment, &event, "payload_too_large", &error, 0).await;
    }
    let mut permit = Some(permit);
    let mut attempt = 1;
    loop {
        tracing::Span::current().record("attempt", attempt);
        let permit_held = match permit.take() {
            Some(permit) => permit,
            None => deployment
                .permits
                .clone()
                .acquire_owned()
                .await
                .expect("function permits are never closed"),
        };
        let result = {
            let _running = deployment.stats.start_instance();
            invoke(&dispatcher.engine, function, &event, attempt).await
        };
        drop(permit_held);
        match result {
            Ok(messages) => {
                deployment.stats.succeeded();
                publish_all(&dispatcher, &deployment, messages).await;
                return;
            }
            Err(error) if error.is_retryable() && manifest.retry.allows_another(attempt) => {
                let delay = manifest
                    .retry
                    .delay(attempt, error.retry_after(), rand::random::<f64>());
                tracing::warn!(
                    attempt,
                    "attempt failed: {error}; retrying in {}",
                    humanize(round(delay))
                );
                deployment.stats.retried();
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(error) => {
                tracing::warn!(attempt, "giving up: {error}");
                return dead_letter(
                    &dispatcher,
                    &deployment,
                    &event,
                    error.reason(),
                    &error.to_string(),
                    attempt,
                )
                .await;
            }
        }
    }
}

async fn dead_letter(
    dispatcher: &Dispatcher,
    deployment: &Deployment,
    event: &Event,
    reason: dead_letter::Reason,
    error: &str,
    attempts: u32,
) {
    let function = deployment.function.name();
    let Some(subject) = deployment.function.manifest().dead_letter.as_deref() else {
        deployment.stats.dropped();
        tracing::error!(reason, "event dropped (dead_letter.subject = \"none\"): {error}");
        return;
    };
    let message = dead_letter::message(subject, event, function, reason, error, attempts);
    match send(dispatcher, message).await {
        Ok(()) => {
            deployment.stats.dead_lettered(reason);
            tracing::info!(reason, dead_letter_subject = subject, "event dead-lettered");
        }
        Err(publish_error) => {
            deployment.stats.dropped();
            tracing::error!(
                reason,
                dead_letter_subject = subject,
                "event lost: dead letter could not be published: {publish_error}"
            );
        }
    }
}

async fn publish_all(dispatcher: &Dispatcher, deployment: &Deployment, messages: Vec<OutgoingMessage>) {
    let (mut ok, mut failed) = (0, 0);
    for message in messages {
        let subject = message.subject.clone();
        match send(dispatcher, message).await {
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
    let headers = headers::to_nats(&message.headers);
    dispatcher
        .client
        .publish_with_headers(message.subject, headers, message.payload)
        .await
}

fn round(delay: Duration) -> Duration {
    Duration::from_millis(delay.as_millis() as u64)
}
