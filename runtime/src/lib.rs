//! Sluice: a host that runs NATS events through sandboxed WebAssembly component functions.
//!
//! ```text
//!  functions folder ──► function (manifest + component compiled once) ──► registry (deploy)
//!
//!  core NATS (at most once)                      JetStream (at least once)
//!  subscription, queue group                     durable pull consumer
//!    ──► pending queue (limits.max_pending)        ──► pull as many as free permits
//!  ──► admission: a permit of the function's concurrency cap (circuit breaker, per-key order)
//!  ──► (batch functions: grouped with others into one `handle-batch` call)
//!  ──► instance (InstancePre, pooled memory, limits, epoch deadline) ──► handle(event)
//!      ok ......... outbox published               ok ......... outbox confirmed, ack
//!      retryable .. back off in the task, retry    retryable .. NAK with the delay
//!      permanent / exhausted / timeout / trap / out of memory / rejected before running
//!                   ──► dead letter                             ──► confirmed dead letter, TERM
//! ```
//!
//! Where each part lives, in the order of the flow:
//! - `manifest`: what a function asks for (`NAME.toml`), parsed and validated ([`Manifest`]).
//! - `function`: a loaded [`Function`] — manifest, component compiled and pre-linked, payload
//!   schemas; a value. A functions folder is loaded by `function::load_dir`.
//! - `imports`: the sandbox side of the WIT contract — the per-store state and one module per
//!   imported interface (publish, request, key-value, config, log, HTTP, wasmCloud messaging).
//! - `invoke`: one attempt in an instance ([`Runner`]), its failure classified ([`InvokeError`]).
//! - `batcher`: a batch function's attempts grouped into calls.
//! - `deployment`: a deployed function's live state, all in one place (runner, batcher,
//!   permits, counters, breaker, dedupe store).
//! - `dispatch`: `dispatch::core` and `dispatch::jetstream` side by side — receiving,
//!   admission, attempts, settling — over `dispatch::outcome`, what both decide alike (checks
//!   before the handler, the retry decision, dead letters, the outbox).
//! - `registry`: the deployed set; a redeploy hands the new version to the running intake.
//! - `host`: the running host's core (dispatcher + registry), shared by `reload` (hot reload
//!   of a watched folder) and `admin` (`/metrics`, `/healthz` over HTTP).
//! - [`Runtime`]: start, deploy, stats, shutdown — what the `sluice` command and the tests
//!   drive.
//! - [`delay`]: delayed events (`publish-after`): one stream per cluster holds them as message
//!   schedules until they fire, and a forwarder shared by the hosts publishes them.
//! - [`fleet`]: many hosts on one NATS cluster as one runtime — `sluice deploy` writes
//!   components and desired state to JetStream buckets, fleet hosts reconcile towards them
//!   through the same deploy path as hot reload and report what they run.
//!
//! Beside the flow: `stats` and `metrics` count what happened to every event, `breaker`
//! pauses a failing function, `ordering` keeps per-key order, `retry` is the backoff policy,
//! `provision` sets up streams, consumers and buckets, [`nats`] connects (learns once per
//! connection whether JetStream is there, and starts a local server), [`dlq`] reads dead letters back from their stream and replays them, and [`check`]
//! loads a folder without running it (`sluice check`). What the host and the SDK must agree
//! on (subjects, key rules, header names, dead-letter reasons, limits) is the
//! `sluice-protocol` crate; the `sluice` command is the `sluice-cli` crate.

mod admin;
mod batcher;
mod bindings;
mod breaker;
mod cache;
pub mod check;
pub mod delay;
mod deployment;
mod dispatch;
pub mod dlq;
mod engine;
mod event;
pub mod fleet;
mod function;
pub mod graph;
mod host;
mod imports;
mod invoke;
mod manifest;
mod metrics;
pub mod nats;
mod ordering;
mod provision;
mod registry;
mod reload;
mod retry;
mod runtime;
pub mod secrets;
pub mod shadow;
mod stats;
pub mod telemetry;
pub mod text;
pub mod transcript;
mod watch;

pub use engine::SluiceEngine;
pub use event::Event;
pub use function::{Function, LoadError};
pub use host::ReloadEvent;
pub use imports::{OutgoingMessage, Services};
pub use invoke::{InvokeError, Outcome, Rerun, RerunError, Runner, rerun};
pub use manifest::units::parse_duration;
pub use manifest::{Manifest, ManifestError};
pub use provision::schedule::{StoredSchedule, list as list_schedules};
pub use registry::{DeployError, Deployed};
pub use runtime::{Runtime, RuntimeConfig, ShutdownReport};
pub use sluice_protocol::DeadLetterReason;
pub use stats::StatsSnapshot;
