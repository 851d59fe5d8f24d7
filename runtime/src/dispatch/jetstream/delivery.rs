//! One JetStream delivery's life after admission: checks, one attempt, then exactly one of
//! ack (after the handler's publishes are confirmed), NAK with the host's delay, or a
//! confirmed dead letter followed by TERM. The attempt number is the server's delivery count,
//! so retries survive a host restart.
//!
//! A task that acked its delivery takes the next message waiting in the intake's pull-ahead
//! window itself ([`chain`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_nats::jetstream::AckKind;
use async_nats::jetstream::message::Acker;
use sluice_protocol::DeadLetterReason;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use super::prefetch::Prefetch;
use crate::breaker;
use crate::deployment::Deployment;
use crate::dispatch::outcome::dead_letter::{Verdict, send_dead_letter};
use crate::dispatch::outcome::outbox::{Sending, publish_confirmed};
use crate::dispatch::outcome::{Rejected, precheck, retry_delay};
use crate::dispatch::{CHAIN, Dispatcher, event_span};
use crate::event::Event;
use crate::invoke::InvokeError;
use crate::ordering::KeyRelease;
use crate::text::humanize;
use crate::transcript::Transcript;

/// A message taken from a function's consumer.
pub struct Delivery {
    /// The event.
    pub event: Arc<Event>,
    /// Acknowledges the message to the server.
    pub acker: Acker,
    /// The server's delivery count: 1 for the first delivery.
    pub attempt: u32,
}

/// How one delivery ended.
enum Settlement {
    Ack,
    Nak(Duration),
    DeadLetter {
        reason: DeadLetterReason,
        error: String,
        transcript: Option<Box<Transcript>>,
    },
}

impl Delivery {
    /// The event and acker of `message`, a JetStream delivery for `deployment`, with its
    /// delivery count; `None` (logged) for a message that is not one.
    pub fn of(
        dispatcher: &Dispatcher,
        deployment: &Deployment,
        message: async_nats::Message,
    ) -> Option<Self> {
        let message = dispatcher.jetstream_message(message);
        let info = match message.info() {
            Ok(info) => info,
            Err(error) => {
                tracing::error!(
                    function = &**deployment.function().name(),
                    "ignoring a message that is not a JetStream delivery: {error}"
                );
                return None;
            }
        };
        deployment.stats.set_jetstream_pending(info.pending);
        let stream = info.stream.to_owned();
        let (sequence, delivered) = (info.stream_sequence, info.delivered);
        let published = SystemTime::from(info.published);
        let (message, acker) = message.split();
        let event = Event::from_jetstream(message, &stream, sequence, published);
        Some(Self {
            event: Arc::new(event),
            acker,
            attempt: u32::try_from(delivered.max(1)).unwrap_or(u32::MAX),
        })
    }
}

/// Runs `delivery` in a new task holding `permit` (and its key's release) until settled.
pub(super) fn spawn(
    dispatcher: &Dispatcher,
    deployment: &Arc<Deployment>,
    delivery: Delivery,
    permit: OwnedSemaphorePermit,
    key: Option<KeyRelease>,
) {
    let (dispatcher, deployment) = (dispatcher.clone(), deployment.clone());
    dispatcher.tracker.clone().spawn(async move {
        run(&dispatcher, &deployment, delivery, key).await;
        drop(permit);
    });
}

/// Runs `delivery`, then, while deliveries are acked and another message waits in
/// `prefetch`, the next one with the same permit (at most [`CHAIN`] in a row): one task
/// serves a run of events without a spawn or a wake-up of the intake between them.
pub(super) async fn chain(
    dispatcher: Dispatcher,
    prefetch: Arc<Prefetch>,
    mut deployment: Arc<Deployment>,
    mut delivery: Delivery,
    permit: OwnedSemaphorePermit,
) {
    let mut ran = 1;
    while run(&dispatcher, &deployment, delivery, None).await && ran < CHAIN {
        let low_water = super::low_water(&deployment);
        let next = loop {
            let (next_deployment, message) = match prefetch.next_for(permit.semaphore(), low_water) {
                Some(next) => next,
                None => return,
            };
            if let Some(next) = Delivery::of(&dispatcher, &next_deployment, message) {
                break (next_deployment, next);
            }
        };
        (deployment, delivery) = next;
        ran += 1;
    }
}

/// One delivery in its event's span, counted as received; true when it was acked.
async fn run(
    dispatcher: &Dispatcher,
    deployment: &Arc<Deployment>,
    delivery: Delivery,
    key: Option<KeyRelease>,
) -> bool {
    deployment.stats.received();
    let span = event_span(deployment.function().name(), &delivery.event, delivery.attempt);
    process(dispatcher, deployment, delivery, key)
        .instrument(span)
        .await
}

/// Handles `delivery` and settles it with the server; true when it was acked. Holds `key`
/// until settled.
async fn process(
    dispatcher: &Dispatcher,
    deployment: &Arc<Deployment>,
    delivery: Delivery,
    key: Option<KeyRelease>,
) -> bool {
    let Delivery {
        event,
        acker,
        mut attempt,
    } = delivery;
    let settlement = loop {
        let settlement = tokio::select! {
            settlement = settle(dispatcher, deployment, &event, &acker, attempt) => settlement,
            _ = deployment.abandon.cancelled() => {
                tracing::warn!(attempt, "grace period over (shutdown or undeploy): handing the event back to the server");
                break Settlement::Nak(Duration::ZERO);
            }
        };
        // With per-key ordering a retry must not let the key's next event overtake it, so the
        // event stays here (kept alive with progress acks) instead of going back to the stream.
        match (settlement, &key) {
            (Settlement::Nak(delay), Some(_)) => {
                let manifest = deployment.function().manifest();
                let wait = with_progress(&acker, manifest.delivery.ack_wait, tokio::time::sleep(delay));
                tokio::select! {
                    _ = wait => {
                        attempt += 1;
                        tracing::Span::current().record("attempt", attempt);
                    }
                    _ = deployment.abandon.cancelled() => break Settlement::Nak(Duration::ZERO),
                }
            }
            (settlement, _) => break settlement,
        }
    };
    let acked = matches!(settlement, Settlement::Ack);
    let settled = tell_server(dispatcher, deployment, &event, &acker, settlement, attempt).await;
    if let Err(error) = settled {
        tracing::warn!(
            attempt,
            "could not settle the message with the server ({error}); it will be redelivered"
        );
        return false;
    }
    drop(key);
    acked
}

/// Tells the server how the delivery ended; a dead letter is sent (and confirmed) first, and
/// an unconfirmed one leaves the event in the stream for later.
async fn tell_server(
    dispatcher: &Dispatcher,
    deployment: &Deployment,
    event: &Event,
    acker: &Acker,
    settlement: Settlement,
    attempt: u32,
) -> Result<(), async_nats::Error> {
    match settlement {
        Settlement::Ack => acker.ack().await,
        Settlement::Nak(delay) => acker.ack_with(AckKind::Nak(Some(delay))).await,
        Settlement::DeadLetter {
            reason,
            error,
            transcript,
        } => {
            let verdict = Verdict {
                reason,
                error: &error,
                attempts: attempt,
                transcript: transcript.as_deref(),
            };
            // Boxed, like every branch few deliveries take: see `settle`.
            match Box::pin(send_dead_letter(
                dispatcher,
                deployment,
                event,
                verdict,
                Sending::Confirmed,
            ))
            .await
            {
                Ok(()) => acker.ack_with(AckKind::Term).await,
                Err(publish_error) => {
                    let delay = deployment.function().manifest().retry.max_delay;
                    tracing::error!(
                        reason = reason.as_str(),
                        "dead letter not confirmed ({publish_error}); the event stays in the stream and comes back in {}",
                        humanize(delay)
                    );
                    acker.ack_with(AckKind::Nak(Some(delay))).await
                }
            }
        }
    }
}

/// Decides what becomes of the delivery, running the handler if it should run.
///
/// Every delivery creates, moves and polls this future (and those around it), and a future
/// is as large as its largest state, so what few deliveries need (the dedupe store, the
/// outputs' confirmation loop, a dead letter, a progress ack) is boxed: unboxed, this future
/// was 4 KB and copying it was the JetStream path's largest single cost (BENCHMARKS.md).
async fn settle(
    dispatcher: &Dispatcher,
    deployment: &Deployment,
    event: &Arc<Event>,
    acker: &Acker,
    attempt: u32,
) -> Settlement {
    let manifest = deployment.function().manifest();
    if let Some(settlement) = screen(deployment, event, attempt).await {
        // The handler did not run: if this delivery was the breaker's probe, another may go.
        deployment.breaker.cancel_probe();
        return settlement;
    }
    let (result, transcript) = {
        let _running = deployment.stats.start_instance();
        with_progress(
            acker,
            manifest.delivery.ack_wait,
            // Boxed for the same reason as in core mode: spawning copies the task whole.
            Box::pin(deployment.attempt(event, attempt)),
        )
        .await
    };
    match result {
        Ok(messages) => {
            deployment.breaker.record(breaker::Outcome::Healthy);
            deployment.stats.succeeded();
            let confirmed = with_progress(
                acker,
                manifest.delivery.ack_wait,
                Box::pin(publish_confirmed(dispatcher, deployment, messages)),
            );
            if let Err(error) = confirmed.await {
                let delay = manifest.retry.delay(attempt, None, rand::random::<f64>());
                tracing::warn!(
                    attempt,
                    "outputs not confirmed ({error}); redelivering in {}",
                    humanize(delay)
                );
                return Settlement::Nak(delay);
            }
            if deployment.dedupe.is_some() {
                Box::pin(remember(deployment, event)).await;
            }
            Settlement::Ack
        }
        Err(error) => failed(deployment, error, attempt, transcript),
    }
}

/// Settles a delivery that must not reach the handler: too large, too old, delivered too
/// often without an outcome, or (with `[dedupe]`) already handled.
async fn screen(deployment: &Deployment, event: &Event, attempt: u32) -> Option<Settlement> {
    let manifest = deployment.function().manifest();
    if let Some(rejected) = precheck(deployment, event) {
        return Some(rejected.into());
    }
    if attempt > manifest.retry.max_attempts.get() {
        // Earlier deliveries ended without an outcome: the host died or lost the connection
        // while handling it. Do not let such an event take hosts down forever.
        let error = format!(
            "delivered {attempt} times without an outcome (host stopped or lost its connection while handling it); retry.max_attempts = {}",
            manifest.retry.max_attempts
        );
        deployment.trace_unhandled(event, DeadLetterReason::Exhausted, &error);
        return Some(Settlement::DeadLetter {
            reason: DeadLetterReason::Exhausted,
            error,
            transcript: None,
        });
    }
    if let Some(store) = &deployment.dedupe
        && let Ok(Some(_)) = Box::pin(store.get(crate::provision::dedupe_key(&event.id))).await
    {
        deployment.stats.deduplicated();
        tracing::debug!("duplicate of a handled event: acked without running the handler");
        return Some(Settlement::Ack);
    }
    None
}

/// The settlement of a failed attempt: NAK with the host's delay while attempts remain.
fn failed(
    deployment: &Deployment,
    error: InvokeError,
    attempt: u32,
    transcript: Option<Transcript>,
) -> Settlement {
    let outcome = match error.is_retryable() {
        true => breaker::Outcome::Failing,
        false => breaker::Outcome::Healthy,
    };
    deployment.breaker.record(outcome);
    if let Some(delay) = retry_delay(deployment, &error, attempt, "redelivering") {
        return Settlement::Nak(delay);
    }
    Settlement::DeadLetter {
        reason: error.reason(),
        error: error.to_string(),
        transcript: transcript.map(Box::new),
    }
}

/// Runs `work`, telling the server every third of `ack_wait` that the event is still being
/// handled, so a slow but healthy handler keeps its event.
pub(super) async fn with_progress<T>(acker: &Acker, ack_wait: Duration, work: impl Future<Output = T>) -> T {
    let mut work = std::pin::pin!(work);
    let period = ack_wait / 3;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            output = &mut work => return output,
            _ = ticks.tick() => {
                if let Err(error) = Box::pin(acker.ack_with(AckKind::Progress)).await {
                    tracing::warn!("progress ack failed: {error}");
                }
            }
        }
    }
}

/// Remembers that the event was handled, when the function dedupes.
async fn remember(deployment: &Deployment, event: &Event) {
    let Some(store) = &deployment.dedupe else {
        return;
    };
    if let Err(error) = store
        .put(crate::provision::dedupe_key(&event.id), bytes::Bytes::new())
        .await
    {
        tracing::warn!("could not remember the event as handled ({error}); a redelivery would run it again");
    }
}

impl From<Rejected> for Settlement {
    fn from(rejected: Rejected) -> Self {
        Settlement::DeadLetter {
            reason: rejected.reason,
            error: rejected.error,
            transcript: None,
        }
    }
}
