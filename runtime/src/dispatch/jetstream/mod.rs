//! JetStream delivery (at least once). A function's intake pulls from the function's durable consumer only as many
//! messages as it has free permits, so no message waits in a client buffer while its ack
//! deadline runs, and the concurrency cap is the backpressure. One pull request is out at a
//! time, on one inbox subscription that lives as long as the intake.
//!
//! On stop it pulls nothing more; messages that still arrive for the last request are handed
//! back at once (NAK without delay) for another host to take.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_nats::StatusCode;
use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::consumer::pull::BatchConfig;
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod delivery;
pub mod partition;

use super::{Dispatcher, Update};
use crate::breaker::Admission;
use crate::deployment::Deployment;
use crate::event::Event;
use crate::ordering::{KeyRelease, KeyedQueue, next_release};
use delivery::Delivery;

/// The most messages one pull request asks for.
const MAX_BATCH: usize = 256;
/// How long the server holds a pull request open when no message is there.
const PULL_EXPIRES: Duration = Duration::from_secs(1);
/// How long after `PULL_EXPIRES` the intake stops waiting for the server's answer (a
/// request is lost when the connection drops).
const PULL_SLACK: Duration = Duration::from_secs(2);

/// The state of one JetStream function's intake task.
pub struct PullIntake {
    dispatcher: Dispatcher,
    deployment: Arc<Deployment>,
    consumer: PullConsumer,
    inbox: String,
    messages: async_nats::Subscriber,
    updates: mpsc::Receiver<Update>,
    stop: CancellationToken,
    stopping: bool,
    /// Messages that arrived after the circuit opened, with their permits: they wait here
    /// (kept alive with progress acks) rather than going back to the server, which would
    /// count a delivery the handler never saw.
    held: VecDeque<(async_nats::Message, OwnedSemaphorePermit)>,
    /// With per-key ordering: messages (with their permits) waiting for their key.
    keyed: Option<KeyedQueue<(async_nats::Message, OwnedSemaphorePermit)>>,
    released: Option<mpsc::UnboundedReceiver<String>>,
    /// When to tell the server that held and waiting messages are still being worked on.
    progress: tokio::time::Interval,
}

impl PullIntake {
    /// An intake pulling from `consumer` for `deployment`.
    pub async fn new(
        dispatcher: Dispatcher,
        deployment: Arc<Deployment>,
        consumer: PullConsumer,
        updates: mpsc::Receiver<Update>,
        stop: CancellationToken,
    ) -> Result<Self, async_nats::SubscribeError> {
        let inbox = dispatcher.client.new_inbox();
        let messages = dispatcher.client.subscribe(inbox.clone()).await?;
        let manifest = deployment.function().manifest();
        let (keyed, released) = KeyedQueue::for_ordering(manifest.trigger.ordering.as_ref());
        let period = manifest.delivery.ack_wait / 3;
        let mut progress = tokio::time::interval_at(Instant::now() + period, period);
        progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Self {
            dispatcher,
            deployment,
            consumer,
            inbox,
            messages,
            updates,
            stop,
            stopping: false,
            held: VecDeque::new(),
            keyed,
            released,
            progress,
        })
    }

    /// Pulls and admits until `stop` is cancelled, then hands back what it still holds.
    pub async fn run(mut self) {
        while !self.stopping {
            if !self.held.is_empty() {
                self.release_held().await;
                continue;
            }
            let Some(first) = self.next_permit().await else {
                continue;
            };
            let probe = self.deployment.breaker.admit() == Admission::Probe;
            let permits = self.more_permits(first, probe);
            let received = self.pull(permits, probe).await;
            if probe && received == 0 {
                self.deployment.breaker.cancel_probe();
            }
        }
        self.hand_back_all().await;
        tracing::debug!(
            function = &**self.deployment.function().name(),
            "pull intake stopped"
        );
    }

    /// Waits for the circuit and a free permit, meanwhile applying updates, releasing keys,
    /// keeping held messages alive and taking stray messages; `None` when something other
    /// than a permit came first (the caller loops).
    async fn next_permit(&mut self) -> Option<OwnedSemaphorePermit> {
        let permits = self.deployment.permits.clone();
        let deployment = self.deployment.clone();
        let breaker_ready = async move {
            deployment.breaker.ready().await;
            permits.acquire_owned().await
        };
        tokio::select! {
            _ = self.stop.cancelled() => self.stopping = true,
            Some(update) = self.updates.recv() => self.apply(update),
            message = self.messages.next() => {
                // Only a request the intake gave up on (connection trouble) leaves messages
                // arriving now.
                if let Some(message) = message {
                    self.stray(message);
                }
            }
            Some(key) = next_release(&mut self.released) => self.release(key),
            _ = self.progress.tick() => self.keep_alive(),
            permit = breaker_ready => return Some(permit.expect("function permits are never closed")),
        }
        None
    }

    /// On stop: every message held for the breaker or waiting for its key, and every one still
    /// arriving for the last request, goes back to the server.
    async fn hand_back_all(&mut self) {
        let waiting = self.keyed.as_mut().map(KeyedQueue::drain).unwrap_or_default();
        for (message, _permit) in std::mem::take(&mut self.held).into_iter().chain(waiting) {
            self.hand_back(message);
        }
        if let Err(error) = self.messages.unsubscribe().await {
            tracing::debug!("unsubscribing the pull inbox failed: {error}");
        }
        while let Some(message) = self.messages.next().await {
            self.hand_back(message);
        }
    }

    /// `first` plus every other free permit, up to [`MAX_BATCH`] or a batch function's
    /// `batch.max_events` if larger, so one pull can fill a batch (just `first` for a probe).
    fn more_permits(&self, first: OwnedSemaphorePermit, probe: bool) -> Vec<OwnedSemaphorePermit> {
        let most = self
            .deployment
            .function()
            .batch()
            .map_or(MAX_BATCH, |batch| MAX_BATCH.max(batch.max_events as usize));
        let mut permits = vec![first];
        while !probe && permits.len() < most {
            match self.deployment.permits.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        permits
    }

    /// Asks for one message per permit and admits what arrives until the request is
    /// fulfilled or expires. Returns how many messages arrived.
    async fn pull(&mut self, mut permits: Vec<OwnedSemaphorePermit>, probe: bool) -> usize {
        let request = BatchConfig {
            batch: permits.len(),
            expires: Some(PULL_EXPIRES),
            ..Default::default()
        };
        if let Err(error) = self
            .consumer
            .request_batch(request, self.inbox.clone().into())
            .await
        {
            tracing::warn!(
                function = &**self.deployment.function().name(),
                "pull request failed: {error}"
            );
            tokio::select! {
                _ = tokio::time::sleep(PULL_EXPIRES) => {}
                _ = self.stop.cancelled() => self.stopping = true,
            }
            return 0;
        }
        let deadline = Instant::now() + PULL_EXPIRES + PULL_SLACK;
        let mut received = 0;
        while !permits.is_empty() {
            tokio::select! {
                _ = self.stop.cancelled(), if !self.stopping => self.stopping = true,
                Some(update) = self.updates.recv() => self.apply(update),
                Some(key) = next_release(&mut self.released) => self.release(key),
                _ = self.progress.tick() => self.keep_alive(),
                _ = tokio::time::sleep_until(deadline) => break,
                message = self.messages.next() => {
                    let Some(message) = message else { break };
                    match message.status {
                        None | Some(StatusCode::OK) => {
                            received += 1;
                            let permit = permits.pop().expect("checked non-empty");
                            if probe || self.deployment.breaker.is_closed() {
                                self.place(message, permit);
                            } else {
                                self.held.push_back((message, permit));
                            }
                        }
                        Some(StatusCode::IDLE_HEARTBEAT) => {}
                        Some(StatusCode::TIMEOUT | StatusCode::NOT_FOUND) => break,
                        Some(status) => {
                            tracing::warn!(
                                function = &**self.deployment.function().name(),
                                "pull request ended by the server: {status} {}",
                                message.description.as_deref().unwrap_or("")
                            );
                            break;
                        }
                    }
                }
            }
        }
        received
    }

    /// Waits for the circuit to let held messages through (one, when probing), keeping them
    /// alive with progress acks meanwhile.
    async fn release_held(&mut self) {
        let deployment = self.deployment.clone();
        let breaker = &deployment.breaker;
        tokio::select! {
            _ = self.stop.cancelled() => self.stopping = true,
            Some(key) = next_release(&mut self.released) => self.release(key),
            _ = self.progress.tick() => self.keep_alive(),
            _ = breaker.ready() => {
                let take = match breaker.admit() {
                    Admission::Open => self.held.len(),
                    Admission::Probe => 1,
                };
                for (message, permit) in self.held.drain(..take).collect::<Vec<_>>() {
                    self.place(message, permit);
                }
            }
        }
    }

    /// Admits `message`, or with per-key ordering queues it behind its key.
    fn place(&mut self, message: async_nats::Message, permit: OwnedSemaphorePermit) {
        let key = self.keyed.as_ref().and_then(|queue| queue.key_of(&message));
        match (key, &mut self.keyed) {
            (Some(key), Some(queue)) => {
                queue.push(key, (message, permit));
                self.admit_ready();
            }
            _ => self.admit(message, permit, None),
        }
    }

    /// Admits every message whose key is free.
    fn admit_ready(&mut self) {
        while let Some(((message, permit), key)) = self.keyed.as_mut().and_then(KeyedQueue::pop_ready) {
            self.admit(message, permit, Some(key));
        }
    }

    /// A key's event finished: its next message may go.
    fn release(&mut self, key: String) {
        if let Some(queue) = &mut self.keyed {
            queue.release(key);
        }
        self.admit_ready();
    }

    /// Tells the server that messages held for the breaker or waiting for their key are
    /// still in this host's hands.
    fn keep_alive(&self) {
        let waiting = self.keyed.iter().flat_map(KeyedQueue::iter);
        for (message, _) in self.held.iter().chain(waiting) {
            let message = self.dispatcher.jetstream_message(message.clone());
            self.dispatcher
                .tracker
                .spawn(async move { message.ack_with(AckKind::Progress).await });
        }
    }

    /// Hands `message` to a task with `permit`, or back to the server when stopping (also when
    /// the stop arrived but another branch of the loop's `select!` ran first).
    fn admit(&self, message: async_nats::Message, permit: OwnedSemaphorePermit, key: Option<KeyRelease>) {
        if self.stopping || self.stop.is_cancelled() {
            return self.hand_back(message);
        }
        let Some(delivery) = self.delivery(message) else {
            return;
        };
        delivery::spawn(&self.dispatcher, &self.deployment, delivery, permit, key);
    }

    /// A message that arrived with no request out: admitted if a permit is free.
    fn stray(&mut self, message: async_nats::Message) {
        if message.status.is_some_and(|status| status != StatusCode::OK) {
            return;
        }
        match self.deployment.permits.clone().try_acquire_owned() {
            Ok(permit) => self.place(message, permit),
            Err(_) => self.hand_back(message),
        }
    }

    /// NAKs `message` without delay so the server redelivers it (to this or another host).
    fn hand_back(&self, message: async_nats::Message) {
        if message.status.is_some_and(|status| status != StatusCode::OK) {
            return;
        }
        let message = self.dispatcher.jetstream_message(message);
        // Tracked, so shutdown flushes the NAK before it closes the connection.
        self.dispatcher.tracker.spawn(async move {
            if let Err(error) = message.ack_with(AckKind::Nak(None)).await {
                tracing::debug!("handing a message back failed: {error}; it returns after the ack wait");
            }
        });
    }

    /// The event and acker of a JetStream message, with its delivery count.
    fn delivery(&self, message: async_nats::Message) -> Option<Delivery> {
        let message = self.dispatcher.jetstream_message(message);
        let (stream, sequence, delivered, published) = match message.info() {
            Ok(info) => {
                self.deployment.stats.set_jetstream_pending(info.pending);
                (
                    info.stream.to_owned(),
                    info.stream_sequence,
                    info.delivered,
                    SystemTime::from(info.published),
                )
            }
            Err(error) => {
                tracing::error!(
                    function = &**self.deployment.function().name(),
                    "ignoring a message that is not a JetStream delivery: {error}"
                );
                return None;
            }
        };
        let (message, acker) = message.split();
        let event = Event::from_jetstream(message, &stream, sequence, published);
        Some(Delivery {
            event: Arc::new(event),
            acker,
            attempt: u32::try_from(delivered.max(1)).unwrap_or(u32::MAX),
        })
    }

    /// Switches to a new version: events admitted from now on run it.
    fn apply(&mut self, update: Update) {
        self.deployment = update.deployment;
        let _ = update.applied.send(());
    }
}
