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
use sluice_tests::{Manifest, WAIT, header, until_ok};

/// A JetStream probe on `js.in` (stream `SLUICE_ORDERS` when deployed as `orders`) that
/// publishes to `probe.out`; tests add what they need.
pub fn js_probe() -> Manifest {
    Manifest::new()
        .subjects(["js.in"])
        .jetstream()
        .publish(["probe.out"])
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
                let id = header(&message, "probe-event-id").unwrap_or("?").to_owned();
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

/// Waits until stream `name` holds at least `count` messages, panicking with `what` after
/// `timeout`.
pub async fn stream_holds(js: &jetstream::Context, name: &str, count: u64, timeout: Duration, what: &str) {
    let mut held = 0;
    until_ok(timeout, Duration::from_millis(100), what, async || {
        // Requests may fail while a server restarts or a leader is elected: ask again.
        if let Ok(Ok(info)) = tokio::time::timeout(Duration::from_secs(2), stream_messages(js, name)).await {
            held = info;
        }
        match held >= count {
            true => Ok(()),
            false => Err(format!("stream {name} holds {held} of {count}")),
        }
    })
    .await
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
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut stream = js.get_stream(name).await.expect("the stream");
    let state = stream.info().await.expect("stream info").state.clone();
    let mut seen: HashMap<String, u32> = HashMap::new();
    for sequence in state.first_sequence..=state.last_sequence {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let what = format!("stream {name}: message {sequence} of {}", state.last_sequence);
        let message = until_ok(left, Duration::from_millis(100), &what, async || {
            stream.get_raw_message(sequence).await
        })
        .await;
        let id = message
            .headers
            .get("probe-event-id")
            .map_or("?", |value| value.as_str())
            .to_owned();
        *seen.entry(id).or_default() += 1;
    }
    seen
}
