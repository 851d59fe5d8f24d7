//! Graceful shutdown: intake stops, in-flight events finish and their results are sent.

use serde_json::json;
use sluice_tests::{FunctionsDir, NatsServer, eventually, next_message};

use crate::{WAIT, publish_event, start_host};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_events_finish() {
    const IN_FLIGHT: u64 = 3;
    let server = NatsServer::start();
    let dir = FunctionsDir::new();
    dir.add(
        "slow",
        "probe",
        "[trigger]\nsubjects = [\"in\"]\n[permissions]\npublish = [\"probe.out\"]\n",
    );
    let host = start_host(&server, &dir).await;
    let client = server.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();

    for n in 0..IN_FLIGHT {
        publish_event(
            &client,
            "in",
            &format!("f-{n}"),
            json!({"op": "sleep", "ms": 700}).to_string(),
        )
        .await;
    }
    eventually(WAIT, "all events running", || {
        host.stats("slow").unwrap().in_flight == IN_FLIGHT
    })
    .await;
    let report = host.shutdown().await;
    assert_eq!(report.abandoned, 0);

    let mut finished = Vec::new();
    for _ in 0..IN_FLIGHT {
        let message = next_message(&mut out, WAIT, "result of an in-flight event").await;
        let report: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        finished.push(report["id"].as_str().unwrap().to_owned());
    }
    finished.sort();
    assert_eq!(finished, ["f-0", "f-1", "f-2"]);

    // The host has stopped taking events: nobody is subscribed any more.
    let mut dlq_or_out = client.subscribe("probe.out").await.unwrap();
    publish_event(&client, "in", "late", json!({"op": "echo"}).to_string()).await;
    let reply = client
        .request("in", json!({"op": "echo"}).to_string().into())
        .await;
    assert!(reply.is_err(), "a stopped host must not answer: {reply:?}");
    assert!(sluice_tests::no_message_pending(&mut dlq_or_out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_survives_the_broker_going_away_and_coming_back() {
    let mut server = NatsServer::start();
    let dir = FunctionsDir::new();
    dir.add("echo", "probe", "[trigger]\nsubjects = [\"in\"]\n");
    let host = start_host(&server, &dir).await;
    let ask = |client: async_nats::Client| async move {
        let request = client.request("in", json!({"op": "echo"}).to_string().into());
        tokio::time::timeout(WAIT, request).await
    };
    let client = server.client().await;
    assert!(
        ask(client.clone()).await.unwrap().is_ok(),
        "served before the outage"
    );

    server.restart();
    // Both the host and the test client reconnect on their own; once the host has
    // resubscribed, requests are answered again.
    let mut answered = false;
    for _ in 0..100 {
        if let Ok(Ok(_)) = ask(client.clone()).await {
            answered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(answered, "the host serves again after the broker came back");
    assert!(host.stats("echo").unwrap().succeeded >= 2);
    host.shutdown().await;
}
