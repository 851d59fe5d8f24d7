//! The contract of the fulfilment saga: what its functions say to each other.
//!
//! - [`event`]: the events (one struct each) and the subjects they travel on;
//! - [`claim`](mod@claim): how a step makes itself idempotent per order (a key-value claim);
//! - [`gateway`]: the simulated card gateway the payment step calls, whose faults are a
//!   hash of the order and the delivery, so a run can be predicted and repeated;
//! - [`stock`]: a product's stock level with its per-order holds.
//!
//! The functions (`saga-inventory`, `saga-payment`, `saga-shipping`, `saga-email`) build for
//! `wasm32-wasip2` with this crate; the driver and the integration test use it natively to
//! read the same events.

pub mod claim;
pub mod event;
pub mod gateway;
pub mod stock;

pub use claim::{Claim, claim};
pub use event::*;
