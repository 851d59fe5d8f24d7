//! The `http` op: a POST through the SDK's `sluice_sdk::http` client, reported as the
//! status and body or as the kind of [`HttpError`] with its message (which names the host's
//! `wasi:http` `error-code`), so the tests see how the SDK maps what the real host does.

use std::time::Duration;

use serde_json::{Value, json};
use sluice_sdk::http::{HttpError, Request};

/// POSTs `body` to `url` (with the request's own timeout when `timeout_ms` is set) and
/// returns `{"status","body"}` or `{"error": kind, "message"}`.
pub fn post(url: &str, body: &str, timeout_ms: Option<u64>) -> Value {
    let mut request = Request::post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(ms) = timeout_ms {
        request = request.timeout(Duration::from_millis(ms));
    }
    match request.send() {
        Ok(response) => json!({
            "status": response.status(),
            "body": String::from_utf8_lossy(response.body()),
        }),
        Err(error) => json!({ "error": kind(&error), "message": error.message() }),
    }
}

/// The variant's name, kebab-case.
fn kind(error: &HttpError) -> &'static str {
    match error {
        HttpError::Denied(_) => "denied",
        HttpError::Timeout(_) => "timeout",
        HttpError::ResponseTooLarge(_) => "response-too-large",
        HttpError::Connection(_) => "connection",
        HttpError::InvalidRequest(_) => "invalid-request",
        HttpError::Other(_) => "other",
    }
}
