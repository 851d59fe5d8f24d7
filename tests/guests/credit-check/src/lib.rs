//! `credit-check`: a test guest for deterministic replay of a dead letter.
//!
//! A credit check (see `handler.rs`) with a hidden bug: it parses the customer's limit from
//! bucket `limits` as a whole number, so a limit like `1500.50` dead-letters the event with
//! the permanent error
//! `credit check for {customer} at {now_ms} (check {nonce:016x}): limit "{value}" is not a whole number`,
//! which depends on the key-value value, the wall clock and random bytes. `credit-check-fixed`
//! is the fix to replay the dead letter against; `credit-check-diverged` is a fix that also
//! calls a different URL.

mod handler;

use sluice_sdk::{Error, Event, Handler};

/// The bug: limits parsed as `u64`.
const VARIANT: handler::Variant = handler::Variant {
    rates_path: "/rates/EUR",
    decimal_limits: false,
};

/// The `credit-check` function.
pub struct CreditCheck;

impl Handler for CreditCheck {
    fn handle(event: Event) -> Result<(), Error> {
        handler::check(&event, VARIANT)
    }
}

sluice_sdk::export!(CreditCheck);
