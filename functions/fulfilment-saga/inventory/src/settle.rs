//! The end of an order's reservation: released when payment failed (the compensation),
//! sold when the order shipped.

use saga_events::{
    CancelReason, Claim, Order, OrderCancelled, OrderCompleted, PaymentFailed, ShipmentDispatched, claim,
    subject,
};
use sluice_sdk::{Error, Event};

use crate::stock::{self, BUCKET, Effect, StockLevel};

/// `saga.payment.failed`: gives the order's units back and publishes [`OrderCancelled`]
/// (`payment_declined`).
pub fn release(event: &Event, failed: PaymentFailed) -> Result<(), Error> {
    if !settle(event, "release", &failed.order, StockLevel::release)? {
        return Ok(());
    }
    sluice_sdk::info!(
        "order {} cancelled, reservation released: {}",
        failed.order.order_id,
        failed.reason
    );
    sluice_sdk::publish_json(
        subject::ORDER_CANCELLED,
        &OrderCancelled {
            order: failed.order,
            reason: CancelReason::PaymentDeclined,
            detail: failed.reason,
        },
    )
}

/// `saga.shipment.dispatched`: turns the order's reservation into a sale and publishes
/// [`OrderCompleted`].
pub fn sell(event: &Event, shipped: ShipmentDispatched) -> Result<(), Error> {
    if !settle(event, "sell", &shipped.order, StockLevel::sell)? {
        return Ok(());
    }
    sluice_sdk::info!("order {} completed: sold", shipped.order.order_id);
    sluice_sdk::publish_json(
        subject::ORDER_COMPLETED,
        &OrderCompleted {
            order: shipped.order,
            tracking: shipped.tracking,
        },
    )
}

/// Claims `step` of `order` for this event and applies `change` to each of its products.
/// Returns false for a duplicate, which must do nothing.
fn settle(
    event: &Event,
    step: &str,
    order: &Order,
    change: fn(&mut StockLevel, &str) -> Effect,
) -> Result<bool, Error> {
    let key = format!("{step}.{}", order.order_id);
    if let Claim::Duplicate { of } = claim(BUCKET, &key, event.id())? {
        sluice_sdk::info!(
            "{step} of order {} was done already (event {of}); ignoring this copy",
            order.order_id
        );
        return Ok(false);
    }
    for line in &order.lines {
        if stock::update(&line.sku, |level| change(level, &order.order_id))? == Effect::Unchanged {
            // A retry whose earlier attempt got this far, or several lines of one product.
            sluice_sdk::debug!("order {}: {step} of {} already done", order.order_id, line.sku);
        }
    }
    Ok(true)
}
