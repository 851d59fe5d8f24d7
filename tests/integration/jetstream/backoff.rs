//! A retryable failure in JetStream mode is NAKed with the host's delay: the backoff, or the
//! handler's retry-after capped at `retry.max_delay`. Not the consumer's ack wait, and not at
//! once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_tests::{Sluice, WAIT, header, next_message, publish_js};

use super::js_probe;

const BACKOFF: Duration = Duration::from_millis(600);
const MAX_DELAY: Duration = Duration::from_millis(1000);
const ACK_WAIT: Duration = Duration::from_secs(30);
/// What a redelivery may take beyond its delay on a loaded box; far below the ack wait.
const SLACK: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_waits_the_backoff_or_the_capped_retry_after_not_the_ack_wait() {
    let policy = js_probe()
        .max_attempts(3)
        .initial_delay(&format!("{}ms", BACKOFF.as_millis()))
        .multiplier(2.0)
        .max_delay(&format!("{}ms", MAX_DELAY.as_millis()))
        .jitter("none")
        .ack_wait(&format!("{}s", ACK_WAIT.as_secs()));
    let sluice = Sluice::builder().add("orders", "probe", policy).start().await;
    let js = sluice.js();
    let mut out = sluice.subscribe("probe.out").await;

    // Each fails its first attempt and succeeds on the second: the gap is the NAK's delay.
    let cases = [
        ("backoff", None, BACKOFF),
        ("retry-after", Some(900), Duration::from_millis(900)),
        ("retry-after-capped", Some(60_000), MAX_DELAY),
    ];
    let mut published = HashMap::new();
    for (id, retry_after_ms, _) in cases {
        let payload = json!({"op": "fail", "until": 2, "retry_after_ms": retry_after_ms});
        // Taken before the publish: the first attempt cannot start earlier.
        published.insert(id.to_owned(), Instant::now());
        publish_js(&js, "js.in", id, payload.to_string()).await;
    }
    let mut took = HashMap::new();
    while took.len() < cases.len() {
        let message = next_message(&mut out, WAIT, "each event's second attempt").await;
        let id = header(&message, "probe-event-id").unwrap().to_owned();
        assert_eq!(header(&message, "probe-attempt"), Some("2"), "{id}");
        took.insert(id.clone(), published[&id].elapsed());
    }
    for (id, _, delay) in cases {
        let gap = took[id];
        eprintln!("{id}: second attempt done {gap:?} after the publish (delay {delay:?})");
        assert!(
            gap >= delay,
            "{id}: redelivered after {gap:?}, before its delay {delay:?}"
        );
        assert!(
            gap < delay + SLACK,
            "{id}: redelivered after {gap:?}, long after its delay {delay:?} (ack wait {ACK_WAIT:?})"
        );
    }
    assert_eq!(sluice.host.stats("orders").unwrap().retried, 3);
    sluice.shutdown().await;
}
