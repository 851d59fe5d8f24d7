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

mod error;
mod response;
mod url;
#[cfg(target_arch = "wasm32")]
mod wasi;

use std::fmt;
use std::time::Duration;

use serde::Serialize;

pub use error::HttpError;
pub use response::Response;
pub(crate) use url::Url;
#[cfg(target_arch = "wasm32")]
pub(crate) use wasi::send as wasi_send;

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

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
    /// `OPTIONS`.
    Options,
}

impl Method {
    /// The method's name, upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to build and [`send`](Request::send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) timeout: Option<Duration>,
}

impl Request {
    /// A request with `method` to `url` (`http://` or `https://`, host, optional port, path
    /// and query), without headers or body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// A `PUT` request.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }

    /// A `DELETE` request.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    /// Adds a header after those already set (a name may repeat). `content-length` is set
    /// from the body.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body, sent as it is.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` as JSON and the `content-type` to `application/json`. A value
    /// that cannot be serialized is [`HttpError::InvalidRequest`].
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, HttpError> {
        let body = serde_json::to_vec(value).map_err(|e| {
            HttpError::InvalidRequest(format!(
                "{} {}: cannot serialize {} as JSON: {e}",
                self.method,
                self.url,
                std::any::type_name::<T>()
            ))
        })?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Gives up with [`HttpError::Timeout`] when the response, from sending the request to
    /// the last byte of its body, takes longer than `timeout`. The manifest's
    /// `limits.http_timeout` applies whatever this says: a longer timeout changes nothing.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the request and reads the whole response.
    pub fn send(&self) -> Result<Response, HttpError> {
        crate::host::http_send(self)
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers set, in order (`content-length` is added when it is sent).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// `METHOD url`, for messages.
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.method, self.url)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_keep_what_the_builder_set() {
        let request = Request::put("http://a.test/x")
            .header("X-One", "1")
            .json(&serde_json::json!({"n": 1}))
            .unwrap()
            .timeout(Duration::from_millis(500));
        assert_eq!(request.method(), Method::Put);
        assert_eq!(
            find_header(request.headers(), "content-type"),
            Some("application/json")
        );
        assert_eq!(find_header(request.headers(), "x-one"), Some("1"));
        assert_eq!(request.body, br#"{"n":1}"#);
        assert_eq!(request.timeout, Some(Duration::from_millis(500)));
        assert_eq!(request.describe(), "PUT http://a.test/x");
    }
}
