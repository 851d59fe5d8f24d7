//! `saga-inventory`: the stock side of the fulfilment saga.
//!
//! It opens each order's saga and closes it:
//! - `saga.order.placed`: reserve every line (or cancel the order, `out_of_stock`), then
//!   `saga.stock.reserved`;
//! - `saga.payment.failed`: release the reservation (the **compensation**), then
//!   `saga.order.cancelled`;
//! - `saga.shipment.dispatched`: sell the reserved units, then `saga.order.completed`.
//!
//! Stock lives in the `saga-inventory` key-value bucket, one [`stock::StockLevel`] per
//! product, changed only by compare-and-swap. Every step first claims the order for its
//! event ([`saga_events::claim`]), so a re-sent order or a redelivered event changes nothing,
//! and every stock change is idempotent per order, so a retry cannot reserve or sell twice.

pub mod reserve;
pub mod settle;
pub mod stock;

use saga_events::subject;
use sluice_sdk::{Error, Event, Handler};

/// The `saga-inventory` function.
pub struct Inventory;

impl Handler for Inventory {
    fn handle(event: Event) -> Result<(), Error> {
        match event.subject() {
            subject::ORDER_PLACED => reserve::reserve(&event, event.json()?),
            subject::PAYMENT_FAILED => settle::release(&event, event.json()?),
            subject::SHIPMENT_DISPATCHED => settle::sell(&event, event.json()?),
            other => Err(Error::permanent(format!(
                "saga-inventory does not handle {other}"
            ))),
        }
    }
}

sluice_sdk::export!(Inventory);

#[cfg(test)]
mod tests;
