//! Asking another service and waiting for its answer (NATS request/reply).

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::Error;

/// The answer to a [`request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    payload: Vec<u8>,
    headers: Vec<(String, String)>,
}

impl Reply {
    /// A reply with this payload and headers (for tests and the host glue).
    pub fn new(payload: impl Into<Vec<u8>>, headers: Vec<(String, String)>) -> Self {
        Self {
            payload: payload.into(),
            headers,
        }
    }

    /// The answer's body.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The answer's headers, in order; names may repeat.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The value of the first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The answer parsed as JSON; one that does not parse as `T` is a permanent error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.payload).map_err(|e| {
            Error::permanent(format!(
                "reply is not valid JSON for {}: {e}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// The answer as UTF-8 text; one that is not is a permanent error.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.payload)
            .map_err(|e| Error::permanent(format!("reply is not UTF-8 text: {e}")))
    }
}

/// Why a [`request`] got no answer.
///
/// Converts into an [`Error`] with `?`: [`Timeout`](Self::Timeout),
/// [`NoResponders`](Self::NoResponders) and [`Failed`](Self::Failed) are retryable,
/// [`Denied`](Self::Denied) is permanent. (Like [`KvError`](crate::kv::KvError), it does not
/// implement [`std::error::Error`].)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The subject matches none of the function's `permissions.request` patterns.
    Denied(String),
    /// Nobody answered within the timeout.
    Timeout(String),
    /// Nobody listens on the subject.
    NoResponders(String),
    /// The request could not be sent or answered (an invalid subject or header, no
    /// connection, a connection failure).
    Failed(String),
}

impl RequestError {
    /// The host's explanation.
    pub fn message(&self) -> &str {
        match self {
            Self::Denied(m) | Self::Timeout(m) | Self::NoResponders(m) | Self::Failed(m) => m,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl From<RequestError> for Error {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::Denied(m) => Error::permanent(m),
            RequestError::Timeout(m) | RequestError::NoResponders(m) | RequestError::Failed(m) => {
                Error::retryable(m)
            }
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_denials_are_permanent() {
        assert!(!Error::from(RequestError::Denied("d".into())).is_retryable());
        for error in [
            RequestError::Timeout("t".into()),
            RequestError::NoResponders("n".into()),
            RequestError::Failed("f".into()),
        ] {
            assert!(Error::from(error).is_retryable());
        }
    }

    #[test]
    fn replies_find_headers_case_insensitively() {
        let reply = Reply::new(
            "{\"n\":1}",
            vec![("Content-Type".into(), "application/json".into())],
        );
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.json::<serde_json::Value>().unwrap()["n"], 1);
        assert!(reply.text().is_ok());
    }
}
