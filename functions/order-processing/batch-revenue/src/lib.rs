//! `batch-revenue`: a **micro-batch** consumer. It receives totalled orders a hundred at a
//! time (`[batch] max_events = 100`) and publishes one `shop.revenue.batch` summary per
//! batch: how many orders, their revenue, and their ids (so a reader can check that every
//! order is counted exactly once).
//!
//! Each order still has its own outcome: a malformed one is dead-lettered alone and left out
//! of the sum. The summary is an output like any other, so it belongs to one event: the last
//! well-formed order of the batch, which cannot fail afterwards, so the summary is sent
//! exactly when the orders it counts are acknowledged.

use serde::{Deserialize, Serialize};
use sluice_sdk::{Batch, BatchHandler, BatchOutcome, Error};

/// Where summaries go.
pub const SUMMARY: &str = "shop.revenue.batch";

/// The part of a totalled order this consumer reads.
#[derive(Debug, Deserialize)]
pub struct Totalled {
    /// The order's id.
    pub order_id: String,
    /// The total, in cents.
    pub total: u64,
}

/// One batch's revenue.
#[derive(Debug, Default, Serialize)]
pub struct RevenueBatch {
    /// Orders counted.
    pub orders: usize,
    /// Their totals' sum, in cents.
    pub revenue: u64,
    /// Their ids, in arrival order.
    pub order_ids: Vec<String>,
}

/// The `batch-revenue` function.
pub struct BatchRevenue;

impl BatchHandler for BatchRevenue {
    fn handle_batch(batch: Batch) -> BatchOutcome {
        // First pass: which orders are well-formed, and what they add up to.
        let parsed: Vec<Result<Totalled, Error>> = batch.events().iter().map(|event| event.json()).collect();
        let mut summary = RevenueBatch::default();
        for order in parsed.iter().flatten() {
            summary.orders += 1;
            summary.revenue += order.total;
            summary.order_ids.push(order.order_id.clone());
        }
        let last_good = parsed.iter().rposition(Result::is_ok);
        sluice_sdk::info!("{} orders, revenue {} cents", summary.orders, summary.revenue);
        // Second pass: each order's outcome; the summary is the last good order's output.
        let mut outcomes = parsed.into_iter().enumerate();
        batch.each(|_event| {
            let (index, parsed) = outcomes.next().expect("one parse per event");
            parsed?;
            if Some(index) == last_good {
                sluice_sdk::publish_json(SUMMARY, &summary)?;
            }
            Ok(())
        })
    }
}

sluice_sdk::export_batch!(BatchRevenue);

#[cfg(test)]
mod tests {
    use sluice_sdk::Event;
    use sluice_sdk::testing::TestHost;

    use super::*;

    fn totalled(id: &str, total: u64) -> Event {
        let payload = format!(r#"{{"order_id":"{id}","customer":"c","total":{total}}}"#);
        Event::new(format!("e-{id}"), "shop.orders.totalled", payload)
    }

    #[test]
    fn one_summary_per_batch_counts_the_good_orders_only() {
        let host = TestHost::new().allow_publish(SUMMARY);
        let bad = Event::new("e-bad", "shop.orders.totalled", "{");
        let outcomes = host.run_batch::<BatchRevenue>(vec![totalled("o-1", 100), totalled("o-2", 250), bad]);
        assert!(outcomes[0].result.is_ok() && outcomes[0].published.is_empty());
        assert!(!outcomes[2].result.as_ref().unwrap_err().is_retryable());
        let summary: serde_json::Value = outcomes[1].published[0].json();
        assert_eq!(summary["orders"], 2);
        assert_eq!(summary["revenue"], 350);
        assert_eq!(summary["order_ids"], serde_json::json!(["o-1", "o-2"]));
    }
}
