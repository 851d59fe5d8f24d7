//! `credit-check-diverged`: a test guest for deterministic replay of a dead letter.
//!
//! `credit-check-fixed` (the same `handler.rs`, limits parsed as `f64`) that asks the rates
//! service for `/v2/rates/EUR` instead of `/rates/EUR`: a replay of a `credit-check` dead
//! letter against it makes a call its transcript does not have, and so diverges.

#[path = "../../credit-check/src/handler.rs"]
mod handler;

use sluice_sdk::{Error, Event, Handler};

/// The fix, with a different rates URL.
const VARIANT: handler::Variant = handler::Variant {
    rates_path: "/v2/rates/EUR",
    decimal_limits: true,
};

/// The `credit-check-diverged` function.
pub struct CreditCheckDiverged;

impl Handler for CreditCheckDiverged {
    fn handle(event: Event) -> Result<(), Error> {
        handler::check(&event, VARIANT)
    }
}

sluice_sdk::export!(CreditCheckDiverged);
