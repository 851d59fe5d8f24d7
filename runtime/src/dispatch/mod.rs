//! Getting events from a subscription into handler instances: a bounded pending queue,
//! admission by the function's concurrency permits, event tasks holding one permit each.
//!
//! Each deployed function has one intake task. It reads its subscription as fast as NATS
//! delivers, so the client's buffer never overflows unseen; events wait in a queue of
//! `limits.max_pending` (beyond which they are dropped, counted and logged), and leave it only
//! with a permit of `limits.max_concurrency`. The intake spawns a task for an event when a
//! permit is free; a task that finished its event takes the next waiting one with the same
//! permit (core NATS), and gives the permit back when nothing waits, while it waits to retry,
//! or after a run of events. So no more than the cap of instances of one function ever run at
//! once on a host, and under load events do not cost a task each.

mod acked;
mod intake;
mod pending;
mod process;
mod pull;

pub use acked::Delivery;
pub use intake::{Intake, Update};
pub use pull::PullIntake;

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::breaker::Breaker;
use crate::engine::SluiceEngine;
use crate::event::Event;
use crate::function::Function;
use crate::stats::FunctionStats;

/// A function as deployed on this host: the loaded function, its permits and its counters.
pub struct Deployment {
    /// The loaded function.
    pub function: Arc<Function>,
    /// One permit per event allowed in flight at once: `limits.max_concurrency`, times
    /// `batch.max_events` for a batch function.
    pub permits: Arc<Semaphore>,
    /// What happened to its events.
    pub stats: Arc<FunctionStats>,
    /// Pauses the intake while the function keeps failing.
    pub breaker: Breaker,
    /// Ids of handled events, when the manifest asks for `[dedupe]` (JetStream only).
    pub dedupe: Option<async_nats::jetstream::kv::Store>,
    /// Cancelled when the function's JetStream events still running must be handed back to
    /// the server: the grace period after a shutdown or an undeploy is over. Shared by every
    /// version of the function.
    pub abandon: tokio_util::sync::CancellationToken,
}

impl Deployment {
    /// A deployment of `function` with fresh permits and counters.
    pub fn new(function: Function) -> Self {
        let permits = function.event_permits();
        let stats = Arc::<FunctionStats>::default();
        Self {
            breaker: Breaker::new(
                function.name(),
                function.manifest().circuit_breaker,
                stats.clone(),
            ),
            function: Arc::new(function),
            permits: Arc::new(Semaphore::new(permits)),
            stats,
            dedupe: None,
            abandon: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// A new version of `previous`: the counters carry on, and so do the permits unless the
    /// concurrency cap changed (then the new cap applies to events admitted from now on).
    pub fn replacing(function: Function, previous: &Deployment) -> Self {
        let cap = function.event_permits();
        let same_cap = previous.function.event_permits() == cap;
        Self {
            breaker: Breaker::new(
                function.name(),
                function.manifest().circuit_breaker,
                previous.stats.clone(),
            ),
            function: Arc::new(function),
            dedupe: None,
            abandon: previous.abandon.clone(),
            permits: if same_cap {
                previous.permits.clone()
            } else {
                Arc::new(Semaphore::new(cap))
            },
            stats: previous.stats.clone(),
        }
    }
}

/// The span every log line about one event carries.
fn event_span(function: &str, event: &Event, attempt: Option<u32>) -> tracing::Span {
    tracing::info_span!(
        "event",
        function,
        subject = %event.subject,
        event_id = %event.id,
        correlation_id = %event.correlation_id,
        attempt,
    )
}

/// What every event task needs from the host: the engine, the NATS client, the task tracker.
///
/// A cheap handle: cloning it (once per admitted event) copies one `Arc`, not the clients,
/// tracker and token inside.
#[derive(Clone)]
pub struct Dispatcher(Arc<DispatcherParts>);

/// The parts a [`Dispatcher`] shares with every event task.
pub struct DispatcherParts {
    /// The engine functions were compiled with.
    pub engine: Arc<SluiceEngine>,
    /// The NATS connection used to publish results and dead letters.
    pub client: async_nats::Client,
    /// Tracks every event task so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// JetStream on the same connection.
    pub jetstream: async_nats::jetstream::Context,
    /// Which subjects streams capture (publishes there wait for the stream's ack).
    pub routes: Arc<crate::jetstream::StreamRoutes>,
    /// Cancelled when the shutdown grace period is over: JetStream events still running are
    /// handed back to the server at once.
    pub abandon: tokio_util::sync::CancellationToken,
}

impl std::ops::Deref for Dispatcher {
    type Target = DispatcherParts;

    fn deref(&self) -> &DispatcherParts {
        &self.0
    }
}

impl Dispatcher {
    /// Runs `admitted` in a new task holding `permit`; the task then takes further events
    /// from `queue` while they are ready (at most [`process::CHAIN`] in all).
    fn admit(
        &self,
        queue: &Arc<intake::Queue>,
        admitted: intake::Admitted,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let task = process::chain(self.clone(), queue.clone(), admitted, permit);
        self.tracker.spawn(task);
    }

    /// A dispatcher publishing through `client`, running functions on `engine`.
    pub fn new(engine: Arc<SluiceEngine>, client: async_nats::Client) -> Self {
        let jetstream = async_nats::jetstream::new(client.clone());
        Self(Arc::new(DispatcherParts {
            engine,
            routes: Arc::new(crate::jetstream::StreamRoutes::new(jetstream.clone())),
            jetstream,
            client,
            tracker: TaskTracker::new(),
            abandon: tokio_util::sync::CancellationToken::new(),
        }))
    }

    pub(crate) fn admit_delivery(
        &self,
        deployment: &Arc<Deployment>,
        delivery: Delivery,
        permit: tokio::sync::OwnedSemaphorePermit,
        key: Option<crate::ordering::KeyRelease>,
    ) {
        deployment.stats.received();
        let span = event_span(
            deployment.function.name(),
            &delivery.event,
            Some(delivery.attempt),
        );
        let task = acked::process(self.clone(), deployment.clone(), delivery, permit, key);
        self.tracker.spawn(task.instrument(span));
    }

    pub(crate) fn overflow(&self, deployment: &Deployment, message: &async_nats::Message) {
        let total = deployment.stats.overflowed();
        // Log the first overflow and then every power of ten, so a flood stays readable.
        if is_power_of_ten(total) {
            tracing::warn!(
                function = &**deployment.function.name(),
                subject = %message.subject,
                dropped_total = total,
                "event dropped: {} events already waiting for a free instance (limits.max_pending)",
                deployment.function.manifest().limits.max_pending
            );
        }
    }
}

/// How long to wait before the next attempt after attempt number `attempt` failed with
/// `error` (`next` names what happens then: "retrying", "redelivering"), counted as a retry;
/// `None` when the failure is permanent or the attempts are used up. Logs either way.
fn retry_delay(
    deployment: &Deployment,
    error: &crate::invoke::InvokeError,
    attempt: u32,
    next: &str,
) -> Option<std::time::Duration> {
    let retry = &deployment.function.manifest().retry;
    if !(error.is_retryable() && retry.allows_another(attempt)) {
        tracing::warn!(attempt, "giving up: {error}");
        return None;
    }
    let delay = retry.delay(attempt, error.retry_after(), rand::random::<f64>());
    tracing::warn!(
        attempt,
        "attempt failed: {error}; {next} in {}",
        crate::invoke::humanize(delay)
    );
    deployment.stats.retried();
    Some(delay)
}

/// 1, 10, 100, ...: the overflow counts worth a log line.
fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

#[cfg(test)]
mod tests {
    #[test]
    fn overflow_logging_thins_out_by_powers_of_ten() {
        let logged: Vec<u64> = (1..=2000).filter(|&n| super::is_power_of_ten(n)).collect();
        assert_eq!(logged, [1, 10, 100, 1000]);
    }
}
