//! `order-total`: totals a placed order.
//!
//! Handles `orders.placed` events carrying an order
//! (`{"id":"o-1","customer":"c-1","items":[{"sku":"A","qty":2,"price":1999}]}`, prices in
//! cents) and publishes an [`OrderTotalled`] event to `orders.totalled`.
//!
//! Pattern: **event-carried state transfer** in a pipeline step. The totalled event carries
//! everything its consumers need (customer, total, item count), so `email-receipt` and
//! `order-analytics` fan out from it without calling back. Input that can never be totalled
//! (bad JSON, no items, negative or overflowing numbers) is a permanent error, so the event
//! goes straight to the dead-letter subject instead of being retried.

use serde::{Deserialize, Serialize};
use sluice_sdk::{Error, Event, Handler};

/// The subject totals are published to.
pub const TOTALLED_SUBJECT: &str = "orders.totalled";

/// An order as placed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Order {
    /// The order's id.
    pub id: String,
    /// Who placed it.
    pub customer: String,
    /// The order lines.
    pub items: Vec<Item>,
}

/// One order line. Unsigned fields make a negative quantity or price a parse error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Item {
    /// Stock-keeping unit.
    pub sku: String,
    /// How many units.
    pub qty: u64,
    /// Price of one unit, in cents.
    pub price: u64,
}

/// The event published for every totalled order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderTotalled {
    /// The order's id.
    pub order_id: String,
    /// Who placed it.
    pub customer: String,
    /// Sum of quantity times price over all lines, in cents.
    pub total: u64,
    /// Number of units ordered: the sum of the lines' quantities.
    pub item_count: u64,
}

/// Totals `order`.
///
/// Fails permanently when the order has no items or a sum overflows: retrying the same
/// order would fail the same way.
pub fn total(order: Order) -> Result<OrderTotalled, Error> {
    if order.items.is_empty() {
        return Err(Error::permanent(format!("order {} has no items", order.id)));
    }
    let mut total: u64 = 0;
    let mut item_count: u64 = 0;
    for item in &order.items {
        let overflow = || {
            Error::permanent(format!(
                "order {}: total overflows at sku {} (qty {}, price {})",
                order.id, item.sku, item.qty, item.price
            ))
        };
        let line = item.qty.checked_mul(item.price).ok_or_else(overflow)?;
        total = total.checked_add(line).ok_or_else(overflow)?;
        item_count = item_count.checked_add(item.qty).ok_or_else(overflow)?;
    }
    Ok(OrderTotalled {
        order_id: order.id,
        customer: order.customer,
        total,
        item_count,
    })
}

/// The `order-total` function.
pub struct OrderTotal;

impl Handler for OrderTotal {
    fn handle(event: Event) -> Result<(), Error> {
        let totalled = total(event.json()?)?;
        sluice_sdk::info!("order {} totals {}", totalled.order_id, totalled.total);
        sluice_sdk::publish_json(TOTALLED_SUBJECT, &totalled)
    }
}

sluice_sdk::export!(OrderTotal);

#[cfg(test)]
mod tests {
    use super::*;

    fn order(json: &str) -> Result<Order, Error> {
        Event::new("e-1", "orders.placed", json).json()
    }

    #[test]
    fn sums_quantity_times_price() {
        let order = order(
            r#"{"id":"o-1","customer":"c-1","items":[
                {"sku":"A","qty":2,"price":1999},
                {"sku":"B","qty":1,"price":500}]}"#,
        )
        .unwrap();
        assert_eq!(
            total(order).unwrap(),
            OrderTotalled {
                order_id: "o-1".into(),
                customer: "c-1".into(),
                total: 4498,
                item_count: 3,
            }
        );
    }

    #[test]
    fn empty_orders_are_rejected_permanently() {
        let order = order(r#"{"id":"o-2","customer":"c-1","items":[]}"#).unwrap();
        let err = total(order).unwrap_err();
        assert!(!err.is_retryable());
        assert_eq!(err.message(), "order o-2 has no items");
    }

    #[test]
    fn overflow_is_rejected_permanently() {
        let max = u64::MAX;
        let order = order(&format!(
            r#"{{"id":"o-3","customer":"c-1","items":[{{"sku":"A","qty":2,"price":{max}}}]}}"#
        ))
        .unwrap();
        let err = total(order).unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.message().contains("overflows"), "{}", err.message());
    }

    #[test]
    fn negative_or_huge_numbers_and_bad_json_fail_to_parse_permanently() {
        for json in [
            r#"{"id":"o-4","customer":"c-1","items":[{"sku":"A","qty":-1,"price":1}]}"#,
            r#"{"id":"o-4","customer":"c-1","items":[{"sku":"A","qty":1,"price":1e30}]}"#,
            r#"{"id":"o-4","customer":"c-1","items":[{"sku":"A","qty":1,"price":99999999999999999999}]}"#,
            "not json",
        ] {
            let err = order(json).unwrap_err();
            assert!(!err.is_retryable(), "{json}");
            assert!(err.message().contains("not valid JSON"), "{}", err.message());
        }
    }

    #[test]
    fn the_handler_publishes_one_totalled_event() {
        use sluice_sdk::testing::TestHost;
        let host = TestHost::new().allow_publish(TOTALLED_SUBJECT);
        let event = Event::new(
            "e-9",
            "orders.placed",
            r#"{"id":"o-9","customer":"c-2","items":[{"sku":"A","qty":3,"price":250}]}"#,
        );
        let outcome = host.run::<OrderTotal>(event);
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        assert_eq!(outcome.published.len(), 1);
        let totalled: serde_json::Value = outcome.published[0].json();
        assert_eq!(totalled["total"], 750);
        assert_eq!(outcome.published[0].subject, "orders.totalled");

        let outcome = host.run::<OrderTotal>(Event::new("e-10", "orders.placed", "not json"));
        assert!(!outcome.result.unwrap_err().is_retryable());
        assert!(outcome.published.is_empty());
    }
}
