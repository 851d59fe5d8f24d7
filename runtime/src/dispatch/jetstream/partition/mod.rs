//! Per-key order across hosts (`trigger.partitions = N`): a function's events are routed by
//! a hash of their key into N partitions, and each partition is handled by one host at a
//! time, one event at a time, so a key's events run in publish order however many hosts
//! serve the function and whichever of them dies. The server enforces both "one at a time"
//! rules: every partition consumer allows one unacknowledged event, and pins one client of
//! its priority group (see [`crate::provision::partitions`] for the layout).
//!
//! Every host runs a [`Router`] (only the pinned one receives anything) and an intake per
//! partition, which pulls only while the partition is in the host's [`Share`]; a host that
//! stops, or whose share shrinks, releases its pins so others take over at once.

mod intake;
mod pinned;
mod routed;
mod router;
mod share;

use std::sync::Arc;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::PullConsumer;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use intake::PartitionIntake;
use router::Router;
pub use share::{Share, Shares};

use super::super::{Dispatcher, Update};
use crate::deployment::Deployment;
use crate::manifest::KeySource;
use crate::provision::partitions::PartitionNames;

/// NAKs `message` without delay: the server hands it out again before any later event of
/// its consumer (to whichever host pulls next).
async fn hand_back(message: async_nats::jetstream::Message) {
    if let Err(error) = message.ack_with(AckKind::Nak(None)).await {
        tracing::debug!("handing an event back failed: {error}; it returns after the ack wait");
    }
}

/// The consumers a partitioned function is fed from.
pub struct PartitionConsumers {
    /// The names of its partition stream, subjects and consumers.
    pub names: PartitionNames,
    /// The function's own consumer, which the router reads.
    pub router: PullConsumer,
    /// One consumer per partition, in partition order.
    pub partitions: Vec<PullConsumer>,
}

/// The intake of a partitioned function on this host: its router and partition intakes.
pub struct PartitionedIntake {
    router: Router,
    partitions: Vec<PartitionIntake>,
    current: watch::Sender<Arc<Deployment>>,
    updates: mpsc::Receiver<Update>,
    stop: CancellationToken,
}

impl PartitionedIntake {
    /// The intake of `deployment` (which orders by `key`) from `consumers`.
    pub async fn new(
        dispatcher: Dispatcher,
        deployment: Arc<Deployment>,
        key: KeySource,
        consumers: PartitionConsumers,
        updates: mpsc::Receiver<Update>,
        stop: CancellationToken,
    ) -> Result<Self, async_nats::SubscribeError> {
        let name = deployment.function().name().to_string();
        let (current, watched) = watch::channel(deployment);
        let router = Router::new(
            dispatcher.clone(),
            &name,
            key,
            consumers.names,
            consumers.router,
            stop.clone(),
        )
        .await?;
        let mut partitions = Vec::with_capacity(consumers.partitions.len());
        for (partition, consumer) in (0..).zip(&consumers.partitions) {
            let intake = PartitionIntake::new(
                dispatcher.clone(),
                watched.clone(),
                (&name, partition),
                consumer,
                stop.clone(),
            )
            .await?;
            partitions.push(intake);
        }
        Ok(Self {
            router,
            partitions,
            current,
            updates,
            stop,
        })
    }

    /// Routes and runs events until `stop` is cancelled; new versions take over between
    /// events.
    pub async fn run(mut self) {
        let mut tasks = JoinSet::new();
        tasks.spawn(self.router.run());
        for intake in self.partitions {
            tasks.spawn(intake.run());
        }
        loop {
            tokio::select! {
                Some(update) = self.updates.recv() => {
                    self.current.send_replace(update.deployment);
                    let _ = update.applied.send(());
                }
                _ = self.stop.cancelled() => break,
            }
        }
        while tasks.join_next().await.is_some() {}
    }
}
