//! Pull requests in a pinned-client priority group (nats-server 2.11): the server delivers a
//! consumer's messages to one client of the group at a time, the *pinned* one, and keeps
//! every other client's requests on standby until the pin moves (the pinned client stopped
//! pulling for the consumer's priority timeout, or released it).
//!
//! The intake sends its own requests (one inbox, one request out at a time), so it keeps the
//! pin id itself: the server names it in each message's `Nats-Pin-Id` header, each request
//! repeats it, and a request with a stale one ends with status 423.

use std::time::Duration;

use async_nats::StatusCode;
use async_nats::jetstream::consumer::PullConsumer;
use futures::StreamExt;

use crate::provision::partitions::GROUP;

/// The header naming the pin of a pinned client's deliveries.
pub const PIN_HEADER: &str = "Nats-Pin-Id";

/// How long the server holds a pull request open when there is nothing to deliver; well
/// below [`crate::provision::partitions::PIN_TTL`], so a waiting pinned client keeps its pin.
const PULL_EXPIRES: Duration = Duration::from_secs(1);
/// How long after `PULL_EXPIRES` a request is given up as lost.
const PULL_SLACK: Duration = Duration::from_secs(2);

/// What came of waiting on a pull request.
pub enum Pulled {
    /// A message; `new_pin` when it came with a pin this client did not hold before.
    Message {
        /// The delivery.
        message: async_nats::Message,
        /// Whether this client was pinned anew (it took over from another, or from nobody).
        new_pin: bool,
    },
    /// The request ended (expired, fulfilled, or lost): send another.
    Ended,
    /// The pin this client held moved to another client.
    PinLost,
}

/// One client of a consumer's pinned-client group.
pub struct PinnedPuller {
    client: async_nats::Client,
    api: String,
    stream: String,
    consumer: String,
    inbox: String,
    messages: async_nats::Subscriber,
    pin: Option<String>,
    deadline: tokio::time::Instant,
    /// Messages the last request may still bring.
    outstanding: usize,
}

impl PinnedPuller {
    /// A client of `consumer`'s group on `client`, with its own inbox.
    pub async fn new(
        client: &async_nats::Client,
        consumer: &PullConsumer,
    ) -> Result<Self, async_nats::SubscribeError> {
        let inbox = client.new_inbox();
        let messages = client.subscribe(inbox.clone()).await?;
        let info = consumer.cached_info();
        Ok(Self {
            client: client.clone(),
            api: "$JS.API".to_owned(),
            stream: info.stream_name.clone(),
            consumer: info.name.clone(),
            inbox,
            messages,
            pin: None,
            deadline: tokio::time::Instant::now(),
            outstanding: 0,
        })
    }

    /// The consumer's name.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// Asks for up to `batch` messages.
    pub async fn request(&mut self, batch: usize) -> Result<(), async_nats::PublishError> {
        let mut request = serde_json::json!({
            "batch": batch,
            "expires": PULL_EXPIRES.as_nanos() as u64,
            "group": GROUP,
        });
        if let Some(pin) = &self.pin {
            request["id"] = pin.clone().into();
        }
        let subject = format!("{}.CONSUMER.MSG.NEXT.{}.{}", self.api, self.stream, self.consumer);
        self.deadline = tokio::time::Instant::now() + PULL_EXPIRES + PULL_SLACK;
        self.outstanding = batch;
        self.client
            .publish_with_reply(subject, self.inbox.clone(), request.to_string().into())
            .await
    }

    /// Waits for what the last request brings next.
    pub async fn next(&mut self) -> Pulled {
        if self.outstanding == 0 {
            return Pulled::Ended;
        }
        loop {
            let message = tokio::select! {
                message = self.messages.next() => message,
                _ = tokio::time::sleep_until(self.deadline) => {
                    self.outstanding = 0;
                    return Pulled::Ended;
                }
            };
            let Some(message) = message else {
                self.outstanding = 0;
                return Pulled::Ended;
            };
            match message.status {
                None | Some(StatusCode::OK) => {
                    // The server appends its pin to the message's own headers: the last one.
                    let pin = message
                        .headers
                        .as_ref()
                        .and_then(|headers| headers.get_all(PIN_HEADER).last())
                        .map(|pin| pin.as_str().to_owned());
                    let new_pin = pin.is_some() && pin != self.pin;
                    if new_pin {
                        self.pin = pin;
                    }
                    self.outstanding -= 1;
                    return Pulled::Message { message, new_pin };
                }
                Some(StatusCode::IDLE_HEARTBEAT) => {}
                Some(StatusCode::PIN_ID_MISMATCH) => {
                    self.pin = None;
                    self.outstanding = 0;
                    return Pulled::PinLost;
                }
                Some(StatusCode::TIMEOUT | StatusCode::NOT_FOUND) => {
                    self.outstanding = 0;
                    return Pulled::Ended;
                }
                Some(status) => {
                    self.outstanding = 0;
                    tracing::debug!(
                        consumer = self.consumer,
                        "pull request ended by the server: {status} {}",
                        message.description.as_deref().unwrap_or("")
                    );
                    return Pulled::Ended;
                }
            }
        }
    }

    /// Stops pulling: messages still arriving for the last request are returned to the
    /// caller to hand back, and the pin (if held) is released so another host takes over at
    /// once rather than after the priority timeout.
    pub async fn close(&mut self) -> Vec<async_nats::Message> {
        if let Err(error) = self.messages.unsubscribe().await {
            tracing::debug!("unsubscribing the pull inbox failed: {error}");
        }
        let mut stragglers = Vec::new();
        while let Some(message) = self.messages.next().await {
            if message.status.is_none_or(|status| status == StatusCode::OK) {
                stragglers.push(message);
            }
        }
        self.release().await;
        stragglers
    }

    /// Lets go of the pin, if this client holds one, so another client is pinned at once.
    pub async fn release(&mut self) {
        if self.pin.take().is_some() {
            self.unpin().await;
        }
    }

    async fn unpin(&self) {
        let subject = format!("{}.CONSUMER.UNPIN.{}.{}", self.api, self.stream, self.consumer);
        let body = serde_json::json!({ "group": GROUP }).to_string();
        let answer =
            tokio::time::timeout(Duration::from_secs(2), self.client.request(subject, body.into())).await;
        if !matches!(answer, Ok(Ok(_))) {
            tracing::debug!(
                consumer = self.consumer,
                "releasing the pin failed; it moves after the priority timeout"
            );
        }
    }
}
