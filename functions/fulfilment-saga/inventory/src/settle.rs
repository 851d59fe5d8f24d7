//! The happy end of an order's reservation: sold when the order shipped. (Its other ends,
//! released when the payment failed or timed out, are in [`crate::answer`].)

use saga_events::{Claim, OrderCompleted, ShipmentDispatched, claim, subject};
use sluice_sdk::{Error, Event};

use crate::stock::{self, BUCKET, Effect, StockLevel};

/// `saga.shipment.dispatched`: turns the order's reservation into a sale and publishes
/// [`OrderCompleted`]. The claim `sell.ORDER` makes a copy of the event do nothing.
pub fn sell(event: &Event, shipped: ShipmentDispatched) -> Result<(), Error> {
    let order = &shipped.order;
    if let Claim::Duplicate { of } = claim(BUCKET, &format!("sell.{}", order.order_id), event.id())? {
        sluice_sdk::info!(
            "order {} was sold already (event {of}); ignoring this copy",
            order.order_id
        );
        return Ok(());
    }
    for line in &order.lines {
        if stock::update(&line.sku, |level| StockLevel::sell(level, &order.order_id))? == Effect::Unchanged {
            // A retry whose earlier attempt got this far, or several lines of one product.
            sluice_sdk::debug!("order {}: {} sold already", order.order_id, line.sku);
        }
    }
    sluice_sdk::info!("order {} completed: sold", order.order_id);
    sluice_sdk::publish_json(
        subject::ORDER_COMPLETED,
        &OrderCompleted {
            order: shipped.order,
            tracking: shipped.tracking,
        },
    )
}
