//! `fulfilment-worker`: a **worker pool** for slow work. Every totalled order needs a slow
//! call to the warehouse (here a wait of `[config] work_ms` milliseconds); the pool is the
//! manifest's `limits.max_concurrency = 32`. In JetStream mode the host pulls only as many
//! orders as it has free workers, so a backlog waits in the stream, not in memory, and the
//! warehouse never sees more than 32 calls from one host at once.
//!
//! The wait is `std::thread::sleep`, which in a component is a WASI clock subscription: the
//! host parks the instance and runs other work meanwhile, as it would for real I/O.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_sdk::{Error, Event, Handler};

/// Where packed orders are announced.
pub const PACKED: &str = "shop.orders.packed";

/// The part of a totalled order this worker reads.
#[derive(Debug, Deserialize)]
pub struct Totalled {
    /// The order's id.
    pub order_id: String,
    /// The total, in cents.
    pub total: u64,
}

/// What the worker announces once the order is packed.
#[derive(Debug, Serialize)]
pub struct Packed {
    /// The order's id.
    pub order_id: String,
    /// How long the warehouse took, in milliseconds.
    pub work_ms: u64,
}

/// The `fulfilment-worker` function.
pub struct FulfilmentWorker;

impl Handler for FulfilmentWorker {
    fn handle(event: Event) -> Result<(), Error> {
        let order: Totalled = event.json()?;
        let work_ms = sluice_sdk::config("work_ms")
            .map(|ms| ms.parse::<u64>())
            .transpose()
            .map_err(|e| Error::permanent(format!("config work_ms: {e}")))?
            .unwrap_or(5);
        reserve_stock(work_ms);
        sluice_sdk::publish_json(
            PACKED,
            &Packed {
                order_id: order.order_id,
                work_ms,
            },
        )
    }
}

/// The slow call: a stand-in for the warehouse's API.
fn reserve_stock(work_ms: u64) {
    std::thread::sleep(Duration::from_millis(work_ms));
}

sluice_sdk::export!(FulfilmentWorker);

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::TestHost;

    use super::*;

    #[test]
    fn a_packed_order_is_announced() {
        let host = TestHost::new().config("work_ms", "1").allow_publish(PACKED);
        let event = Event::new(
            "e-1",
            "shop.orders.totalled",
            r#"{"order_id":"o-1","customer":"c","total":5}"#,
        );
        let outcome = host.run::<FulfilmentWorker>(event);
        assert!(outcome.result.is_ok());
        let packed: serde_json::Value = outcome.published[0].json();
        assert_eq!(
            (packed["order_id"].as_str(), packed["work_ms"].as_u64()),
            (Some("o-1"), Some(1))
        );
    }
}
