//! Waiting for things to happen, bounded in time, never sleeping and hoping.

use std::fmt::Display;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};

/// Generous bound for anything that should take milliseconds.
pub const WAIT: Duration = Duration::from_secs(20);

/// How often [`eventually`] asks again.
const TICK: Duration = Duration::from_millis(10);

/// Awaits `condition` every 10 ms until it holds, panicking with `what` after `timeout`.
/// The condition may await (ask the server, read a stream) or not (`async || host.stats(..)`).
pub async fn eventually(timeout: Duration, what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let probe = async || match condition().await {
        true => Ok(()),
        false => Err("the condition does not hold yet"),
    };
    until_ok(timeout, TICK, what, probe).await
}

/// Awaits `probe` every `every` until it returns `Ok`, and returns that value; after
/// `timeout`, panics with `what` and the last `Err` (what the probe saw instead).
pub async fn until_ok<T, E: Display>(
    timeout: Duration,
    every: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) => assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for: {what}; last: {last}"
            ),
        }
        tokio::time::sleep(every).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_awaiting_condition_is_polled_until_it_holds() {
        let mut asked = 0;
        eventually(WAIT, "the third ask", async || {
            tokio::task::yield_now().await;
            asked += 1;
            asked == 3
        })
        .await;
        assert_eq!(asked, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for: never; last: 7")]
    async fn a_probe_that_never_succeeds_panics_with_what_it_saw() {
        until_ok(Duration::from_millis(30), TICK, "never", async || Err::<(), _>(7)).await;
    }
}
