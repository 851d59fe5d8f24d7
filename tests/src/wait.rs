//! Waiting for things to happen, bounded in time, never sleeping and hoping.

use std::time::{Duration, Instant};

use futures::StreamExt;

/// Polls `condition` until it holds, panicking with `what` after `timeout`.
pub async fn eventually(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The next message of `subscriber`, panicking with `what` if none arrives within `timeout`.
pub async fn next_message(
    subscriber: &mut async_nats::Subscriber,
    timeout: Duration,
    what: &str,
) -> async_nats::Message {
    match tokio::time::timeout(timeout, subscriber.next()).await {
        Ok(Some(message)) => message,
        Ok(None) => panic!("subscription closed while waiting for: {what}"),
        Err(_) => panic!("no message within {timeout:?}: {what}"),
    }
}

/// Whether `subscriber` has no message already received and waiting to be read.
pub fn no_message_pending(subscriber: &mut async_nats::Subscriber) -> bool {
    matches!(subscriber.next().now_or_never(), None | Some(None))
}

use futures::FutureExt;
