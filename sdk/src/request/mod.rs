//! Asking another service and waiting for its answer (NATS request/reply).

pub(crate) mod error;
pub(crate) mod reply;

use std::time::Duration;

pub use error::RequestError;
pub use reply::Reply;

/// Sends `payload` to `subject` and waits up to `timeout` for the answer.
///
/// The request goes out at once, not through the outbox (the handler needs the answer now),
/// so a retried event asks again. The host caps `timeout` at the function's
/// `limits.timeout` (`Duration::ZERO` means that limit) and adds the event's correlation id.
/// The subject must match one of the function's `permissions.request` patterns.
///
/// ```
/// use std::time::Duration;
/// use sluice_sdk::testing::TestHost;
/// use sluice_sdk::{Error, Event, Handler};
///
/// struct Reserve;
///
/// impl Handler for Reserve {
///     fn handle(event: Event) -> Result<(), Error> {
///         // A timeout or nobody listening is retryable: `?` retries the event later.
///         let reply = sluice_sdk::request("inventory.reserve", event.payload(), Duration::from_secs(2))?;
///         sluice_sdk::publish("orders.reserved", reply.payload())
///     }
/// }
///
/// let host = TestHost::new()
///     .allow_request("inventory.>")
///     .answer("inventory.reserve", r#"{"reserved":true}"#);
/// let outcome = host.run::<Reserve>(Event::new("e-1", "orders.placed", "sku-1"));
/// assert!(outcome.result.is_ok());
/// assert_eq!(outcome.requests[0].payload, b"sku-1");
/// assert_eq!(outcome.published[0].payload, br#"{"reserved":true}"#);
///
/// // Nobody answers `inventory.reserve` here: a retryable error.
/// let outcome = TestHost::new().run::<Reserve>(Event::new("e-2", "orders.placed", "sku-1"));
/// assert!(outcome.result.unwrap_err().is_retryable());
/// ```
pub fn request(subject: &str, payload: impl AsRef<[u8]>, timeout: Duration) -> Result<Reply, RequestError> {
    request_with_headers(subject, payload, &[], timeout)
}

/// Like [`request`], with extra headers.
pub fn request_with_headers(
    subject: &str,
    payload: impl AsRef<[u8]>,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Reply, RequestError> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|&(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    crate::host::request(subject, payload.as_ref(), &headers, timeout_ms)
}
