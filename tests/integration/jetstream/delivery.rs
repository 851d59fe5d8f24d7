//! What a JetStream function does with each delivery: ack after ok, NAK with the host's delay,
//! dead letters kept in a stream, duplicates skipped, stale events expired, slow handlers kept,
//! and a circuit breaker that pauses a failing function.

use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use serde_json::json;
use sluice_tests::{
    Sluice, WAIT, consumer_info, drained, header, next_message, no_message_pending, publish_js, publish_many,
    until_ok,
};

use super::{count_ids, js_probe};
use crate::limits::max_overlap;

const STREAM: &str = "SLUICE_ORDERS";
const CONSUMER: &str = "sluice-orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_is_dead_lettered_durably_while_the_others_flow() {
    let retry = js_probe().retry(3, "300ms", "1s").jitter("none");
    let sluice = Sluice::builder().add("orders", "probe", retry).start().await;
    let js = sluice.js();
    let mut out = sluice.subscribe("probe.out").await;
    let mut dlq = sluice.subscribe("sluice.dlq.orders").await;

    let poison = json!({"op": "fail", "note": "poison"}).to_string();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", "poison");
    headers.insert("x-tenant", "acme");
    js.publish_with_headers("js.in", headers, poison.clone().into())
        .await
        .unwrap()
        .await
        .unwrap();
    publish_many(&js, "js.in", "good", 500, |_| json!({"op": "echo"}).to_string()).await;

    let seen = count_ids(&mut out, WAIT, "500 good events", |seen| seen.len() == 500).await;
    assert!(seen.values().all(|&n| n == 1), "each good event published once");
    // The poison event needs two retry delays (300 ms + 600 ms) before it is dead-lettered;
    // the good ones did not wait for it.
    assert!(
        no_message_pending(&mut dlq),
        "the good events finished before the poison gave up"
    );
    let letter = next_message(&mut dlq, WAIT, "the poison event's dead letter").await;
    assert_eq!(letter.payload, poison.as_bytes());
    assert_eq!(header(&letter, "Sluice-Dlq-Reason"), Some("exhausted"));
    assert_eq!(header(&letter, "Sluice-Attempts"), Some("3"));
    assert_eq!(header(&letter, "Sluice-Function"), Some("orders"));
    assert_eq!(header(&letter, "Sluice-Original-Subject"), Some("js.in"));
    assert_eq!(header(&letter, "x-tenant"), Some("acme"));
    assert!(
        header(&letter, "Sluice-Dlq-Error")
            .unwrap()
            .contains("failing attempt 3")
    );

    // The dead letter is kept by a stream, and the function's consumer has nothing left.
    let mut dead_letters = js.get_stream("SLUICE_DLQ").await.expect("dead-letter stream");
    assert_eq!(dead_letters.info().await.unwrap().state.messages, 1);
    drained(&js, STREAM, CONSUMER).await;
    let stats = sluice.host.stats("orders").unwrap();
    assert_eq!((stats.succeeded, stats.dead_lettered, stats.retried), (500, 1, 2));
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_redeliveries_counted_by_the_server() {
    let sluice = Sluice::builder()
        .add(
            "orders",
            "probe",
            js_probe().initial_delay("10ms").max_delay("50ms"),
        )
        .start()
        .await;
    let js = sluice.js();
    let mut out = sluice.subscribe("probe.out").await;

    publish_js(&js, "js.in", "e-1", json!({"op": "fail", "until": 3}).to_string()).await;
    let message = next_message(&mut out, WAIT, "success on the third delivery").await;
    assert_eq!(header(&message, "probe-attempt"), Some("3"));
    assert_eq!(header(&message, "probe-event-id"), Some("e-1"));
    drained(&js, STREAM, CONSUMER).await;
    let info = consumer_info(&js, STREAM, CONSUMER).await;
    assert_eq!(info.num_redelivered, 0, "nothing waits for redelivery");
    assert_eq!(sluice.host.stats("orders").unwrap().retried, 2);
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_id_header_redeliveries_share_the_stream_sequence_as_id() {
    let sluice = Sluice::builder()
        .add(
            "orders",
            "probe",
            js_probe().initial_delay("10ms").max_delay("50ms"),
        )
        .start()
        .await;
    let js = sluice.js();
    let mut out = sluice.subscribe("probe.out").await;

    let payload = json!({"op": "fail", "until": 2}).to_string();
    js.publish("js.in", payload.into()).await.unwrap().await.unwrap();
    let message = next_message(&mut out, WAIT, "success on the second delivery").await;
    assert_eq!(header(&message, "probe-event-id"), Some("SLUICE_ORDERS:1"));
    assert_eq!(header(&message, "Nats-Msg-Id"), Some("orders:SLUICE_ORDERS:1:1"));
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_dedupe_a_handled_event_id_is_acked_without_running_again() {
    let sluice = Sluice::builder()
        .add("orders", "probe", js_probe().dedupe("1m"))
        .start()
        .await;
    let js = sluice.js();
    let mut out = sluice.subscribe("probe.out").await;

    let echo = json!({"op": "echo"}).to_string();
    publish_js(&js, "js.in", "order-7", echo.clone()).await;
    next_message(&mut out, WAIT, "the first delivery handled").await;
    // The same event again (a producer retry past the stream's own duplicate check).
    publish_js(&js, "js.in", "order-7", echo.clone()).await;
    publish_js(&js, "js.in", "order-8", echo).await;
    let message = next_message(&mut out, WAIT, "the next event handled").await;
    assert_eq!(header(&message, "probe-event-id"), Some("order-8"));
    drained(&js, STREAM, CONSUMER).await;
    assert!(no_message_pending(&mut out), "order-7 ran once");
    let stats = sluice.host.stats("orders").unwrap();
    assert_eq!((stats.succeeded, stats.deduplicated), (2, 1));
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_older_than_max_event_age_expire_to_the_dead_letter_subject() {
    let stage = Sluice::builder()
        .add("orders", "probe", js_probe().max_event_age("500ms"))
        .stage()
        .await;
    let js = stage.js();
    js.create_stream(async_nats::jetstream::stream::Config {
        name: STREAM.into(),
        subjects: vec!["js.in".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let echo = json!({"op": "echo"}).to_string();
    publish_js(&js, "js.in", "stale", echo.clone()).await;
    let published = Instant::now();
    let mut out = stage.subscribe("probe.out").await;
    let mut dlq = stage.subscribe("sluice.dlq.orders").await;
    // Let the stored event grow older than the limit before a host can take it.
    tokio::time::sleep(Duration::from_millis(700).saturating_sub(published.elapsed())).await;
    let sluice = stage.start().await;

    let letter = next_message(&mut dlq, WAIT, "the stale event dead-lettered").await;
    assert_eq!(header(&letter, "Sluice-Dlq-Reason"), Some("expired"));
    assert!(
        header(&letter, "Sluice-Dlq-Error")
            .unwrap()
            .contains("delivery.max_event_age = 500ms")
    );
    publish_js(&js, "js.in", "fresh", echo).await;
    let message = next_message(&mut out, WAIT, "a fresh event handled").await;
    assert_eq!(header(&message, "probe-event-id"), Some("fresh"));
    assert!(no_message_pending(&mut out));
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handler_keeps_its_event_past_the_ack_wait() {
    let sluice = Sluice::builder()
        .add("orders", "probe", js_probe().ack_wait("1s"))
        .start()
        .await;
    let js = sluice.js();
    let mut out = sluice.subscribe("probe.out").await;

    publish_js(
        &js,
        "js.in",
        "slow",
        json!({"op": "sleep", "ms": 2500}).to_string(),
    )
    .await;
    next_message(&mut out, WAIT, "the slow event handled").await;
    drained(&js, STREAM, CONSUMER).await;
    let info = consumer_info(&js, STREAM, CONSUMER).await;
    assert_eq!(
        info.delivered.consumer_sequence, 1,
        "delivered once, not again after 1 s"
    );
    assert_eq!(sluice.host.stats("orders").unwrap().received, 1);
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_pulled_ahead_keeps_its_event_past_the_ack_wait() {
    // One instance, so the second event waits in the pull-ahead window (four events wide) for
    // the first one's 1.5 s, longer than the 1 s ack wait, and the third for both: 3 s.
    let sluice = Sluice::builder()
        .add("orders", "probe", js_probe().max_concurrency(1).ack_wait("1s"))
        .start()
        .await;
    let js = sluice.js();
    let mut out = sluice.subscribe("probe.out").await;

    publish_many(&js, "js.in", "slow", 3, |_| {
        json!({"op": "sleep", "ms": 1500}).to_string()
    })
    .await;
    let mut handled = 0;
    let mut max_unacked = 0;
    until_ok(WAIT, Duration::from_millis(20), "3 reports", async || {
        let info = consumer_info(&js, STREAM, CONSUMER).await;
        max_unacked = max_unacked.max(info.num_ack_pending);
        while let Some(Some(_)) = out.next().now_or_never() {
            handled += 1;
        }
        match handled {
            3.. => Ok(()),
            got => Err(format!("only {got} of 3 reports")),
        }
    })
    .await;
    drained(&js, STREAM, CONSUMER).await;
    let info = consumer_info(&js, STREAM, CONSUMER).await;
    assert_eq!(
        info.delivered.consumer_sequence, 3,
        "each event delivered once: waiting in the window did not run out its ack wait"
    );
    assert_eq!(max_unacked, 3, "one event running and two pulled ahead");
    assert_eq!(sluice.host.stats("orders").unwrap().received, 3);
    assert!(no_message_pending(&mut out), "no event ran twice");
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circuit_breaker_pauses_a_failing_function_and_probes_until_it_recovers() {
    let breaker = js_probe()
        .retry(10, "10ms", "10ms")
        .circuit_breaker(3, "300ms", "1s");
    let sluice = Sluice::builder().add("orders", "probe", breaker).start().await;
    let js = sluice.js();
    let mut out = sluice.subscribe("probe.out").await;

    let start = Instant::now();
    publish_js(
        &js,
        "js.in",
        "flaky",
        json!({"op": "fail", "until": 6}).to_string(),
    )
    .await;
    let message = next_message(&mut out, WAIT, "success once the dependency recovers").await;
    let took = start.elapsed();
    assert_eq!(header(&message, "probe-attempt"), Some("6"));
    // Three failures open it for 300 ms; the failed probes (attempts 4 and 5) reopen it for
    // 600 ms and then 1 s (the maximum); attempt 6 succeeds. Retry delays alone are 50 ms.
    assert!(
        took >= Duration::from_millis(1900),
        "breaker paused for only {took:?}"
    );
    let stats = sluice.host.stats("orders").unwrap();
    assert_eq!((stats.received, stats.retried, stats.succeeded), (6, 5, 1));

    // Closed again: the next event runs at once.
    let start = Instant::now();
    publish_js(&js, "js.in", "next", json!({"op": "echo"}).to_string()).await;
    next_message(&mut out, WAIT, "the next event").await;
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "took {:?}",
        start.elapsed()
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_gets_no_more_events_at_once_than_its_cap() {
    let sluice = Sluice::builder()
        .add("orders", "probe", js_probe().max_concurrency(4))
        .start()
        .await;
    let js = sluice.js();
    let mut out = sluice.subscribe("probe.out").await;

    publish_many(&js, "js.in", "s", 40, |_| {
        json!({"op": "sleep", "ms": 50}).to_string()
    })
    .await;
    let mut reports = Vec::new();
    // While the handlers run, the server holds the rest: at most the cap is unacknowledged.
    let mut max_unacked = 0;
    until_ok(WAIT, Duration::from_millis(20), "40 reports", async || {
        let info = consumer_info(&js, STREAM, CONSUMER).await;
        max_unacked = max_unacked.max(info.num_ack_pending);
        while let Some(Some(message)) = out.next().now_or_never() {
            reports.push(message);
        }
        match reports.len() {
            40.. => Ok(()),
            got => Err(format!("only {got} of 40 reports")),
        }
    })
    .await;
    // The handlers' own clock readings: never more than the cap at once.
    let intervals: Vec<(u64, u64)> = reports
        .iter()
        .map(|message| {
            let report: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
            (
                report["start_ns"].as_u64().unwrap(),
                report["end_ns"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(max_overlap(&intervals), 4, "handlers running at once");
    // The server held the rest: the host pulls at most its pull-ahead window (four times the
    // cap) beyond what runs, and may be counted one delivery ahead of an ack the server has
    // not processed yet, never the whole backlog.
    assert!(max_unacked <= 4 + 16 + 1, "{max_unacked} events were out at once");
    assert!(max_unacked >= 2, "the cap was used ({max_unacked})");
    assert_eq!(sluice.host.stats("orders").unwrap().peak_in_flight, 4);
    sluice.shutdown().await;
}
