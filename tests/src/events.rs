//! Publishing test events and reading what comes back, in core NATS and through JetStream.

use std::time::Duration;

use async_nats::jetstream;

use crate::wait::{WAIT, until_ok};

/// A NATS header value of `message`.
pub fn header<'a>(message: &'a async_nats::Message, name: &str) -> Option<&'a str> {
    message.headers.as_ref()?.get(name).map(|value| value.as_str())
}

/// Headers carrying event id `id` (`Sluice-Event-Id`).
fn with_id(id: &str) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", id);
    headers
}

/// Publishes `payload` to `subject` with an explicit event id, and flushes.
pub async fn publish_event(
    client: &async_nats::Client,
    subject: &str,
    id: &str,
    payload: impl Into<bytes::Bytes>,
) {
    client
        .publish_with_headers(subject.to_owned(), with_id(id), payload.into())
        .await
        .expect("publish");
    client.flush().await.expect("flush");
}

/// Publishes `payload` to `subject` through JetStream with event id `id`, waiting for the
/// stream's ack.
pub async fn publish_js(js: &jetstream::Context, subject: &str, id: &str, payload: impl Into<bytes::Bytes>) {
    js.publish_with_headers(subject.to_owned(), with_id(id), payload.into())
        .await
        .expect("publish to the stream")
        .await
        .expect("stream acked the event");
}

/// Publishes `count` events `{prefix}-{n}` with `payload(n)` to `subject` through JetStream,
/// a thousand acks in flight at a time.
pub async fn publish_many(
    js: &jetstream::Context,
    subject: &str,
    prefix: &str,
    count: usize,
    payload: impl Fn(usize) -> String,
) {
    let mut acks = Vec::with_capacity(1000);
    for n in 0..count {
        let ack = js
            .publish_with_headers(
                subject.to_owned(),
                with_id(&format!("{prefix}-{n}")),
                payload(n).into(),
            )
            .await
            .expect("publish to the stream");
        acks.push(ack);
        if acks.len() == 1000 {
            for ack in acks.drain(..) {
                ack.await.expect("stream acked the event");
            }
        }
    }
    for ack in acks {
        ack.await.expect("stream acked the event");
    }
}

/// The durable consumer `consumer` of `stream`, as the server sees it now.
pub async fn consumer_info(
    js: &jetstream::Context,
    stream: &str,
    consumer: &str,
) -> jetstream::consumer::Info {
    let mut consumer: jetstream::consumer::PullConsumer = js
        .get_consumer_from_stream(consumer, stream)
        .await
        .expect("the function's consumer exists");
    consumer.info().await.expect("consumer info").clone()
}

/// Waits (up to [`WAIT`]) until the consumer has nothing pending or unacknowledged.
pub async fn drained(js: &jetstream::Context, stream: &str, consumer: &str) {
    let what = format!("consumer {consumer} drained");
    until_ok(WAIT, Duration::from_millis(50), &what, async || {
        let info = consumer_info(js, stream, consumer).await;
        match (info.num_pending, info.num_ack_pending) {
            (0, 0) => Ok(()),
            (pending, unacked) => Err(format!("{pending} pending and {unacked} unacknowledged")),
        }
    })
    .await
}
