//! Per-key ordering: events with the same key one at a time in publish order, retries
//! included; different keys in parallel up to the cap. In core and JetStream modes.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::json;
use sluice_tests::{Manifest, Sluice, WAIT, drained, next_message, publish_many};

const EVENTS: usize = 2_000;
const KEYS: usize = 50;
const CAP: u64 = 16;

/// Event `n`: key `k{n % KEYS}`, its position among that key's events, and every 25th
/// failing its first attempt.
fn event(n: usize) -> String {
    json!({
        "op": "ordered",
        "key": format!("k{}", n % KEYS),
        "seq": n / KEYS,
        "ms": 2,
        "fail_first": n % 25 == 7,
    })
    .to_string()
}

/// A probe on `ordered.in` in `mode`, ordered per key, up to [`CAP`] at once.
fn manifest(mode: &str) -> Manifest {
    Manifest::new()
        .subjects(["ordered.in"])
        .mode(mode)
        .per_key("json:/key")
        .max_concurrency(CAP)
        .initial_delay("5ms")
        .max_delay("5ms")
        .publish(["probe.out"])
}

/// Reads `EVENTS` reports and checks that each key's events were handled one at a time, in
/// publish order, with retried events holding back their key.
async fn check_order(out: &mut async_nats::Subscriber) {
    let mut seen: HashMap<String, Vec<(u64, u64, u64)>> = HashMap::new();
    let mut retried = 0;
    let deadline = Instant::now() + WAIT;
    for _ in 0..EVENTS {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = next_message(out, left, "every ordered event's report").await;
        let report: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        let key = report["key"].as_str().unwrap().to_owned();
        let seq = report["seq"].as_u64().unwrap();
        retried += u64::from(report["attempt"].as_u64().unwrap() > 1);
        let span = (
            seq,
            report["start_ns"].as_u64().unwrap(),
            report["end_ns"].as_u64().unwrap(),
        );
        seen.entry(key).or_default().push(span);
    }
    assert_eq!(seen.len(), KEYS);
    assert_eq!(retried, (EVENTS / 25) as u64, "every 25th event was retried once");
    for (key, spans) in &seen {
        let order: Vec<u64> = spans.iter().map(|span| span.0).collect();
        let expected: Vec<u64> = (0..(EVENTS / KEYS) as u64).collect();
        assert_eq!(order, expected, "key {key} was handled out of order");
        for pair in spans.windows(2) {
            assert!(
                pair[0].2 <= pair[1].1,
                "key {key}: {} overlapped {}",
                pair[0].0,
                pair[1].0
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_events_with_one_key_run_in_order_and_keys_run_in_parallel() {
    let sluice = Sluice::builder()
        .add("orders", "probe", manifest("core"))
        .start()
        .await;
    let mut out = sluice.subscribe("probe.out").await;

    for n in 0..EVENTS {
        sluice
            .client
            .publish("ordered.in", event(n).into())
            .await
            .unwrap();
    }
    sluice.client.flush().await.unwrap();
    check_order(&mut out).await;
    assert_eq!(
        sluice.host.stats("orders").unwrap().peak_in_flight,
        CAP,
        "keys ran in parallel up to the cap"
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_events_with_one_key_run_in_order_and_keys_run_in_parallel() {
    let sluice = Sluice::builder()
        .add("orders", "probe", manifest("jetstream"))
        .start()
        .await;
    let js = sluice.js();
    let mut out = sluice.subscribe("probe.out").await;

    publish_many(&js, "ordered.in", "o", EVENTS, event).await;
    check_order(&mut out).await;
    assert_eq!(
        sluice.host.stats("orders").unwrap().peak_in_flight,
        CAP,
        "keys ran in parallel up to the cap"
    );
    drained(&js, "SLUICE_ORDERS", "sluice-orders").await;
    sluice.shutdown().await;
}
