//! Retries, dead letters, the outbox and publish permissions.

use serde_json::json;
use sluice_tests::{Manifest, Sluice, WAIT, header, next_message, no_message_pending};

/// A probe on subject `in` that publishes to `probe.out`, retrying quickly.
fn fast_retry() -> Manifest {
    Manifest::new()
        .subjects(["in"])
        .retry(3, "10ms", "50ms")
        .publish(["probe.out"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_failure_is_retried_until_it_succeeds() {
    let sluice = Sluice::builder()
        .add("flaky", "probe", fast_retry())
        .start()
        .await;
    let mut out = sluice.subscribe("probe.out").await;
    let mut dlq = sluice.subscribe("sluice.dlq.flaky").await;

    sluice
        .publish_event("in", "e-1", json!({"op": "fail", "until": 3}).to_string())
        .await;
    let message = next_message(&mut out, WAIT, "success on the third attempt").await;
    assert_eq!(header(&message, "probe-attempt"), Some("3"));
    assert_eq!(header(&message, "probe-event-id"), Some("e-1"));
    let stats = sluice.host.stats("flaky").unwrap();
    assert_eq!((stats.retried, stats.succeeded, stats.dead_lettered), (2, 1, 0));
    assert!(no_message_pending(&mut dlq));
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_are_dead_lettered_with_every_header_and_nothing_published() {
    let sluice = Sluice::builder()
        .add("flaky", "probe", fast_retry())
        .start()
        .await;
    let mut out = sluice.subscribe("probe.out").await;
    let mut dlq = sluice.subscribe("sluice.dlq.flaky").await;

    // Each attempt publishes before failing: the outbox must drop all three.
    let payload = json!({"op": "publish-then-fail", "note": "ünïcode"}).to_string();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", "e-9");
    headers.insert("x-tenant", "acme");
    sluice
        .client
        .publish_with_headers("in", headers, payload.clone().into())
        .await
        .unwrap();

    let dead = next_message(&mut dlq, WAIT, "dead letter").await;
    assert_eq!(dead.payload, payload.as_bytes(), "payload kept byte for byte");
    assert_eq!(header(&dead, "x-tenant"), Some("acme"), "original headers kept");
    assert_eq!(header(&dead, "Sluice-Event-Id"), Some("e-9"));
    assert_eq!(header(&dead, "Sluice-Dlq-Reason"), Some("exhausted"));
    assert_eq!(
        header(&dead, "Sluice-Dlq-Error"),
        Some("handler failed (retryable): failing after publishing, attempt 3")
    );
    assert_eq!(header(&dead, "Sluice-Function"), Some("flaky"));
    assert_eq!(header(&dead, "Sluice-Original-Subject"), Some("in"));
    assert_eq!(header(&dead, "Sluice-Attempts"), Some("3"));
    let at = header(&dead, "Sluice-Dead-Lettered-At").expect("timestamp");
    assert!(time_is_rfc3339(at), "{at}");
    // The dead letter was sent after every attempt; anything published would be here by now.
    assert!(
        no_message_pending(&mut out),
        "a failed attempt published through the outbox"
    );
    let stats = sluice.host.stats("flaky").unwrap();
    assert_eq!((stats.retried, stats.dead_lettered, stats.published), (2, 1, 0));
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_and_malformed_input_skip_retries() {
    let sluice = Sluice::builder()
        .add("strict", "probe", fast_retry().dead_letter("rejects"))
        .start()
        .await;
    let mut dlq = sluice.subscribe("rejects").await;

    sluice
        .publish_event("in", "p-1", json!({"op": "fail", "retryable": false}).to_string())
        .await;
    let dead = next_message(&mut dlq, WAIT, "permanent failure dead-lettered").await;
    assert_eq!(header(&dead, "Sluice-Dlq-Reason"), Some("permanent"));
    assert_eq!(header(&dead, "Sluice-Attempts"), Some("1"));
    assert_eq!(
        header(&dead, "Sluice-Dlq-Error"),
        Some("handler rejected the event: rejected by probe")
    );

    let garbage: &[u8] = b"\xff\x00not json\x80";
    sluice.publish_event("in", "p-2", garbage).await;
    let dead = next_message(&mut dlq, WAIT, "malformed payload dead-lettered").await;
    assert_eq!(dead.payload, garbage, "binary payload kept byte for byte");
    assert_eq!(header(&dead, "Sluice-Dlq-Reason"), Some("permanent"));
    assert_eq!(sluice.host.stats("strict").unwrap().retried, 0);
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_outside_the_granted_subjects_is_denied() {
    let sluice = Sluice::builder()
        .add(
            "sneaky",
            "probe",
            Manifest::new().subjects(["in"]).publish(["allowed.>"]),
        )
        .start()
        .await;
    let mut forbidden = sluice.subscribe("payments.>").await;
    let mut allowed = sluice.subscribe("allowed.>").await;
    let mut dlq = sluice.subscribe("sluice.dlq.sneaky").await;

    sluice
        .publish_event(
            "in",
            "s-1",
            json!({"op": "publish", "subject": "payments.refund"}).to_string(),
        )
        .await;
    let dead = next_message(&mut dlq, WAIT, "denied publish dead-lettered").await;
    let error = header(&dead, "Sluice-Dlq-Error").unwrap();
    assert!(error.contains("publish to `payments.refund` denied"), "{error}");
    assert!(error.contains("`allowed.>`"), "{error}");
    assert_eq!(header(&dead, "Sluice-Dlq-Reason"), Some("permanent"));

    sluice
        .publish_event(
            "in",
            "s-2",
            json!({"op": "publish", "subject": "allowed.audit"}).to_string(),
        )
        .await;
    let message = next_message(&mut allowed, WAIT, "allowed publish").await;
    assert_eq!(message.subject.as_str(), "allowed.audit");
    assert!(no_message_pending(&mut forbidden), "a denied publish got out");
    sluice.shutdown().await;
}

fn time_is_rfc3339(text: &str) -> bool {
    // 2026-11-25T01:02:03.456Z
    text.len() >= 20
        && text.as_bytes()[4] == b'-'
        && text.as_bytes()[10] == b'T'
        && (text.ends_with('Z') || text.contains('+'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_function_with_a_circuit_breaker_pauses_after_consecutive_failures() {
    let manifest = Manifest::new()
        .subjects(["in"])
        .retry(5, "10ms", "10ms")
        .circuit_breaker(2, "400ms", "400ms")
        .publish(["probe.out"]);
    let sluice = Sluice::builder().add("flaky", "probe", manifest).start().await;
    let mut out = sluice.subscribe("probe.out").await;

    let start = std::time::Instant::now();
    sluice
        .publish_event("in", "e-1", json!({"op": "fail", "until": 4}).to_string())
        .await;
    let message = next_message(&mut out, WAIT, "success on the fourth attempt").await;
    assert_eq!(header(&message, "probe-attempt"), Some("4"));
    // Two failures open the circuit (400 ms), the failed probe (attempt 3) reopens it
    // (400 ms, the maximum), attempt 4 succeeds. Without the breaker: 30 ms of retry delays.
    let took = start.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(800),
        "paused only {took:?}"
    );
    sluice.shutdown().await;
}
