//! The scheduled revenue report: what the `orders-processed` bucket held before the run, and
//! a bounded wait for a `shop.revenue.report` that counts exactly that plus every order sent.

use std::fmt;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use async_nats::jetstream;
use futures::{StreamExt, TryStreamExt};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The bucket idempotent-total records totals in (`event/ID` → `{"order_id","customer","total"}`).
pub const PROCESSED: &str = "orders-processed";
/// Where revenue-report publishes.
pub const REPORTS: &str = "shop.revenue.report";

/// Orders and their revenue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Revenue {
    /// Orders.
    pub orders: u64,
    /// Their revenue, in cents.
    pub revenue: u64,
}

impl std::ops::Add for Revenue {
    type Output = Revenue;

    fn add(self, other: Revenue) -> Revenue {
        Revenue {
            orders: self.orders + other.orders,
            revenue: self.revenue + other.revenue,
        }
    }
}

pub use orders_revenue_report::RevenueReport;

/// What [`wait_for_report`] saw.
#[derive(Debug, Clone)]
pub struct ReportWait {
    /// What the report had to count.
    pub expected: Revenue,
    /// Of that, what the bucket held before the run.
    pub before: Revenue,
    /// The report that counted exactly `expected`, and how long after its firing it arrived.
    pub matching: Option<(RevenueReport, Duration)>,
    /// Partial reports before it: they counted something else (fired before the last total
    /// was recorded).
    pub others: usize,
    /// How long the wait took.
    pub waited: Duration,
}

/// What the bucket holds now, read directly; waits until `timeout` for the bucket, which the
/// host creates when it deploys idempotent-total.
pub async fn recorded(js: &jetstream::Context, timeout: Duration) -> anyhow::Result<Revenue> {
    let deadline = tokio::time::Instant::now() + timeout;
    let store = loop {
        match js.get_key_value(PROCESSED).await {
            Ok(store) => break store,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(error) => {
                return Err(error).context("bucket orders-processed (is idempotent-total deployed?)");
            }
        }
    };
    let keys: Vec<String> = store.keys().await?.try_collect().await?;
    let mut recorded = Revenue::default();
    for key in keys.iter().filter(|key| key.starts_with("event/")) {
        let Some(value) = store.get(key).await? else {
            continue;
        };
        if let Ok(total) = serde_json::from_slice::<serde_json::Value>(&value)
            && let Some(cents) = total["total"].as_u64()
        {
            recorded = recorded
                + Revenue {
                    orders: 1,
                    revenue: cents,
                };
        }
    }
    Ok(recorded)
}

/// Waits up to `timeout` for a `shop.revenue.report` counting exactly `before` plus `sent`.
pub async fn wait_for_report(
    client: &async_nats::Client,
    before: Revenue,
    sent: Revenue,
    timeout: Duration,
) -> anyhow::Result<ReportWait> {
    let started = tokio::time::Instant::now();
    let mut reports = client.subscribe(REPORTS).await?;
    client.flush().await?;
    let mut wait = ReportWait {
        expected: before + sent,
        before,
        matching: None,
        others: 0,
        waited: Duration::ZERO,
    };
    while let Ok(Some(message)) = tokio::time::timeout_at(started + timeout, reports.next()).await {
        let Ok(report) = serde_json::from_slice::<RevenueReport>(&message.payload) else {
            wait.others += 1;
            continue;
        };
        if (report.orders, report.revenue) == (wait.expected.orders, wait.expected.revenue) {
            let after = since(&report.fired_at);
            wait.matching = Some((report, after));
            break;
        }
        wait.others += 1;
    }
    wait.waited = started.elapsed();
    Ok(wait)
}

/// How long ago `fired_at` (RFC 3339) was; zero when it does not parse.
fn since(fired_at: &str) -> Duration {
    OffsetDateTime::parse(fired_at, &Rfc3339)
        .ok()
        .and_then(|at| SystemTime::now().duration_since(at.into()).ok())
        .unwrap_or_default()
}

/// "1 partial report", "2 partial reports".
fn partial(reports: usize) -> String {
    match reports {
        1 => "1 partial report".to_owned(),
        n => format!("{n} partial reports"),
    }
}

impl fmt::Display for ReportWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let earlier = match self.before.orders {
            0 => String::new(),
            orders => format!(" ({orders} of them from earlier runs)"),
        };
        match &self.matching {
            Some((report, after)) => write!(
                f,
                "revenue-report     report fired at {}: {} orders{earlier}, revenue {:.2}, average {:.2}, {} customers; published {:.1}s after its firing, {:.1}s into the wait, after {}",
                report.fired_at,
                report.orders,
                report.revenue as f64 / 100.0,
                report.average as f64 / 100.0,
                report.customers,
                after.as_secs_f64(),
                self.waited.as_secs_f64(),
                partial(self.others)
            ),
            None => write!(
                f,
                "revenue-report     no report of {} orders{earlier} and revenue {:.2} within {:.0}s, only {}",
                self.expected.orders,
                self.expected.revenue as f64 / 100.0,
                self.waited.as_secs_f64(),
                partial(self.others)
            ),
        }
    }
}
