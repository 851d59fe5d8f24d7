//! Scenario 2: order-total with at-least-once delivery through JetStream.
//!
//! JetStream functions record each attempt for `sluice dlq debug` by default
//! (`dead_letter.transcript`); a row with recording off shows what it costs.
//!
//! The orders are published into a stream first (and the publisher's acks awaited), then the
//! consumer under test starts and drains it: Sluice in JetStream mode (fresh instances and
//! `events_per_instance = 100`) or the native async-nats pull consumer. Each stored order is
//! pulled, totalled, published to `orders.totalled` (a plain publish: no stream captures it)
//! and acked. The rate runs from the first result to the last, so neither compiling the
//! component nor creating the consumer counts.

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use sluice_runtime::{Runtime, RuntimeConfig};
use sluice_tests::{FunctionsDir, NatsServer};

use crate::baselines;
use crate::report::Report;
use crate::workload::{self, Size};

/// The stream the orders are stored in.
pub(crate) const STREAM: &str = "ORDERS";

/// The same function and limits as the core-NATS throughput scenario, in JetStream mode.
pub(crate) const ORDER_TOTAL_JS: &str = "[trigger]\nsubjects = [\"orders.placed\"]\nmode = \"jetstream\"\nstream = \"ORDERS\"\n[permissions]\npublish = [\"orders.totalled\"]\n[limits]\nmax_concurrency = 32\n";

/// The row with a shadow version (order-total itself) on every event.
const SHADOW_ALL: &str = "Sluice JetStream, fresh, shadow version on 100% of events";

/// The row with a shadow version on a tenth of the events.
const SHADOW_TENTH: &str = "Sluice JetStream, fresh, shadow version on 10% of events";

/// The row of the shipped `sluice up` process.
const SHIPPED_ROW: &str = "Sluice JetStream, shipped `sluice up` process, defaults";

/// order-total's shipped manifest in JetStream mode on [`STREAM`]: its `max_concurrency = 16`
/// and every other default.
fn shipped_jetstream_manifest() -> String {
    crate::shipped::SHIPPED.replace("mode = \"core\"", "mode = \"jetstream\"\nstream = \"ORDERS\"")
}

/// How many stream acks the publisher waits for at a time.
const PUBLISH_WINDOW: usize = 1024;

/// What one run saw.
pub(crate) struct Drained {
    /// Distinct orders whose result arrived.
    pub(crate) distinct: usize,
    /// Results for an order already seen (redeliveries).
    pub(crate) duplicates: usize,
    /// Distinct results per second, first result to last.
    pub(crate) rate: f64,
    /// When the first result of each order arrived, by order number.
    pub(crate) arrived: Vec<Option<Instant>>,
}

impl Drained {
    /// When the last order got its first result.
    pub(crate) fn last(&self) -> Option<Instant> {
        self.arrived.iter().flatten().max().copied()
    }
}

/// Scenario 2: the stored orders drained by each consumer, one fresh server each.
pub async fn throughput(size: &Size, report: &mut Report) -> anyhow::Result<()> {
    let n = size.jetstream_events;
    let mut rows = Vec::new();
    for (label, extra) in [
        ("Sluice JetStream, fresh instance per event", ""),
        (
            "Sluice JetStream, fresh, transcripts off",
            "[dead_letter]\ntranscript = false\n",
        ),
        (SHADOW_ALL, ""),
        (SHADOW_TENTH, ""),
        (
            "Sluice JetStream, events_per_instance = 100",
            "events_per_instance = 100\n",
        ),
        (SHIPPED_ROW, ""),
        (baselines::NATIVE_JETSTREAM, ""),
    ] {
        let server = NatsServer::start();
        let js = jetstream::new(server.client().await);
        store_orders(&js, n).await?;
        let collector = collect(server.client().await, n, size.timeout).await?;
        let (drained, settled) = if label == baselines::NATIVE_JETSTREAM {
            let running = baselines::native_jetstream(&server.url(), STREAM, "native").await?;
            let drained = collector.await??;
            let settled = settled(&js, "native").await;
            drop(running);
            (drained, settled)
        } else if label == SHIPPED_ROW {
            let manifest = shipped_jetstream_manifest();
            let host = match crate::shipped::ShippedHost::spawn(&server, None, &manifest, &[], &[]) {
                Ok(host) => host,
                Err(error) => {
                    println!("({label}: not measured: {error:#})");
                    continue;
                }
            };
            let drained = collector.await??;
            let settled = settled(&js, "sluice-order-total").await;
            drop(host);
            (drained, settled)
        } else {
            let manifest = format!("{ORDER_TOTAL_JS}{extra}");
            let shadow = match label {
                SHADOW_ALL => Some(1.0),
                SHADOW_TENTH => Some(0.1),
                _ => None,
            };
            sluice_drains(&server, &js, collector, "order-total", &manifest, shadow).await?
        };
        rows.push((label, drained, settled));
    }
    let native = rows
        .iter()
        .find(|(label, ..)| *label == baselines::NATIVE_JETSTREAM)
        .map(|(_, drained, _)| drained.rate);
    for (label, drained, settled) in &rows {
        let mut note = format!(
            "{}/{n} results, {} lost, {} duplicates, {settled}",
            drained.distinct,
            n - drained.distinct,
            drained.duplicates
        );
        if let Some(native) = native {
            note += &format!(", {:.0}% of native JetStream", 100.0 * drained.rate / native);
        }
        report.add(
            "throughput, JetStream",
            label,
            format!("{:.0} events/s", drained.rate),
            note,
        );
        report.bar("JetStream throughput (events/s)", label, drained.rate);
    }
    Ok(())
}

/// `n` orders stored on a fresh server, drained by Sluice running `guest` as `order-total`
/// with `manifest` (in JetStream mode on [`STREAM`]): what the collector saw and what the
/// server says was settled.
pub(crate) async fn sluice_run(
    n: usize,
    timeout: Duration,
    guest: &str,
    manifest: &str,
) -> anyhow::Result<(Drained, String)> {
    let server = NatsServer::start();
    let js = jetstream::new(server.client().await);
    store_orders(&js, n).await?;
    let collector = collect(server.client().await, n, timeout).await?;
    sluice_drains(&server, &js, collector, guest, manifest, None).await
}

/// Starts a host with `guest` as `order-total` (shadowed by itself on a `shadow` share of
/// events, when given: set right after the host starts, so the first events of the burst may
/// go unshadowed) and waits for `collector`.
async fn sluice_drains(
    server: &NatsServer,
    js: &jetstream::Context,
    collector: tokio::task::JoinHandle<anyhow::Result<Drained>>,
    guest: &str,
    manifest: &str,
    shadow: Option<f64>,
) -> anyhow::Result<(Drained, String)> {
    let dir = FunctionsDir::new();
    dir.add("order-total", guest, manifest);
    let runtime = Runtime::start(RuntimeConfig::new(dir.path(), server.url())).await?;
    if let Some(sample) = shadow {
        let wasm = dir.path().join("order-total.wasm");
        let options = sluice_runtime::shadow::ShadowOptions { sample };
        runtime
            .set_shadow("order-total", Some((wasm.as_path(), &[], options)))
            .await?;
    }
    let drained = collector.await??;
    let mut settled = settled(js, "sluice-order-total").await;
    if shadow.is_some() {
        let compared = sluice_runtime::shadow::read(js, "order-total", None)
            .await
            .map_or(0, |results| results.len());
        settled += &format!(", {compared} events shadowed");
    }
    runtime.shutdown().await;
    Ok((drained, settled))
}

/// Creates [`STREAM`] on `orders.placed` and stores `n` orders in it, waiting for every ack.
async fn store_orders(js: &jetstream::Context, n: usize) -> anyhow::Result<()> {
    create_stream(js, 1).await?;
    publish_orders(js, n).await
}

/// Creates [`STREAM`] on `orders.placed` (file storage), with `replicas` copies of each message.
pub(crate) async fn create_stream(js: &jetstream::Context, replicas: usize) -> anyhow::Result<()> {
    js.create_stream(stream::Config {
        name: STREAM.to_owned(),
        subjects: vec!["orders.placed".to_owned()],
        num_replicas: replicas,
        ..Default::default()
    })
    .await?;
    Ok(())
}

/// Publishes orders `0..n` to `orders.placed`, waiting for every stream ack,
/// [`PUBLISH_WINDOW`] at a time.
pub(crate) async fn publish_orders(js: &jetstream::Context, n: usize) -> anyhow::Result<()> {
    let mut acks = Vec::with_capacity(PUBLISH_WINDOW);
    for i in 0..n {
        acks.push(js.publish("orders.placed", workload::order(i).into()).await?);
        if acks.len() == PUBLISH_WINDOW || i + 1 == n {
            for ack in acks.drain(..) {
                ack.await?;
            }
        }
    }
    Ok(())
}

/// Subscribes `client` to `orders.totalled` and counts results, by order id, until all `n`
/// orders have one or `timeout` passes.
pub(crate) async fn collect(
    client: async_nats::Client,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<Drained>>> {
    let mut results = client.subscribe("orders.totalled").await?;
    client.flush().await?;
    Ok(tokio::spawn(async move {
        let _client = client;
        let mut arrived: Vec<Option<Instant>> = vec![None; n];
        let (mut distinct, mut duplicates) = (0, 0);
        let mut span: Option<(Instant, Instant)> = None;
        let deadline = tokio::time::Instant::now() + timeout;
        while distinct < n {
            let Ok(Some(message)) = tokio::time::timeout_at(deadline, results.next()).await else {
                break;
            };
            let now = Instant::now();
            span = Some((span.map_or(now, |(first, _)| first), now));
            let Some(order) = order_number(&message.payload).filter(|&i| i < n) else {
                anyhow::bail!("a result names no order of this run");
            };
            if arrived[order].is_some() {
                duplicates += 1;
            } else {
                arrived[order] = Some(now);
                distinct += 1;
            }
        }
        let rate = match span {
            Some((first, last)) if distinct > 1 => {
                (distinct - 1) as f64 / last.duration_since(first).as_secs_f64()
            }
            _ => 0.0,
        };
        Ok(Drained {
            distinct,
            duplicates,
            rate,
            arrived,
        })
    }))
}

/// The `n` of `"order_id":"o-<n>"` in an `OrderTotalled` payload, without parsing the rest.
fn order_number(payload: &[u8]) -> Option<usize> {
    const KEY: &[u8] = b"\"order_id\":\"o-";
    let start = payload.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = payload[start..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&payload[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

/// Waits (up to 5 s) for the consumer `durable` to have no acks pending, and describes what
/// the server says was acked and redelivered.
pub(crate) async fn settled(js: &jetstream::Context, durable: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let consumer: Result<PullConsumer, _> = js.get_consumer_from_stream(durable, STREAM).await;
        let info = match consumer {
            Ok(mut consumer) => consumer.info().await.cloned(),
            Err(error) => return format!("consumer info unavailable: {error}"),
        };
        match info {
            Ok(info) if info.num_ack_pending == 0 || Instant::now() > deadline => {
                return format!(
                    "{} acked, {} ack pending, {} redelivered",
                    info.ack_floor.stream_sequence, info.num_ack_pending, info.num_redelivered
                );
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(error) => return format!("consumer info unavailable: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_order_number() {
        let payload = workload::total(&workload::order(4711)).unwrap();
        assert_eq!(order_number(&payload), Some(4711));
        assert_eq!(order_number(b"{}"), None);
    }
}
