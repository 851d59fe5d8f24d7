//! `credit-check-fixed`: a test guest for deterministic replay of a dead letter.
//!
//! `credit-check` (the same `handler.rs`) with its bug fixed: the customer's limit is parsed
//! as an `f64`, so a limit like `1500.50` passes and the check is published to
//! `credit.checked`. Its calls are the same as `credit-check`'s, so a dead letter of that one
//! replays against it.

#[path = "../../credit-check/src/handler.rs"]
mod handler;

use sluice_sdk::{Error, Event, Handler};

/// The fix: limits parsed as `f64`.
const VARIANT: handler::Variant = handler::Variant {
    rates_path: "/rates/EUR",
    decimal_limits: true,
};

/// The `credit-check-fixed` function.
pub struct CreditCheckFixed;

impl Handler for CreditCheckFixed {
    fn handle(event: Event) -> Result<(), Error> {
        handler::check(&event, VARIANT)
    }
}

sluice_sdk::export!(CreditCheckFixed);
