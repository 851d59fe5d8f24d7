//! Outbound HTTP: calling webhooks and APIs from a handler.
//!
//! The Sluice host makes the request (`wasi:http/outgoing-handler`; the handler still has no
//! sockets), and only to the hosts the manifest's `permissions.http` lists; anything else is
//! [`HttpError::Denied`] before a connection is made. The manifest's `limits.http_timeout`
//! bounds every request and `limits.max_http_response` its response body. Requests go out
//! at once, not through the outbox: a retried event calls again, so make the call safe to
//! repeat (an idempotency key the server deduplicates on, say).
//!
//! [`get`] and [`post`] cover the common calls; [`Request`] sets the method, headers, body
//! and a timeout. Any status is a [`Response`], 5xx included: the handler decides what a
//! status means, or lets [`Response::error_for_status`] decide (2xx done; 408, 429 and 5xx
//! retryable; any other status permanent).
//!
//! ```
//! use sluice_sdk::testing::TestHost;
//! use sluice_sdk::{Error, Event, Handler, http};
//!
//! /// Tells the shipping service about each order, once per order.
//! struct Ship;
//!
//! impl Handler for Ship {
//!     fn handle(event: Event) -> Result<(), Error> {
//!         let order: serde_json::Value = event.json()?;
//!         let response = http::Request::post("https://ship.example.com/v1/shipments")
//!             .header("idempotency-key", event.id())
//!             .json(&order)?
//!             .timeout(std::time::Duration::from_secs(2))
//!             .send()?; // denied: permanent; timeout, connection failure: retryable
//!         let shipment: serde_json::Value = response.error_for_status("shipping")?.json()?;
//!         sluice_sdk::info!("shipment {}", shipment["id"]);
//!         Ok(())
//!     }
//! }
//!
//! let host = TestHost::new()
//!     .allow_http("ship.example.com")
//!     .respond("ship.example.com", 201, r#"{"id":"s-1"}"#);
//! let outcome = host.run::<Ship>(Event::new("e-1", "orders.placed", r#"{"id":"o-1"}"#));
//! assert!(outcome.result.is_ok());
//! assert_eq!(outcome.http[0].header("idempotency-key"), Some("e-1"));
//! assert_eq!(outcome.logs[0].1, r#"shipment "s-1""#);
//!
//! // The service is down: a 503 is retryable.
//! let host = TestHost::new().allow_http("ship.example.com").respond("ship.example.com", 503, "");
//! let outcome = host.run::<Ship>(Event::new("e-2", "orders.placed", r#"{"id":"o-2"}"#));
//! assert!(outcome.result.unwrap_err().is_retryable());
//!
//! // Without `allow_http`, as without `permissions.http`: denied, a permanent error.
//! let outcome = TestHost::new().run::<Ship>(Event::new("e-3", "orders.placed", "{}"));
//! assert!(!outcome.result.unwrap_err().is_retryable());
//! ```

pub(crate) mod error;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod url;
#[cfg(target_arch = "wasm32")]
pub(crate) mod wasi;

pub use error::HttpError;
pub use request::{Method, Request};
pub use response::Response;

/// Sends a `GET` to `url` and reads the whole response.
///
/// ```no_run
/// let rates: serde_json::Value = sluice_sdk::http::get("https://api.example.com/rates")?.json()?;
/// # Ok::<(), sluice_sdk::Error>(())
/// ```
pub fn get(url: &str) -> Result<Response, HttpError> {
    Request::get(url).send()
}

/// Sends a `POST` of `body` to `url` and reads the whole response.
///
/// The body goes out as it is, without a `content-type`; [`Request::json`] sets one.
///
/// ```no_run
/// let response = sluice_sdk::http::post("http://127.0.0.1:8080/hooks", r#"{"ok":true}"#)?;
/// assert!(response.is_success());
/// # Ok::<(), sluice_sdk::Error>(())
/// ```
pub fn post(url: &str, body: impl Into<Vec<u8>>) -> Result<Response, HttpError> {
    Request::post(url).body(body).send()
}

// `send` is the one `Request` method that calls the host; it lives here, beside `get` and
// `post`, so `request.rs` stays a plain value the test host and `wasi.rs` can import without
// importing the host back.
impl Request {
    /// Sends the request and reads the whole response.
    pub fn send(&self) -> Result<Response, HttpError> {
        crate::host::http_send(self)
    }
}
