//! `saga-inventory`: the stock side of the fulfilment saga.
//!
//! It opens each order's saga and closes it:
//! - `saga.order.placed`: reserve every line (or cancel the order, `out_of_stock`), then
//!   `saga.stock.reserved`, and schedule a delayed `saga.payment.timeout`
//!   (`[config] payment_timeout`);
//! - `saga.payment.succeeded`: cancel the timeout, then `saga.order.confirmed` for shipping;
//! - `saga.payment.failed`: cancel the timeout, release the reservation (the
//!   **compensation**), then `saga.order.cancelled` (`payment_declined`);
//! - `saga.payment.timeout`: the payment never answered: release the reservation, then
//!   `saga.order.cancelled` (`payment_timeout`);
//! - `saga.shipment.dispatched`: sell the reserved units, then `saga.order.completed`.
//!
//! The first of the three payment events decides the order ([`answer`]); a charge that
//! arrives after a timeout is not shipped but refunded (`saga.refund.requested`).
//!
//! Stock lives in the `saga-inventory` key-value bucket, one [`stock::StockLevel`] per
//! product, changed only by compare-and-swap. Every step first claims the order for its
//! event ([`saga_events::claim`](mod@saga_events::claim)), so a re-sent order or a redelivered event changes nothing,
//! and every stock change is idempotent per order, so a retry cannot reserve or sell twice.

pub mod answer;
pub mod reserve;
pub mod settle;
pub mod stock;
pub mod timeout;

use saga_events::subject;
use sluice_sdk::{Error, Event, Handler};

/// The `saga-inventory` function.
pub struct Inventory;

impl Handler for Inventory {
    fn handle(event: Event) -> Result<(), Error> {
        match event.subject() {
            subject::ORDER_PLACED => reserve::reserve(&event, event.json()?),
            subject::PAYMENT_SUCCEEDED => answer::paid(&event, event.json()?),
            subject::PAYMENT_FAILED => answer::declined(&event, event.json()?),
            subject::PAYMENT_TIMEOUT => answer::timed_out(&event, event.json()?),
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
