//! `saga-payment`: charges every order whose stock is reserved, and refunds the charges that
//! came too late.
//!
//! `saga.stock.reserved` → the card gateway (simulated: [`saga_events::gateway`]) →
//! `saga.payment.succeeded`, or `saga.payment.failed` when the charge is declined, which makes
//! `saga-inventory` release the reservation.
//!
//! When the gateway does not answer, the handler returns a **retryable** error: the host
//! redelivers the event with backoff, and after `retry.max_attempts` (3) dead-letters it to
//! `sluice.dlq.saga-payment`. The inventory's payment timeout then cancels the order and
//! releases its stock. An operator may still replay the letter (`sluice dlq replay
//! saga-payment`) once the gateway is back: the late answer changes nothing but a charge,
//! which the inventory answers with `saga.refund.requested`.
//!
//! `saga.refund.requested` → the charge is given back, once per order (the claim
//! `refund.ORDER`).
//!
//! `[config]`: `decline_above` (cents; charges above it are declined) and
//! `unavailable_percent` (0 to 100: how often the simulated gateway fails transiently).

use saga_events::gateway::{Call, Charge, Gateway, cents};
use saga_events::{Claim, PaymentFailed, PaymentSucceeded, RefundRequested, StockReserved, claim, subject};
use sluice_sdk::{Error, Event, Handler};

/// The key-value bucket of this function's claims (`charge.ORDER`, `refund.ORDER`).
pub const BUCKET: &str = "saga-payments";

/// The limit when `[config] decline_above` is not set: 300.00.
pub const DEFAULT_DECLINE_ABOVE: u64 = 30_000;

/// The failure rate when `[config] unavailable_percent` is not set.
pub const DEFAULT_UNAVAILABLE_PERCENT: u32 = 0;

/// The gateway as `[config]` describes it; a value that is not a number is a permanent error
/// naming the key.
pub fn gateway_from_config() -> Result<Gateway, Error> {
    let decline_above = number("decline_above", DEFAULT_DECLINE_ABOVE)?;
    let unavailable_percent = number("unavailable_percent", DEFAULT_UNAVAILABLE_PERCENT)?;
    if unavailable_percent > 100 {
        return Err(Error::permanent(format!(
            "[config] unavailable_percent = {unavailable_percent}: expected 0 to 100"
        )));
    }
    Ok(Gateway {
        decline_above,
        unavailable_percent,
    })
}

fn number<T: std::str::FromStr>(key: &str, default: T) -> Result<T, Error> {
    match sluice_sdk::config(key) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| Error::permanent(format!("[config] {key} = {text:?}: expected a whole number"))),
    }
}

/// The `saga-payment` function.
pub struct Payment;

impl Handler for Payment {
    fn handle(event: Event) -> Result<(), Error> {
        match event.subject() {
            subject::STOCK_RESERVED => charge(&event, event.json()?),
            subject::REFUND_REQUESTED => refund(&event, event.json()?),
            other => Err(Error::permanent(format!("saga-payment does not handle {other}"))),
        }
    }
}

/// `saga.stock.reserved`: charges the order once; publishes the gateway's answer.
fn charge(event: &Event, reserved: StockReserved) -> Result<(), Error> {
    let order = reserved.order;
    let key = format!("charge.{}", order.order_id);
    if let Claim::Duplicate { of } = claim(BUCKET, &key, event.id())? {
        sluice_sdk::info!(
            "order {} was charged already (event {of}); ignoring this copy",
            order.order_id
        );
        return Ok(());
    }
    let replays = event
        .header("Sluice-Replays")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let call = Call {
        order_id: &order.order_id,
        amount: order.amount,
        attempt: event.attempt(),
        replays,
    };
    match gateway_from_config()?.charge(call) {
        Charge::Unavailable => Err(Error::retryable(format!(
            "card gateway unavailable for order {} (attempt {})",
            order.order_id,
            event.attempt()
        ))),
        Charge::Declined { reason } => {
            sluice_sdk::info!("order {}: {reason}", order.order_id);
            sluice_sdk::publish_json(subject::PAYMENT_FAILED, &PaymentFailed { order, reason })
        }
        Charge::Approved { charge_id } => {
            sluice_sdk::info!("order {} charged: {charge_id}", order.order_id);
            sluice_sdk::publish_json(subject::PAYMENT_SUCCEEDED, &PaymentSucceeded { order, charge_id })
        }
    }
}

/// `saga.refund.requested`: gives the charge back, once per order. The simulated gateway
/// always takes refunds.
fn refund(event: &Event, requested: RefundRequested) -> Result<(), Error> {
    let order_id = &requested.order.order_id;
    if let Claim::Duplicate { of } = claim(BUCKET, &format!("refund.{order_id}"), event.id())? {
        sluice_sdk::info!("order {order_id} was refunded already (event {of}); ignoring this copy");
        return Ok(());
    }
    sluice_sdk::info!(
        "order {order_id}: refunded {} ({}, order cancelled: {:?})",
        requested.charge_id,
        cents(requested.order.amount),
        requested.reason
    );
    Ok(())
}

sluice_sdk::export!(Payment);

#[cfg(test)]
mod tests {
    use super::*;
    use saga_events::gateway::is_unavailable;
    use serde_json::json;
    use sluice_sdk::testing::TestHost;

    fn reserved(id: &str, amount: u64) -> Event {
        let payload = json!({"order_id": id, "customer": "ada@example.com", "amount": amount,
            "lines": [{"sku": "tea", "qty": 1}]});
        Event::new(format!("e-{id}"), subject::STOCK_RESERVED, payload.to_string())
    }

    fn host(percent: &str) -> TestHost {
        TestHost::new()
            .allow_bucket(BUCKET)
            .config("decline_above", "30000")
            .config("unavailable_percent", percent)
    }

    #[test]
    fn charges_up_to_the_limit_and_declines_above_it() {
        let host = host("0");
        let ok = host.run::<Payment>(reserved("o-1", 30_000));
        assert_eq!(ok.published[0].subject, subject::PAYMENT_SUCCEEDED);
        let declined = host.run::<Payment>(reserved("o-2", 30_001));
        assert_eq!(declined.published[0].subject, subject::PAYMENT_FAILED);
        let reason: serde_json::Value = declined.published[0].json();
        assert!(reason["reason"].as_str().unwrap().contains("300.01"), "{reason}");
    }

    #[test]
    fn an_unavailable_gateway_is_retried_and_a_duplicate_is_not_charged() {
        let host = host("50");
        let id = (0..100)
            .map(|n| format!("o-{n}"))
            .find(|id| {
                let call = |attempt| Call {
                    order_id: id,
                    amount: 1,
                    attempt,
                    replays: 0,
                };
                is_unavailable(call(1), 50) && !is_unavailable(call(2), 50)
            })
            .unwrap();
        let first = host.run::<Payment>(reserved(&id, 100));
        assert!(first.result.unwrap_err().is_retryable());
        let second = host.run::<Payment>(reserved(&id, 100).with_attempt(2));
        assert_eq!(second.published.len(), 1, "{:?}", second.result);
        let copy = Event::new(
            "another",
            subject::STOCK_RESERVED,
            reserved(&id, 100).payload().to_vec(),
        );
        assert!(host.run::<Payment>(copy).published.is_empty(), "charged once");
    }

    #[test]
    fn a_late_charge_is_refunded_once() {
        let host = host("0");
        let payload = json!({"order_id": "o-1", "customer": "ada@example.com", "amount": 100,
            "lines": [{"sku": "tea", "qty": 1}], "charge_id": "ch-1", "reason": "payment_timeout"})
        .to_string();
        for id in ["r-1", "r-2"] {
            let refund = Event::new(id, subject::REFUND_REQUESTED, payload.clone());
            let outcome = host.run::<Payment>(refund);
            assert!(
                outcome.result.is_ok() && outcome.published.is_empty(),
                "{id}: {outcome:?}"
            );
        }
        let claim = host.kv_entry(BUCKET, "refund.o-1").expect("refunded");
        assert_eq!(
            claim.value, b"r-1",
            "the first request refunded, the copy did nothing"
        );
    }

    #[test]
    fn a_bad_config_value_names_the_key() {
        let host = TestHost::new()
            .allow_bucket(BUCKET)
            .config("unavailable_percent", "lots");
        let error = host.run::<Payment>(reserved("o-1", 1)).result.unwrap_err();
        assert!(!error.is_retryable());
        assert!(
            error.message().contains("unavailable_percent"),
            "{}",
            error.message()
        );
    }
}
