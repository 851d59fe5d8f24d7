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

use market_http::{Method, Request, Transport, Wasi};
use serde::Serialize;
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
pub fn project(event: &Event, dashboard_url: &str, transport: &impl Transport) -> Result<(), Error> {
    let listing_event: ListingEvent = event.json()?;
    let (week, fact) = listing_event.fact()?;
    let (stored, revision) = counters::count(event, &week, &fact)?;
    let body = serde_json::to_vec(&WeekView::new(&stored, revision))
        .map_err(|e| Error::permanent(format!("cannot encode week {week}: {e}")))?;
    let request = Request {
        method: Method::Put,
        url: format!("{}/weeks/{week}", dashboard_url.trim_end_matches('/')),
        headers: Vec::new(),
        body,
    };
    transport.send(&request)?.ok("the dashboard")?;
    Ok(())
}

/// The `analytics` function.
pub struct Analytics;

impl Handler for Analytics {
    fn handle(event: Event) -> Result<(), Error> {
        let url = sluice_sdk::config("dashboard_url")
            .ok_or_else(|| Error::permanent("config dashboard_url is not set"))?;
        project(&event, &url, &Wasi)
    }
}

sluice_sdk::export!(Analytics);

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use market_http::{HttpError, Response};
    use sluice_sdk::testing::TestHost;

    use super::*;

    thread_local! {
        /// Bodies the fake dashboard accepted, and whether it is up.
        static DASHBOARD: RefCell<(Vec<serde_json::Value>, bool)> = const { RefCell::new((Vec::new(), true)) };
    }

    struct FakeDashboard;

    impl Transport for FakeDashboard {
        fn send(&self, request: &Request) -> Result<Response, HttpError> {
            assert_eq!(request.url, "http://dash.test/weeks/2026-W48");
            DASHBOARD.with(|d| {
                let mut d = d.borrow_mut();
                if !d.1 {
                    return Err(HttpError::Failed("connection refused".into()));
                }
                d.0.push(serde_json::from_slice(&request.body).unwrap());
                Ok(Response {
                    status: 204,
                    body: Vec::new(),
                })
            })
        }
    }

    struct WithFake;

    impl Handler for WithFake {
        fn handle(event: Event) -> Result<(), Error> {
            project(&event, "http://dash.test/", &FakeDashboard)
        }
    }

    const LISTED: &str = r#"{"schema":"listing-created/1","listing_id":"l-1","seller":"ana","title":"Air Max","price_cents":12000,"currency":"EUR","created_at":"2026-11-24T08:00:00Z"}"#;
    const REDUCED_V1: &str = r#"{"schema":"price-reduced/1","listing_id":"l-1","old_price":120,"new_price":100,"reduced_at":"2026-11-25T08:00:00Z"}"#;

    #[test]
    fn a_failed_mirror_is_retried_without_counting_twice() {
        let host = TestHost::new().allow_bucket(counters::BUCKET);
        let run = |id: &str, payload: &str| {
            host.run::<WithFake>(Event::new(id, "market.listing.x", payload))
                .result
        };
        assert!(run("e-1", LISTED).is_ok());
        DASHBOARD.with(|d| d.borrow_mut().1 = false);
        assert!(
            run("e-2", REDUCED_V1).unwrap_err().is_retryable(),
            "dashboard down"
        );
        DASHBOARD.with(|d| d.borrow_mut().1 = true);
        assert!(run("e-2", REDUCED_V1).is_ok(), "the retry");
        let mirrored = DASHBOARD.with(|d| d.borrow().0.clone());
        assert_eq!(mirrored.len(), 2);
        assert_eq!(
            mirrored[1],
            serde_json::json!({
                "week": "2026-W48", "revision": 2, "listings": 1, "listed_cents": {"EUR": 12000},
                "price_reductions": 1, "reduced_cents": {"USD": 2000},
            }),
            "counted once although handled twice"
        );
    }
}
