//! Handlers written in Python (componentize-py) and JavaScript (ComponentizeJS) against the
//! same WIT, deployed next to each other and exercised over NATS.

use serde_json::{Value, json};
use sluice_tests::{FunctionsDir, Sluice, WAIT, header, next_message, polyglot};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_javascript_handlers_total_orders_and_reject_garbage() {
    let dir = FunctionsDir::new();
    for name in ["py-order-total", "js-order-total"] {
        let (wasm, manifest) = polyglot(name);
        std::fs::copy(wasm, dir.path().join(format!("{name}.wasm"))).unwrap();
        std::fs::copy(manifest, dir.path().join(format!("{name}.toml"))).unwrap();
    }
    let sluice = Sluice::in_folder(dir).start().await;
    assert_eq!(
        sluice.host.functions(),
        ["js-order-total", "py-order-total"],
        "{:?}",
        sluice.host.load_errors()
    );
    let mut totals = sluice.subscribe("orders.totalled").await;

    for (lang, n) in [("py", 1), ("js", 2)] {
        let order = json!({"id": format!("{lang}-o"), "customer": "c-1", "items": [{"sku": "A", "qty": n, "price": 1999}, {"sku": "B", "qty": 1, "price": 1}]});
        let subject = format!("orders.placed.{lang}");
        sluice
            .publish_event(&subject, &format!("{lang}-1"), order.to_string())
            .await;
        let message = next_message(&mut totals, WAIT, &format!("{lang} total")).await;
        let totalled: Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(totalled["order_id"], format!("{lang}-o"));
        assert_eq!(totalled["total"], n * 1999 + 1, "{lang}: {totalled}");
        assert_eq!(totalled["item_count"], n + 1);
        assert_eq!(header(&message, "content-type"), Some("application/json"));
        assert_eq!(
            header(&message, "Nats-Msg-Id"),
            Some(format!("{lang}-order-total:{lang}-1:1").as_str())
        );
    }

    for lang in ["py", "js"] {
        let mut dead = sluice.subscribe(&format!("sluice.dlq.{lang}-order-total")).await;
        let subject = format!("orders.placed.{lang}");
        sluice
            .publish_event(&subject, &format!("{lang}-bad"), "not json")
            .await;
        let message = next_message(&mut dead, WAIT, &format!("{lang} dead letter")).await;
        assert_eq!(message.payload, "not json".as_bytes());
        assert_eq!(header(&message, "Sluice-Dlq-Reason"), Some("permanent"), "{lang}");
        assert_eq!(header(&message, "Sluice-Attempts"), Some("1"), "{lang}");
    }
    sluice.shutdown().await;
}
