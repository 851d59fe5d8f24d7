//! `saga-shipping`: dispatches every confirmed order.
//!
//! `saga.order.confirmed` → `saga.shipment.dispatched` with a tracking number. The inventory
//! confirms an order when its payment succeeded before the payment timeout, with the stock
//! still reserved, so nothing ships whose stock was released. The claim `ship.ORDER` makes
//! sure an order is dispatched once, however often its confirmation arrives.

use saga_events::{Claim, OrderConfirmed, ShipmentDispatched, claim, subject};
use sluice_sdk::{Error, Event, Handler};

/// The key-value bucket of this function's claims (`ship.ORDER`).
pub const BUCKET: &str = "saga-shipments";

/// The carrier's tracking number for `order_id` (the same on every retry).
pub fn tracking_number(order_id: &str) -> String {
    let digits: u32 = order_id
        .bytes()
        .fold(7, |n, b| n.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("TRK{:010}", digits)
}

/// The `saga-shipping` function.
pub struct Shipping;

impl Handler for Shipping {
    fn handle(event: Event) -> Result<(), Error> {
        let confirmed: OrderConfirmed = event.json()?;
        let order = confirmed.order;
        if let Claim::Duplicate { of } = claim(BUCKET, &format!("ship.{}", order.order_id), event.id())? {
            sluice_sdk::info!(
                "order {} was dispatched already (event {of}); ignoring this copy",
                order.order_id
            );
            return Ok(());
        }
        let tracking = tracking_number(&order.order_id);
        sluice_sdk::info!("order {} dispatched: {tracking}", order.order_id);
        sluice_sdk::publish_json(
            subject::SHIPMENT_DISPATCHED,
            &ShipmentDispatched { order, tracking },
        )
    }
}

sluice_sdk::export!(Shipping);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_sdk::testing::TestHost;

    #[test]
    fn dispatches_a_confirmed_order_once() {
        let host = TestHost::new().allow_bucket(BUCKET);
        let payload = json!({"order_id": "o-1", "customer": "ada@example.com", "amount": 100,
            "lines": [{"sku": "tea", "qty": 1}], "charge_id": "ch-1"})
        .to_string();
        let first = host.run::<Shipping>(Event::new("e-1", subject::ORDER_CONFIRMED, payload.clone()));
        let dispatched: serde_json::Value = first.published[0].json();
        assert_eq!(dispatched["tracking"], tracking_number("o-1"));
        let copy = host.run::<Shipping>(Event::new("e-2", subject::ORDER_CONFIRMED, payload));
        assert!(copy.result.is_ok() && copy.published.is_empty());
    }
}
