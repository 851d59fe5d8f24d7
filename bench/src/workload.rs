//! The order events every scenario pushes, and how many.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Sizes of one benchmark run.
pub struct Size {
    /// Events per throughput run.
    pub events: usize,
    /// Events per JetStream throughput run (each is stored, pulled and acked).
    pub jetstream_events: usize,
    /// Calls per host-cost measurement.
    pub calls: usize,
    /// Seconds of fixed-rate publishing for latency.
    pub latency_secs: u64,
    /// Events per concurrency run (scaled by the cap).
    pub concurrency_events: usize,
    /// Deploys of a new version timed in the fleet scenario (after the first, cold one).
    pub fleet_deploys: usize,
    /// Functions a host starting into the fleet finds deployed.
    pub fleet_functions: usize,
    /// Rounds of a host starting into the fleet (cold, then warm).
    pub fleet_starts: usize,
    /// NATS servers of the fleet scenarios (1: a single server, no cluster).
    pub fleet_nodes: usize,
    /// Order events per core-NATS run of one host against three.
    pub fleet_events: usize,
    /// Order events per JetStream run of one host against three (each stored and acked).
    pub fleet_jetstream_events: usize,
    /// The `delivery.ack_wait` of each failover run (a host killed under a steady stream).
    pub failover_ack_waits: Vec<Duration>,
    /// Firings of an `@every 1s` schedule timed per variant (idle, loaded host).
    pub schedule_firings: usize,
    /// Delayed events timed per variant (idle, loaded host).
    pub delayed_events: usize,
    /// Order events per run of the tracing scenario (off, sampled 1.0, sampled 0.01).
    pub tracing_events: usize,
    /// Rounds of the tracing scenario (each runs every variant once; the median is reported).
    pub tracing_rounds: usize,
    /// Upper bound of any one run.
    pub timeout: Duration,
}

impl Size {
    /// The real thing.
    pub fn full(events: usize, jetstream_events: usize) -> Self {
        Self {
            events,
            jetstream_events,
            calls: 20_000,
            latency_secs: 5,
            concurrency_events: 2_000,
            fleet_deploys: 20,
            fleet_functions: 50,
            fleet_starts: 3,
            fleet_nodes: 3,
            fleet_events: 100_000,
            fleet_jetstream_events: 20_000,
            failover_ack_waits: vec![Duration::from_secs(30), Duration::from_secs(5)],
            schedule_firings: 15,
            delayed_events: 1_000,
            tracing_events: events / 2,
            tracing_rounds: 3,
            timeout: Duration::from_secs(120),
        }
    }

    /// Enough to prove every scenario runs.
    pub fn smoke() -> Self {
        Self {
            events: 2_000,
            jetstream_events: 2_000,
            calls: 200,
            latency_secs: 1,
            concurrency_events: 64,
            fleet_deploys: 3,
            fleet_functions: 5,
            fleet_starts: 1,
            fleet_nodes: 1,
            fleet_events: 1_000,
            fleet_jetstream_events: 500,
            failover_ack_waits: vec![Duration::from_secs(1)],
            schedule_firings: 2,
            delayed_events: 100,
            tracing_events: 2_000,
            tracing_rounds: 1,
            timeout: Duration::from_secs(60),
        }
    }
}

/// An order as published to `orders.placed`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Order {
    /// Order id.
    pub id: String,
    /// Customer.
    pub customer: String,
    /// Lines.
    pub items: Vec<Item>,
}

/// One order line.
#[derive(Debug, Serialize, Deserialize)]
pub struct Item {
    /// Stock-keeping unit.
    pub sku: String,
    /// Quantity.
    pub qty: u64,
    /// Unit price in cents.
    pub price: u64,
}

/// What the order-total work publishes.
#[derive(Debug, Serialize, Deserialize)]
pub struct OrderTotalled {
    /// The order.
    pub order_id: String,
    /// The customer.
    pub customer: String,
    /// Sum of qty * price.
    pub total: u64,
    /// Sum of qty.
    pub item_count: u64,
}

/// The payload of order `n`.
pub fn order(n: usize) -> Vec<u8> {
    let order = Order {
        id: format!("o-{n}"),
        customer: format!("c-{}", n % 100),
        items: vec![
            Item {
                sku: "A".into(),
                qty: 2,
                price: 1999,
            },
            Item {
                sku: "B".into(),
                qty: 1,
                price: 500 + (n % 7) as u64,
            },
            Item {
                sku: "C".into(),
                qty: 3,
                price: 250,
            },
        ],
    };
    serde_json::to_vec(&order).expect("orders serialize")
}

/// The order-total work, as the native consumer does it.
pub fn total(payload: &[u8]) -> Option<Vec<u8>> {
    let order: Order = serde_json::from_slice(payload).ok()?;
    let totalled = OrderTotalled {
        total: order.items.iter().map(|i| i.qty * i.price).sum(),
        item_count: order.items.iter().map(|i| i.qty).sum(),
        order_id: order.id,
        customer: order.customer,
    };
    serde_json::to_vec(&totalled).ok()
}
