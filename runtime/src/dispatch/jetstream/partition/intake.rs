//! One partition's intake on one host: pulls the partition's next event (only while this
//! host holds the partition's pin), waits for a permit of the function's concurrency cap,
//! runs it like any JetStream delivery, and pulls again only once it is settled. The
//! partition consumer has one event in flight at most, fleet-wide, so the server hands out
//! the next only after this one's ack, and an event that was not settled (its host died, or
//! handed it back) comes back before any later one.

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::PullConsumer;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::pinned::{PinnedPuller, Pulled};
use super::share::{Share, owns};
use super::{hand_back, routed};
use crate::breaker::Admission;
use crate::deployment::Deployment;
use crate::dispatch::Dispatcher;
use crate::dispatch::jetstream::delivery::{self, Delivery, with_progress};
use crate::ordering::KeyRelease;

/// One partition's intake.
pub struct PartitionIntake {
    dispatcher: Dispatcher,
    deployment: watch::Receiver<Arc<Deployment>>,
    function: String,
    partition: u16,
    shares: watch::Receiver<HashMap<String, Share>>,
    puller: PinnedPuller,
    stop: CancellationToken,
}

impl PartitionIntake {
    /// An intake of `consumer`, partition `partition` of `function`, running the version
    /// `deployment` names.
    pub async fn new(
        dispatcher: Dispatcher,
        deployment: watch::Receiver<Arc<Deployment>>,
        (function, partition): (&str, u16),
        consumer: &PullConsumer,
        stop: CancellationToken,
    ) -> Result<Self, async_nats::SubscribeError> {
        let puller = PinnedPuller::new(&dispatcher.client, consumer).await?;
        let shares = dispatcher.shares.watch();
        Ok(Self {
            dispatcher,
            deployment,
            function: function.to_owned(),
            partition,
            shares,
            puller,
            stop,
        })
    }

    /// Until the partition is in this host's share: lets go of its pin and waits; false if
    /// the intake was stopped meanwhile.
    async fn until_owned(&mut self) -> bool {
        loop {
            if owns(&self.shares.borrow_and_update(), &self.function, self.partition) {
                return true;
            }
            self.puller.release().await;
            tokio::select! {
                changed = self.shares.changed() => {
                    if changed.is_err() {
                        return false;
                    }
                }
                _ = self.stop.cancelled() => return false,
            }
        }
    }

    /// Pulls and runs one event at a time until `stop` is cancelled.
    pub async fn run(mut self) {
        let (settled, mut settlements) = mpsc::unbounded_channel();
        while !self.stop.is_cancelled() {
            if !self.until_owned().await {
                break;
            }
            let deployment = self.deployment.borrow().clone();
            tokio::select! {
                _ = deployment.breaker.ready() => {}
                _ = self.stop.cancelled() => break,
            }
            let probe = deployment.breaker.admit() == Admission::Probe;
            if let Err(error) = self.puller.request(1).await {
                tracing::warn!(consumer = self.puller.consumer(), "pull request failed: {error}");
                if probe {
                    deployment.breaker.cancel_probe();
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    _ = self.stop.cancelled() => break,
                }
                continue;
            }
            let pulled = tokio::select! {
                pulled = self.puller.next() => pulled,
                _ = self.stop.cancelled() => break,
            };
            let Pulled::Message { message, .. } = pulled else {
                if probe {
                    deployment.breaker.cancel_probe();
                }
                continue;
            };
            let release = KeyRelease::new(self.puller.consumer().to_owned(), settled.clone());
            if !self.admit(message, release).await {
                break;
            }
            // The next event is pulled once this one is settled.
            tokio::select! {
                _ = settlements.recv() => {}
                _ = self.stop.cancelled() => break,
            }
        }
        for message in self.puller.close().await {
            hand_back(self.dispatcher.jetstream_message(message)).await;
        }
    }

    /// Runs `message` once a permit is free (keeping it alive meanwhile); false if the
    /// intake was stopped first (the message went back to the server).
    /// The version current when the event arrives runs it.
    async fn admit(&self, message: async_nats::Message, release: KeyRelease) -> bool {
        let deployment = &self.deployment.borrow().clone();
        let message = self.dispatcher.jetstream_message(message);
        let attempt = match message.info() {
            Ok(info) => {
                deployment.stats.set_jetstream_pending(info.pending);
                u32::try_from(info.delivered.max(1)).unwrap_or(u32::MAX)
            }
            Err(error) => {
                tracing::error!(
                    consumer = self.puller.consumer(),
                    "ignoring a message that is not a JetStream delivery: {error}"
                );
                return true;
            }
        };
        let (message, acker) = message.split();
        let Some(event) = routed::event_of(message.headers.as_ref(), message.payload) else {
            tracing::error!(
                consumer = self.puller.consumer(),
                "dropping a message on a partition subject that the router did not send"
            );
            let _ = acker.ack_with(AckKind::Term).await;
            return true;
        };
        let ack_wait = deployment.function().manifest().delivery.ack_wait;
        let permit = tokio::select! {
            permit = with_progress(&acker, ack_wait, deployment.permits.clone().acquire_owned()) => {
                permit.expect("function permits are never closed")
            }
            _ = self.stop.cancelled() => {
                let _ = acker.ack_with(AckKind::Nak(None)).await;
                return false;
            }
        };
        let delivery = Delivery {
            event: Arc::new(event),
            acker,
            attempt,
        };
        delivery::spawn(&self.dispatcher, deployment, delivery, permit, Some(release));
        true
    }
}
