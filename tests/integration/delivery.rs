//! Events in, results out: the order-total example, fan-out, queue groups, correlation and
//! request/reply.

use std::collections::HashMap;

use serde_json::{Value, json};
use sluice_tests::{FunctionsDir, NatsServer, next_message};

use crate::{WAIT, header, publish_event, start_host};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_totalled_and_the_correlation_id_is_carried() {
    let server = NatsServer::start();
    let dir = FunctionsDir::new();
    dir.add(
        "order-total",
        "order-total",
        "[trigger]\nsubjects = [\"orders.placed\"]\n[permissions]\npublish = [\"orders.totalled\"]\n",
    );
    let host = start_host(&server, &dir).await;
    let client = server.client().await;
    let mut totals = client.subscribe("orders.totalled").await.unwrap();

    let order = json!({"id": "o-1", "customer": "c-7", "items": [{"sku": "A", "qty": 2, "price": 1999}, {"sku": "B", "qty": 1, "price": 500}]});
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", "evt-1");
    headers.insert("Sluice-Correlation-Id", "checkout-42");
    headers.insert(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    client
        .publish_with_headers("orders.placed", headers, order.to_string().into())
        .await
        .unwrap();

    let message = next_message(&mut totals, WAIT, "OrderTotalled").await;
    let totalled: Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(totalled["order_id"], "o-1");
    assert_eq!(totalled["customer"], "c-7");
    assert_eq!(totalled["total"], 2 * 1999 + 500);
    assert_eq!(header(&message, "Sluice-Correlation-Id"), Some("checkout-42"));
    assert_eq!(
        header(&message, "traceparent"),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    );
    assert_eq!(header(&message, "Sluice-Causation-Id"), Some("evt-1"));
    assert_eq!(header(&message, "Nats-Msg-Id"), Some("order-total:evt-1:1"));
    assert_eq!(host.stats("order-total").unwrap().succeeded, 1);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_on_a_subject_gets_every_event() {
    let server = NatsServer::start();
    let dir = FunctionsDir::new();
    let manifest = |name: &str, out: &str| {
        format!(
            "[trigger]\nsubjects = [\"orders.totalled\"]\n[permissions]\npublish = [\"{out}\"]\n# {name}\n"
        )
    };
    dir.add(
        "email-receipt",
        "email-receipt",
        &manifest("email", "email.outbox"),
    );
    dir.add(
        "order-analytics",
        "order-analytics",
        &manifest("analytics", "analytics.orders"),
    );
    let host = start_host(&server, &dir).await;
    let client = server.client().await;
    let mut emails = client.subscribe("email.outbox").await.unwrap();
    let mut analytics = client.subscribe("analytics.orders").await.unwrap();

    for n in 0..10 {
        let totalled =
            json!({"order_id": format!("o-{n}"), "customer": "c-1", "total": 1000 * n, "item_count": 1});
        publish_event(
            &client,
            "orders.totalled",
            &format!("t-{n}"),
            totalled.to_string(),
        )
        .await;
    }
    let mut seen: HashMap<&str, Vec<String>> = HashMap::new();
    for (name, subscriber) in [("email", &mut emails), ("analytics", &mut analytics)] {
        for _ in 0..10 {
            let message = next_message(subscriber, WAIT, name).await;
            let body: Value = serde_json::from_slice(&message.payload).unwrap();
            seen.entry(name)
                .or_default()
                .push(body["order_id"].as_str().unwrap().to_owned());
        }
    }
    for (name, mut ids) in seen {
        ids.sort();
        let mut expected: Vec<String> = (0..10).map(|n| format!("o-{n}")).collect();
        expected.sort();
        assert_eq!(ids, expected, "{name} saw every order exactly once");
    }
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_share_a_function_through_its_queue_group() {
    let server = NatsServer::start();
    let dir = FunctionsDir::new();
    dir.add(
        "echo",
        "probe",
        "[trigger]\nsubjects = [\"work\"]\n[permissions]\npublish = [\"probe.out\"]\n",
    );
    let first = start_host(&server, &dir).await;
    let second = start_host(&server, &dir).await;
    let client = server.client().await;
    let mut out = client.subscribe("probe.out").await.unwrap();

    const EVENTS: usize = 200;
    for n in 0..EVENTS {
        publish_event(
            &client,
            "work",
            &format!("e-{n}"),
            json!({"op": "echo", "n": n}).to_string(),
        )
        .await;
    }
    let mut handled = HashMap::new();
    for _ in 0..EVENTS {
        let message = next_message(&mut out, WAIT, "echoed event").await;
        *handled
            .entry(header(&message, "probe-event-id").unwrap().to_owned())
            .or_insert(0) += 1;
    }
    assert_eq!(handled.len(), EVENTS, "every event handled");
    assert!(
        handled.values().all(|&count| count == 1),
        "no event handled twice"
    );
    let (a, b) = (
        first.stats("echo").unwrap().succeeded,
        second.stats("echo").unwrap().succeeded,
    );
    assert_eq!(a + b, EVENTS as u64);
    assert!(a > 0 && b > 0, "both hosts took a share: {a} and {b}");
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_may_always_answer_a_request() {
    let server = NatsServer::start();
    let dir = FunctionsDir::new();
    // No publish permissions at all: the reply-to is still allowed.
    dir.add("answer", "probe", "[trigger]\nsubjects = [\"ask\"]\n");
    let host = start_host(&server, &dir).await;
    let client = server.client().await;
    let payload = json!({"op": "echo", "question": 42}).to_string();
    let reply = tokio::time::timeout(WAIT, client.request("ask", payload.clone().into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.payload, payload.as_bytes());
    let stats = host.stats("answer").unwrap();
    assert_eq!((stats.succeeded, stats.dead_lettered), (1, 0));
    host.shutdown().await;
}
