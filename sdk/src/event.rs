//! The event a handler receives.

use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::sluice::function::types;

/// One event, as the host received it from NATS.
///
/// Handlers get it by value in [`Handler::handle`](crate::Handler::handle). Tests can build one
/// with [`Event::new`] and the `with_*` methods:
///
/// ```
/// use sluice_sdk::Event;
///
/// let event = Event::new("e-1", "orders.placed", r#"{"id":"o-1"}"#)
///     .with_header("Content-Type", "application/json")
///     .with_attempt(2);
/// assert_eq!(event.header("content-type"), Some("application/json"));
/// assert_eq!(event.attempt(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    id: String,
    subject: String,
    payload: Vec<u8>,
    headers: Vec<(String, String)>,
    reply_to: Option<String>,
    attempt: u32,
}

impl Event {
    /// Creates an event with no headers, no reply-to and attempt 1 (a first delivery).
    pub fn new(id: impl Into<String>, subject: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            id: id.into(),
            subject: subject.into(),
            payload: payload.into(),
            headers: Vec::new(),
            reply_to: None,
            attempt: 1,
        }
    }

    /// Returns the event with a header added after the existing ones.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Returns the event with its delivery number set (1 for the first delivery).
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Returns the event with a reply-to subject, as if the publisher made a request.
    pub fn with_reply_to(mut self, reply_to: impl Into<String>) -> Self {
        self.reply_to = Some(reply_to.into());
        self
    }

    /// The event's unique id, stable across retries: the key for idempotency.
    ///
    /// It is the publisher's `Nats-Msg-Id` or `Sluice-Event-Id` header when set, else one
    /// the host generated.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The subject the event was published on.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The event body, byte for byte as published.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// All headers in the order they arrived; names may repeat.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The value of the first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Where the publisher waits for an answer, when it made a request.
    ///
    /// Publishing to it is always allowed, whatever the function's permissions say.
    pub fn reply_to(&self) -> Option<&str> {
        self.reply_to.as_deref()
    }

    /// Which delivery this is: 1 for the first, 2 for the first retry, and so on.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Parses the payload as JSON into `T`.
    ///
    /// A payload that is not valid JSON for `T` gives a permanent error, since malformed
    /// input never heals; its message names the type and includes serde's explanation.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.payload).map_err(|e| {
            Error::permanent(format!(
                "payload of event {} on {} is not valid JSON for {}: {e}",
                self.id,
                self.subject,
                std::any::type_name::<T>()
            ))
        })
    }

    /// The payload as UTF-8 text.
    ///
    /// A payload that is not valid UTF-8 gives a permanent error.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.payload).map_err(|e| {
            Error::permanent(format!(
                "payload of event {} on {} is not UTF-8 text: {e}",
                self.id, self.subject
            ))
        })
    }

    /// Converts the record the host passed in.
    pub(crate) fn from_wit(event: types::Event) -> Self {
        Self {
            id: event.id,
            subject: event.subject,
            payload: event.payload,
            headers: event.headers,
            reply_to: event.reply_to,
            attempt: event.attempt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Order {
        id: String,
    }

    #[test]
    fn header_lookup_ignores_case_and_takes_the_first() {
        let event = Event::new("e", "s", "")
            .with_header("Trace", "1")
            .with_header("trace", "2");
        assert_eq!(event.header("TRACE"), Some("1"));
        assert_eq!(event.header("missing"), None);
        assert_eq!(event.headers().len(), 2);
    }

    #[test]
    fn defaults_are_a_first_delivery_without_reply_to() {
        let event = Event::new("e", "s", vec![1, 2]);
        assert_eq!(event.attempt(), 1);
        assert_eq!(event.reply_to(), None);
        assert_eq!(event.payload(), &[1, 2]);
        let event = event.with_reply_to("_INBOX.1");
        assert_eq!(event.reply_to(), Some("_INBOX.1"));
    }

    #[test]
    fn json_parses_the_payload() {
        let event = Event::new("e", "s", r#"{"id":"o-1"}"#);
        assert_eq!(event.json::<Order>().unwrap(), Order { id: "o-1".into() });
    }

    #[test]
    fn bad_json_is_a_permanent_error_naming_type_and_cause() {
        let err = Event::new("e-9", "orders.placed", "{")
            .json::<Order>()
            .unwrap_err();
        assert!(!err.is_retryable());
        let message = err.message();
        assert!(message.contains("not valid JSON"), "{message}");
        assert!(message.contains("Order"), "{message}");
        assert!(message.contains("EOF"), "{message}");
        assert!(message.contains("e-9"), "{message}");
    }

    #[test]
    fn text_rejects_invalid_utf8_permanently() {
        assert_eq!(Event::new("e", "s", "hi").text().unwrap(), "hi");
        let err = Event::new("e", "s", vec![0xff]).text().unwrap_err();
        assert!(!err.is_retryable());
    }
}
