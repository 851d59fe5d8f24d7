//! `idempotent-total`: totals each placed order **once**, however many times it arrives.
//!
//! A producer that retries, a broker that redelivers after a lost ack, a replayed dead
//! letter: in an at-least-once system the same order can come twice. This function remembers
//! every event id it has handled in the key-value bucket `orders-processed` and records the
//! first delivery's total there with `compare-and-swap` at revision 0 ("only if absent"). That
//! write is the claim: of two deliveries of one order, even running at the same moment on two
//! hosts, exactly one creates the key; the other gets a conflict, does nothing and succeeds.
//! Only the delivery that made the claim publishes `shop.orders.totalled`.
//!
//! Everything that can fail (parsing, totalling) happens before the claim, so a claimed
//! order never fails afterwards and its output goes out with the handler's success. One gap
//! is left: the host dying after the claim but before the output was confirmed. The stream
//! then delivers the *same message* again (`attempt > 1`), and the claim is already there; so
//! a redelivery re-publishes the recorded total instead of skipping it. Its `Nats-Msg-Id`
//! (`idempotent-total:<event id>:1`) is the one the first attempt used, so the
//! `SHOP_TOTALS` stream keeps one copy and its consumers see the order once.

use serde::{Deserialize, Serialize};
use sluice_sdk::kv::{self, KvError};
use sluice_sdk::{Error, Event, Handler};

/// The bucket of handled event ids.
pub const PROCESSED: &str = "orders-processed";
/// Where totals are published.
pub const TOTALLED: &str = "shop.orders.totalled";

/// An order as placed; prices in cents.
#[derive(Debug, Deserialize)]
pub struct Order {
    /// The order's id.
    pub id: String,
    /// Who placed it.
    pub customer: String,
    /// The order lines.
    pub items: Vec<Item>,
}

/// One order line.
#[derive(Debug, Deserialize)]
pub struct Item {
    /// How many units.
    pub qty: u64,
    /// Price of one unit, in cents.
    pub price: u64,
}

/// What is recorded for, and published about, a totalled order.
#[derive(Debug, Serialize)]
pub struct Totalled {
    /// The order's id.
    pub order_id: String,
    /// Who placed it.
    pub customer: String,
    /// Sum of quantity times price, in cents.
    pub total: u64,
}

/// Totals `order`; no items or an overflowing sum is a permanent error.
pub fn total(order: Order) -> Result<Totalled, Error> {
    if order.items.is_empty() {
        return Err(Error::permanent(format!("order {} has no items", order.id)));
    }
    let total = order.items.iter().try_fold(0u64, |sum, item| {
        item.qty
            .checked_mul(item.price)
            .and_then(|line| sum.checked_add(line))
            .ok_or_else(|| Error::permanent(format!("order {}: total overflows", order.id)))
    })?;
    Ok(Totalled {
        order_id: order.id,
        customer: order.customer,
        total,
    })
}

/// The `idempotent-total` function.
pub struct IdempotentTotal;

impl Handler for IdempotentTotal {
    fn handle(event: Event) -> Result<(), Error> {
        let totalled = total(event.json()?)?;
        let record = serde_json::to_vec(&totalled).map_err(|e| Error::permanent(e.to_string()))?;
        let key = key(event.id());
        match kv::compare_and_swap(PROCESSED, &key, &record, 0) {
            Ok(_) => sluice_sdk::publish_json(TOTALLED, &totalled),
            Err(KvError::Conflict(_)) if event.attempt() > 1 => {
                // This very message was delivered before: maybe the attempt that claimed it
                // died before its output was confirmed. Send the recorded total again; the
                // stream drops it if the first copy arrived.
                let recorded = kv::get(PROCESSED, &key)?.map_or(record, |entry| entry.value);
                sluice_sdk::publish(TOTALLED, recorded)
            }
            Err(KvError::Conflict(_)) => {
                sluice_sdk::debug!("event {} already handled: no second total", event.id());
                Ok(())
            }
            Err(other) => Err(other.into()),
        }
    }
}

/// The bucket key of event `id`: key-value keys allow letters, digits and `-_=/.`, so
/// anything else becomes `_`.
fn key(id: &str) -> String {
    let key: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_=/".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("event/{key}")
}

sluice_sdk::export!(IdempotentTotal);

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::TestHost;

    use super::*;

    const ORDER: &str =
        r#"{"id":"o-1","customer":"c-1","items":[{"qty":2,"price":250},{"qty":1,"price":99}]}"#;

    #[test]
    fn a_second_delivery_of_an_event_has_no_effect() {
        let host = TestHost::new().allow_bucket(PROCESSED).allow_publish(TOTALLED);
        let first = host.run::<IdempotentTotal>(Event::new("o-1", "shop.orders.placed", ORDER));
        assert!(first.result.is_ok());
        let totalled: serde_json::Value = first.published[0].json();
        assert_eq!(totalled["total"], 599);
        // The same order sent again: a new message with the same event id, first delivery.
        let again = host.run::<IdempotentTotal>(Event::new("o-1", "shop.orders.placed", ORDER));
        assert!(again.result.is_ok() && again.published.is_empty(), "{again:?}");
        assert_eq!(
            host.kv_entry(PROCESSED, "event/o-1").unwrap().revision,
            1,
            "written once"
        );
    }

    #[test]
    fn a_redelivery_after_the_claim_sends_the_recorded_total_again() {
        let recorded = r#"{"order_id":"o-1","customer":"c-1","total":599}"#;
        let host = TestHost::new()
            .allow_bucket(PROCESSED)
            .allow_publish(TOTALLED)
            .with_value(PROCESSED, "event/o-1", recorded);
        let redelivered = Event::new("o-1", "shop.orders.placed", ORDER).with_attempt(2);
        let outcome = host.run::<IdempotentTotal>(redelivered);
        assert!(outcome.result.is_ok());
        assert_eq!(outcome.published[0].payload, recorded.as_bytes());
        assert_eq!(
            host.kv_entry(PROCESSED, "event/o-1").unwrap().revision,
            1,
            "not written again"
        );
    }

    #[test]
    fn bad_orders_fail_permanently_and_claim_nothing() {
        let host = TestHost::new().allow_bucket(PROCESSED);
        let empty = r#"{"id":"o-2","customer":"c","items":[]}"#;
        let outcome = host.run::<IdempotentTotal>(Event::new("o-2", "shop.orders.placed", empty));
        assert!(!outcome.result.unwrap_err().is_retryable());
        assert!(host.kv_entry(PROCESSED, "event/o-2").is_none());
        assert_eq!(key("a b:c"), "event/a_b_c");
    }
}
