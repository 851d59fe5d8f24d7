//! `email-receipt`: queues a receipt e-mail for every totalled order.
//!
//! Handles `orders.totalled` events (published by `order-total`) and publishes
//! `{"to": customer, "order_id": ..., "body": ...}` to `email.outbox`, where a mail sender
//! picks it up.
//!
//! Pattern: **fan-out** (publish/subscribe). `order-analytics` subscribes to the same
//! subject in its own queue group, so each totalled order reaches both functions
//! independently; a failure in one never holds up the other.

use serde::{Deserialize, Serialize};
use sluice_sdk::{Error, Event, Handler};

/// The subject receipts are queued on.
pub const OUTBOX_SUBJECT: &str = "email.outbox";

/// The shop name used when the manifest's `[config]` sets no `shop_name`.
pub const DEFAULT_SHOP_NAME: &str = "Sluice Shop";

/// The fields of an `orders.totalled` event this function uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrderTotalled {
    /// The order's id.
    pub order_id: String,
    /// Who placed it; the receipt goes to them.
    pub customer: String,
    /// The order total, in cents.
    pub total: u64,
}

/// An e-mail waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Email {
    /// Recipient.
    pub to: String,
    /// The order the receipt is for.
    pub order_id: String,
    /// The message text.
    pub body: String,
}

/// Formats `cents` as a decimal amount: `4498` becomes `"44.98"`.
pub fn format_cents(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Writes the receipt for `order`, signed with `shop_name`.
pub fn receipt(order: OrderTotalled, shop_name: &str) -> Email {
    let body = format!(
        "Thank you for your order {}. Your total is {}.\n\n{shop_name}",
        order.order_id,
        format_cents(order.total)
    );
    Email {
        to: order.customer,
        order_id: order.order_id,
        body,
    }
}

/// The `email-receipt` function.
pub struct EmailReceipt;

impl Handler for EmailReceipt {
    fn handle(event: Event) -> Result<(), Error> {
        let order: OrderTotalled = event.json()?;
        let shop_name = sluice_sdk::config("shop_name");
        let email = receipt(order, shop_name.as_deref().unwrap_or(DEFAULT_SHOP_NAME));
        sluice_sdk::publish_json(OUTBOX_SUBJECT, &email)
    }
}

sluice_sdk::export!(EmailReceipt);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_cents() {
        assert_eq!(format_cents(4498), "44.98");
        assert_eq!(format_cents(5), "0.05");
        assert_eq!(format_cents(100), "1.00");
    }

    #[test]
    fn receipt_goes_to_the_customer_and_mentions_the_total() {
        let order = Event::new(
            "e-1",
            "orders.totalled",
            r#"{"order_id":"o-1","customer":"c-1","total":4498,"item_count":3}"#,
        )
        .json::<OrderTotalled>()
        .unwrap();
        let email = receipt(order, "Shop");
        assert_eq!(email.to, "c-1");
        assert_eq!(email.order_id, "o-1");
        assert!(email.body.contains("o-1"), "{}", email.body);
        assert!(email.body.contains("44.98"), "{}", email.body);
        assert!(email.body.ends_with("Shop"), "{}", email.body);
    }
}
