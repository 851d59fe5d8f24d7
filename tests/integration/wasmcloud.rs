//! Components built for wasmCloud's `wasmcloud:messaging@0.2.0` handler world deploy into
//! Sluice unchanged: events in, `consumer.publish` through the allow-list and the outbox,
//! `consumer.request` through `permissions.request`, errors retried and dead-lettered.

use sluice_tests::{Manifest, Sluice, WAIT, header, next_message, no_message_pending};

/// The echo component on `wc.in`, publishing to `wasmcloud.out`, asking `svc.>`.
fn manifest() -> Manifest {
    Manifest::new()
        .subjects(["wc.in"])
        .retry(2, "10ms", "10ms")
        .publish(["wasmcloud.out"])
        .request(["svc.>"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasmcloud_messaging_component_handles_events_publishes_and_answers() {
    let sluice = Sluice::builder()
        .add("echo", "wasmcloud-echo", manifest())
        .start()
        .await;
    assert_eq!(
        sluice.host.functions(),
        ["echo"],
        "{:?}",
        sluice.host.load_errors()
    );
    let mut out = sluice.subscribe("wasmcloud.out").await;

    sluice.publish_event("wc.in", "w-1", "hello").await;
    let message = next_message(&mut out, WAIT, "the component's publish").await;
    assert_eq!(message.payload, "hello".as_bytes());
    assert_eq!(
        header(&message, "Sluice-Causation-Id"),
        Some("w-1"),
        "published through the outbox"
    );
    assert_eq!(header(&message, "Nats-Msg-Id"), Some("echo:w-1:1"));

    let answer = sluice
        .client
        .request("wc.in", "are you there".into())
        .await
        .unwrap();
    assert_eq!(
        answer.payload,
        "are you there".as_bytes(),
        "answered through reply-to"
    );

    // consumer.request, allowed by permissions.request, answered by a service.
    let mut service = sluice.subscribe("svc.time").await;
    sluice.client.flush().await.unwrap();
    let responder = {
        let client = sluice.client.clone();
        tokio::spawn(async move {
            let request = next_message(&mut service, WAIT, "the component's request").await;
            assert_eq!(request.payload, "ping".as_bytes());
            client
                .publish(request.reply.unwrap(), "pong".into())
                .await
                .unwrap();
        })
    };
    sluice.publish_event("wc.in", "w-2", "request:svc.time").await;
    let message = next_message(&mut out, WAIT, "the answer, published").await;
    assert_eq!(message.payload, "pong".as_bytes());
    responder.await.unwrap();
    assert_eq!(sluice.host.stats("echo").unwrap().succeeded, 3);
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasmcloud_errors_and_forbidden_publishes_are_retried_then_dead_lettered() {
    let sluice = Sluice::builder()
        .add("echo", "wasmcloud-echo", manifest())
        .start()
        .await;
    let mut out = sluice.subscribe("wasmcloud.out").await;
    let mut forbidden = sluice.subscribe("payments.>").await;
    let mut dlq = sluice.subscribe("sluice.dlq.echo").await;

    sluice.publish_event("wc.in", "w-fail", "fail").await;
    let letter = next_message(&mut dlq, WAIT, "the failing event's dead letter").await;
    assert_eq!(header(&letter, "Sluice-Dlq-Reason"), Some("exhausted"));
    assert_eq!(header(&letter, "Sluice-Attempts"), Some("2"));
    assert!(
        header(&letter, "Sluice-Dlq-Error")
            .unwrap()
            .contains("echo refused")
    );

    sluice
        .publish_event("wc.in", "w-evil", "to:payments.refund")
        .await;
    let letter = next_message(&mut dlq, WAIT, "the forbidden publish's dead letter").await;
    let error = header(&letter, "Sluice-Dlq-Error").unwrap();
    assert!(error.contains("permissions.publish"), "{error}");
    assert!(no_message_pending(&mut forbidden), "nothing reached payments.>");

    sluice
        .publish_event("wc.in", "w-bad-request", "request:admin.reset")
        .await;
    let letter = next_message(&mut dlq, WAIT, "the forbidden request's dead letter").await;
    let error = header(&letter, "Sluice-Dlq-Error").unwrap();
    assert!(error.contains("permissions.request"), "{error}");
    assert!(no_message_pending(&mut out));
    sluice.shutdown().await;
}
