//! `saga-email`: the one e-mail each order gets when its saga ends.
//!
//! `saga.order.completed` → a confirmation, `saga.order.cancelled` → a cancellation, both
//! published to `saga.email.sent` for a mail relay. **Never two e-mails for one order**: the
//! claim `email.ORDER` is taken for the first event that ends the order's saga, and any other
//! event about it (a redelivery beyond the stream's dedupe window, a copy) sends nothing.

use saga_events::gateway::cents;
use saga_events::{
    CancelReason, Claim, EmailKind, EmailSent, Order, OrderCancelled, OrderCompleted, claim, subject,
};
use sluice_sdk::{Error, Event, Handler};

/// The key-value bucket of this function's claims (`email.ORDER`).
pub const BUCKET: &str = "saga-emails";

/// The shop's name when `[config] shop_name` is not set.
pub const DEFAULT_SHOP_NAME: &str = "Sluice Shop";

/// The e-mail for `event` (an order completed or cancelled), signed with `shop`.
pub fn compose(event: &Event, shop: &str) -> Result<(Order, EmailKind, String), Error> {
    match event.subject() {
        subject::ORDER_COMPLETED => {
            let done: OrderCompleted = event.json()?;
            let body = format!(
                "Your order {} ({}) is on its way: tracking number {}.\n\n{shop}",
                done.order.order_id,
                cents(done.order.amount),
                done.tracking
            );
            Ok((done.order, EmailKind::Confirmation, body))
        }
        subject::ORDER_CANCELLED => {
            let cancelled: OrderCancelled = event.json()?;
            let charge = match cancelled.reason {
                CancelReason::PaymentTimeout => "If your payment reaches us after all, we refund it.",
                CancelReason::OutOfStock | CancelReason::PaymentDeclined => "You have not been charged.",
            };
            let body = format!(
                "We are sorry: your order {} was cancelled ({}). {charge}\n\n{shop}",
                cancelled.order.order_id, cancelled.detail
            );
            Ok((cancelled.order, EmailKind::Cancellation, body))
        }
        other => Err(Error::permanent(format!("saga-email does not handle {other}"))),
    }
}

/// The `saga-email` function.
pub struct Email;

impl Handler for Email {
    fn handle(event: Event) -> Result<(), Error> {
        let shop = sluice_sdk::config("shop_name").unwrap_or_else(|| DEFAULT_SHOP_NAME.to_owned());
        let (order, kind, body) = compose(&event, &shop)?;
        if let Claim::Duplicate { of } = claim(BUCKET, &format!("email.{}", order.order_id), event.id())? {
            sluice_sdk::info!(
                "order {} has its e-mail already (event {of}); not sending another",
                order.order_id
            );
            return Ok(());
        }
        sluice_sdk::publish_json(
            subject::EMAIL_SENT,
            &EmailSent {
                order_id: order.order_id,
                to: order.customer,
                kind,
                body,
            },
        )
    }
}

sluice_sdk::export!(Email);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_sdk::testing::TestHost;

    fn ended(id: &str, subject: &str) -> Event {
        let payload = json!({"order_id": "o-1", "customer": "ada@example.com", "amount": 4498,
            "lines": [{"sku": "tea", "qty": 1}], "tracking": "TRK1", "reason": "out_of_stock",
            "detail": "tea is out of stock"});
        Event::new(id, subject, payload.to_string())
    }

    #[test]
    fn one_email_per_order_whatever_arrives() {
        let host = TestHost::new()
            .allow_bucket(BUCKET)
            .config("shop_name", "Tea & Co");
        let first = host.run::<Email>(ended("e-1", subject::ORDER_COMPLETED));
        let email: serde_json::Value = first.published[0].json();
        assert_eq!(
            (email["kind"].as_str(), email["to"].as_str()),
            (Some("confirmation"), Some("ada@example.com"))
        );
        let body = email["body"].as_str().unwrap();
        assert!(
            body.contains("TRK1") && body.contains("44.98") && body.ends_with("Tea & Co"),
            "{body}"
        );
        let retry = host.run::<Email>(ended("e-1", subject::ORDER_COMPLETED).with_attempt(2));
        assert_eq!(
            retry.published.len(),
            1,
            "a retry sends (the stream drops the copy)"
        );
        for (id, subject) in [
            ("e-2", subject::ORDER_COMPLETED),
            ("e-3", subject::ORDER_CANCELLED),
        ] {
            let copy = host.run::<Email>(ended(id, subject));
            assert!(copy.result.is_ok() && copy.published.is_empty(), "{id}");
        }
    }

    #[test]
    fn a_cancellation_says_why() {
        let host = TestHost::new().allow_bucket(BUCKET);
        let outcome = host.run::<Email>(ended("e-1", subject::ORDER_CANCELLED));
        let email: serde_json::Value = outcome.published[0].json();
        assert_eq!(email["kind"], "cancellation");
        let body = email["body"].as_str().unwrap();
        assert!(
            body.contains("tea is out of stock") && body.contains("not been charged"),
            "{body}"
        );
    }

    #[test]
    fn a_payment_timeout_promises_a_refund_of_a_late_charge() {
        let host = TestHost::new().allow_bucket(BUCKET);
        let payload = json!({"order_id": "o-2", "customer": "ada@example.com", "amount": 4498,
            "lines": [{"sku": "tea", "qty": 1}], "reason": "payment_timeout",
            "detail": "no answer from the payment within 5 s"});
        let outcome = host.run::<Email>(Event::new("e-1", subject::ORDER_CANCELLED, payload.to_string()));
        let email: serde_json::Value = outcome.published[0].json();
        let body = email["body"].as_str().unwrap();
        assert!(
            body.contains("within 5 s") && body.contains("we refund it"),
            "{body}"
        );
    }
}
