//! The inventory's steps against an in-memory host with the manifest's own `[config]` and
//! `permissions.publish`: reservations and their payment timeout, the payment's answers
//! racing the timeout, compensation, sales, and what duplicates and retries do.

use std::time::Duration;

use saga_events::{Line, Order, subject};
use serde_json::json;
use sluice_sdk::Event;
use sluice_sdk::testing::{Fires, Outcome, TestHost};

use crate::Inventory;
use crate::stock::{BUCKET, StockLevel};

/// The manifest the tests run under, as `run.sh` deploys it.
const MANIFEST: &str = include_str!("../saga-inventory.toml");

/// A host with the manifest's publish permissions and config, `tea` teas and `mug` mugs.
fn host(tea: u64, mug: u64) -> TestHost {
    let manifest: toml::Table = toml::from_str(MANIFEST).expect("the manifest parses");
    let mut host = TestHost::new().allow_bucket(BUCKET);
    for pattern in manifest["permissions"]["publish"]
        .as_array()
        .expect("publish list")
    {
        host = host.allow_publish(pattern.as_str().expect("a subject"));
    }
    for (key, value) in manifest["config"].as_table().expect("[config]") {
        host = host.config(key, value.as_str().expect("a string"));
    }
    let level = |available| {
        serde_json::to_vec(&StockLevel {
            available,
            ..StockLevel::default()
        })
        .unwrap()
    };
    host.with_value(BUCKET, "stock.tea", level(tea))
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

/// `order` with the payment step's fields: `charge_id` (succeeded) or `reason` (failed).
fn answer(id: &str, subject: &str, order: &Order) -> Event {
    let mut payload = serde_json::to_value(order).unwrap();
    payload["charge_id"] = "ch-1".into();
    payload["reason"] = "declined".into();
    event(id, subject, payload)
}

/// The payment timeout `placed` scheduled, as the host delivers it when it fires.
fn fired(placed: &Outcome) -> Event {
    let timeout = &placed.scheduled[0];
    Event::new(
        format!("sluice-delay:saga-inventory.{}", timeout.id),
        timeout.subject.clone(),
        timeout.payload.clone(),
    )
}

fn stock(host: &TestHost, sku: &str) -> StockLevel {
    host.kv_entry(BUCKET, &format!("stock.{sku}"))
        .unwrap()
        .json()
        .unwrap()
}

fn subjects(outcome: &Outcome) -> Vec<&str> {
    outcome.published.iter().map(|p| p.subject.as_str()).collect()
}

#[test]
fn a_placed_order_reserves_every_line_once() {
    let host = host(5, 5);
    let first = host.run::<Inventory>(placed("e-1", &order("o-1")));
    assert!(first.result.is_ok(), "{:?}", first.result);
    assert_eq!(subjects(&first), [subject::STOCK_RESERVED]);
    let retry = host.run::<Inventory>(placed("e-1", &order("o-1")).with_attempt(2));
    assert_eq!(
        retry.published.len(),
        1,
        "a retry publishes again (the stream drops the copy)"
    );
    let resent = host.run::<Inventory>(placed("e-2", &order("o-1")));
    assert!(
        resent.result.is_ok() && resent.published.is_empty() && resent.scheduled.is_empty(),
        "a re-sent order is ignored"
    );
    assert_eq!(stock(&host, "tea").available, 3);
    assert_eq!(stock(&host, "tea").holds["o-1"], 2);
    assert_eq!(stock(&host, "mug").available, 4);
}

#[test]
fn a_reservation_schedules_its_payment_timeout_and_keeps_its_id() {
    let host = host(5, 5);
    let first = host.run::<Inventory>(placed("e-1", &order("o-1")));
    let [timeout] = first.scheduled.as_slice() else {
        panic!("one timeout scheduled: {:?}", first.scheduled);
    };
    assert_eq!(timeout.subject, subject::PAYMENT_TIMEOUT);
    assert_eq!(
        timeout.fires,
        Fires::After(Duration::from_secs(5)),
        "the manifest's payment_timeout"
    );
    let payload: serde_json::Value = serde_json::from_slice(&timeout.payload).unwrap();
    assert_eq!(
        (payload["order_id"].as_str(), payload["after_secs"].as_u64()),
        (Some("o-1"), Some(5))
    );
    let kept = host.kv_entry(BUCKET, "timeout.o-1").expect("the id is kept");
    assert_eq!(kept.value, timeout.id.as_bytes());

    let retry = host.run::<Inventory>(placed("e-1", &order("o-1")).with_attempt(2));
    assert_eq!(
        retry.scheduled[0].id, timeout.id,
        "a retry schedules the same timeout"
    );
    let fits = host.run::<Inventory>(placed("e-2", &order("o-2")));
    let sold_out = host.run::<Inventory>(placed("e-3", &order("o-3")));
    assert_eq!(fits.scheduled.len(), 1);
    assert_eq!(subjects(&sold_out), [subject::ORDER_CANCELLED]);
    assert!(
        sold_out.scheduled.is_empty(),
        "out of tea: no payment, no timeout"
    );
}

#[test]
fn a_payment_answer_cancels_the_timeout() {
    let host = host(5, 5);
    let one = host.run::<Inventory>(placed("e-1", &order("o-1")));
    let two = host.run::<Inventory>(placed("e-2", &order("o-2")));

    let paid = host.run::<Inventory>(answer("p-1", subject::PAYMENT_SUCCEEDED, &order("o-1")));
    assert_eq!(paid.cancelled, [one.scheduled[0].id.clone()]);
    assert_eq!(subjects(&paid), [subject::ORDER_CONFIRMED]);
    let confirmed: serde_json::Value = paid.published[0].json();
    assert_eq!(confirmed["charge_id"], "ch-1");
    assert_eq!(stock(&host, "tea").holds["o-1"], 2, "still held, for shipping");

    let declined = host.run::<Inventory>(answer("f-2", subject::PAYMENT_FAILED, &order("o-2")));
    assert_eq!(declined.cancelled, [two.scheduled[0].id.clone()]);
    let cancelled: serde_json::Value = declined.published[0].json();
    assert_eq!(cancelled["reason"], "payment_declined");
    assert!(!stock(&host, "tea").holds.contains_key("o-2"), "released");
}

#[test]
fn a_timeout_without_an_answer_releases_the_stock_and_cancels_the_order() {
    let host = host(5, 5);
    let reserved = host.run::<Inventory>(placed("e-1", &order("o-1")));
    let timeout = host.run::<Inventory>(fired(&reserved));
    assert!(timeout.result.is_ok(), "{:?}", timeout.result);
    assert_eq!(subjects(&timeout), [subject::ORDER_CANCELLED]);
    let cancelled: serde_json::Value = timeout.published[0].json();
    assert_eq!(
        (cancelled["reason"].as_str(), cancelled["detail"].as_str()),
        (
            Some("payment_timeout"),
            Some("no answer from the payment within 5 s")
        )
    );
    assert!(timeout.cancelled.is_empty() && timeout.scheduled.is_empty());
    let tea = stock(&host, "tea");
    assert_eq!((tea.available, tea.reserved()), (5, 0));
    let copy = Event::new(
        "copy:1",
        subject::PAYMENT_TIMEOUT,
        fired(&reserved).payload().to_vec(),
    );
    assert!(
        host.run::<Inventory>(copy).published.is_empty(),
        "compensated once"
    );
}

#[test]
fn a_timeout_after_the_payment_answered_does_nothing() {
    let host = host(5, 5);
    let reserved = host.run::<Inventory>(placed("e-1", &order("o-1")));
    host.run::<Inventory>(answer("p-1", subject::PAYMENT_SUCCEEDED, &order("o-1")));
    // The cancel lost the race against the firing.
    let late = host.run::<Inventory>(fired(&reserved));
    assert!(late.result.is_ok() && late.published.is_empty(), "{late:?}");
    assert_eq!(
        stock(&host, "tea").holds["o-1"],
        2,
        "still held for the paid order"
    );
}

#[test]
fn a_charge_after_the_timeout_is_refunded_not_shipped() {
    let host = host(5, 5);
    let reserved = host.run::<Inventory>(placed("e-1", &order("o-1")));
    host.run::<Inventory>(fired(&reserved));

    let late = host.run::<Inventory>(answer("p-1", subject::PAYMENT_SUCCEEDED, &order("o-1")));
    assert_eq!(subjects(&late), [subject::REFUND_REQUESTED], "no order.confirmed");
    let refund: serde_json::Value = late.published[0].json();
    assert_eq!(
        (refund["charge_id"].as_str(), refund["reason"].as_str()),
        (Some("ch-1"), Some("payment_timeout"))
    );
    assert!(late.cancelled.is_empty(), "the timeout fired already");
    assert_eq!(
        stock(&host, "tea").available,
        5,
        "the released stock stays released"
    );

    let retry =
        host.run::<Inventory>(answer("p-1", subject::PAYMENT_SUCCEEDED, &order("o-1")).with_attempt(2));
    assert_eq!(
        retry.published.len(),
        1,
        "a retry publishes again (the stream drops the copy)"
    );
    let copy = host.run::<Inventory>(answer("copy:p-1", subject::PAYMENT_SUCCEEDED, &order("o-1")));
    assert!(copy.published.is_empty(), "one refund request per order");
    let decline = host.run::<Inventory>(answer("f-1", subject::PAYMENT_FAILED, &order("o-1")));
    assert!(decline.published.is_empty(), "a late decline has nothing to undo");
}

#[test]
fn an_order_placed_again_after_its_payment_answered_reserves_nothing() {
    let host = host(5, 5);
    let reserved = host.run::<Inventory>(placed("e-1", &order("o-1")));
    host.run::<Inventory>(fired(&reserved));
    // The first delivery's outputs went out but its ack was lost: the event comes back.
    let again = host.run::<Inventory>(placed("e-1", &order("o-1")).with_attempt(2));
    assert!(again.result.is_ok() && again.published.is_empty() && again.scheduled.is_empty());
    assert_eq!(
        stock(&host, "tea").reserved(),
        0,
        "nothing held for an order that is over"
    );
}

#[test]
fn a_shipment_sells_once() {
    let host = host(5, 5);
    host.run::<Inventory>(placed("e-1", &order("o-1")));
    host.run::<Inventory>(answer("p-1", subject::PAYMENT_SUCCEEDED, &order("o-1")));
    let mut shipped = serde_json::to_value(order("o-1")).unwrap();
    shipped["tracking"] = "TRK-1".into();
    for (id, expected) in [("s-1", 1), ("s-2", 0)] {
        let outcome = host.run::<Inventory>(event(id, subject::SHIPMENT_DISPATCHED, shipped.clone()));
        assert!(outcome.result.is_ok(), "{id}: {:?}", outcome.result);
        assert_eq!(
            outcome.published.len(),
            expected,
            "{id}: a duplicate publishes nothing"
        );
    }
    let tea = stock(&host, "tea");
    assert_eq!((tea.available, tea.sold, tea.reserved()), (3, 2, 0));
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
fn malformed_orders_and_a_bad_timeout_fail_permanently_before_reserving() {
    let host = host(5, 5);
    let mut empty = order("o-1");
    empty.lines.clear();
    let outcome = host.run::<Inventory>(placed("e-1", &empty));
    assert!(!outcome.result.unwrap_err().is_retryable());
    let outcome = host.run::<Inventory>(event("e-2", subject::ORDER_PLACED, json!({"order_id": 7})));
    assert!(!outcome.result.unwrap_err().is_retryable());

    let host = host.config("payment_timeout", "soon");
    let error = host
        .run::<Inventory>(placed("e-3", &order("o-3")))
        .result
        .unwrap_err();
    assert!(
        !error.is_retryable() && error.message().contains("payment_timeout"),
        "{}",
        error.message()
    );
    assert_eq!(stock(&host, "tea").available, 5, "nothing reserved");
}
