//! Components built for wasmCloud's `wasmcloud:messaging@0.2.0` handler world deploy into
//! Sluice unchanged: events in, `consumer.publish` through the allow-list and the outbox,
//! `consumer.request` through `permissions.request`, errors retried and dead-lettered.

use sluice_tests::{FunctionsDir, NatsServer, next_message, no_message_pending};

use crate::{WAIT, header, publish_event, start_host};

const MANIFEST: &str = r#"
[trigger]
subjects = ["wc.in"]
[retry]
max_attempts = 2
initial_delay = "10ms"
max_delay = "10ms"
[permissions]
publish = ["wasmcloud.out"]
request = ["svc.>"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasmcloud_messaging_component_handles_events_publishes_and_answers() {
    let server = NatsServer::start();
    let dir = FunctionsDir::new();
    dir.add("echo", "wasmcloud-echo", MANIFEST);
    let host = start_host(&server, &dir).await;
    assert_eq!(host.functions(), ["echo"], "{:?}", host.load_errors());
    let client = server.client().await;
    let mut out = client.subscribe("wasmcloud.out").await.unwrap();

    publish_event(&client, "wc.in", "w-1", "hello").await;
    let message = next_message(&mut out, WAIT, "the component's publish").await;
    assert_eq!(message.payload, "hello".as_bytes());
    assert_eq!(
        header(&message, "Sluice-Causation-Id"),
        Some("w-1"),
        "published through the outbox"
    );
    assert_eq!(header(&message, "Nats-Msg-Id"), Some("echo:w-1:1"));

    let answer = client.request("wc.in", "are you there".into()).await.unwrap();
    assert_eq!(
        answer.payload,
        "are you there".as_bytes(),
        "answered through reply-to"
    );

    // consumer.request, allowed by permissions.request, answered by a service.
    let mut service = client.subscribe("svc.time").await.unwrap();
    client.flush().await.unwrap();
    let responder = {
        let client = client.clone();
        tokio::spawn(async move {
            let request = next_message(&mut service, WAIT, "the component's request").await;
            assert_eq!(request.payload, "ping".as_bytes());
            client
                .publish(request.reply.unwrap(), "pong".into())
                .await
                .unwrap();
        })
    };
    publish_event(&client, "wc.in", "w-2", "request:svc.time").await;
    let message = next_message(&mut out, WAIT, "the answer, published").await;
    assert_eq!(message.payload, "pong".as_bytes());
    responder.await.unwrap();
    assert_eq!(host.stats("echo").unwrap().succeeded, 3);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasmcloud_errors_and_forbidden_publishes_are_retried_then_dead_lettered() {
    let server = NatsServer::start();
    let dir = FunctionsDir::new();
    dir.add("echo", "wasmcloud-echo", MANIFEST);
    let host = start_host(&server, &dir).await;
    let client = server.client().await;
    let mut out = client.subscribe("wasmcloud.out").await.unwrap();
    let mut forbidden = client.subscribe("payments.>").await.unwrap();
    let mut dlq = client.subscribe("sluice.dlq.echo").await.unwrap();

    publish_event(&client, "wc.in", "w-fail", "fail").await;
    let letter = next_message(&mut dlq, WAIT, "the failing event's dead letter").await;
    assert_eq!(header(&letter, "Sluice-Dlq-Reason"), Some("exhausted"));
    assert_eq!(header(&letter, "Sluice-Attempts"), Some("2"));
    assert!(
        header(&letter, "Sluice-Dlq-Error")
            .unwrap()
            .contains("echo refused")
    );

    publish_event(&client, "wc.in", "w-evil", "to:payments.refund").await;
    let letter = next_message(&mut dlq, WAIT, "the forbidden publish's dead letter").await;
    let error = header(&letter, "Sluice-Dlq-Error").unwrap();
    assert!(error.contains("permissions.publish"), "{error}");
    assert!(no_message_pending(&mut forbidden), "nothing reached payments.>");

    publish_event(&client, "wc.in", "w-bad-request", "request:admin.reset").await;
    let letter = next_message(&mut dlq, WAIT, "the forbidden request's dead letter").await;
    let error = header(&letter, "Sluice-Dlq-Error").unwrap();
    assert!(error.contains("permissions.request"), "{error}");
    assert!(no_message_pending(&mut out));
    host.shutdown().await;
}
