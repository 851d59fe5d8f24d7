//! JetStream mode: at-least-once delivery, and proof that nothing is lost under faults.

mod backoff;
mod delivery;
mod faults;
mod proof;
mod undeploy;

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;

/// A JetStream probe on `js.in` in stream `SLUICE_ORDERS`, with `extra` TOML appended.
pub fn manifest(extra: &str) -> String {
    format!(
        r#"
[trigger]
subjects = ["js.in"]
mode = "jetstream"
[permissions]
publish = ["probe.out"]
{extra}
"#
    )
}

/// Publishes `payload` to `subject` through JetStream with event id `id`, waiting for the
/// stream's ack.
pub async fn publish_js(js: &jetstream::Context, subject: &str, id: &str, payload: impl Into<bytes::Bytes>) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", id);
    js.publish_with_headers(subject.to_owned(), headers, payload.into())
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
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Sluice-Event-Id", format!("{prefix}-{n}").as_str());
        let ack = js
            .publish_with_headers(subject.to_owned(), headers, payload(n).into())
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

/// Counts, per `probe-event-id`, the messages `subscriber` receives until `done` says the
/// counts are complete or `timeout` passes (then panics with `what` and the counts).
pub async fn count_ids(
    subscriber: &mut async_nats::Subscriber,
    timeout: Duration,
    what: &str,
    done: impl Fn(&HashMap<String, u32>) -> bool,
) -> HashMap<String, u32> {
    let mut seen = HashMap::new();
    count_more(subscriber, &mut seen, timeout, what, done).await;
    seen
}

/// Like [`count_ids`], adding to counts already made.
pub async fn count_more(
    subscriber: &mut async_nats::Subscriber,
    seen: &mut HashMap<String, u32>,
    timeout: Duration,
    what: &str,
    done: impl Fn(&HashMap<String, u32>) -> bool,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done(seen) {
        match tokio::time::timeout_at(deadline, subscriber.next()).await {
            Ok(Some(message)) => {
                let id = crate::header(&message, "probe-event-id")
                    .unwrap_or("?")
                    .to_owned();
                *seen.entry(id).or_default() += 1;
            }
            Ok(None) => panic!("subscription closed while waiting for: {what}"),
            Err(_) => panic!(
                "timed out after {timeout:?} waiting for: {what}; saw {} distinct ids, {} messages",
                seen.len(),
                seen.values().sum::<u32>()
            ),
        }
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

/// Waits until the consumer has nothing pending or unacknowledged.
pub async fn drained(js: &jetstream::Context, stream: &str, consumer: &str) {
    let deadline = tokio::time::Instant::now() + crate::WAIT;
    loop {
        let info = consumer_info(js, stream, consumer).await;
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "consumer {consumer} still has {} pending and {} unacknowledged",
            info.num_pending,
            info.num_ack_pending
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until stream `name` holds at least `count` messages, panicking with `what` after
/// `timeout`.
pub async fn stream_holds(js: &jetstream::Context, name: &str, count: u64, timeout: Duration, what: &str) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut held = 0;
    while held < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}; stream {name} holds {held} of {count}"
        );
        // Requests may fail while a server restarts or a leader is elected: ask again.
        if let Ok(Ok(info)) = tokio::time::timeout(Duration::from_secs(2), stream_messages(js, name)).await {
            held = info;
        }
        if held < count {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// How many messages stream `name` holds now.
pub async fn stream_messages(js: &jetstream::Context, name: &str) -> Result<u64, async_nats::Error> {
    let mut stream = js.get_stream(name).await?;
    Ok(stream.info().await?.state.messages)
}

/// A durable consumer reading stream `name` from its start without acks, for
/// [`ids_in_stream`]. Made before a fault, it is there after it (creating one needs the
/// cluster's meta leader, which may take a while to come back).
pub async fn stream_reader(js: &jetstream::Context, name: &str) -> jetstream::consumer::PullConsumer {
    use jetstream::consumer::{AckPolicy, pull};
    js.create_consumer_on_stream(
        pull::Config {
            durable_name: Some("TEST_READER".into()),
            ack_policy: AckPolicy::None,
            ..Default::default()
        },
        name,
    )
    .await
    .unwrap_or_else(|error| panic!("a reader of stream {name}: {error}"))
}

/// Reads every message stream `name` holds, by sequence from the stream's leader (no consumer
/// to re-elect after a fault), and counts them by `probe-event-id`. `_reader` (see
/// [`stream_reader`]) is kept for callers that made one before the fault.
pub async fn ids_in_stream(
    js: &jetstream::Context,
    name: &str,
    _reader: &jetstream::consumer::PullConsumer,
) -> HashMap<String, u32> {
    let deadline = tokio::time::Instant::now() + crate::WAIT;
    let mut stream = js.get_stream(name).await.expect("the stream");
    let state = stream.info().await.expect("stream info").state.clone();
    let mut seen: HashMap<String, u32> = HashMap::new();
    for sequence in state.first_sequence..=state.last_sequence {
        let message = loop {
            match stream.get_raw_message(sequence).await {
                Ok(message) => break message,
                Err(error) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "stream {name}: message {sequence} of {}: {error}",
                        state.last_sequence
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let id = message
            .headers
            .get("probe-event-id")
            .map_or("?", |value| value.as_str())
            .to_owned();
        *seen.entry(id).or_default() += 1;
    }
    seen
}
