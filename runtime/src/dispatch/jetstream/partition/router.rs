//! The router of a partitioned function: takes events from the function's consumer in stream
//! order and republishes each to its key's partition, exactly once in the partition stream.
//!
//! One host routes at a time (the consumer's pinned client). Ordering rests on three rules:
//! - events are republished in the order the stream delivered them, in *chunks* whose
//!   publishes are pipelined, and no chunk holds two events of one key: if a publish fails,
//!   no later event of that key has been sent;
//! - after a failure every event not confirmed is handed back and the rest of that request is
//!   handed back too, so the next request starts with the redeliveries (the server hands
//!   those out before new events);
//! - a router that becomes pinned first republishes, in order, every event between the
//!   consumer's ack floor and the first one it was given: events the previous router took
//!   and may not have routed. What it had routed is dropped as a duplicate by the partition
//!   stream (`Nats-Msg-Id` = `STREAM:SEQUENCE`). Until that catch-up has succeeded (an
//!   event it cannot read for another reason than being gone fails it, and it is tried
//!   again), the router routes nothing.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use async_nats::jetstream;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::stream::RawMessageErrorKind;
use bytes::Bytes;
use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use super::hand_back;
use super::pinned::{PinnedPuller, Pulled};
use super::routed::Original;
use crate::dispatch::Dispatcher;
use crate::manifest::KeySource;
use crate::ordering::key_of;
use crate::provision::covers;
use crate::provision::partitions::{PartitionNames, ROUTER_WINDOW};

/// How long the router waits after a failed publish before it pulls again.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// One event on its way to its partition.
struct Routing {
    /// The delivery from the function's consumer, acknowledged once routed.
    message: jetstream::Message,
    /// The copy for the partition stream.
    subject: String,
    headers: async_nats::HeaderMap,
    payload: Bytes,
    /// Its ordering key (or id when it has none).
    key: String,
}

/// Routes one partitioned function's events.
pub struct Router {
    dispatcher: Dispatcher,
    function: String,
    key: KeySource,
    names: PartitionNames,
    consumer: PullConsumer,
    filters: Vec<String>,
    puller: PinnedPuller,
    stop: CancellationToken,
    /// Pinned, but not yet caught up with what a previous router may have left unrouted:
    /// nothing is routed until [`Router::catch_up`] succeeds (it is tried again with the next
    /// delivery after a failure).
    behind: bool,
}

impl Router {
    /// A router of `function`'s events from `consumer` into the partitions `names`.
    pub async fn new(
        dispatcher: Dispatcher,
        function: &str,
        key: KeySource,
        names: PartitionNames,
        consumer: PullConsumer,
        stop: CancellationToken,
    ) -> Result<Self, async_nats::SubscribeError> {
        let puller = PinnedPuller::new(&dispatcher.client, &consumer).await?;
        let config = &consumer.cached_info().config;
        let mut filters = config.filter_subjects.clone();
        if !config.filter_subject.is_empty() {
            filters.push(config.filter_subject.clone());
        }
        Ok(Self {
            dispatcher,
            function: function.to_owned(),
            key,
            names,
            consumer,
            filters,
            puller,
            stop,
            behind: false,
        })
    }

    /// Routes until `stop` is cancelled, then hands back what still arrives.
    pub async fn run(mut self) {
        while !self.stop.is_cancelled() {
            let routed = match self.puller.request(ROUTER_WINDOW as usize).await {
                Ok(()) => self.route_request().await,
                Err(error) => {
                    tracing::warn!(function = self.function, "router pull request failed: {error}");
                    false
                }
            };
            if !routed {
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_AFTER) => {}
                    _ = self.stop.cancelled() => {}
                }
            }
        }
        for message in self.puller.close().await {
            hand_back(self.dispatcher.jetstream_message(message)).await;
        }
    }

    /// Routes what one request brings, chunk by chunk; false after a failure (everything
    /// not routed was handed back).
    async fn route_request(&mut self) -> bool {
        let mut chunk: Vec<Routing> = Vec::new();
        let mut keys = HashSet::new();
        loop {
            // Wait for the first event of a chunk; then take what has already arrived.
            let pulled = match chunk.is_empty() {
                true => tokio::select! {
                    pulled = self.puller.next() => Some(pulled),
                    _ = self.stop.cancelled() => return true,
                },
                false => self.puller.next().now_or_never(),
            };
            let (message, new_pin) = match pulled {
                Some(Pulled::Message { message, new_pin }) => (message, new_pin),
                Some(Pulled::Ended | Pulled::PinLost) => return self.flush(chunk).await,
                None => {
                    if !self.flush(std::mem::take(&mut chunk)).await {
                        return self.hand_back_request().await;
                    }
                    keys.clear();
                    continue;
                }
            };
            let message = self.dispatcher.jetstream_message(message);
            self.behind |= new_pin;
            if self.behind {
                if !self.flush(std::mem::take(&mut chunk)).await {
                    hand_back(message).await;
                    return self.hand_back_request().await;
                }
                keys.clear();
                if let Err(error) = self.catch_up(&message).await {
                    tracing::warn!(
                        function = self.function,
                        "router could not take over: {error}; trying again"
                    );
                    hand_back(message).await;
                    return self.hand_back_request().await;
                }
                self.behind = false;
            }
            let Some(routing) = self.routing(message) else {
                continue;
            };
            if !keys.insert(routing.key.clone()) {
                // A second event of this key waits until the first is confirmed.
                if !self.flush(std::mem::take(&mut chunk)).await {
                    hand_back(routing.message).await;
                    return self.hand_back_request().await;
                }
                keys.clear();
                keys.insert(routing.key.clone());
            }
            chunk.push(routing);
        }
    }

    /// Publishes `chunk` (pipelined) and acknowledges each event once its copy is confirmed.
    /// On the first failure that event and every later one are handed back; returns false.
    async fn flush(&self, chunk: Vec<Routing>) -> bool {
        let js = &self.dispatcher.jetstream;
        let mut pending = Vec::with_capacity(chunk.len());
        let mut failed_at = None;
        for routing in &chunk {
            let copy = jetstream::message::PublishMessage::build()
                .headers(routing.headers.clone())
                .payload(routing.payload.clone());
            match js.send_publish(routing.subject.clone(), copy).await {
                Ok(ack) => pending.push(ack),
                Err(error) => {
                    tracing::warn!(function = self.function, "routing an event failed: {error}");
                    failed_at = Some(pending.len());
                    break;
                }
            }
        }
        for (index, ack) in pending.into_iter().enumerate() {
            if let Err(error) = ack.await {
                tracing::warn!(
                    function = self.function,
                    "routing an event was not confirmed: {error}"
                );
                failed_at = Some(failed_at.map_or(index, |at: usize| at.min(index)));
            }
        }
        for (index, routing) in chunk.into_iter().enumerate() {
            match failed_at {
                Some(at) if index >= at => hand_back(routing.message).await,
                _ => {
                    if let Err(error) = routing.message.ack().await {
                        tracing::debug!("acknowledging a routed event failed: {error}");
                    }
                }
            }
        }
        failed_at.is_none()
    }

    /// After a failure: hands back everything the current request still brings.
    async fn hand_back_request(&mut self) -> bool {
        while let Pulled::Message { message, .. } = self.puller.next().await {
            hand_back(self.dispatcher.jetstream_message(message)).await;
        }
        false
    }

    /// Newly pinned, before routing `first`: republishes, in order, each event of the
    /// consumer between its ack floor and `first` (a previous router's, maybe not routed).
    async fn catch_up(&self, first: &jetstream::Message) -> Result<(), async_nats::Error> {
        let first = first.info()?.stream_sequence;
        let mut consumer = self.consumer.clone();
        let floor = consumer.info().await?.ack_floor.stream_sequence;
        if floor + 1 >= first {
            return Ok(());
        }
        let stream_name = consumer.cached_info().stream_name.clone();
        let stream = self.dispatcher.jetstream.get_stream(&stream_name).await?;
        let mut republished = 0;
        for sequence in floor + 1..first {
            let stored = match stream.get_raw_message(sequence).await {
                Ok(stored) => stored,
                // Deleted (acknowledged out of a work queue), or never there.
                Err(error) if matches!(error.kind(), RawMessageErrorKind::NoMessageFound) => continue,
                // Anything else (a timeout, no leader) must not skip the event: a later event
                // of its key would overtake it.
                Err(error) => return Err(error.into()),
            };
            if !self.takes(&stored.subject) {
                continue;
            }
            let original = Original {
                stream: &stream_name,
                sequence,
                subject: &stored.subject,
                headers: Some(&stored.headers),
                published: SystemTime::from(stored.time),
            };
            let copy = jetstream::message::PublishMessage::build()
                .headers(original.routed_headers())
                .payload(stored.payload.clone());
            let key = self.key_or_id(&original, &stored.payload);
            let subject = self.names.subject(self.names.partition_of(&key));
            self.dispatcher
                .jetstream
                .send_publish(subject, copy)
                .await?
                .await?;
            republished += 1;
        }
        tracing::info!(
            function = self.function,
            "took over routing: {republished} events from stream sequence {} to {} republished in order (copies already routed are dropped as duplicates)",
            floor + 1,
            first - 1
        );
        Ok(())
    }

    /// Whether the function's consumer takes events on `subject`.
    fn takes(&self, subject: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|filter| covers(filter, subject))
    }

    /// The copy of `message` for its partition; `None` (logged, left to the ack wait) for a
    /// message that is not a JetStream delivery.
    fn routing(&self, message: jetstream::Message) -> Option<Routing> {
        let (headers, key) = match message.info() {
            Ok(info) => {
                let original = Original {
                    stream: info.stream,
                    sequence: info.stream_sequence,
                    subject: message.subject.as_str(),
                    headers: message.headers.as_ref(),
                    published: SystemTime::from(info.published),
                };
                (
                    original.routed_headers(),
                    self.key_or_id(&original, &message.payload),
                )
            }
            Err(error) => {
                tracing::error!(
                    function = self.function,
                    "router ignores a message that is not a JetStream delivery: {error}"
                );
                return None;
            }
        };
        Some(Routing {
            subject: self.names.subject(self.names.partition_of(&key)),
            payload: message.payload.clone(),
            headers,
            key,
            message,
        })
    }

    /// The event's ordering key; without one, its source id (such events are not ordered,
    /// and spread over the partitions).
    fn key_or_id(&self, original: &Original<'_>, payload: &[u8]) -> String {
        key_of(&self.key, original.subject, original.headers, payload).unwrap_or_else(|| original.source_id())
    }
}
