//! Getting events from a subscription into handler instances: a bounded pending queue,
//! admission by the function's concurrency permits, one task per admitted event.
//!
//! Each deployed function has one intake task. It reads its subscription as fast as NATS
//! delivers, so the client's buffer never overflows unseen; events wait in a queue of
//! `limits.max_pending` (beyond which they are dropped, counted and logged), and leave it only
//! when a permit of `limits.max_concurrency` is free. The permit moves into the event's task
//! and is released when the task ends (or while it waits to retry), so no more than the cap
//! of instances of one function ever run at once on a host.

mod process;

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::SelectAll;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::engine::SluiceEngine;
use crate::event::Event;
use crate::function::Function;
use crate::stats::FunctionStats;

/// A function as deployed on this host: the loaded function, its permits and its counters.
pub struct Deployment {
    /// The loaded function.
    pub function: Arc<Function>,
    /// One permit per instance allowed to run at once.
    pub permits: Arc<Semaphore>,
    /// What happened to its events.
    pub stats: Arc<FunctionStats>,
}

impl Deployment {
    /// A deployment of `function` with fresh permits and counters.
    pub fn new(function: Function) -> Self {
        let permits = function.manifest().limits.max_concurrency.get() as usize;
        Self {
            function: Arc::new(function),
            permits: Arc::new(Semaphore::new(permits)),
            stats: Arc::default(),
        }
    }
}

/// What every event task needs from the host: the engine, the NATS client, the task tracker.
#[derive(Clone)]
pub struct Dispatcher {
    /// The engine functions were compiled with.
    pub engine: Arc<SluiceEngine>,
    /// The NATS connection used to publish results and dead letters.
    pub client: async_nats::Client,
    /// Tracks every event task so shutdown can wait for them.
    pub tracker: TaskTracker,
}

impl Dispatcher {
    /// Runs `deployment`'s intake from its subscriptions (one per subject) until `stop` is cancelled or the
    /// subscription ends. On stop it unsubscribes, then still admits what it had already
    /// received (those events are in this host's hands and nobody else will get them).
    pub async fn run_intake(
        self,
        deployment: Arc<Deployment>,
        mut subscriber: SelectAll<async_nats::Subscriber>,
        stop: CancellationToken,
    ) {
        let name = deployment.function.name().clone();
        let max_pending = deployment.function.manifest().limits.max_pending.get() as usize;
        let mut pending: VecDeque<async_nats::Message> = VecDeque::new();
        let mut open = true;
        while open || !pending.is_empty() {
            tokio::select! {
                _ = stop.cancelled(), if open => {
                    open = false;
                    for subscription in subscriber.iter_mut() {
                        if let Err(error) = subscription.unsubscribe().await {
                            tracing::warn!(function = &*name, "unsubscribe failed: {error}");
                        }
                    }
                    while let Some(message) = subscriber.next().await {
                        pending.push_back(message);
                    }
                }
                message = subscriber.next(), if open => match message {
                    Some(message) if pending.len() < max_pending => pending.push_back(message),
                    Some(message) => self.overflow(&deployment, &message),
                    None => open = false,
                },
                permit = deployment.permits.clone().acquire_owned(), if !pending.is_empty() => {
                    let permit = permit.expect("function permits are never closed");
                    let message = pending.pop_front().expect("checked non-empty");
                    self.admit(&deployment, message, permit);
                }
            }
        }
        tracing::debug!(function = &*name, "intake stopped");
    }

    fn admit(
        &self,
        deployment: &Arc<Deployment>,
        message: async_nats::Message,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        deployment.stats.received();
        let event = Arc::new(Event::from_message(message));
        let span = tracing::info_span!(
            "event",
            function = &**deployment.function.name(),
            subject = %event.subject,
            event_id = %event.id,
            correlation_id = %event.correlation_id,
        );
        let task = process::process(self.clone(), deployment.clone(), event, permit);
        self.tracker.spawn(task.instrument(span));
    }

    fn overflow(&self, deployment: &Deployment, message: &async_nats::Message) {
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
