//! `revenue-report`: a **scheduled** function. No event triggers it; its manifest's
//! `[trigger] schedule` does (nightly in production, every 5 s in the demo), once per firing
//! for the whole cluster.
//!
//! Each firing reads every total `idempotent-total` recorded in the key-value bucket
//! `orders-processed` (`event/ID` → `{"order_id","customer","total"}`), listing the keys with
//! [`keys::all`] (which copes with more than one `keys` call returns) and reading each, and
//! publishes one [`RevenueReport`] to `shop.revenue.report`: how many orders, their revenue,
//! the average order, how many customers, and when the schedule fired. A value that is not a
//! total is counted as `unreadable`, not added.

pub mod keys;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sluice_sdk::{Error, Event, Handler, kv};

/// The bucket idempotent-total fills.
pub const PROCESSED: &str = "orders-processed";
/// What the totals' keys start with.
pub const TOTALS_PREFIX: &str = "event/";
/// Where reports go.
pub const REPORT: &str = "shop.revenue.report";

/// The part of a recorded total this report reads.
#[derive(Debug, Deserialize)]
pub struct Total {
    /// Who placed the order.
    pub customer: String,
    /// The order's total, in cents.
    pub total: u64,
}

/// One firing's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevenueReport {
    /// Orders totalled so far.
    pub orders: u64,
    /// Their revenue, in cents.
    pub revenue: u64,
    /// The average order, in cents (rounded down; 0 without orders).
    pub average: u64,
    /// Distinct customers among them.
    pub customers: u64,
    /// Recorded values that were not a total (left out).
    pub unreadable: u64,
    /// When the schedule fired (RFC 3339, UTC, to the second).
    pub fired_at: String,
}

/// Sums recorded totals into a report.
#[derive(Debug, Default)]
pub struct Tally {
    orders: u64,
    revenue: u64,
    customers: BTreeSet<String>,
    unreadable: u64,
}

impl Tally {
    /// Adds one recorded value: a total, or something unreadable.
    pub fn add(&mut self, value: &[u8]) {
        match serde_json::from_slice::<Total>(value) {
            Ok(total) => {
                self.orders += 1;
                self.revenue += total.total;
                self.customers.insert(total.customer);
            }
            Err(_) => self.unreadable += 1,
        }
    }

    /// The report of what was added, for the firing at `fired_at`.
    pub fn report(self, fired_at: &str) -> RevenueReport {
        RevenueReport {
            orders: self.orders,
            revenue: self.revenue,
            average: self.revenue.checked_div(self.orders).unwrap_or(0),
            customers: self.customers.len() as u64,
            unreadable: self.unreadable,
            fired_at: fired_at.to_owned(),
        }
    }
}

/// When the schedule fired: the time in a firing's id, `schedule:NAME:TIME`. Any other
/// event is not a firing (a permanent error).
pub fn fired_at(event: &Event) -> Result<&str, Error> {
    event
        .id()
        .strip_prefix("schedule:")
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, at)| at)
        .ok_or_else(|| {
            Error::permanent(format!(
                "revenue-report runs on its schedule: event {} is not a firing (schedule:NAME:TIME)",
                event.id()
            ))
        })
}

/// The `revenue-report` function.
pub struct RevenueReportFunction;

impl Handler for RevenueReportFunction {
    fn handle(event: Event) -> Result<(), Error> {
        let fired_at = fired_at(&event)?;
        let mut tally = Tally::default();
        for key in keys::all(&keys::Bucket(PROCESSED), TOTALS_PREFIX)? {
            // A key listed but deleted meanwhile has no value: it is no longer an order.
            if let Some(entry) = kv::get(PROCESSED, &key)? {
                tally.add(&entry.value);
            }
        }
        let report = tally.report(fired_at);
        sluice_sdk::info!(
            "fired at {fired_at}: {} orders, revenue {} cents",
            report.orders,
            report.revenue
        );
        sluice_sdk::publish_json(REPORT, &report)
    }
}

sluice_sdk::export!(RevenueReportFunction);

#[cfg(test)]
mod tests;
