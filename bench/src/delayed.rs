//! Scenario: delayed events (`publish-after`). How late 1,000 of them are published after
//! their time, on an idle host and on one also handling a steady stream of core orders; and
//! what a delayed publish costs a JetStream function against a plain publish that a stream
//! also confirms.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::stream;
use futures::StreamExt;
use serde_json::json;
use sluice_runtime::{Runtime, RuntimeConfig};
use sluice_tests::{FunctionsDir, NatsServer};

use crate::report::Report;
use crate::workload::Size;

const TIMER: &str =
    "[trigger]\nsubjects = [\"timer.in\"]\n[permissions]\npublish = [\"later.>\", \"probe.out\"]\n";
const ORDER_TOTAL: &str =
    "[trigger]\nsubjects = [\"orders.placed\"]\n[permissions]\npublish = [\"orders.totalled\"]\n";
const JETSTREAM_TIMER: &str = "[trigger]\nsubjects = [\"timer.in\"]\nmode = \"jetstream\"\n[limits]\nmax_concurrency = 32\n[permissions]\npublish = [\"later.>\"]\n";

/// How far ahead the timed delayed events are scheduled.
const AHEAD_MS: u64 = 3_000;

/// Delayed events scheduled per event (one outbox holds at most 1,000 messages).
const PER_EVENT: usize = 250;

/// Times the firing of `size.delayed_events` delayed events, idle and loaded.
pub async fn lateness(size: &Size, report: &mut Report) -> anyhow::Result<()> {
    for loaded in [false, true] {
        let server = NatsServer::start();
        let dir = FunctionsDir::new();
        dir.add("timer", "probe", TIMER);
        if loaded {
            dir.add("order-total", "order-total", ORDER_TOTAL);
        }
        let runtime = Runtime::start(RuntimeConfig::new(dir.path(), server.url())).await?;
        let client = server.client().await;
        let mut fired = client.subscribe("later.>").await?;
        client.flush().await?;
        let load =
            loaded.then(|| tokio::spawn(crate::schedules::steady_orders(client.clone(), size.timeout)));
        let events = size.delayed_events.div_ceil(PER_EVENT);
        for n in 0..events {
            let count = PER_EVENT.min(size.delayed_events - n * PER_EVENT);
            let schedule =
                json!({"op": "delay", "subject": "later.t", "ms": AHEAD_MS, "count": count, "quiet": true});
            client.publish("timer.in", schedule.to_string().into()).await?;
        }
        client.flush().await?;
        let mut late = Vec::new();
        let deadline = Instant::now() + size.timeout;
        while late.len() < size.delayed_events && Instant::now() < deadline {
            let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(10), fired.next()).await else {
                break;
            };
            let arrived = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as f64;
            let body: serde_json::Value = serde_json::from_slice(&message.payload)?;
            late.push(arrived - body["due_ms"].as_f64().unwrap_or(f64::NAN));
        }
        if let Some(load) = load {
            load.abort();
        }
        runtime.shutdown().await;
        anyhow::ensure!(
            late.len() == size.delayed_events,
            "{} of {} delayed events published",
            late.len(),
            size.delayed_events
        );
        late.sort_by(f64::total_cmp);
        let at = |q: f64| late[((late.len() - 1) as f64 * q).round() as usize];
        let label = match loaded {
            false => format!("{} events due at once, idle host", late.len()),
            true => format!(
                "{} events due at once, host also handling 10000 core orders/s",
                late.len()
            ),
        };
        report.add(
            "delayed events, 3 s ahead: due to published",
            &label,
            format!("p50 {:.0} ms", at(0.5)),
            format!(
                "p99 {:.0} ms, max {:.0} ms, earliest {:.0} ms",
                at(0.99),
                late[late.len() - 1],
                late[0]
            ),
        );
    }
    Ok(())
}

/// A JetStream function handling `size.jetstream_events` events, each making one plain
/// publish (confirmed by a stream) or one delayed publish (confirmed by the delay stream).
pub async fn cost(size: &Size, report: &mut Report) -> anyhow::Result<()> {
    let mut rates = Vec::new();
    for delayed in [false, true] {
        let server = NatsServer::start();
        let dir = FunctionsDir::new();
        dir.add("timer", "probe", JETSTREAM_TIMER);
        let client = server.client().await;
        let js = async_nats::jetstream::new(client.clone());
        js.create_stream(stream::Config {
            name: "LATER".to_owned(),
            subjects: vec!["later.plain".to_owned()],
            ..Default::default()
        })
        .await?;
        let runtime = Runtime::start(RuntimeConfig::new(dir.path(), server.url())).await?;
        let op = match delayed {
            false => json!({"op": "publish", "subject": "later.plain"}),
            true => json!({"op": "delay", "subject": "later.plain", "ms": 600_000, "quiet": true}),
        };
        let started = Instant::now();
        sluice_tests::publish_many(&js, "timer.in", "e", size.jetstream_events, |_| op.to_string()).await;
        sluice_tests::drained(&js, "SLUICE_TIMER", "sluice-timer").await;
        let rate = size.jetstream_events as f64 / started.elapsed().as_secs_f64();
        runtime.shutdown().await;
        rates.push(rate);
    }
    let label = format!("{} JetStream events, one output each", size.jetstream_events);
    report.add(
        "delayed publish against a plain one",
        &label,
        format!("{:.0} events/s delayed", rates[1]),
        format!(
            "{:.0} events/s plain (confirmed by a stream): {:.2}x",
            rates[0],
            rates[1] / rates[0]
        ),
    );
    Ok(())
}
