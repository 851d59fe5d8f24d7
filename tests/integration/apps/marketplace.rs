//! The marketplace application (`functions/marketplace`, Swapr-style) end to end: its real
//! components and manifests against a real nats-server, with the webhook and the dashboard
//! played by a local HTTP receiver.
//!
//! `ListingCreated` fans out to `notify` (a webhook call per listing) and `analytics` (weekly
//! counters in key-value state); `PriceReduced` arrives in v1 and v2. Producers re-send some
//! events. Then the dashboard that `analytics` mirrors to goes down: its circuit breaker must
//! open, and close again once the dashboard is back, and every count must still be exact.

mod receiver;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use async_nats::jetstream;
use serde_json::{Value, json};
use sluice_runtime::{DeadLetterReason, StatsSnapshot};
use sluice_tests::{FunctionsDir, Sluice, WAIT, eventually, http_get};

use self::receiver::Receiver;

/// The application's folder.
const APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions/marketplace");

/// The receiver address the manifests name; the test's receiver takes its place.
const MANIFEST_AUTHORITY: &str = "127.0.0.1:8089";

/// Two ISO weeks and a moment in each.
const WEEKS: [(&str, &str); 2] = [
    ("2026-W48", "2026-11-24T10:00:00Z"),
    ("2026-W49", "2026-12-01T10:00:00Z"),
];

/// Listings published while everything is up, and then while the dashboard is down.
const LISTINGS_UP: usize = 400;
const LISTINGS_DOWN: usize = 30;

/// Deploys `analytics` and `notify` from the application folder, pointed at `receiver`.
fn deploy(dir: &FunctionsDir, receiver: &Receiver) {
    for (function, guest) in [("analytics", "market-analytics"), ("notify", "market-notify")] {
        let manifest = std::fs::read_to_string(format!("{APP}/{function}/{function}.toml")).unwrap();
        dir.add(
            function,
            guest,
            manifest.replace(MANIFEST_AUTHORITY, &receiver.authority),
        );
    }
    for schema in [
        "notify/listing-created.v1.schema.json",
        "analytics/price-reduced.v1.schema.json",
        "analytics/price-reduced.v2.schema.json",
    ] {
        let file = schema.rsplit('/').next().unwrap();
        dir.write(file, &std::fs::read(format!("{APP}/{schema}")).unwrap());
    }
}

/// What one ISO week's counters must be.
#[derive(Debug, Default, PartialEq, Eq)]
struct Week {
    listings: u64,
    listed_cents: BTreeMap<String, u64>,
    price_reductions: u64,
    reduced_cents: BTreeMap<String, u64>,
}

/// The events the test publishes, and the counters they must produce.
#[derive(Default)]
struct Script {
    /// `(subject, event id, payload)`, in publishing order.
    events: Vec<(&'static str, String, Value)>,
    weeks: BTreeMap<&'static str, Week>,
    listing_ids: BTreeSet<String>,
}

impl Script {
    /// Listing `i`, in week `i % 2`, in EUR for every third; every fifth also gets a price
    /// drop (v1 for USD listings, v2 otherwise); every tenth is sent twice (same event id).
    fn listing(&mut self, i: usize) {
        let (week, at) = WEEKS[i % 2];
        let (id, currency, cents) = (
            format!("l-{i}"),
            if i.is_multiple_of(3) { "EUR" } else { "USD" },
            10_000 + 100 * i as u64,
        );
        let created = json!({
            "schema": "listing-created/1", "listing_id": id, "seller": format!("seller-{}", i % 7),
            "title": format!("Vintage sneaker #{i}"), "price_cents": cents, "currency": currency,
            "created_at": at,
        });
        let copies = if i.is_multiple_of(10) { 2 } else { 1 };
        for _ in 0..copies {
            self.events
                .push(("market.listing.created", format!("created-{id}"), created.clone()));
        }
        let expected = self.weeks.entry(week).or_default();
        expected.listings += 1;
        *expected.listed_cents.entry(currency.into()).or_default() += cents;
        if i % 5 == 1 {
            let reduced = if currency == "USD" {
                json!({"schema": "price-reduced/1", "listing_id": id, "old_price": cents / 100, "new_price": cents / 100 - 10, "reduced_at": at})
            } else {
                json!({"schema": "price-reduced/2", "listing_id": id, "price": {"from_cents": cents, "to_cents": cents - 500, "currency": currency}, "reduced_at": at})
            };
            let off = if currency == "USD" { 1_000 } else { 500 };
            self.events
                .push(("market.listing.price-reduced", format!("reduced-{id}"), reduced));
            expected.price_reductions += 1;
            *expected.reduced_cents.entry(currency.into()).or_default() += off;
        }
        self.listing_ids.insert(id);
    }

    /// Events of `subject` published so far.
    fn count(&self, subject: &str) -> u64 {
        self.events.iter().filter(|(s, ..)| *s == subject).count() as u64
    }
}

/// Publishes `events` through JetStream, each with its `Sluice-Event-Id`, and waits until the
/// stream stored them all.
async fn publish(js: &jetstream::Context, events: &[(&'static str, String, Value)]) {
    let mut acks = Vec::with_capacity(events.len());
    for (subject, id, payload) in events {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Sluice-Event-Id", id.as_str());
        let ack = js.publish_with_headers(*subject, headers, payload.to_string().into());
        acks.push(ack.await.expect("publish"));
    }
    for ack in acks {
        ack.await.expect("the stream stores the event");
    }
}

/// The application running: the host, its neighbours, and what was sent so far.
struct Market {
    sluice: Sluice,
    receiver: Receiver,
    js: jetstream::Context,
    script: Script,
}

impl Market {
    /// Starts a nats-server, the receiver and a host running the application's functions.
    async fn start() -> Self {
        let receiver = Receiver::start().await;
        let dir = FunctionsDir::new();
        deploy(&dir, &receiver);
        let sluice = Sluice::in_folder(dir).admin().start().await;
        let host = &sluice.host;
        assert!(host.load_errors().is_empty(), "{:?}", host.load_errors());
        assert_eq!(host.functions(), ["analytics", "notify"]);
        let js = sluice.js();
        Self {
            sluice,
            receiver,
            js,
            script: Script::default(),
        }
    }

    /// Scripts and publishes listings `range` with their price drops and copies.
    async fn publish_listings(&mut self, range: std::ops::Range<usize>) {
        let already = self.script.events.len();
        range.for_each(|i| self.script.listing(i));
        publish(&self.js, &self.script.events[already..]).await;
    }

    fn stats(&self, function: &str) -> StatsSnapshot {
        self.sluice.host.stats(function).expect("deployed")
    }

    /// Whether both functions handled every scripted event successfully. (At least: a
    /// redelivery of a handled event, after a lost ack, would be handled again, harmlessly.)
    fn all_handled(&self) -> bool {
        self.stats("analytics").succeeded >= self.script.events.len() as u64
            && self.stats("notify").succeeded >= self.script.count("market.listing.created")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marketplace_notifies_once_per_listing_and_counts_exactly_through_a_dashboard_outage() {
    let mut market = Market::start().await;

    // Everything up: fan-out, both PriceReduced versions, re-sent copies.
    let started = Instant::now();
    market.publish_listings(0..LISTINGS_UP).await;
    eventually(WAIT, "every event handled by both functions", async || {
        market.all_handled()
    })
    .await;
    let elapsed = started.elapsed();
    let (events, runs) = (
        market.script.events.len(),
        market.stats("analytics").succeeded + market.stats("notify").succeeded,
    );
    let rate = |n: u64| n as f64 / elapsed.as_secs_f64();
    eprintln!(
        "marketplace: {events} events in {elapsed:.2?}: {:.0} events/s ({runs} handler runs: {:.0}/s)",
        rate(events as u64),
        rate(runs)
    );

    ride_out_a_dashboard_outage(&mut market).await;

    assert_one_call_per_listing(&market.receiver, &market.script);
    assert_counters_exact(&market.js, &market.receiver, &market.script).await;
    let analytics = market.stats("analytics");
    assert_eq!(analytics.circuit_open, 0, "closed at the end");
    assert_eq!(analytics.dead_lettered, 1, "only the unknown version");
    assert_eq!(analytics.dead_lettered_for(DeadLetterReason::SchemaMismatch), 1);
    assert_eq!(market.stats("notify").dead_lettered, 0);
    let admin = market.sluice.host.admin_addr().unwrap();
    let metrics = tokio::task::spawn_blocking(move || http_get(admin, "/metrics").body)
        .await
        .unwrap();
    for series in [
        r#"sluice_circuit_opened_total{function="analytics"}"#,
        r#"sluice_circuit_closed_total{function="analytics"}"#,
    ] {
        let line = metrics.lines().find(|l| l.starts_with(series)).expect(series);
        assert_ne!(line, format!("{series} 0"), "{series} on /metrics");
    }
    market.sluice.shutdown().await;
}

/// The dashboard goes down while listings keep coming: the breaker opens and `analytics`
/// pauses. It comes back: a probe succeeds, the circuit closes and the backlog drains.
async fn ride_out_a_dashboard_outage(market: &mut Market) {
    market.receiver.set_dashboard_up(false);
    let down = Instant::now();
    market
        .publish_listings(LISTINGS_UP..LISTINGS_UP + LISTINGS_DOWN)
        .await;
    eventually(WAIT, "the analytics circuit opens", async || {
        market.stats("analytics").circuit_opened >= 1
    })
    .await;
    let opened_after = down.elapsed();
    assert_eq!(market.stats("analytics").circuit_open, 1);
    assert!(
        market.receiver.seen(|s| s.refused) >= 3,
        "three failed mirrors opened it"
    );
    assert!(!market.all_handled(), "paused, not done");

    // A price drop in a version nobody defined is refused before the handler runs.
    let v3 = json!({"schema": "price-reduced/3", "listing_id": "l-1", "reduced_at": WEEKS[0].1});
    publish(
        &market.js,
        &[("market.listing.price-reduced", "reduced-v3".into(), v3)],
    )
    .await;

    market.receiver.set_dashboard_up(true);
    let up = Instant::now();
    eventually(
        WAIT,
        "the circuit closes and every event is handled",
        async || market.stats("analytics").circuit_closed >= 1 && market.all_handled(),
    )
    .await;
    eprintln!(
        "marketplace: the circuit opened {opened_after:.2?} after the dashboard went down; closed and drained {:.2?} after it came back",
        up.elapsed()
    );
}

/// The webhook saw exactly one call per listing, re-sent copies included: as many raw calls
/// as listings, and no idempotency key twice.
fn assert_one_call_per_listing(receiver: &Receiver, script: &Script) {
    let keys = receiver.seen(|s| s.webhook_keys.clone());
    let expected: BTreeSet<String> = script
        .listing_ids
        .iter()
        .map(|id| format!("listing-created:{id}"))
        .collect();
    assert_eq!(keys.len(), expected.len(), "raw webhook calls");
    assert_eq!(
        keys.into_iter().collect::<BTreeSet<_>>(),
        expected,
        "one per listing"
    );
}

/// The stored weeks hold exactly the script's counts, and the dashboard's views match them.
async fn assert_counters_exact(js: &jetstream::Context, receiver: &Receiver, script: &Script) {
    let bucket = js
        .get_key_value("market-weekly")
        .await
        .expect("the bucket exists");
    let dashboard = receiver.seen(|s| s.weeks.clone());
    for (week, expected) in &script.weeks {
        let entry = bucket
            .entry(format!("week.{week}"))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("week {week} is stored"));
        let stored: Value = serde_json::from_slice(&entry.value).unwrap();
        let counted = Week {
            listings: stored["listings"].as_u64().unwrap(),
            listed_cents: serde_json::from_value(stored["listed_cents"].clone()).unwrap(),
            price_reductions: stored["price_reductions"].as_u64().unwrap(),
            reduced_cents: serde_json::from_value(stored["reduced_cents"].clone()).unwrap(),
        };
        assert_eq!(&counted, expected, "week {week}");
        let ids = stored["events"].as_array().unwrap().len() as u64;
        assert_eq!(
            ids,
            expected.listings + expected.price_reductions,
            "ids counted in {week}"
        );
        let view = &dashboard[*week];
        assert_eq!(
            view["revision"], entry.revision,
            "the dashboard has the newest {week}"
        );
        assert_eq!(view["listings"], stored["listings"]);
        assert_eq!(view["reduced_cents"], stored["reduced_cents"]);
    }
}
