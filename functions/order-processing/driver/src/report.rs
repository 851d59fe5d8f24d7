//! What a run saw, how it reads, and whether it proves exactly-once.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::Workload;

/// The outputs of one function, counted by order id.
#[derive(Debug, Default)]
pub struct Stage {
    /// Messages per order id.
    pub seen: HashMap<String, u32>,
    /// When the last one arrived, from the first publish.
    pub last: Duration,
}

impl Stage {
    /// Counts one output for `id`.
    pub fn record(&mut self, id: String, started: Instant) {
        *self.seen.entry(id).or_default() += 1;
        self.last = started.elapsed();
    }

    /// Outputs received.
    pub fn messages(&self) -> u64 {
        self.seen.values().map(|&n| u64::from(n)).sum()
    }

    /// Order ids with more than one output.
    pub fn duplicates(&self) -> usize {
        self.seen.values().filter(|&&n| n > 1).count()
    }

    /// Events per second: outputs over the time to the last one.
    pub fn rate(&self) -> f64 {
        self.messages() as f64 / self.last.as_secs_f64().max(1e-9)
    }
}

/// One `shop.revenue.batch` summary.
#[derive(Debug, Deserialize)]
struct RevenueBatch {
    orders: usize,
    revenue: u64,
    order_ids: Vec<String>,
}

/// Everything one run saw.
#[derive(Debug)]
pub struct Report {
    /// Distinct orders sent.
    pub orders: usize,
    /// Deliveries made (orders plus duplicates).
    pub sends: usize,
    /// The orders' revenue, in cents, as the driver computed it.
    pub expected_revenue: u64,
    /// How long publishing took.
    pub sent_in: Duration,
    /// `shop.orders.totalled`, from idempotent-total.
    pub totalled: Stage,
    /// `shop.orders.packed`, from fulfilment-worker.
    pub packed: Stage,
    /// Orders per id over every revenue batch, from batch-revenue.
    pub counted: Stage,
    /// Revenue batches received, and their sizes.
    pub batch_sizes: Vec<usize>,
    /// The batches' revenue, in cents.
    pub batch_revenue: u64,
    /// This run's event ids in the `orders-processed` bucket.
    pub processed_keys: usize,
    /// Whether the run ended on its timeout.
    pub timed_out: bool,
}

impl Report {
    /// An empty report of `workload`.
    pub fn new(workload: &Workload, expected_revenue: u64, sent_in: Duration) -> Self {
        Self {
            orders: workload.orders,
            sends: workload.sends(),
            expected_revenue,
            sent_in,
            totalled: Stage::default(),
            packed: Stage::default(),
            counted: Stage::default(),
            batch_sizes: Vec::new(),
            batch_revenue: 0,
            processed_keys: 0,
            timed_out: false,
        }
    }

    /// Counts one revenue summary (only this run's orders, whose ids start with `prefix`).
    pub fn record_batch(&mut self, payload: &[u8], prefix: &str, started: Instant) {
        let Ok(batch) = serde_json::from_slice::<RevenueBatch>(payload) else {
            return;
        };
        if !batch.order_ids.iter().all(|id| id.starts_with(prefix)) {
            return;
        }
        self.batch_sizes.push(batch.orders);
        self.batch_revenue += batch.revenue;
        for id in batch.order_ids {
            self.counted.record(id, started);
        }
    }

    /// Whether every stage has an output for every order (duplicates may still be missing).
    pub fn looks_complete(&self) -> bool {
        [&self.totalled, &self.packed, &self.counted]
            .iter()
            .all(|stage| stage.seen.len() >= self.orders)
    }

    /// `Ok` when every order was totalled, packed and counted exactly once and the revenue
    /// adds up; else the first problem.
    pub fn check(&self) -> Result<(), String> {
        if self.timed_out {
            return Err("the run timed out before every consumer was drained".into());
        }
        for (name, stage) in [
            ("totalled", &self.totalled),
            ("packed", &self.packed),
            ("counted in a revenue batch", &self.counted),
        ] {
            if stage.seen.len() != self.orders || stage.duplicates() > 0 {
                return Err(format!(
                    "{} of {} orders {name}, {} more than once",
                    stage.seen.len(),
                    self.orders,
                    stage.duplicates()
                ));
            }
        }
        if self.processed_keys != self.orders {
            return Err(format!(
                "orders-processed remembers {} of {} event ids",
                self.processed_keys, self.orders
            ));
        }
        if self.batch_revenue != self.expected_revenue {
            return Err(format!(
                "revenue batches sum to {} cents, the orders to {}",
                self.batch_revenue, self.expected_revenue
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let largest = self.batch_sizes.iter().max().copied().unwrap_or(0);
        let full = self.batch_sizes.iter().filter(|&&size| size == 100).count();
        writeln!(
            f,
            "sent {} orders as {} deliveries ({} duplicates) in {:.2}s",
            self.orders,
            self.sends,
            self.sends - self.orders,
            self.sent_in.as_secs_f64()
        )?;
        writeln!(
            f,
            "idempotent-total   {:>6} orders totalled, {} twice; {} event ids remembered; {:.0} events/s",
            self.totalled.seen.len(),
            self.totalled.duplicates(),
            self.processed_keys,
            self.sends as f64 / self.totalled.last.as_secs_f64().max(1e-9)
        )?;
        writeln!(
            f,
            "fulfilment-worker  {:>6} orders packed, {} twice; {:.0} events/s",
            self.packed.seen.len(),
            self.packed.duplicates(),
            self.packed.rate()
        )?;
        write!(
            f,
            "batch-revenue      {:>6} orders in {} batches ({} of 100, largest {}), {} twice; revenue {:.2} of {:.2}; {:.0} events/s",
            self.counted.seen.len(),
            self.batch_sizes.len(),
            full,
            largest,
            self.counted.duplicates(),
            self.batch_revenue as f64 / 100.0,
            self.expected_revenue as f64 / 100.0,
            self.counted.rate()
        )
    }
}
