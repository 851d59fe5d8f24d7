//! The inventory's steps against an in-memory host: reservations, compensation, sales, and
//! what duplicates and retries do.

use saga_events::{Line, Order, subject};
use serde_json::json;
use sluice_sdk::Event;
use sluice_sdk::testing::TestHost;

use crate::Inventory;
use crate::stock::{BUCKET, StockLevel};

fn host(tea: u64, mug: u64) -> TestHost {
    let level = |available| {
        serde_json::to_vec(&StockLevel {
            available,
            ..StockLevel::default()
        })
        .unwrap()
    };
    TestHost::new()
        .allow_bucket(BUCKET)
        .with_value(BUCKET, "stock.tea", level(tea))
        .with_value(BUCKET, "stock.mug", level(mug))
}

fn order(id: &str) -> Order {
    Order {
        order_id: id.into(),
        customer: "ada@example.com".into(),
        lines: vec![
            Line {
                sku: "tea".into(),
                qty: 2,
            },
            Line {
                sku: "mug".into(),
                qty: 1,
            },
        ],
        amount: 4200,
    }
}

fn event(id: &str, subject: &str, payload: serde_json::Value) -> Event {
    Event::new(id, subject, payload.to_string())
}

fn placed(id: &str, order: &Order) -> Event {
    event(id, subject::ORDER_PLACED, serde_json::to_value(order).unwrap())
}

fn stock(host: &TestHost, sku: &str) -> StockLevel {
    host.kv_entry(BUCKET, &format!("stock.{sku}"))
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn a_placed_order_reserves_every_line_once() {
    let host = host(5, 5);
    let first = host.run::<Inventory>(placed("e-1", &order("o-1")));
    assert!(first.result.is_ok(), "{:?}", first.result);
    assert_eq!(first.published[0].subject, subject::STOCK_RESERVED);
    let retry = host.run::<Inventory>(placed("e-1", &order("o-1")).with_attempt(2));
    assert_eq!(
        retry.published.len(),
        1,
        "a retry publishes again (the stream drops the copy)"
    );
    let resent = host.run::<Inventory>(placed("e-2", &order("o-1")));
    assert!(
        resent.result.is_ok() && resent.published.is_empty(),
        "a re-sent order is ignored"
    );
    assert_eq!(stock(&host, "tea").available, 3);
    assert_eq!(stock(&host, "tea").holds["o-1"], 2);
    assert_eq!(stock(&host, "mug").available, 4);
}

#[test]
fn an_order_that_does_not_fit_holds_nothing_and_is_cancelled() {
    let host = host(5, 0);
    let outcome = host.run::<Inventory>(placed("e-1", &order("o-1")));
    let cancelled: serde_json::Value = outcome.published[0].json();
    assert_eq!(outcome.published[0].subject, subject::ORDER_CANCELLED);
    assert_eq!(
        (cancelled["reason"].as_str(), cancelled["detail"].as_str()),
        (Some("out_of_stock"), Some("mug is out of stock"))
    );
    assert_eq!(
        stock(&host, "tea").available,
        5,
        "the tea held first is given back"
    );
    assert_eq!(stock(&host, "tea").reserved(), 0);
}

#[test]
fn a_failed_payment_releases_and_a_shipment_sells_each_once() {
    let host = host(5, 5);
    host.run::<Inventory>(placed("e-1", &order("o-1")));
    host.run::<Inventory>(placed("e-2", &order("o-2")));
    let failed = json!({"order_id": "o-1", "customer": "ada@example.com", "amount": 4200,
        "lines": [{"sku": "tea", "qty": 2}, {"sku": "mug", "qty": 1}], "reason": "declined"});
    let mut shipped = failed.clone();
    shipped["order_id"] = "o-2".into();
    shipped["tracking"] = "TRK-1".into();
    for (id, subject, payload) in [
        ("f-1", subject::PAYMENT_FAILED, &failed),
        ("f-2", subject::PAYMENT_FAILED, &failed),
        ("s-1", subject::SHIPMENT_DISPATCHED, &shipped),
        ("s-2", subject::SHIPMENT_DISPATCHED, &shipped),
    ] {
        let outcome = host.run::<Inventory>(event(id, subject, payload.clone()));
        assert!(outcome.result.is_ok(), "{id}: {:?}", outcome.result);
        let expected = if id.ends_with('1') { 1 } else { 0 };
        assert_eq!(
            outcome.published.len(),
            expected,
            "{id}: duplicates publish nothing"
        );
    }
    let tea = stock(&host, "tea");
    assert_eq!((tea.available, tea.sold, tea.reserved()), (3, 2, 0));
}

#[test]
fn malformed_orders_fail_permanently() {
    let host = host(5, 5);
    let mut empty = order("o-1");
    empty.lines.clear();
    let outcome = host.run::<Inventory>(placed("e-1", &empty));
    assert!(!outcome.result.unwrap_err().is_retryable());
    let outcome = host.run::<Inventory>(event("e-2", subject::ORDER_PLACED, json!({"order_id": 7})));
    assert!(!outcome.result.unwrap_err().is_retryable());
}
