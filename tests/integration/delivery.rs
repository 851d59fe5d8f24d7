//! Events in, results out: the order-total example, fan-out, queue groups, correlation and
//! request/reply.

use std::collections::HashMap;

use serde_json::{Value, json};
use sluice_tests::{Manifest, Sluice, WAIT, header, next_message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_totalled_and_the_correlation_id_is_carried() {
    let order_total = Manifest::new()
        .subjects(["orders.placed"])
        .publish(["orders.totalled"]);
    let sluice = Sluice::builder()
        .add("order-total", "order-total", order_total)
        .start()
        .await;
    let mut totals = sluice.subscribe("orders.totalled").await;

    let order = json!({"id": "o-1", "customer": "c-7", "items": [{"sku": "A", "qty": 2, "price": 1999}, {"sku": "B", "qty": 1, "price": 500}]});
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Sluice-Event-Id", "evt-1");
    headers.insert("Sluice-Correlation-Id", "checkout-42");
    headers.insert(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    sluice
        .client
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
    assert_eq!(sluice.host.stats("order-total").unwrap().succeeded, 1);
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_on_a_subject_gets_every_event() {
    let on_totals = |out: &str| Manifest::new().subjects(["orders.totalled"]).publish([out]);
    let sluice = Sluice::builder()
        .add("email-receipt", "email-receipt", on_totals("email.outbox"))
        .add(
            "order-analytics",
            "order-analytics",
            on_totals("analytics.orders"),
        )
        .start()
        .await;
    let mut emails = sluice.subscribe("email.outbox").await;
    let mut analytics = sluice.subscribe("analytics.orders").await;

    for n in 0..10 {
        let totalled =
            json!({"order_id": format!("o-{n}"), "customer": "c-1", "total": 1000 * n, "item_count": 1});
        sluice
            .publish_event("orders.totalled", &format!("t-{n}"), totalled.to_string())
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
    sluice.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_share_a_function_through_its_queue_group() {
    let echo = Manifest::new().subjects(["work"]).publish(["probe.out"]);
    let first = Sluice::builder().add("echo", "probe", echo).start().await;
    let second = first.start_host().await;
    let mut out = first.subscribe("probe.out").await;

    const EVENTS: usize = 200;
    for n in 0..EVENTS {
        first
            .publish_event(
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
        first.host.stats("echo").unwrap().succeeded,
        second.stats("echo").unwrap().succeeded,
    );
    assert_eq!(a + b, EVENTS as u64);
    assert!(a > 0 && b > 0, "both hosts took a share: {a} and {b}");
    second.shutdown().await;
    first.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_may_always_answer_a_request() {
    // No publish permissions at all: the reply-to is still allowed.
    let sluice = Sluice::builder()
        .add("answer", "probe", Manifest::new().subjects(["ask"]))
        .start()
        .await;
    let payload = json!({"op": "echo", "question": 42}).to_string();
    let reply = tokio::time::timeout(WAIT, sluice.client.request("ask", payload.clone().into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.payload, payload.as_bytes());
    let stats = sluice.host.stats("answer").unwrap();
    assert_eq!((stats.succeeded, stats.dead_lettered), (1, 0));
    sluice.shutdown().await;
}
