//! Idempotency per order: before a step acts on an order, it claims the order for the event
//! it is handling.
//!
//! JetStream delivers at least once, and shops re-send orders, so a step sees the same
//! order more than once: as a **retry** of the same event (same event id; its earlier
//! attempt may have written to key-value state before failing, since those writes are not
//! rolled back) or as a **duplicate** (another event about an order already handled). The
//! claim tells them apart with one compare-and-swap: the key `STEP.ORDER` is created with the
//! event id as its value only if it has none. A retry finds its own id and carries on; a
//! duplicate finds another id and stops.
//!
//! ```
//! use sluice_sdk::testing::TestHost;
//! use sluice_sdk::{Error, Event, Handler};
//! use saga_events::{Claim, claim};
//!
//! struct Step;
//!
//! impl Handler for Step {
//!     fn handle(event: Event) -> Result<(), Error> {
//!         if let Claim::Duplicate { of } = claim("steps", "ship.o-1", event.id())? {
//!             sluice_sdk::info!("already handled by {of}");
//!             return Ok(());
//!         }
//!         sluice_sdk::publish("shipped", "o-1")
//!     }
//! }
//!
//! let host = TestHost::new().allow_bucket("steps");
//! let first = host.run::<Step>(Event::new("e-1", "in", ""));
//! let retry = host.run::<Step>(Event::new("e-1", "in", "").with_attempt(2));
//! let duplicate = host.run::<Step>(Event::new("e-2", "in", ""));
//! assert_eq!(first.published.len(), 1);
//! assert_eq!(retry.published.len(), 1, "a retry carries on");
//! assert!(duplicate.published.is_empty(), "a duplicate stops");
//! ```

use sluice_sdk::Error;
use sluice_sdk::kv::{self, KvError};

/// What a [`claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The order is this event's to handle: it was unclaimed, or this event claimed it in
    /// an earlier attempt.
    Mine,
    /// Another event already claimed the order; this one is a duplicate and must not act.
    Duplicate {
        /// The id of the event that claimed it.
        of: String,
    },
}

/// Claims `key` in `bucket` for the event `event_id`.
///
/// Errors: the store's, as [`KvError`] converts them (a lost race or an outage is
/// retryable); a claim deleted between the swap and the read is retryable too.
pub fn claim(bucket: &str, key: &str, event_id: &str) -> Result<Claim, Error> {
    match kv::compare_and_swap(bucket, key, event_id, 0) {
        Ok(_) => Ok(Claim::Mine),
        Err(KvError::Conflict(_)) => {
            let holder = kv::get(bucket, key)?
                .ok_or_else(|| Error::retryable(format!("claim {key} vanished while it was read")))?;
            let holder = holder.text()?;
            if holder == event_id {
                Ok(Claim::Mine)
            } else {
                Ok(Claim::Duplicate {
                    of: holder.to_owned(),
                })
            }
        }
        Err(other) => Err(other.into()),
    }
}
