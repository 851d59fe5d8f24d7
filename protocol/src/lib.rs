//! What the Sluice host and its SDK must agree on, written once.
//!
//! The host (`sluice-runtime`) enforces these rules on every call a handler makes; the SDK's
//! `TestHost` applies the same ones in native unit tests, so a test cannot pass on a rule the
//! host does not apply. The crate has no dependencies, since the SDK compiles it into every
//! Rust guest.
//!
//! - [`subject`]: NATS subject patterns (`orders.*`, `audit.>`), their matching, and the
//!   check that a subject published to is literal.
//! - [`kv`]: which key-value keys and prefixes are valid, and how large a value and a key
//!   listing may be.
//! - [`http`]: `permissions.http` entries (`host`, `host:port`, `*.domain`) and what they
//!   allow.
//! - [`headers`]: the names of the headers Sluice reads and writes, and what a handler's own
//!   header may hold.
//! - [`dead_letter`]: why an event was dead-lettered ([`DeadLetterReason`]), with the name
//!   written in `Sluice-Dlq-Reason`.
//! - [`limits`]: how much one event may publish.
//! - [`delay`]: how far ahead an event may be scheduled, and the ids of delayed events.

pub mod dead_letter;
pub mod delay;
pub mod headers;
pub mod http;
pub mod kv;
pub mod limits;
pub mod subject;

pub use dead_letter::DeadLetterReason;
pub use http::AuthorityPattern;
pub use subject::SubjectPattern;
