//! `order-total-candidate`: a test guest for shadow versions.
//!
//! A copy of `functions/order-total` (whose `lib.rs` exports its own handler, so it cannot be
//! reused with `#[path]`) with two changes, to run as a candidate version beside it:
//!
//! 1. an order whose total is over 1,000,000 cents (10,000.00) is published with
//!    `total + total / 100`: 1 % more;
//! 2. an order with an item carrying `"gift": true` panics (a wasm trap) with
//!    `candidate cannot wrap gifts`.
//!
//! Every other event gives exactly what `order-total` gives: the same message, byte for byte,
//! on the same subject with the same headers, or the same error with the same message.

use serde::{Deserialize, Serialize};
use sluice_sdk::{Error, Event, Handler};

/// The subject totals are published to.
pub const TOTALLED_SUBJECT: &str = "orders.totalled";

/// Totals over this many cents are published 1 % higher.
pub const SURCHARGE_ABOVE: u64 = 1_000_000;

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

/// Parses the event's order as `order-total` does, with the same error message (which names
/// the type as `order_total::Order`).
fn parse(event: &Event) -> Result<Order, Error> {
    serde_json::from_slice(event.payload()).map_err(|e| {
        Error::permanent(format!(
            "payload of event {} on {} is not valid JSON for order_total::Order: {e}",
            event.id(),
            event.subject()
        ))
    })
}

/// Whether an item of the (already parsed) order in `payload` has `"gift": true`. Read from
/// the raw JSON, so that `Order` parses exactly as `order-total`'s does.
fn has_gift(payload: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(payload).is_ok_and(|order| {
        order["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|item| item["gift"] == true))
    })
}

/// Totals `order`, as `order-total` does.
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

/// The `order-total-candidate` function.
pub struct OrderTotalCandidate;

impl Handler for OrderTotalCandidate {
    fn handle(event: Event) -> Result<(), Error> {
        let order = parse(&event)?;
        assert!(!has_gift(event.payload()), "candidate cannot wrap gifts");
        let mut totalled = total(order)?;
        if totalled.total > SURCHARGE_ABOVE {
            totalled.total = totalled.total.saturating_add(totalled.total / 100);
        }
        sluice_sdk::info!("order {} totals {}", totalled.order_id, totalled.total);
        sluice_sdk::publish_json(TOTALLED_SUBJECT, &totalled)
    }
}

sluice_sdk::export!(OrderTotalCandidate);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::testing::TestHost;

    fn run(json: &str) -> sluice_sdk::testing::Outcome {
        let host = TestHost::new().allow_publish(TOTALLED_SUBJECT);
        host.run::<OrderTotalCandidate>(Event::new("e-1", "orders.placed", json))
    }

    #[test]
    fn totals_over_ten_thousand_are_one_percent_higher() {
        let outcome = run(r#"{"id":"o-1","customer":"c-1","items":[{"sku":"A","qty":1,"price":2000000}]}"#);
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        assert_eq!(outcome.published.len(), 1);
        assert_eq!(outcome.published[0].subject, "orders.totalled");
        assert_eq!(
            String::from_utf8_lossy(&outcome.published[0].payload),
            r#"{"order_id":"o-1","customer":"c-1","total":2020000,"item_count":1}"#
        );
        assert_eq!(
            outcome.published[0].headers,
            [("content-type".to_owned(), "application/json".to_owned())]
        );

        // At or under the threshold, the total is order-total's.
        let outcome = run(r#"{"id":"o-2","customer":"c-1","items":[{"sku":"A","qty":1,"price":1000000}]}"#);
        assert_eq!(
            outcome.published[0].json::<serde_json::Value>()["total"],
            1_000_000
        );
    }

    #[test]
    #[should_panic(expected = "candidate cannot wrap gifts")]
    fn gifts_panic() {
        run(
            r#"{"id":"o-3","customer":"c-1","items":[{"sku":"A","qty":1,"price":5},{"sku":"B","qty":1,"price":5,"gift":true}]}"#,
        );
    }
}
