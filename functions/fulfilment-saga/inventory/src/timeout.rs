//! The payment timeout: a delayed `saga.payment.timeout` scheduled with each reservation and
//! cancelled when the payment answers.
//!
//! The id `publish_after` returns is kept under `timeout.ORDER` in the bucket, beside the
//! reservation, so whichever event carries the payment's answer can cancel it. It is the same
//! on every retry of the reserving event, so a retry schedules the same timeout again (the
//! delay stream drops the copy) and writes the same id.

use std::time::Duration;

use saga_events::{Order, PaymentTimeout, subject};
use sluice_sdk::kv;
use sluice_sdk::{Error, Event};

use crate::stock::BUCKET;

/// The timeout when `[config] payment_timeout` is not set: a quarter of an hour, what a
/// shop would give a card payment in production (the demo's manifest sets seconds).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The key holding the id of `order_id`'s timeout.
pub fn key(order_id: &str) -> String {
    format!("timeout.{order_id}")
}

/// `[config] payment_timeout` (`"30s"`, `"15m"`, `"1h"`), or [`DEFAULT_TIMEOUT`]; anything
/// else is a permanent error naming the key.
pub fn configured() -> Result<Duration, Error> {
    match sluice_sdk::config("payment_timeout") {
        None => Ok(DEFAULT_TIMEOUT),
        Some(text) => parse(&text).ok_or_else(|| {
            Error::permanent(format!(
                "[config] payment_timeout = {text:?}: expected whole seconds, minutes or hours, like \"30s\", \"15m\" or \"1h\""
            ))
        }),
    }
}

/// `"30s"`, `"15m"` or `"1h"` as a duration.
fn parse(text: &str) -> Option<Duration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let count: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let seconds = match unit {
        's' => count,
        'm' => count.checked_mul(60)?,
        'h' => count.checked_mul(3600)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

/// Schedules `order`'s payment timeout `after` from now (once this event succeeds) and
/// records its id.
pub fn schedule(order: &Order, after: Duration) -> Result<(), Error> {
    let timeout = PaymentTimeout {
        order: order.clone(),
        after_secs: after.as_secs(),
    };
    let id = sluice_sdk::publish_json_after(subject::PAYMENT_TIMEOUT, &timeout, after)?;
    kv::set(BUCKET, &key(&order.order_id), &id)?;
    Ok(())
}

/// Cancels `order_id`'s payment timeout (once this event succeeds). An order reserved without
/// one (before timeouts existed) has nothing to cancel.
pub fn cancel(event: &Event, order_id: &str) -> Result<(), Error> {
    match kv::get(BUCKET, &key(order_id))? {
        Some(entry) => sluice_sdk::cancel_scheduled(entry.text()?),
        None => {
            sluice_sdk::warn!(
                "order {order_id}: no payment timeout to cancel (event {})",
                event.id()
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_whole_seconds_minutes_or_hours() {
        assert_eq!(parse("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse(" 15m "), Some(Duration::from_secs(900)));
        assert_eq!(parse("2h"), Some(Duration::from_secs(7200)));
        for bad in ["", "s", "5", "1.5m", "-1s", "5 days", "5ms"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
