//! The payment's answer, and the timeout that stands in for one: **the first to arrive
//! decides the order**.
//!
//! Three events can end a reservation: `saga.payment.succeeded`, `saga.payment.failed` and
//! `saga.payment.timeout`. Each claims `payment.ORDER` for itself ([`decide`]); only the
//! claimant acts, so a late or repeated answer cannot undo what the first one did:
//!
//! | first | then | the late one does |
//! |---|---|---|
//! | succeeded | timeout | nothing (its cancel lost the race against the firing) |
//! | failed | timeout | nothing |
//! | timeout | failed | nothing: released already, nobody was charged |
//! | timeout | succeeded | no shipping (the stock was released); the charge is refunded, once |
//! | any | a copy of itself | nothing |

use saga_events::{
    CancelReason, Claim, Order, OrderCancelled, OrderConfirmed, PaymentFailed, PaymentSucceeded,
    PaymentTimeout, RefundRequested, claim, subject,
};
use sluice_sdk::{Error, Event};

use crate::stock::{self, BUCKET, StockLevel};
use crate::timeout;

/// What answered an order's payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `saga.payment.succeeded`: the customer was charged.
    Paid,
    /// `saga.payment.failed`: the charge was declined.
    Declined,
    /// `saga.payment.timeout`: no answer in time.
    TimedOut,
}

impl Answer {
    /// Its name in the claim's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Declined => "declined",
            Self::TimedOut => "timed_out",
        }
    }

    /// The answer a claim's value starts with.
    fn of_claim(value: &str) -> Option<Self> {
        [Self::Paid, Self::Declined, Self::TimedOut]
            .into_iter()
            .find(|answer| value.split(' ').next() == Some(answer.as_str()))
    }
}

/// Whether this event decides the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It came first (or is a retry of the event that did): it acts.
    Mine,
    /// Another event decided already, with this answer.
    Already(Answer),
}

/// The key of the claim that decides `order_id`'s payment.
pub fn key(order_id: &str) -> String {
    format!("payment.{order_id}")
}

/// Claims `order_id`'s payment for `event`, which carries `answer`. The claim's value is
/// `"ANSWER EVENT_ID"`, so a later event learns what came first.
pub fn decide(event: &Event, order_id: &str, answer: Answer) -> Result<Decision, Error> {
    let claimant = format!("{} {}", answer.as_str(), event.id());
    match claim(BUCKET, &key(order_id), &claimant)? {
        Claim::Mine => Ok(Decision::Mine),
        Claim::Duplicate { of } => Answer::of_claim(&of).map(Decision::Already).ok_or_else(|| {
            Error::permanent(format!("{} holds {of:?}, which is not an answer", key(order_id)))
        }),
    }
}

/// `saga.payment.succeeded`: if it came first, cancels the timeout and confirms the order
/// for shipping; if the order was cancelled before it, asks for the charge back.
pub fn paid(event: &Event, paid: PaymentSucceeded) -> Result<(), Error> {
    let order_id = paid.order.order_id.clone();
    match decide(event, &order_id, Answer::Paid)? {
        Decision::Mine => {
            timeout::cancel(event, &order_id)?;
            sluice_sdk::info!("order {order_id} paid in time: confirmed for shipping");
            sluice_sdk::publish_json(
                subject::ORDER_CONFIRMED,
                &OrderConfirmed {
                    order: paid.order,
                    charge_id: paid.charge_id,
                },
            )
        }
        Decision::Already(Answer::Paid) => {
            sluice_sdk::info!("order {order_id}: payment confirmed already; ignoring this copy");
            Ok(())
        }
        Decision::Already(first) => refund(event, paid, first),
    }
}

/// A charge that came after the order was cancelled (`first` decided it): the stock is
/// released, so nothing ships; one refund is requested, however often the charge arrives.
fn refund(event: &Event, paid: PaymentSucceeded, first: Answer) -> Result<(), Error> {
    let order_id = &paid.order.order_id;
    if let Claim::Duplicate { of } = claim(BUCKET, &format!("refund.{order_id}"), event.id())? {
        sluice_sdk::info!("order {order_id}: refund requested already (event {of}); ignoring this copy");
        return Ok(());
    }
    let reason = match first {
        Answer::TimedOut => CancelReason::PaymentTimeout,
        Answer::Declined | Answer::Paid => CancelReason::PaymentDeclined,
    };
    sluice_sdk::warn!(
        "order {order_id} was charged ({}) after it was cancelled ({}): requesting a refund",
        paid.charge_id,
        first.as_str()
    );
    sluice_sdk::publish_json(
        subject::REFUND_REQUESTED,
        &RefundRequested {
            order: paid.order,
            charge_id: paid.charge_id,
            reason,
        },
    )
}

/// `saga.payment.failed`: if it came first, cancels the timeout, releases the reservation
/// and cancels the order (`payment_declined`).
pub fn declined(event: &Event, failed: PaymentFailed) -> Result<(), Error> {
    let order_id = failed.order.order_id.clone();
    if let Decision::Already(first) = decide(event, &order_id, Answer::Declined)? {
        sluice_sdk::info!(
            "order {order_id} was decided already ({}); ignoring this decline",
            first.as_str()
        );
        return Ok(());
    }
    timeout::cancel(event, &order_id)?;
    cancel_order(failed.order, CancelReason::PaymentDeclined, failed.reason)
}

/// `saga.payment.timeout`: if the payment never answered, releases the reservation and
/// cancels the order (`payment_timeout`).
pub fn timed_out(event: &Event, timeout: PaymentTimeout) -> Result<(), Error> {
    let order_id = timeout.order.order_id.clone();
    if let Decision::Already(first) = decide(event, &order_id, Answer::TimedOut)? {
        sluice_sdk::info!(
            "order {order_id}: the payment answered first ({}); timeout ignored",
            first.as_str()
        );
        return Ok(());
    }
    let detail = format!("no answer from the payment within {} s", timeout.after_secs);
    cancel_order(timeout.order, CancelReason::PaymentTimeout, detail)
}

/// Gives `order`'s units back (the compensation) and publishes [`OrderCancelled`].
fn cancel_order(order: Order, reason: CancelReason, detail: String) -> Result<(), Error> {
    for line in &order.lines {
        stock::update(&line.sku, |level| StockLevel::release(level, &order.order_id))?;
    }
    sluice_sdk::info!(
        "order {} cancelled, reservation released: {detail}",
        order.order_id
    );
    sluice_sdk::publish_json(
        subject::ORDER_CANCELLED,
        &OrderCancelled {
            order,
            reason,
            detail,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_names_the_answer_that_took_it() {
        for answer in [Answer::Paid, Answer::Declined, Answer::TimedOut] {
            let value = format!("{} saga-payment:e-1:1", answer.as_str());
            assert_eq!(Answer::of_claim(&value), Some(answer));
        }
        assert_eq!(Answer::of_claim("e-1"), None, "a bare event id is no answer");
    }
}
