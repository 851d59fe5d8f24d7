//! What a server answered: [`Response`].

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::request::find_header;
use crate::Error;

/// What the server answered: any status, with its headers and whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// A response with this status, headers and body (for tests and the host glue).
    pub fn new(status: u16, headers: Vec<(String, String)>, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers,
            body: body.into(),
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The headers, in order; names may repeat. Values that are not UTF-8 are decoded lossily.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The value of the first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body, as received.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, taken out of the response.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The body as UTF-8 text; one that is not is a permanent error.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body)
            .map_err(|e| Error::permanent(format!("HTTP {} response is not UTF-8 text: {e}", self.status)))
    }

    /// The body parsed as JSON; one that does not parse as `T` is a permanent error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::permanent(format!(
                "HTTP {} response is not valid JSON for {}: {e}",
                self.status,
                std::any::type_name::<T>()
            ))
        })
    }

    /// The response if its status is 2xx; otherwise the error the event fails with, naming
    /// `what` was called and quoting the start of the body: retryable for 408, 429 and 5xx
    /// (the server may recover; a `Retry-After` in seconds becomes the error's retry-after),
    /// permanent for any other status.
    pub fn error_for_status(self, what: &str) -> Result<Self, Error> {
        let excerpt: String = String::from_utf8_lossy(&self.body).chars().take(200).collect();
        match self.status {
            200..=299 => Ok(self),
            408 | 429 | 500..=599 => {
                let error = Error::retryable(format!("{what} answered {}: {excerpt}", self.status));
                Err(
                    match self.header("retry-after").and_then(|s| s.trim().parse().ok()) {
                        Some(seconds) => error.retry_after(Duration::from_secs(seconds)),
                        None => error,
                    },
                )
            }
            status => Err(Error::permanent(format!(
                "{what} refused the request with {status}: {excerpt}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> Response {
        let headers = headers
            .iter()
            .map(|&(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        Response::new(status, headers, "busy")
    }

    #[test]
    fn statuses_decide_between_done_retry_and_give_up() {
        assert!(response(204, &[]).error_for_status("hook").is_ok());
        for status in [408, 429, 500, 503] {
            let error = response(status, &[]).error_for_status("hook").unwrap_err();
            assert!(error.is_retryable(), "{status}");
            assert_eq!(error.message(), format!("hook answered {status}: busy"));
            assert_eq!(error.retry_delay(), None);
        }
        let error = response(404, &[]).error_for_status("hook").unwrap_err();
        assert!(!error.is_retryable());
        assert_eq!(error.message(), "hook refused the request with 404: busy");
    }

    #[test]
    fn retry_after_seconds_become_the_retry_delay() {
        let error = response(429, &[("Retry-After", "7")])
            .error_for_status("api")
            .unwrap_err();
        assert_eq!(error.retry_delay(), Some(Duration::from_secs(7)));
        // An HTTP date is not understood: the host's backoff applies.
        let error = response(503, &[("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT")])
            .error_for_status("api")
            .unwrap_err();
        assert_eq!(error.retry_delay(), None);
    }

    #[test]
    fn bodies_read_as_text_or_json_or_fail_permanently() {
        let response = Response::new(200, Vec::new(), r#"{"n":1}"#);
        assert_eq!(response.json::<serde_json::Value>().unwrap()["n"], 1);
        assert_eq!(response.text().unwrap(), r#"{"n":1}"#);
        let error = Response::new(200, Vec::new(), "nope")
            .json::<serde_json::Value>()
            .unwrap_err();
        assert!(!error.is_retryable() && error.message().contains("not valid JSON"));
    }
}
