//! `analytics`: the weekly read model of the Swapr marketplace's Listing context.
//!
//! Handles every event on `market.listing.>`: `ListingCreated` (the same event `notify`
//! gets: fan-out, each function in its own JetStream consumer) and `PriceReduced` in both
//! its versions. The host checks each payload against the JSON Schema its `schema` field names
//! (`[schema] versions`), so the handler only sees shapes it knows; both versions of a price
//! drop become the same [`events::Fact`].
//!
//! For each event it:
//! 1. counts the fact in its ISO week, in key-value bucket `market-weekly`, exactly once per
//!    event id, with compare-and-swap ([`counters`]);
//! 2. mirrors the week to the dashboard service: `PUT <dashboard_url>/weeks/<week>` with the
//!    counters and the key's revision (the dashboard keeps the highest revision, so mirrors
//!    arriving out of order cannot roll a week back).
//!
//! Pattern: a **projection (CQRS read model)** with an **idempotent consumer**, protected by
//! a **circuit breaker**. The dashboard is a downstream that can fail; a failed mirror is a
//! retryable error, so the event comes back later, finds itself counted (step 1 skips it)
//! and mirrors again. After three failures in a row the host's breaker pauses the function
//! (`[circuit_breaker]`) and probes with one event at a time until the dashboard answers.

pub mod counters;
pub mod events;

use std::collections::BTreeMap;

use serde::Serialize;
use sluice_sdk::http::Request;
use sluice_sdk::{Error, Event, Handler};

use crate::counters::Week;
use crate::events::ListingEvent;

/// What the dashboard receives for a week: the counters, without the event ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeekView<'a> {
    /// `2026-W48`.
    pub week: &'a str,
    /// The revision of the stored week this view is; higher is newer.
    pub revision: u64,
    /// Listings created.
    pub listings: u64,
    /// Their asking prices, in cents per currency.
    pub listed_cents: &'a BTreeMap<String, u64>,
    /// Price drops.
    pub price_reductions: u64,
    /// By how much, in cents per currency.
    pub reduced_cents: &'a BTreeMap<String, u64>,
}

impl<'a> WeekView<'a> {
    /// The view of `week` stored at `revision`.
    pub fn new(week: &'a Week, revision: u64) -> Self {
        Self {
            week: &week.week,
            revision,
            listings: week.listings,
            listed_cents: &week.listed_cents,
            price_reductions: week.price_reductions,
            reduced_cents: &week.reduced_cents,
        }
    }
}

/// Counts `event` and mirrors its week to the dashboard at `dashboard_url`.
///
/// A dashboard that is down or answers 5xx is a retryable error (what the circuit breaker
/// counts).
pub fn project(event: &Event, dashboard_url: &str) -> Result<(), Error> {
    let listing_event: ListingEvent = event.json()?;
    let (week, fact) = listing_event.fact()?;
    let (stored, revision) = counters::count(event, &week, &fact)?;
    let url = format!("{}/weeks/{week}", dashboard_url.trim_end_matches('/'));
    Request::put(url)
        .json(&WeekView::new(&stored, revision))?
        .send()?
        .error_for_status("the dashboard")?;
    Ok(())
}

/// The `analytics` function.
pub struct Analytics;

impl Handler for Analytics {
    fn handle(event: Event) -> Result<(), Error> {
        let url = sluice_sdk::config("dashboard_url")
            .ok_or_else(|| Error::permanent("config dashboard_url is not set"))?;
        project(&event, &url)
    }
}

sluice_sdk::export!(Analytics);

#[cfg(test)]
mod tests {
    use sluice_sdk::http::HttpError;
    use sluice_sdk::testing::TestHost;

    use super::*;

    const LISTED: &str = r#"{"schema":"listing-created/1","listing_id":"l-1","seller":"ana","title":"Air Max","price_cents":12000,"currency":"EUR","created_at":"2026-11-24T08:00:00Z"}"#;
    const REDUCED_V1: &str = r#"{"schema":"price-reduced/1","listing_id":"l-1","old_price":120,"new_price":100,"reduced_at":"2026-11-25T08:00:00Z"}"#;

    #[test]
    fn a_failed_mirror_is_retried_without_counting_twice() {
        let up = TestHost::new()
            .config("dashboard_url", "http://dash.test/")
            .allow_bucket(counters::BUCKET)
            .allow_http("dash.test")
            .respond("dash.test", 204, "");
        // The same host with the dashboard down (clones share the buckets).
        let down = up
            .clone()
            .fail_http("dash.test", HttpError::Connection("connection refused".into()));
        let run = |host: &TestHost, id: &str, payload: &str| {
            host.run::<Analytics>(Event::new(id, "market.listing.x", payload))
        };
        let mut mirrored = run(&up, "e-1", LISTED).http;
        let failed = run(&down, "e-2", REDUCED_V1);
        assert!(failed.result.unwrap_err().is_retryable(), "dashboard down");
        let retried = run(&up, "e-2", REDUCED_V1);
        assert!(retried.result.is_ok(), "the retry");
        mirrored.extend(retried.http);
        assert_eq!(mirrored.len(), 2);
        assert!(
            mirrored
                .iter()
                .all(|call| call.url == "http://dash.test/weeks/2026-W48"
                    && call.method == sluice_sdk::http::Method::Put)
        );
        assert_eq!(
            mirrored[1].json::<serde_json::Value>(),
            serde_json::json!({
                "week": "2026-W48", "revision": 2, "listings": 1, "listed_cents": {"EUR": 12000},
                "price_reductions": 1, "reduced_cents": {"USD": 2000},
            }),
            "counted once although handled twice"
        );
    }

    #[test]
    fn a_dashboard_answering_5xx_is_retryable_and_4xx_permanent() {
        let host = |status| {
            TestHost::new()
                .config("dashboard_url", "http://dash.test")
                .allow_bucket(counters::BUCKET)
                .allow_http("dash.test")
                .respond("dash.test", status, "nope")
        };
        let run = |status| host(status).run::<Analytics>(Event::new("e-1", "market.listing.x", LISTED));
        assert!(run(503).result.unwrap_err().is_retryable());
        let error = run(400).result.unwrap_err();
        assert!(!error.is_retryable());
        assert_eq!(
            error.message(),
            "the dashboard refused the request with 400: nope"
        );
    }
}
