//! Write Sluice event handlers in Rust.
//!
//! A handler is one [`Handler`] impl plus one [`export!`] line. The crate builds into a
//! WebAssembly component with a plain
//! `cargo build --release --target wasm32-wasip2`; the Sluice host runs it once per event
//! that arrives on the function's NATS subjects.
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use sluice_sdk::{Error, Event, Handler};
//!
//! #[derive(Deserialize)]
//! struct Order {
//!     id: String,
//!     items: Vec<Item>,
//! }
//!
//! #[derive(Deserialize)]
//! struct Item {
//!     qty: u32,
//!     price: u64,
//! }
//!
//! #[derive(Serialize)]
//! struct OrderTotalled {
//!     order_id: String,
//!     total: u64,
//! }
//!
//! struct OrderTotal;
//!
//! impl Handler for OrderTotal {
//!     fn handle(event: Event) -> Result<(), Error> {
//!         // Malformed input never heals, so a parse failure is a permanent error.
//!         let order: Order = event.json()?;
//!         let total = order.items.iter().map(|i| u64::from(i.qty) * i.price).sum();
//!         sluice_sdk::info!("order {} totals {total}", order.id);
//!         sluice_sdk::publish_json(
//!             "orders.totalled",
//!             &OrderTotalled { order_id: order.id, total },
//!         )?;
//!         Ok(())
//!     }
//! }
//!
//! sluice_sdk::export!(OrderTotal);
//! # fn main() {}
//! ```
//!
//! The function crate needs `crate-type = ["cdylib"]` and depends on `sluice-sdk` (plus
//! `serde` for typed payloads); it does not depend on wit-bindgen.
//!
//! # What the result means
//!
//! - `Ok(())`: the event is done; everything the handler [`publish`]ed is sent now (publishes
//!   are buffered until the handler succeeds, so a failed attempt never publishes anything).
//! - [`Error::retryable`]: the host delivers the event again later, with backoff, until the
//!   function's `retry.max_attempts` is used up; then it goes to the dead-letter subject.
//!   `?` on any [`std::error::Error`] gives a retryable error.
//! - [`Error::permanent`]: retrying cannot help; the event goes straight to the dead-letter
//!   subject with the message.
//!
//! A panic traps the instance; the host treats it like a retryable failure.
//!
//! # Micro-batches
//!
//! A function that gains from seeing many events at once (one database round trip for a
//! hundred rows, an aggregate) implements [`BatchHandler`] and exports it with
//! [`export_batch!`]. Each event of a batch still has its own outcome, retries and dead
//! letter; see [`BatchHandler`].
//!
//! # Testing handlers natively
//!
//! The crate also compiles for the host target, so a function crate's unit tests run with
//! plain `cargo test`: [`testing::TestHost`] plays the Sluice host (config, publish
//! permissions, the outbox, logs, in-memory key-value buckets, canned replies to requests and
//! canned HTTP responses) and runs a handler on an [`Event`] built with [`Event::new`].
//! Calling [`publish`], [`config`], [`kv`], [`request`], [`http`] or the [`log`] functions
//! natively outside a `TestHost` run panics with a message saying so.
//!
//! # Delayed events
//!
//! [`publish_after`] and [`publish_at`] publish an event later (a payment timeout, a
//! reminder), through the outbox like [`publish`], and return an id that
//! [`cancel_scheduled`] takes. The host keeps them in JetStream until they fire.
//!
//! # State, requests and HTTP
//!
//! [`kv`] reads and writes the JetStream key-value buckets named in the manifest's
//! `[state] buckets`; [`request`] asks another service (another Sluice function, say) and
//! waits for its answer, on the subjects in `permissions.request`; [`http`] calls webhooks
//! and APIs on the hosts in `permissions.http`. None goes through the outbox: their effects
//! happen at once, even in an attempt that later fails.

mod batch;
mod bindings_glue;
mod config;
mod delay;
mod error;
mod event;
mod host;
pub mod http;
pub mod kv;
mod level;
pub mod log;
mod publish;
mod request;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

/// The generated wit-bindgen bindings of the `sluice:function/handler` world.
///
/// An implementation detail of [`export!`]; not part of the SDK's API.
#[doc(hidden)]
// The generated code lifts and lowers values across the component boundary through raw
// pointers, which needs `unsafe`; the workspace denies it everywhere else. It is not ours to
// document or lint either (the ABI entry point alone takes 12 arguments).
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "handler",
        pub_export_macro: true,
        export_macro_name: "__export_handler_world",
        default_bindings_module: "::sluice_sdk::bindings",
    });

    pub use crate::bindings_glue::Glue;
}

/// The generated wit-bindgen bindings of the `sluice:function/batch-handler` world; the
/// interfaces it shares with `handler` are those of [`bindings`].
///
/// An implementation detail of [`export_batch!`]; not part of the SDK's API.
#[doc(hidden)]
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod batch_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "batch-handler",
        pub_export_macro: true,
        export_macro_name: "__export_batch_handler_world",
        default_bindings_module: "::sluice_sdk::batch_bindings",
        with: {
            "sluice:function/types@0.1.0": crate::bindings::sluice::function::types,
            "sluice:function/publisher@0.1.0": crate::bindings::sluice::function::publisher,
            "sluice:function/log@0.1.0": crate::bindings::sluice::function::log,
            "sluice:function/config@0.1.0": crate::bindings::sluice::function::config,
            "sluice:function/secret@0.1.0": crate::bindings::sluice::function::secret,
            "sluice:function/kv@0.1.0": crate::bindings::sluice::function::kv,
            "sluice:function/requester@0.1.0": crate::bindings::sluice::function::requester,
        },
    });

    pub use crate::bindings_glue::BatchGlue;
}

pub use batch::{Batch, BatchHandler, BatchOutcome};

pub use config::{config, secret};
pub use delay::{cancel_scheduled, publish_after, publish_at, publish_json_after};
pub use error::Error;
pub use event::Event;
pub use level::Level;
pub use publish::{publish, publish_json, publish_with_headers};
pub use request::{Reply, RequestError, request, request_with_headers};

/// An event handler: the one trait a Sluice function implements.
///
/// The host calls [`Handler::handle`] once per delivery of an event, by default in a fresh
/// instance, so no state survives from one event to the next. Register the implementing type
/// with [`export!`].
pub trait Handler {
    /// Handles one event.
    ///
    /// Return `Ok(())` when the event is done, [`Error::retryable`] when a later attempt may
    /// succeed, or [`Error::permanent`] when it never will.
    fn handle(event: Event) -> Result<(), Error>;
}

/// Exports a [`Handler`] implementation as the component's `handle` function.
///
/// Use it once per function crate, at the crate root, naming the type that implements
/// [`Handler`]:
///
/// ```no_run
/// # use sluice_sdk::{Error, Event, Handler};
/// struct Echo;
///
/// impl Handler for Echo {
///     fn handle(event: Event) -> Result<(), Error> {
///         sluice_sdk::publish("echo.out", event.payload())
///     }
/// }
///
/// sluice_sdk::export!(Echo);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export {
    ($handler:ty) => {
        // The expansion defines the component's exported `handle` symbol and its
        // post-return hook (`#[unsafe(export_name)]`, raw pointers) and embeds the WIT type
        // information (`#[unsafe(link_section)]`): that is `unsafe` by nature. rustc does not
        // report `unsafe_code` inside another crate's macro today; the allow states the
        // exception explicitly and keeps it confined to this expansion.
        #[allow(unsafe_code)]
        const _: () = {
            type __SluiceHandlerGlue = $crate::bindings::Glue<$handler>;
            $crate::bindings::__export_handler_world!(
                __SluiceHandlerGlue with_types_in $crate::bindings
            );
        };
    };
}

/// Exports a [`BatchHandler`] implementation as the component's `handle-batch` function
/// (world `batch-handler`).
///
/// Use it once per function crate, at the crate root, instead of [`export!`]:
///
/// ```no_run
/// # use sluice_sdk::{Batch, BatchHandler, BatchOutcome};
/// struct Forward;
///
/// impl BatchHandler for Forward {
///     fn handle_batch(batch: Batch) -> BatchOutcome {
///         batch.each(|event| sluice_sdk::publish("forwarded", event.payload()))
///     }
/// }
///
/// sluice_sdk::export_batch!(Forward);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_batch {
    ($handler:ty) => {
        // `unsafe` for the same reasons as in `export!`.
        #[allow(unsafe_code)]
        const _: () = {
            type __SluiceBatchGlue = $crate::batch_bindings::BatchGlue<$handler>;
            $crate::batch_bindings::__export_batch_handler_world!(
                __SluiceBatchGlue with_types_in $crate::batch_bindings
            );
        };
    };
}

/// Logs a formatted message at trace level; see [`log::trace`].
///
/// ```no_run
/// let attempt = 2;
/// sluice_sdk::trace!("attempt {attempt}");
/// ```
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        $crate::log::trace(&::std::format!($($arg)+))
    };
}

/// Logs a formatted message at debug level; see [`log::debug`].
///
/// ```no_run
/// let key = "threshold";
/// sluice_sdk::debug!("config {key} not set, using the default");
/// ```
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::log::debug(&::std::format!($($arg)+))
    };
}

/// Logs a formatted message at info level; see [`log::info`].
///
/// ```no_run
/// let order_id = "o-1";
/// sluice_sdk::info!("order {order_id} totalled");
/// ```
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::log::info(&::std::format!($($arg)+))
    };
}

/// Logs a formatted message at warn level; see [`log::warn`].
///
/// ```no_run
/// let sku = "A";
/// sluice_sdk::warn!("unknown sku {sku}, skipped");
/// ```
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::log::warn(&::std::format!($($arg)+))
    };
}

/// Logs a formatted message at error level; see [`log::error`].
///
/// ```no_run
/// let status = 503;
/// sluice_sdk::error!("inventory service answered {status}");
/// ```
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::log::error(&::std::format!($($arg)+))
    };
}
