//! `notify`: when a listing goes live, tells its seller through the notification service's
//! webhook ("Congrats on your new listing!"), **once per listing**.
//!
//! Handles `ListingCreated` (`market.listing.created`, checked against
//! `listing-created.v1.schema.json` before the handler runs) and POSTs
//! `{"kind":"listing-created","listing_id","seller","text"}` to config `webhook_url` with
//! `sluice_sdk::http`; `permissions.http` allows that one host.
//!
//! Pattern: **event notification** with an **idempotent consumer**. Delivery is
//! at-least-once (JetStream) and producers re-send, so the same listing can arrive more than
//! once. Three things keep it to one call:
//! 1. a delivery record in key-value bucket `market-notified` (`listing.<id>`), written after
//!    the webhook accepted the call and checked before calling;
//! 2. per-key ordering on `listing_id`, so two copies never run side by side on a host and
//!    the second always sees the first's record;
//! 3. an `Idempotency-Key: listing-created:<id>` header, for the one gap the record cannot
//!    close: the webhook accepted but the record could not be written (the store failed, the
//!    host died), so a retry calls again with the same key and the receiver drops it.

use serde::{Deserialize, Serialize};
use sluice_sdk::http::Request;
use sluice_sdk::kv::{self, KvError};
use sluice_sdk::{Error, Event, Handler};

/// The bucket of delivery records.
pub const BUCKET: &str = "market-notified";

/// The fields of a `ListingCreated` event this function uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListingCreated {
    /// The listing (the aggregate id).
    pub listing_id: String,
    /// Who listed it.
    pub seller: String,
    /// What is for sale.
    pub title: String,
    /// The asking price in cents of `currency`.
    pub price_cents: u64,
    /// ISO 4217 code.
    pub currency: String,
}

/// The webhook's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// Always `listing-created`.
    pub kind: &'static str,
    /// The listing.
    pub listing_id: String,
    /// Whom to tell.
    pub seller: String,
    /// The message.
    pub text: String,
}

/// What became of a listing's notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The webhook accepted it now.
    Sent,
    /// A delivery record says it was sent before; nothing was called.
    AlreadySent,
}

/// The delivery record's key for `listing_id`.
pub fn record_key(listing_id: &str) -> String {
    format!("listing.{listing_id}")
}

/// The header value receivers deduplicate on.
pub fn idempotency_key(listing_id: &str) -> String {
    format!("listing-created:{listing_id}")
}

/// `25000` cents as `$250.00` in USD, `250.00 EUR` otherwise.
pub fn price(cents: u64, currency: &str) -> String {
    let amount = format!("{}.{:02}", cents / 100, cents % 100);
    match currency {
        "USD" => format!("${amount}"),
        other => format!("{amount} {other}"),
    }
}

impl Notification {
    /// The message for `listing`.
    pub fn for_listing(listing: &ListingCreated) -> Self {
        Self {
            kind: "listing-created",
            listing_id: listing.listing_id.clone(),
            seller: listing.seller.clone(),
            text: format!(
                "Congrats {}, your listing \"{}\" is live at {}!",
                listing.seller,
                listing.title,
                price(listing.price_cents, &listing.currency)
            ),
        }
    }
}

/// Notifies `listing`'s seller at `webhook_url` unless its delivery record says that was done.
///
/// A webhook that answers 408, 429 or 5xx, or cannot be reached, is a retryable error; a
/// host missing from `permissions.http` or any other status is permanent.
pub fn notify(listing: &ListingCreated, webhook_url: &str) -> Result<Delivery, Error> {
    let key = record_key(&listing.listing_id);
    if kv::get(BUCKET, &key)?.is_some() {
        return Ok(Delivery::AlreadySent);
    }
    let response = Request::post(webhook_url)
        .header("idempotency-key", idempotency_key(&listing.listing_id))
        .json(&Notification::for_listing(listing))?
        .send()?
        .error_for_status("the webhook")?;
    let record = serde_json::json!({"status": response.status()}).to_string();
    // Revision 0: only if no record exists. A conflict means another copy recorded it first.
    match kv::compare_and_swap(BUCKET, &key, record, 0) {
        Ok(_) | Err(KvError::Conflict(_)) => Ok(Delivery::Sent),
        Err(error) => Err(error.into()),
    }
}

/// The `notify` function.
pub struct Notify;

impl Handler for Notify {
    fn handle(event: Event) -> Result<(), Error> {
        let listing: ListingCreated = event.json()?;
        let url = sluice_sdk::config("webhook_url")
            .ok_or_else(|| Error::permanent("config webhook_url is not set"))?;
        match notify(&listing, &url)? {
            Delivery::Sent => sluice_sdk::info!(
                "told {} that listing {} is live",
                listing.seller,
                listing.listing_id
            ),
            Delivery::AlreadySent => sluice_sdk::info!(
                "listing {} was notified before; not calling the webhook again",
                listing.listing_id
            ),
        }
        Ok(())
    }
}

sluice_sdk::export!(Notify);

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::TestHost;

    use super::*;

    /// A host with the delivery bucket and the webhook allowed, answering `status`.
    fn host(status: u16) -> TestHost {
        TestHost::new()
            .config("webhook_url", "http://hooks.test/listing-created")
            .allow_bucket(BUCKET)
            .allow_http("hooks.test")
            .respond("hooks.test", status, "")
    }

    fn listing_event(id: &str) -> Event {
        let payload = serde_json::json!({
            "schema": "listing-created/1", "listing_id": "l-1", "seller": "ana",
            "title": "Air Jordan 1", "price_cents": 25000, "currency": "USD",
            "created_at": "2026-11-23T10:00:00Z",
        });
        Event::new(id, "market.listing.created", payload.to_string())
    }

    #[test]
    fn the_first_copy_calls_the_webhook_and_later_copies_do_not() {
        let host = host(200);
        let calls: Vec<_> = ["e-1", "e-1", "e-2"]
            .into_iter()
            .flat_map(|id| {
                let outcome = host.run::<Notify>(listing_event(id));
                assert!(outcome.result.is_ok(), "{:?}", outcome.result);
                outcome.http
            })
            .collect();
        assert_eq!(calls.len(), 1, "one call for three copies");
        assert_eq!(calls[0].method, sluice_sdk::http::Method::Post);
        assert_eq!(calls[0].url, "http://hooks.test/listing-created");
        assert_eq!(calls[0].header("idempotency-key"), Some("listing-created:l-1"));
        assert_eq!(calls[0].header("content-type"), Some("application/json"));
        let body: serde_json::Value = calls[0].json();
        assert_eq!(
            body["text"],
            "Congrats ana, your listing \"Air Jordan 1\" is live at $250.00!"
        );
        assert!(host.kv_entry(BUCKET, "listing.l-1").is_some());
    }

    #[test]
    fn a_failing_webhook_is_retried_and_leaves_no_record() {
        let failing = host(503);
        let outcome = failing.run::<Notify>(listing_event("e-1"));
        let error = outcome.result.unwrap_err();
        assert!(error.is_retryable(), "{error:?}");
        assert_eq!(outcome.http.len(), 1);
        assert!(failing.kv_entry(BUCKET, "listing.l-1").is_none());
        // The webhook recovers (a clone shares the buckets): the retry calls again.
        let recovered = failing.clone().respond("hooks.test", 200, "");
        let outcome = recovered.run::<Notify>(listing_event("e-1"));
        assert!(outcome.result.is_ok());
        assert_eq!(outcome.http.len(), 1, "the retry called again");
        assert!(recovered.kv_entry(BUCKET, "listing.l-1").is_some());
    }

    #[test]
    fn a_webhook_outside_permissions_http_is_a_permanent_error() {
        let host = TestHost::new()
            .config("webhook_url", "http://evil.test/hook")
            .allow_bucket(BUCKET)
            .allow_http("hooks.test");
        let error = host.run::<Notify>(listing_event("e-1")).result.unwrap_err();
        assert!(!error.is_retryable(), "{error:?}");
        assert!(error.message().contains("permissions.http"), "{error}");
    }

    #[test]
    fn prices_read_like_prices() {
        assert_eq!(price(25000, "USD"), "$250.00");
        assert_eq!(price(1999, "EUR"), "19.99 EUR");
        assert_eq!(price(5, "USD"), "$0.05");
    }
}
