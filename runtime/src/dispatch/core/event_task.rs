//! One event's life after admission: attempts with backoff, then the outbox or a dead letter.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use super::{Admitted, Queue};
use crate::breaker;
use crate::deployment::Deployment;
use crate::dispatch::outcome::dead_letter::{Verdict, send_dead_letter};
use crate::dispatch::outcome::outbox::{Sending, publish_all};
use crate::dispatch::outcome::{expired, precheck, retry_delay};
use crate::dispatch::{CHAIN, Dispatcher, event_span};
use crate::event::Event;
use crate::invoke::Outcome;
use crate::ordering::KeyRelease;
use crate::transcript::Transcript;

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
        waited,
    } = admitted;
    deployment.stats.received();
    let mut event = Event::from_message(message);
    event.admission_wait = waited;
    let event = Arc::new(event);
    let span = event_span(deployment.function().name(), &event, 1);
    process(dispatcher, &deployment, event, permit, key)
        .instrument(span)
        .await
}

/// Runs `event` through the function until it succeeds, fails permanently or runs out of
/// attempts. Holds `permit` while an instance runs and gives it back while waiting to retry;
/// returns it when an attempt succeeded (after publishing what the handler sent), so the task
/// can run another event with it.
///
/// Dead-lettering is boxed: a future is as large as its largest state, and this one is
/// created, moved and polled for every event, while few events are dead-lettered.
pub async fn process(
    dispatcher: &Dispatcher,
    deployment: &Deployment,
    event: Arc<Event>,
    permit: OwnedSemaphorePermit,
    // Held until the event is finished: its key's next event waits for it, retries included.
    _key: Option<KeyRelease>,
) -> Option<OwnedSemaphorePermit> {
    if let Some(rejected) = precheck(deployment, &event) {
        drop(permit);
        deployment.breaker.cancel_probe();
        Box::pin(give_up(dispatcher, deployment, &event, rejected.verdict(0))).await;
        return None;
    }
    let mut permit = Some(permit);
    let mut attempt = 1;
    loop {
        // The span opened with attempt 1: only a retry records (a span field costs a lookup
        // and a formatting per record).
        if attempt > 1 {
            tracing::Span::current().record("attempt", attempt);
        }
        let permit_held = match permit.take() {
            Some(permit) => permit,
            None => readmit(deployment).await,
        };
        if let Some(rejected) = expired(deployment, &event) {
            drop(permit_held);
            deployment.breaker.cancel_probe();
            Box::pin(give_up(
                dispatcher,
                deployment,
                &event,
                rejected.verdict(attempt - 1),
            ))
            .await;
            return None;
        }
        let (result, transcript) = run_attempt(deployment, &event, attempt).await;
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
        let message = error.to_string();
        Box::pin(give_up(
            dispatcher,
            deployment,
            &event,
            Verdict::of(&error, &message, attempt, transcript.as_ref()),
        ))
        .await;
        return None;
    }
}

/// A permit for a retry: it waits for the circuit like a new event would, and may be its probe.
async fn readmit(deployment: &Deployment) -> OwnedSemaphorePermit {
    deployment.breaker.ready().await;
    deployment.breaker.admit();
    deployment
        .permits
        .clone()
        .acquire_owned()
        .await
        .expect("function permits are never closed")
}

/// One attempt, counted as a running instance, its outcome told to the breaker.
async fn run_attempt(
    deployment: &Deployment,
    event: &Arc<Event>,
    attempt: u32,
) -> (Outcome, Option<Transcript>) {
    let (result, transcript) = {
        let _running = deployment.stats.start_instance();
        // Boxed: the attempt's state (store, instantiation and call futures) is most of this
        // task's size; inline, it is moved with the task (unboxed measured 1.5 % more host
        // instructions per event).
        Box::pin(deployment.attempt(event, attempt)).await
    };
    deployment.breaker.record(match &result {
        Err(error) if error.is_retryable() => breaker::Outcome::Failing,
        _ => breaker::Outcome::Healthy,
    });
    (result, transcript)
}

/// Dead-letters `event` (a plain publish: core NATS is at most once); a letter that cannot be
/// sent means the event is lost, which is counted and logged.
async fn give_up(dispatcher: &Dispatcher, deployment: &Deployment, event: &Event, verdict: Verdict<'_>) {
    let reason = verdict.reason;
    if let Err(publish_error) = send_dead_letter(dispatcher, deployment, event, verdict, Sending::Plain).await
    {
        deployment.stats.dropped();
        tracing::error!(
            reason = reason.as_str(),
            dead_letter_subject = deployment.function().manifest().dead_letter.as_deref(),
            "event lost: dead letter could not be published: {publish_error}"
        );
    }
}
