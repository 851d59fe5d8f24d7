//! JetStream delivery (at least once). A function's intake pulls from the function's durable
//! consumer ahead of its free permits, within a window of four times `limits.max_concurrency`
//! messages (for a batch function, batches; `window.rs` has the bounds): the next pull
//! request goes out while the last messages are still being handled, so a permit that comes
//! free finds a message waiting instead of a pull round trip. Messages waiting in the window are kept alive with progress acks every third of
//! `ack_wait`, like those held for the circuit breaker or behind their key, so none runs out
//! of its ack wait here. One pull request is out at a time, on one inbox subscription that
//! lives as long as the intake.
//!
//! An event task that settled its event takes the next waiting message itself, with the
//! permit it holds ([`prefetch::Prefetch::next_for`]), as core event tasks do: under load
//! events are not each spawned, and a finished event does not wake the intake.
//!
//! On stop it pulls nothing more; messages still waiting, and those that still arrive for the
//! last request, are handed back at once (NAK without delay) for another host to take.

use std::sync::Arc;
use std::time::Duration;

use async_nats::StatusCode;
use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::consumer::pull::BatchConfig;
use futures::{FutureExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod delivery;
pub mod partition;
mod prefetch;
mod window;

use super::{Dispatcher, Update};
use crate::deployment::Deployment;
use crate::ordering::{KeyRelease, KeyedQueue, next_release};
use delivery::Delivery;
use prefetch::Prefetch;
use window::{low_water, most_per_request, window};

/// How long the server holds a pull request open when no message is there.
const PULL_EXPIRES: Duration = Duration::from_secs(1);
/// How long after `PULL_EXPIRES` the intake stops waiting for the server's answer (a
/// request is lost when the connection drops).
const PULL_SLACK: Duration = Duration::from_secs(2);
/// Most messages taken from the inbox at once before admitting again.
const RECEIVE_BATCH: usize = 64;

/// The pull request out now.
struct Request {
    /// Messages it still owes.
    owed: usize,
    /// When the intake stops waiting for it.
    deadline: Instant,
}

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
    /// Messages pulled and waiting for a permit (also while the circuit is open: kept alive
    /// with progress acks rather than going back to the server, which would count a
    /// delivery the handler never saw). Shared with the event tasks.
    prefetch: Arc<Prefetch>,
    request: Option<Request>,
    /// With per-key ordering: messages (with their permits) waiting for their key.
    keyed: Option<KeyedQueue<(async_nats::Message, OwnedSemaphorePermit)>>,
    released: Option<mpsc::UnboundedReceiver<String>>,
    /// When to tell the server that waiting messages are still being worked on.
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
        let prefetch = Arc::new(Prefetch::new(deployment.clone(), keyed.is_none()));
        Ok(Self {
            dispatcher,
            deployment,
            consumer,
            inbox,
            messages,
            updates,
            stop,
            stopping: false,
            prefetch,
            request: None,
            keyed,
            released,
            progress,
        })
    }

    /// Pulls and admits until `stop` is cancelled, then hands back what it still holds.
    pub async fn run(mut self) {
        while !self.stopping {
            // Admitting first: what it takes from the window may bring it to the low-water
            // mark, and then the next request must be out before the intake waits (the tasks
            // it started find nothing more to take, and would wake no one).
            self.admit_ready();
            self.pull_if_low().await;
            self.wait().await;
        }
        self.hand_back_all().await;
        tracing::debug!(
            function = &**self.deployment.function().name(),
            "pull intake stopped"
        );
    }

    /// Waits for one thing to happen and handles it: a message, a free permit for a waiting
    /// message, an update, a released key, a progress tick, the request's end, or a task
    /// telling that the window runs low.
    async fn wait(&mut self) {
        let permits = self.deployment.permits.clone();
        let deployment = self.deployment.clone();
        let admission = async move {
            deployment.breaker.ready().await;
            permits.acquire_owned().await
        };
        let waiting = self.prefetch.len() > 0;
        let deadline = self.request.as_ref().map(|request| request.deadline);
        let prefetch = self.prefetch.clone();
        tokio::select! {
            _ = self.stop.cancelled() => self.stopping = true,
            Some(update) = self.updates.recv() => self.apply(update),
            message = self.messages.next() => match message {
                Some(message) => {
                    self.receive(message);
                    self.receive_more();
                }
                None => self.stopping = true,
            },
            Some(key) = next_release(&mut self.released) => self.release(key),
            _ = self.progress.tick() => self.keep_alive(),
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                self.end_request();
            }
            _ = prefetch.low() => {}
            permit = admission, if waiting => {
                let permit = permit.expect("function permits are never closed");
                // A task may have taken the message meanwhile; then the permit goes back.
                if let Some(message) = self.prefetch.pop() {
                    // A probe holds back the next admission until its outcome is known.
                    self.deployment.breaker.admit();
                    self.place(message, permit);
                }
            }
        }
    }

    /// Admits waiting messages while a permit is free and the circuit is closed, without
    /// waiting.
    fn admit_ready(&mut self) {
        while self.deployment.breaker.is_closed() && !self.stopping {
            let Ok(permit) = self.deployment.permits.clone().try_acquire_owned() else {
                return;
            };
            let Some(message) = self.prefetch.pop() else {
                return;
            };
            self.deployment.breaker.admit();
            self.place(message, permit);
        }
    }

    /// Sends the next pull request when none is out and the window has room: for the free
    /// permits and the window, less what waits. While the circuit is not closed, only one
    /// message is asked for, and only when none waits (for the probe).
    async fn pull_if_low(&mut self) {
        if self.request.is_some() || self.stopping {
            return;
        }
        let waiting = self.prefetch.len();
        let batch = if self.deployment.breaker.is_closed() {
            if waiting > low_water(&self.deployment) {
                return;
            }
            let free = self.deployment.permits.available_permits();
            (free + window(&self.deployment))
                .saturating_sub(waiting)
                .min(most_per_request(&self.deployment))
        } else if waiting == 0 {
            1
        } else {
            return;
        };
        if batch == 0 {
            return;
        }
        let request = BatchConfig {
            batch,
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
            return;
        }
        tracing::trace!(
            function = &**self.deployment.function().name(),
            batch,
            waiting,
            "pull request sent"
        );
        self.request = Some(Request {
            owed: batch,
            deadline: Instant::now() + PULL_EXPIRES + PULL_SLACK,
        });
        self.prefetch.set_owed(batch);
    }

    /// Takes what the inbox already holds (up to [`RECEIVE_BATCH`]) without waiting.
    fn receive_more(&mut self) {
        for _ in 0..RECEIVE_BATCH {
            match self.messages.next().now_or_never() {
                Some(Some(message)) => self.receive(message),
                _ => return,
            }
        }
    }

    /// A message on the inbox: a delivery joins the waiting messages; a status ends the
    /// request out now (it expired, or the server ended it).
    fn receive(&mut self, message: async_nats::Message) {
        match message.status {
            None | Some(StatusCode::OK) => {
                let owed = match &mut self.request {
                    Some(request) => {
                        request.owed = request.owed.saturating_sub(1);
                        request.owed
                    }
                    // Only a request the intake gave up on (connection trouble) leaves
                    // messages arriving now.
                    None => 0,
                };
                if owed == 0 {
                    self.request = None;
                }
                self.prefetch.push(message, owed);
            }
            Some(StatusCode::IDLE_HEARTBEAT) => {}
            Some(StatusCode::TIMEOUT | StatusCode::NOT_FOUND) => self.end_request(),
            Some(status) => {
                tracing::warn!(
                    function = &**self.deployment.function().name(),
                    "pull request ended by the server: {status} {}",
                    message.description.as_deref().unwrap_or("")
                );
                self.end_request();
            }
        }
    }

    /// The request out now will bring nothing more.
    fn end_request(&mut self) {
        tracing::trace!(
            function = &**self.deployment.function().name(),
            owed = self.request.as_ref().map(|request| request.owed),
            waiting = self.prefetch.len(),
            "pull request ended"
        );
        self.request = None;
        self.prefetch.set_owed(0);
    }

    /// On stop: every message waiting for a permit or behind its key, and every one still
    /// arriving for the last request, goes back to the server.
    async fn hand_back_all(&mut self) {
        let waiting = self.keyed.as_mut().map(KeyedQueue::drain).unwrap_or_default();
        for message in self.prefetch.drain() {
            self.hand_back(message);
        }
        for (message, _permit) in waiting {
            self.hand_back(message);
        }
        // The server sends what the request out now still owes to this inbox, at once when
        // the stream holds it, else as it is published until the request expires: taken
        // here and handed back, rather than left to run out their ack wait unseen.
        while let Some(request) = &self.request {
            let deadline = request.deadline;
            match tokio::time::timeout_at(deadline, self.messages.next()).await {
                Ok(Some(message)) => {
                    self.receive(message);
                    for message in self.prefetch.drain() {
                        self.hand_back(message);
                    }
                }
                Ok(None) | Err(_) => self.request = None,
            }
        }
        if let Err(error) = self.messages.unsubscribe().await {
            tracing::debug!("unsubscribing the pull inbox failed: {error}");
        }
        while let Some(message) = self.messages.next().await {
            self.hand_back(message);
        }
    }

    /// Admits `message`, or with per-key ordering queues it behind its key.
    fn place(&mut self, message: async_nats::Message, permit: OwnedSemaphorePermit) {
        let key = self.keyed.as_ref().and_then(|queue| queue.key_of(&message));
        match (key, &mut self.keyed) {
            (Some(key), Some(queue)) => {
                queue.push(key, (message, permit));
                self.admit_keyed();
            }
            _ => self.admit(message, permit, None),
        }
    }

    /// Admits every message whose key is free.
    fn admit_keyed(&mut self) {
        while let Some(((message, permit), key)) = self.keyed.as_mut().and_then(KeyedQueue::pop_ready) {
            self.admit(message, permit, Some(key));
        }
    }

    /// A key's event finished: its next message may go.
    fn release(&mut self, key: String) {
        if let Some(queue) = &mut self.keyed {
            queue.release(key);
        }
        self.admit_keyed();
    }

    /// Tells the server that messages waiting for a permit, for the circuit or for their key
    /// are still in this host's hands.
    fn keep_alive(&self) {
        let keyed = self
            .keyed
            .iter()
            .flat_map(KeyedQueue::iter)
            .map(|(message, _)| message.clone());
        for message in self.prefetch.snapshot().into_iter().chain(keyed) {
            let message = self.dispatcher.jetstream_message(message);
            self.dispatcher
                .tracker
                .spawn(async move { message.ack_with(AckKind::Progress).await });
        }
    }

    /// Hands `message` to a task with `permit`, or back to the server when stopping (also when
    /// the stop arrived but another branch of the loop's `select!` ran first). Without a key,
    /// the task goes on with the next waiting messages.
    fn admit(&self, message: async_nats::Message, permit: OwnedSemaphorePermit, key: Option<KeyRelease>) {
        if self.stopping || self.stop.is_cancelled() {
            return self.hand_back(message);
        }
        let Some(delivery) = Delivery::of(&self.dispatcher, &self.deployment, message) else {
            return;
        };
        match key {
            Some(key) => delivery::spawn(&self.dispatcher, &self.deployment, delivery, permit, Some(key)),
            None => {
                let chain = delivery::chain(
                    self.dispatcher.clone(),
                    self.prefetch.clone(),
                    self.deployment.clone(),
                    delivery,
                    permit,
                );
                // Boxed: tokio copies a task's future whole when it spawns and when it
                // finishes, and this one is kilobytes (its largest state).
                self.dispatcher.tracker.spawn(Box::pin(chain));
            }
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

    /// Switches to a new version: events admitted from now on run it.
    fn apply(&mut self, update: Update) {
        self.prefetch.set_deployment(update.deployment.clone());
        self.deployment = update.deployment;
        let _ = update.applied.send(());
    }
}
