//! `functions/fulfilment-saga`: 1,000 orders through the choreographed saga (inventory →
//! payment → shipping → e-mail, with compensation), with declines, a flaky card gateway whose
//! dead-lettered payments are ended by the inventory's payment timeout (a delayed event),
//! re-sent and re-submitted orders and copies of the saga's own events. Checks, from the
//! streams and the key-value state: stock is consistent, every order ends once (shipped or
//! cancelled), gets one e-mail, and can be traced by its correlation id. [`crash`] does it
//! again with a host killed half-way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use saga_driver::shop::{DEAD_LETTERS, FUNCTIONS, stream_of};
use saga_driver::{
    Observation, Outcome, Progress, Report, Seen, Shop, catalogue, duplicates, observe, trace,
};
use saga_events::gateway::{Call, is_unavailable};
use saga_events::{Order, subject};
use sluice_runtime::Runtime;
use sluice_runtime::dlq::DeadLetterQueue;
use sluice_tests::{FunctionsDir, Sluice};

mod crash;
mod traces;

const ORDERS: usize = 1000;
const RUN: &str = "t";
/// `[config]` of `saga-payment.toml`, checked below.
const DECLINE_ABOVE: u64 = 30_000;
const UNAVAILABLE_PERCENT: u32 = 25;
const ATTEMPTS: u32 = 3;

/// `functions/fulfilment-saga/<folder>/<name>.toml`.
fn manifest(name: &str) -> String {
    let folder = name.trim_start_matches("saga-");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../functions/fulfilment-saga/{folder}/{name}.toml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every saga function with its own manifest, as `run.sh` deploys them.
fn deploy() -> FunctionsDir {
    let dir = FunctionsDir::new();
    for name in FUNCTIONS {
        dir.add(name, name, manifest(name));
    }
    let payment = manifest("saga-payment");
    assert!(
        payment.contains(&format!("decline_above = \"{DECLINE_ABOVE}\"")),
        "{payment}"
    );
    assert!(
        payment.contains(&format!("unavailable_percent = \"{UNAVAILABLE_PERCENT}\"")),
        "{payment}"
    );
    assert!(
        payment.contains(&format!("max_attempts = {ATTEMPTS}")),
        "{payment}"
    );
    dir
}

/// The gateway's failures for `order` on replay round `replays`: how many attempts failed
/// before one went through, or `None` when all [`ATTEMPTS`] failed (a dead letter).
fn failures(order: &str, replays: u32) -> Option<u32> {
    (1..=ATTEMPTS)
        .find(|&attempt| {
            !is_unavailable(
                Call {
                    order_id: order,
                    amount: 0,
                    attempt,
                    replays,
                },
                UNAVAILABLE_PERCENT,
            )
        })
        .map(|attempt| attempt - 1)
}

/// The orders whose reservation reached the payment step (not copies, not replays).
fn charged(observed: &Observation) -> BTreeSet<String> {
    let payment = stream_of("saga-payment");
    observed
        .events
        .iter()
        .filter(|seen| {
            seen.stream == payment
                && seen.subject == subject::STOCK_RESERVED
                && seen.event_id.starts_with("saga-inventory:")
        })
        .map(|seen| seen.order_id().to_owned())
        .collect()
}

/// The orders of the payment step's dead letters, each checked to be `exhausted` after 3.
fn dead_letters(observed: &Observation) -> BTreeSet<String> {
    let letters: Vec<&Seen> = observed
        .events
        .iter()
        .filter(|seen| seen.subject == DEAD_LETTERS.1)
        .collect();
    for letter in &letters {
        let header = |name| letter.headers.get(name).map(|v| v.as_str().to_owned());
        assert_eq!(
            header("Sluice-Dlq-Reason").as_deref(),
            Some("exhausted"),
            "{letter:?}"
        );
        assert_eq!(header("Sluice-Attempts").as_deref(), Some("3"), "{letter:?}");
    }
    letters.iter().map(|seen| seen.order_id().to_owned()).collect()
}

/// Replays the payment step's dead letters until none is left, predicting each round;
/// returns the retries the gateway's failures should have caused in the replays.
async fn replay_until_done(host: &Runtime, shop: &Shop, mut dead: BTreeSet<String>) -> u64 {
    let mut retries = 0;
    for replays in 1..=3 {
        if dead.is_empty() {
            return retries;
        }
        let queue = DeadLetterQueue::open(host.client().clone(), "saga-payment", DEAD_LETTERS.1)
            .await
            .unwrap();
        let report = queue.replay(None, 3, |_| None).await.unwrap();
        assert_eq!(report.replayed.len(), dead.len(), "every dead letter replayed");
        let next: BTreeSet<String> = dead
            .iter()
            .filter(|o| failures(o, replays).is_none())
            .cloned()
            .collect();
        retries += dead
            .iter()
            .map(|o| u64::from(failures(o, replays).unwrap_or(ATTEMPTS - 1)))
            .sum::<u64>();
        // The replayed payments are late answers (their orders timed out): wait until each
        // is handled (refunded or ignored) before counting the dead letters left.
        shop.wait_until_idle(Duration::from_secs(60)).await.unwrap();
        let progress = shop.progress().await.unwrap();
        assert_eq!(progress.dead_lettered, next.len() as u64, "round {replays}");
        dead = next;
    }
    assert!(dead.is_empty(), "still dead-lettered after 3 replays: {dead:?}");
    retries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_orders_end_shipped_or_compensated_with_consistent_stock_and_one_email_each() {
    let sluice = Sluice::in_folder(deploy()).start().await;
    let host = &sluice.host;
    let mut shop = Shop::new(sluice.client.clone());
    shop.wait_until_deployed(Duration::from_secs(10)).await.unwrap();
    shop.open().await.unwrap();
    let js = shop.jetstream().clone();
    let orders = catalogue::orders(RUN, ORDERS);

    // Orders, with re-sent copies (same message id: the stream drops them) and re-submitted
    // ones (a new id: the inventory's claim ignores them).
    let started = Instant::now();
    let placed = shop.place(&orders).await.unwrap();
    assert_eq!(
        placed.resent.1, placed.resent.0,
        "the stream dropped every re-sent order: {placed:?}"
    );
    assert!(placed.resubmitted > 0);
    let progress = shop
        .wait_until_ended(ORDERS, Duration::from_secs(120))
        .await
        .unwrap();

    // The gateway's failures are a hash: predict the dead letters and the retries.
    let observed = observe(&js, RUN).await.unwrap();
    let (dead, mut retries) = check_dead_letters(&orders, &observed, progress);

    // The operator replays them once the gateway is back.
    retries += replay_until_done(host, &shop, dead.clone()).await;
    let elapsed = started.elapsed();
    let handled: u64 = FUNCTIONS.iter().map(|f| host.stats(f).unwrap().succeeded).sum();
    let payment = host.stats("saga-payment").unwrap();
    assert_eq!(payment.retried, retries, "every transient failure was retried");
    assert!(retries > 100, "{retries} retries");
    assert_eq!(payment.dead_lettered, dead_lettered_in_all_rounds(&dead));

    // Copies of the saga's own events, as redeliveries after the dedupe window; they change
    // nothing.
    let copies = duplicates::send_copies(&js, &observed.events, 10).await.unwrap();
    assert!(copies > 100, "{copies} copies");
    shop.wait_until_idle(Duration::from_secs(60)).await.unwrap();

    let observed = observe(&js, RUN).await.unwrap();
    let report = Report::new(&orders, &observed);
    println!("{report}");
    assert!(report.violations.is_empty(), "{report}");
    check_outcomes(&orders, &report);
    check_traces(&observed, &report, &dead);

    println!(
        "fulfilment saga: {ORDERS} orders, {handled} events handled in {:.1}s: {:.0} events/s, {:.0} orders/s; {retries} retries, {} dead letters replayed, {copies} copies ignored",
        elapsed.as_secs_f64(),
        handled as f64 / elapsed.as_secs_f64(),
        ORDERS as f64 / elapsed.as_secs_f64(),
        dead.len()
    );
    for function in FUNCTIONS {
        let stats = host.stats(function).unwrap();
        if function != "saga-payment" {
            assert_eq!(stats.dead_lettered, 0, "{function}: {stats:?}");
        }
    }
    sluice.shutdown().await;
}

/// After the first round, the payments dead-lettered are exactly those the gateway's hash
/// predicts, and their orders' payment timeouts released the stock they held. Returns them, and the retries the
/// gateway's failures should have caused.
fn check_dead_letters(
    orders: &[Order],
    observed: &Observation,
    progress: Progress,
) -> (BTreeSet<String>, u64) {
    let charged = charged(observed);
    let dead: BTreeSet<String> = charged
        .iter()
        .filter(|o| failures(o, 0).is_none())
        .cloned()
        .collect();
    assert_eq!(
        dead_letters(observed),
        dead,
        "the payments dead-lettered after 3 attempts"
    );
    assert!(
        !dead.is_empty(),
        "a 25% failure rate over {} charges leaves some dead letters",
        charged.len()
    );
    assert_eq!(progress.dead_lettered, dead.len() as u64);
    let held: u64 = observed.stock.values().map(|level| level.reserved()).sum();
    let wanted: u64 = orders
        .iter()
        .filter(|o| dead.contains(&o.order_id))
        .flat_map(|o| &o.lines)
        .map(|l| u64::from(l.qty))
        .sum();
    assert!(wanted > 0, "the dead-lettered orders had stock reserved");
    assert_eq!(
        held,
        0,
        "every order ended: the payment timeout released the stock of the {} dead-lettered payments",
        dead.len()
    );
    let retries: u64 = charged
        .iter()
        .map(|o| u64::from(failures(o, 0).unwrap_or(ATTEMPTS - 1)))
        .sum();
    (dead, retries)
}

/// Payment dead letters over all rounds (each replay round may dead-letter some again).
fn dead_lettered_in_all_rounds(first: &BTreeSet<String>) -> u64 {
    let mut total = first.len() as u64;
    let mut dead: Vec<&String> = first.iter().collect();
    for replays in 1..3 {
        dead.retain(|o| failures(o, replays).is_none());
        total += dead.len() as u64;
    }
    total
}

/// Every kind of ending happened, and each matches the order: declines above the limit.
fn check_outcomes(orders: &[Order], report: &Report) {
    let declined = Outcome::Cancelled("payment_declined".into());
    let out_of_stock = Outcome::Cancelled("out_of_stock".into());
    let timed_out = Outcome::Cancelled("payment_timeout".into());
    for outcome in [&Outcome::Shipped, &declined, &out_of_stock] {
        assert!(
            report.count(outcome) > 10,
            "{outcome:?}: {}",
            report.count(outcome)
        );
    }
    assert!(report.count(&timed_out) > 0, "some payment timed out");
    for order in orders {
        match &report.outcomes[&order.order_id][0] {
            Outcome::Shipped => assert!(order.amount <= DECLINE_ABOVE, "{order:?} shipped"),
            outcome if *outcome == declined => assert!(order.amount > DECLINE_ABOVE, "{order:?} declined"),
            _ => {}
        }
    }
}

/// Every event carries its order's correlation id, and one shipped and one compensated
/// order can be followed step by step, each event caused by the one before.
fn check_traces(observed: &Observation, report: &Report, dead: &BTreeSet<String>) {
    for seen in &observed.events {
        assert_eq!(
            seen.correlation,
            seen.order_id(),
            "{} in {}",
            seen.event_id,
            seen.stream
        );
    }
    let flows = [
        (
            Outcome::Shipped,
            vec![
                subject::ORDER_PLACED,
                subject::STOCK_RESERVED,
                subject::PAYMENT_SUCCEEDED,
                subject::ORDER_CONFIRMED,
                subject::SHIPMENT_DISPATCHED,
                subject::ORDER_COMPLETED,
                subject::EMAIL_SENT,
            ],
        ),
        (
            Outcome::Cancelled("payment_declined".into()),
            vec![
                subject::ORDER_PLACED,
                subject::STOCK_RESERVED,
                subject::PAYMENT_FAILED,
                subject::ORDER_CANCELLED,
                subject::EMAIL_SENT,
            ],
        ),
    ];
    let resent: BTreeMap<&str, usize> = observed
        .events
        .iter()
        .filter(|seen| seen.subject == subject::ORDER_PLACED)
        .fold(BTreeMap::new(), |mut count, seen| {
            *count.entry(seen.order_id()).or_default() += 1;
            count
        });
    // A payment answered while the inventory was busy may leave a timeout that fired before
    // its cancel (and then did nothing); the flows followed are orders without one.
    let timed: BTreeSet<&str> = observed
        .events
        .iter()
        .filter(|seen| seen.subject == subject::PAYMENT_TIMEOUT)
        .map(|seen| seen.order_id())
        .collect();
    for (outcome, steps) in flows {
        let (order, _) = report
            .outcomes
            .iter()
            .find(|(order, o)| {
                o[0] == outcome
                    && resent[order.as_str()] == 1
                    && !dead.contains(*order)
                    && !timed.contains(order.as_str())
            })
            .expect("an order of each kind");
        let found: Vec<&Seen> = trace::trace(observed, order)
            .into_iter()
            .filter(|seen| !seen.is_copy())
            .collect();
        let subjects: Vec<&str> = found.iter().map(|seen| seen.subject.as_str()).collect();
        assert_eq!(subjects, steps, "trace of {order}:\n{}", trace::render(&found));
        for pair in found.windows(2) {
            assert_eq!(
                pair[1].causation,
                pair[0].event_id,
                "trace of {order}:\n{}",
                trace::render(&found)
            );
        }
    }
}
