//! Scenario: how late a schedule's firings are handled (`trigger.schedule = "@every 1s"`),
//! from the second the server fires to the handler's report arriving back, on an idle host
//! and on one that is also handling a steady stream of core orders.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use sluice_runtime::{Runtime, RuntimeConfig};
use sluice_tests::{FunctionsDir, NatsServer};

use crate::report::Report;
use crate::workload::{self, Size};

const TICKER: &str = "[trigger]\nschedule = \"@every 1s\"\n[permissions]\npublish = [\"probe.out\"]\n";
const ORDER_TOTAL: &str =
    "[trigger]\nsubjects = [\"orders.placed\"]\n[permissions]\npublish = [\"orders.totalled\"]\n";

/// Orders per second beside the schedule in the loaded variant.
const LOAD_RATE: u64 = 10_000;

/// Times `size.schedule_firings` firings, idle and loaded.
pub async fn lateness(size: &Size, report: &mut Report) -> anyhow::Result<()> {
    for loaded in [false, true] {
        let server = NatsServer::start();
        let dir = FunctionsDir::new();
        dir.add("ticker", "probe", TICKER);
        if loaded {
            dir.add("order-total", "order-total", ORDER_TOTAL);
        }
        let runtime = Runtime::start(RuntimeConfig::new(dir.path(), server.url())).await?;
        let client = server.client().await;
        let mut ticks = client.subscribe("probe.out").await?;
        client.flush().await?;
        let load = loaded.then(|| tokio::spawn(steady_orders(client.clone(), size.timeout)));
        let mut late = Vec::new();
        let deadline = Instant::now() + size.timeout;
        // The first firing may predate the subscription; it is not counted.
        let mut first = true;
        while late.len() < size.schedule_firings && Instant::now() < deadline {
            let Ok(Some(tick)) = tokio::time::timeout(Duration::from_secs(5), ticks.next()).await else {
                break;
            };
            let received = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
            if std::mem::take(&mut first) {
                continue;
            }
            if let Some(fired) = fired_second(&tick) {
                late.push((received - fired as f64) * 1000.0);
            }
        }
        if let Some(load) = load {
            load.abort();
        }
        runtime.shutdown().await;
        anyhow::ensure!(!late.is_empty(), "no firing was handled");
        late.sort_by(f64::total_cmp);
        let at = |q: f64| late[((late.len() - 1) as f64 * q).round() as usize];
        let label = match loaded {
            false => "idle host".to_owned(),
            true => format!("host also handling {LOAD_RATE} core orders/s"),
        };
        report.add(
            "schedules, @every 1s: firing to handled",
            &label,
            format!("p50 {:.1} ms", at(0.5)),
            format!(
                "p99 {:.1} ms, max {:.1} ms, {} firings",
                at(0.99),
                late[late.len() - 1],
                late.len()
            ),
        );
    }
    Ok(())
}

/// The second a firing's id (`schedule:ticker:RFC3339`) names.
fn fired_second(tick: &async_nats::Message) -> Option<i64> {
    let id = tick.headers.as_ref()?.get("probe-event-id")?.as_str();
    let at = id.strip_prefix("schedule:ticker:")?;
    let at = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()?;
    Some(at.unix_timestamp())
}

/// Publishes orders at [`LOAD_RATE`] a second, in 10 ms bursts, until aborted or `limit`.
pub async fn steady_orders(client: async_nats::Client, limit: Duration) {
    let started = Instant::now();
    let per_tick = LOAD_RATE / 100;
    let mut interval = tokio::time::interval(Duration::from_millis(10));
    let mut n = 0;
    while started.elapsed() < limit {
        interval.tick().await;
        for _ in 0..per_tick {
            let _ = client.publish("orders.placed", workload::order(n).into()).await;
            n += 1;
        }
    }
}
