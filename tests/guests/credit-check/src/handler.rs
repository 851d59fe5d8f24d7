//! The credit check the `credit-check`, `credit-check-fixed` and `credit-check-diverged` test
//! guests share (the other two include this file with `#[path]`); each crate's [`Variant`]
//! chooses the rates path and how a limit is parsed.
//!
//! For an event `{"customer":"acme","amount":1200}` it:
//!
//! 1. reads the wall clock (`now_ms`, milliseconds since the Unix epoch);
//! 2. draws a random 64-bit `nonce` (a fresh `RandomState`, whose keys come from WASI random);
//! 3. GETs `{rates_url}{rates_path}` (config `rates_url`) and parses the body as an `f64`
//!    rate; a failed request or a status other than 200 is retryable;
//! 4. logs `checking {customer}: rate {rate}` at info;
//! 5. reads the customer's limit from bucket `limits` (a missing key is the permanent
//!    `no credit limit for {customer}`);
//! 6. parses it, as a whole number or as a decimal; a limit that does not parse is the
//!    permanent `credit check for {customer} at {now_ms} (check {nonce:016x}): limit "{value}"
//!    is not a whole number` (or `is not a number`);
//! 7. publishes `{"customer","amount","limit","rate","approved"}` to [`CHECKED`], approved
//!    when `amount * rate <= limit`.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Number, Value, json};
use sluice_sdk::{Error, Event, kv};

/// The bucket of credit limits, keyed by customer.
pub const LIMITS: &str = "limits";

/// Where a check's result is published.
pub const CHECKED: &str = "credit.checked";

/// What differs between the three crates.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// The path after config `rates_url` that answers the EUR rate.
    pub rates_path: &'static str,
    /// Parse a limit as an `f64` (the fix) rather than a `u64` (the bug).
    pub decimal_limits: bool,
}

/// The event's payload.
#[derive(Debug, Deserialize)]
struct CreditRequest {
    customer: String,
    amount: Number,
}

/// Checks the credit of the customer in `event`'s payload.
pub fn check(event: &Event, variant: Variant) -> Result<(), Error> {
    let request: CreditRequest = event.json()?;
    let customer = &request.customer;
    let amount = request
        .amount
        .as_f64()
        .ok_or_else(|| Error::permanent(format!("amount {} is not a number", request.amount)))?;

    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let nonce = RandomState::new().hash_one(0x5eed_u64);

    let rate = rate(variant)?;
    sluice_sdk::info!("checking {customer}: rate {rate}");

    let entry = kv::get(LIMITS, customer)?
        .ok_or_else(|| Error::permanent(format!("no credit limit for {customer}")))?;
    let value = entry.text()?;
    let not_a = |what: &str| {
        Error::permanent(format!(
            "credit check for {customer} at {now_ms} (check {nonce:016x}): limit \"{value}\" is not a {what}"
        ))
    };
    let (limit, limit_json) = if variant.decimal_limits {
        let limit: f64 = value.parse().map_err(|_| not_a("number"))?;
        (limit, json!(limit))
    } else {
        let limit: u64 = value.parse().map_err(|_| not_a("whole number"))?;
        // Limits are well below 2^53: the conversion is exact.
        (limit as f64, json!(limit))
    };

    let report = json!({
        "customer": customer,
        "amount": Value::Number(request.amount.clone()),
        "limit": limit_json,
        "rate": rate,
        "approved": amount * rate <= limit,
    });
    sluice_sdk::publish_json(CHECKED, &report)
}

/// The EUR rate from the rates service: `GET {rates_url}{rates_path}`, the body an `f64`.
fn rate(variant: Variant) -> Result<f64, Error> {
    let base =
        sluice_sdk::config("rates_url").ok_or_else(|| Error::permanent("config rates_url is not set"))?;
    let url = format!("{}{}", base.trim_end_matches('/'), variant.rates_path);
    let response = sluice_sdk::http::get(&url).map_err(|error| Error::retryable(error.message()))?;
    if response.status() != 200 {
        return Err(Error::retryable(format!(
            "rates service answered {} to GET {url}",
            response.status()
        )));
    }
    let body = response.text()?.trim();
    body.parse().map_err(|_| {
        Error::retryable(format!(
            "rates service answered \"{body}\" to GET {url}: not a number"
        ))
    })
}
