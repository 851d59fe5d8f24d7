//! Concurrency caps, timeouts, memory limits, traps and payload limits: each violation ends
//! only its own invocation.

use serde_json::{Value, json};
use sluice_tests::{Manifest, Sluice, WAIT, eventually, header, next_message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_max_concurrency_instances_run_at_once() {
    const CAP: usize = 4;
    const EVENTS: usize = 24;
    let sluice = Sluice::builder()
        .add(
            "slow",
            "probe",
            Manifest::new()
                .subjects(["in"])
                .max_concurrency(CAP as u64)
                .publish(["probe.out"]),
        )
        .start()
        .await;
    let mut out = sluice.subscribe("probe.out").await;

    for n in 0..EVENTS {
        sluice
            .publish_event(
                "in",
                &format!("s-{n}"),
                json!({"op": "sleep", "ms": 150}).to_string(),
            )
            .await;
    }
    let mut intervals = Vec::new();
    for _ in 0..EVENTS {
        let message = next_message(&mut out, WAIT, "sleep report").await;
        let report: Value = serde_json::from_slice(&message.payload).unwrap();
        intervals.push((
            report["start_ns"].as_u64().unwrap(),
            report["end_ns"].as_u64().unwrap(),
        ));
    }
    // The handlers' own clock readings: how many ran at the same time, at most.
    assert_eq!(max_overlap(&intervals), CAP, "handlers overlapping at once");
    let stats = sluice.host.stats("slow").unwrap();
    assert_eq!(
        stats.peak_in_flight, CAP as u64,
        "instances the host counted at once"
    );
    assert_eq!(stats.succeeded, EVENTS as u64);
    sluice.shutdown().await;
}

/// The most of `intervals` (start, end) that overlap at any one time.
pub(crate) fn max_overlap(intervals: &[(u64, u64)]) -> usize {
    let mut edges: Vec<(u64, i32)> = intervals
        .iter()
        .flat_map(|&(start, end)| [(start, 1), (end, -1)])
        .collect();
    // At equal times, an end comes before a start: touching intervals do not overlap.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in edges {
        now += delta;
        most = most.max(now);
    }
    most as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_endless_loops_and_memory_hogs_are_contained() {
    let hostile = Manifest::new()
        .subjects(["hostile"])
        .timeout("300ms")
        .memory("16MiB")
        .max_attempts(1)
        .dead_letter("dead");
    let sluice = Sluice::builder()
        .add("hostile", "probe", hostile)
        .add("healthy", "probe", Manifest::new().subjects(["healthy"]))
        .start()
        .await;
    let mut dead = sluice.subscribe("dead").await;

    let mut expected = Vec::new();
    for (op, reason, error) in [
        ("trap", "trap", "probe trap"),
        ("spin", "timeout", "timed out after 300ms"),
        ("hog", "out_of_memory", "limits.memory = 16777216 bytes"),
    ] {
        sluice
            .publish_event("hostile", op, json!({"op": op}).to_string())
            .await;
        expected.push((op, reason, error));
        // While the hostile handler misbehaves, the healthy function keeps answering.
        let answer = sluice
            .client
            .request("healthy", json!({"op": "echo", "during": op}).to_string().into());
        let answer = tokio::time::timeout(WAIT, answer)
            .await
            .expect("healthy function answers")
            .unwrap();
        assert!(String::from_utf8_lossy(&answer.payload).contains(op));
    }
    let mut seen = Vec::new();
    for _ in 0..expected.len() {
        let message = next_message(&mut dead, WAIT, "hostile event dead-lettered").await;
        seen.push((
            header(&message, "Sluice-Event-Id").unwrap().to_owned(),
            header(&message, "Sluice-Dlq-Reason").unwrap().to_owned(),
            header(&message, "Sluice-Dlq-Error").unwrap().to_owned(),
        ));
    }
    for (op, reason, error) in expected {
        let (_, got_reason, got_error) = seen
            .iter()
            .find(|(id, ..)| id == op)
            .unwrap_or_else(|| panic!("{op} not dead-lettered"));
        assert_eq!(got_reason, reason, "{op}");
        assert!(got_error.contains(error), "{op}: {got_error}");
    }
    assert_eq!(sluice.host.stats("healthy").unwrap().succeeded, 3);
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_payloads_are_dead_lettered_unprocessed() {
    let sluice = Sluice::builder()
        .add(
            "small",
            "probe",
            Manifest::new()
                .subjects(["in"])
                .max_payload("1KiB")
                .publish(["probe.out"]),
        )
        .start()
        .await;
    let mut dead = sluice.subscribe("sluice.dlq.small").await;
    let mut out = sluice.subscribe("probe.out").await;

    let big = json!({"op": "echo", "pad": "x".repeat(2000)}).to_string();
    sluice.publish_event("in", "big", big.clone()).await;
    sluice
        .publish_event("in", "ok", json!({"op": "echo"}).to_string())
        .await;
    let message = next_message(&mut dead, WAIT, "oversized event").await;
    assert_eq!(message.payload, big.as_bytes());
    assert_eq!(header(&message, "Sluice-Dlq-Reason"), Some("payload_too_large"));
    assert_eq!(header(&message, "Sluice-Attempts"), Some("0"));
    let echoed = next_message(&mut out, WAIT, "small event still handled").await;
    assert_eq!(header(&echoed, "probe-event-id"), Some("ok"));
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_beyond_max_pending_are_counted_not_lost_silently() {
    const EVENTS: u64 = 20;
    let sluice = Sluice::builder()
        .add(
            "narrow",
            "probe",
            Manifest::new()
                .subjects(["in"])
                .max_concurrency(1)
                .max_pending(2)
                .publish(["probe.out"]),
        )
        .start()
        .await;
    for n in 0..EVENTS {
        sluice
            .publish_event(
                "in",
                &format!("n-{n}"),
                json!({"op": "sleep", "ms": 100}).to_string(),
            )
            .await;
    }
    eventually(WAIT, "every event accounted for", async || {
        let stats = sluice.host.stats("narrow").unwrap();
        stats.succeeded + stats.overflowed == EVENTS
    })
    .await;
    let stats = sluice.host.stats("narrow").unwrap();
    assert!(
        stats.overflowed >= EVENTS - 4,
        "most of the burst overflowed: {stats:?}"
    );
    assert_eq!(stats.received, stats.succeeded);
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pending_queue_is_bounded_in_bytes_and_an_empty_one_takes_any_event() {
    const EVENTS: u64 = 20;
    let sluice = Sluice::builder()
        .add(
            "narrow",
            "probe",
            Manifest::new()
                .subjects(["in"])
                .max_concurrency(1)
                .max_pending_bytes("100B")
                .publish(["probe.out"]),
        )
        .start()
        .await;
    // Every event is larger than the bound: one runs, one waits (the queue was empty), the
    // rest find it full until the running one ends.
    let event = json!({"op": "sleep", "ms": 200, "pad": "x".repeat(300)}).to_string();
    for n in 0..EVENTS {
        sluice.publish_event("in", &format!("n-{n}"), event.clone()).await;
    }
    eventually(WAIT, "every event accounted for", async || {
        let stats = sluice.host.stats("narrow").unwrap();
        stats.succeeded + stats.overflowed == EVENTS
    })
    .await;
    let stats = sluice.host.stats("narrow").unwrap();
    assert!(
        stats.succeeded >= 2,
        "the running event and one waiting: {stats:?}"
    );
    assert!(
        stats.overflowed >= EVENTS - 4,
        "most of the burst overflowed: {stats:?}"
    );
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_pending_queue_holds_a_burst_that_arrives_while_every_instance_is_busy() {
    // More than the 10,000 events the queue held by default before.
    const BURST: u64 = 15_000;
    const CAP: u64 = 4;
    let sluice = Sluice::builder()
        .add(
            "busy",
            "probe",
            Manifest::new()
                .subjects(["in"])
                .max_concurrency(CAP)
                .publish(["probe.out"]),
        )
        .start()
        .await;
    let mut out = sluice.subscribe("probe.out").await;
    for n in 0..CAP {
        let sleep = json!({"op": "sleep", "ms": 1000}).to_string();
        sluice.publish_event("in", &format!("sleep-{n}"), sleep).await;
    }
    let echo = bytes::Bytes::from(json!({"op": "echo"}).to_string());
    for _ in 0..BURST {
        sluice.client.publish("in", echo.clone()).await.unwrap();
    }
    sluice.client.flush().await.unwrap();
    eventually(WAIT, "every event accounted for", async || {
        let stats = sluice.host.stats("busy").unwrap();
        stats.succeeded + stats.overflowed == BURST + CAP
    })
    .await;
    let stats = sluice.host.stats("busy").unwrap();
    assert_eq!(stats.overflowed, 0, "none of the burst dropped: {stats:?}");
    for _ in 0..BURST + CAP {
        next_message(&mut out, WAIT, "an output per event").await;
    }
    sluice.shutdown().await;
}
