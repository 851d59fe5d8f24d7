//! The order-processing workload: orders published to `shop.orders.placed` (every N-th one
//! twice, with the same event id), and the effects counted where they land:
//! `shop.orders.totalled` (idempotent-total), `shop.orders.packed` (fulfilment-worker),
//! `shop.revenue.batch` (batch-revenue) and the `orders-processed` key-value bucket.
//!
//! Nothing is taken on trust from the host: every output is counted by order id on plain
//! core subscriptions (no stream deduplication in between), and the run ends when the
//! functions' consumers have nothing pending or unacknowledged. Then [`revenue`] waits for
//! the scheduled `shop.revenue.report` that counts every order (`run.sh` deploys
//! revenue-report; [`run`] itself does not need it).

mod report;
pub mod revenue;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;

pub use report::{Report, Stage};

/// The JetStream consumers of the application: stream, durable name.
pub const CONSUMERS: [(&str, &str); 3] = [
    ("SHOP_ORDERS", "sluice-idempotent-total"),
    ("SHOP_TOTALS", "orders-fulfilment-worker"),
    ("SHOP_TOTALS", "orders-batch-revenue"),
];

/// What to send.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Distinct orders.
    pub orders: usize,
    /// Every this-many-th order is sent twice.
    pub duplicate_every: usize,
    /// Bound of the whole run.
    pub timeout: Duration,
    /// Prefix of this run's order ids, so runs against the same state never collide.
    pub run_id: String,
}

impl Default for Workload {
    /// 10,000 orders, 10 % sent twice, two minutes at most, ids unique to this run.
    fn default() -> Self {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Self {
            orders: 10_000,
            duplicate_every: 10,
            timeout: Duration::from_secs(120),
            run_id: format!("r{stamp}"),
        }
    }
}

impl Workload {
    /// Order `n`: its id, its JSON, and its total in cents.
    pub fn order(&self, n: usize) -> (String, String, u64) {
        let id = format!("{}-o{n:05}", self.run_id);
        let (qty, price) = (1 + n as u64 % 3, 100 + n as u64 % 900);
        let payload = json!({
            "id": id,
            "customer": format!("c-{}", n % 97),
            "items": [{"sku": "A", "qty": qty, "price": price}, {"sku": "B", "qty": 1, "price": 250}],
        });
        (id, payload.to_string(), qty * price + 250)
    }

    /// How many deliveries the run makes: every order, plus the duplicates.
    pub fn sends(&self) -> usize {
        self.orders + self.orders.div_ceil(self.duplicate_every.max(1))
    }
}

/// Waits for the application's consumers, sends the workload, counts its effects until
/// every consumer is drained (or the timeout), and reports.
pub async fn run(client: &async_nats::Client, workload: &Workload) -> anyhow::Result<Report> {
    let js = jetstream::new(client.clone());
    let deadline = tokio::time::Instant::now() + workload.timeout;
    wait_for_consumers(&js, deadline).await?;
    let mut totalled = client.subscribe("shop.orders.totalled").await?;
    let mut packed = client.subscribe("shop.orders.packed").await?;
    let mut batches = client.subscribe("shop.revenue.batch").await?;
    client.flush().await?;

    let started = Instant::now();
    let expected_revenue = publish_orders(&js, workload).await?;
    let sent_in = started.elapsed();
    let mut report = Report::new(workload, expected_revenue, sent_in);
    let prefix = format!("{}-", workload.run_id);
    loop {
        tokio::select! {
            Some(message) = totalled.next() => report.totalled.record(order_id(&message.payload, "order_id"), started),
            Some(message) = packed.next() => report.packed.record(order_id(&message.payload, "order_id"), started),
            Some(message) = batches.next() => report.record_batch(&message.payload, &prefix, started),
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                if report.looks_complete() && drained(&js).await? {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    report.timed_out = true;
                    break;
                }
            }
        }
    }
    report.processed_keys = processed_keys(&js, &workload.run_id).await?;
    Ok(report)
}

/// Publishes every order (every `duplicate_every`-th one twice, right after itself, with the
/// same event id and no `Nats-Msg-Id`, so the stream keeps both copies), a thousand stream
/// acks in flight at a time. Returns the orders' revenue.
async fn publish_orders(js: &jetstream::Context, workload: &Workload) -> anyhow::Result<u64> {
    let mut revenue = 0;
    let mut acks = Vec::with_capacity(1000);
    for n in 0..workload.orders {
        let (id, payload, total) = workload.order(n);
        revenue += total;
        let copies = if n % workload.duplicate_every.max(1) == 0 {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Sluice-Event-Id", id.as_str());
            let ack = js
                .publish_with_headers("shop.orders.placed", headers, payload.clone().into())
                .await?;
            acks.push(ack);
        }
        if acks.len() >= 1000 {
            for ack in acks.drain(..) {
                ack.await?;
            }
        }
    }
    for ack in acks {
        ack.await?;
    }
    Ok(revenue)
}

/// Waits until every consumer of the application exists (the functions are deployed).
async fn wait_for_consumers(js: &jetstream::Context, deadline: tokio::time::Instant) -> anyhow::Result<()> {
    for (stream, consumer) in CONSUMERS {
        loop {
            let found = js
                .get_consumer_from_stream::<jetstream::consumer::pull::Config, _, _>(consumer, stream)
                .await;
            if found.is_ok() {
                break;
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "consumer {consumer} on stream {stream} never appeared: is `sluice up` running the order-processing functions?"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Whether every consumer has nothing pending and nothing unacknowledged.
async fn drained(js: &jetstream::Context) -> anyhow::Result<bool> {
    for (stream, consumer) in CONSUMERS {
        let mut consumer: jetstream::consumer::PullConsumer =
            js.get_consumer_from_stream(consumer, stream).await?;
        let info = consumer.info().await?;
        if info.num_pending > 0 || info.num_ack_pending > 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// How many of this run's event ids the `orders-processed` bucket remembers, and the
/// highest revision among them is left to the bucket: each key is created once.
async fn processed_keys(js: &jetstream::Context, run_id: &str) -> anyhow::Result<usize> {
    let store = js.get_key_value("orders-processed").await?;
    let mut keys = store.keys().await?;
    let mut count = 0;
    let prefix = format!("event/{run_id}-");
    while let Some(key) = keys.next().await {
        if key?.starts_with(&prefix) {
            count += 1;
        }
    }
    Ok(count)
}

/// The string field `field` of a JSON payload ("?" when missing).
fn order_id(payload: &[u8], field: &str) -> String {
    #[derive(Deserialize)]
    struct Any(HashMap<String, serde_json::Value>);
    serde_json::from_slice::<Any>(payload)
        .ok()
        .and_then(|Any(map)| map.get(field).and_then(|v| v.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
