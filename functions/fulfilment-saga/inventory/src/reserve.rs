//! `saga.order.placed`: reserve every line, or none, and start the payment's clock.

use std::collections::BTreeMap;

use saga_events::{CancelReason, Claim, Order, OrderCancelled, StockReserved, claim, subject};
use sluice_sdk::{Error, Event, kv};

use crate::stock::{self, BUCKET, Effect};
use crate::{answer, timeout};

/// Reserves `order`'s lines, publishes [`StockReserved`] and schedules the payment timeout;
/// when a line does not fit, releases what it held and publishes [`OrderCancelled`]
/// (`out_of_stock`).
///
/// A delivery of the event that placed the order, coming back after the payment answered
/// (its first delivery's outputs were sent but its ack was lost), does nothing: reserving
/// again would hold stock for an order that is over.
pub fn reserve(event: &Event, order: Order) -> Result<(), Error> {
    let wanted = units_per_sku(&order)?;
    let payment_timeout = timeout::configured()?;
    let key = format!("reserve.{}", order.order_id);
    if let Claim::Duplicate { of } = claim(BUCKET, &key, event.id())? {
        sluice_sdk::info!(
            "order {} was placed already (event {of}); ignoring this copy",
            order.order_id
        );
        return Ok(());
    }
    if let Some(decided) = kv::get(BUCKET, &answer::key(&order.order_id))? {
        sluice_sdk::info!(
            "order {}: its payment was answered already ({}); not reserving again",
            order.order_id,
            decided.text()?
        );
        return Ok(());
    }
    for (sku, qty) in &wanted {
        if stock::update(sku, |level| level.reserve(&order.order_id, *qty))? == Effect::Refused {
            // Give back what this order holds (on a retry, holds of an earlier attempt too).
            for held in wanted.keys() {
                stock::update(held, |level| level.release(&order.order_id))?;
            }
            sluice_sdk::info!("order {} cancelled: {sku} is out of stock", order.order_id);
            let detail = format!("{sku} is out of stock");
            return sluice_sdk::publish_json(
                subject::ORDER_CANCELLED,
                &OrderCancelled {
                    order,
                    reason: CancelReason::OutOfStock,
                    detail,
                },
            );
        }
    }
    sluice_sdk::info!(
        "order {} reserved: {} units",
        order.order_id,
        wanted.values().sum::<u64>()
    );
    sluice_sdk::publish_json(subject::STOCK_RESERVED, &StockReserved { order: order.clone() })?;
    timeout::schedule(&order, payment_timeout)
}

/// The units `order` wants of each product, in a stable order; an order without lines or
/// with a line of nothing is malformed (a permanent error).
fn units_per_sku(order: &Order) -> Result<BTreeMap<String, u64>, Error> {
    if order.lines.is_empty() {
        return Err(Error::permanent(format!("order {} has no lines", order.order_id)));
    }
    let mut wanted = BTreeMap::new();
    for line in &order.lines {
        if line.qty == 0 {
            return Err(Error::permanent(format!(
                "order {}: line {} has quantity 0",
                order.order_id, line.sku
            )));
        }
        *wanted.entry(line.sku.clone()).or_default() += u64::from(line.qty);
    }
    Ok(wanted)
}
