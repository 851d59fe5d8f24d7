//! `order-total-batch`: `order-total` as a micro-batch handler.
//!
//! The host hands it up to `[batch] max_events` `orders.placed` events per call; it totals
//! each and publishes one `orders.totalled` event per order, exactly as `order-total` does.
//! Each order keeps its own outcome: a malformed order is dead-lettered alone while the rest
//! of its batch is totalled, and its output (none here) would not be sent.
//!
//! Pattern: **micro-batching** a cheap, stateless step, so the host pays for one instance per
//! hundred events instead of one per event.

use serde::{Deserialize, Serialize};
use sluice_sdk::{Batch, BatchHandler, BatchOutcome, Error, Event};

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

/// One order line; prices in cents.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Item {
    /// Stock-keeping unit.
    pub sku: String,
    /// How many units.
    pub qty: u64,
    /// Price of one unit, in cents.
    pub price: u64,
}

/// The event published for every totalled order (the same as `order-total`'s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderTotalled {
    /// The order's id.
    pub order_id: String,
    /// Who placed it.
    pub customer: String,
    /// Sum of quantity times price, in cents.
    pub total: u64,
    /// Number of units ordered.
    pub item_count: u64,
}

/// Totals `order`; an order without items or whose sums overflow fails permanently.
pub fn total(order: Order) -> Result<OrderTotalled, Error> {
    if order.items.is_empty() {
        return Err(Error::permanent(format!("order {} has no items", order.id)));
    }
    let overflow = || Error::permanent(format!("order {}: total overflows", order.id));
    let (mut total, mut item_count) = (0u64, 0u64);
    for item in &order.items {
        let line = item.qty.checked_mul(item.price).ok_or_else(overflow)?;
        total = total.checked_add(line).ok_or_else(overflow)?;
        item_count = item_count.checked_add(item.qty).ok_or_else(overflow)?;
    }
    Ok(OrderTotalled {
        order_id: order.id.clone(),
        customer: order.customer.clone(),
        total,
        item_count,
    })
}

/// The `order-total-batch` function.
pub struct OrderTotalBatch;

impl BatchHandler for OrderTotalBatch {
    fn handle_batch(batch: Batch) -> BatchOutcome {
        batch.each(|event: Event| {
            let totalled = total(event.json()?)?;
            sluice_sdk::publish_json(TOTALLED_SUBJECT, &totalled)
        })
    }
}

sluice_sdk::export_batch!(OrderTotalBatch);

#[cfg(test)]
mod tests {
    use sluice_sdk::Event;
    use sluice_sdk::testing::TestHost;

    use super::*;

    #[test]
    fn each_order_of_a_batch_is_totalled_on_its_own() {
        let host = TestHost::new().allow_publish(TOTALLED_SUBJECT);
        let good = r#"{"id":"o-1","customer":"c","items":[{"sku":"A","qty":2,"price":500}]}"#;
        let empty = r#"{"id":"o-2","customer":"c","items":[]}"#;
        let events = vec![
            Event::new("e-1", "orders.placed", good),
            Event::new("e-2", "orders.placed", empty),
            Event::new("e-3", "orders.placed", "not json"),
        ];
        let outcomes = host.run_batch::<OrderTotalBatch>(events);
        assert!(outcomes[0].result.is_ok());
        let totalled: serde_json::Value = outcomes[0].published[0].json();
        assert_eq!(
            (totalled["order_id"].as_str(), totalled["total"].as_u64()),
            (Some("o-1"), Some(1000))
        );
        for failed in &outcomes[1..] {
            assert!(!failed.result.as_ref().unwrap_err().is_retryable());
            assert!(failed.published.is_empty());
        }
    }
}
