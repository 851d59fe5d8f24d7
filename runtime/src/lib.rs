//! Sluice: a host that runs NATS events through sandboxed WebAssembly component functions.
//!
//! ```text
//!  NATS subject ──► subscription (per function, queue group) ──► pending queue (bounded)
//!      ──► admission: a permit of the function's concurrency cap
//!      ──► (batch functions: grouped with others into one batch, see [`batch`])
//!      ──► fresh component instance (InstancePre, pooled memory, limits, epoch deadline)
//!      ──► handle(event) ──► ok ........... flush the function's buffered publishes (outbox)
//!                        └─► retryable ..... release the permit, back off, try again
//!                        └─► permanent / exhausted / timeout / trap / out of memory
//!                                            ──► dead-letter subject, with the reason
//! ```
//!
//! The modules follow that flow: [`manifest`] (what a function asks for), [`function`]
//! (compile once, pre-link), [`schema`] (payload schemas, checked before the handler runs),
//! [`invoke`] (one attempt in a fresh instance), [`batch`] (a batch function's attempts
//! grouped into one `handle-batch` call), [`dispatch`] (subscription, admission,
//! retry, dead letter), [`registry`] (the deployed set) and
//! [`host`](crate::runtime) (a running host and its shutdown). Beside the flow, [`stats`]
//! counts what happened to every event and [`admin`] serves those counts ([`metrics`]) and
//! the host's health over HTTP. After the flow, [`dlq`] reads dead letters back from their
//! stream and replays them to the subject they came from.

pub mod admin;
pub mod batch;
pub mod bindings;
pub mod breaker;
pub mod cache;
pub mod check;
pub mod dead_letter;
pub mod dispatch;
pub mod dlq;
pub mod engine;
pub mod event;
pub mod function;
pub mod host;
pub mod invoke;
pub mod jetstream;
pub mod manifest;
pub mod metrics;
pub mod nats;
pub mod ordering;
pub mod registry;
pub mod reload;
pub mod retry;
pub mod runtime;
pub mod schema;
pub mod stats;
pub mod text;
pub mod watch;

pub use engine::SluiceEngine;
pub use event::Event;
pub use function::{Function, LoadError};
pub use invoke::{InvokeError, invoke};
pub use manifest::{Manifest, ManifestError};
pub use runtime::{Runtime, RuntimeConfig};
