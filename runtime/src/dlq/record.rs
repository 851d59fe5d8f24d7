//! One dead letter as read back from its stream: the `Sluice-Dlq-*` headers parsed, the
//! event's own headers and payload kept as they are.

use bytes::Bytes;

use crate::event::headers::{self, EVENT_ID, dead_letter as header};

/// A dead letter kept in a stream. Fields read from a header are empty (or 0) when the header
/// is missing, e.g. for a message someone else published to the dead-letter subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its sequence number in the stream that keeps it.
    pub sequence: u64,
    /// `Sluice-Dlq-Reason`: a [`DeadLetterReason`](sluice_protocol::DeadLetterReason)'s wire
    /// name (`permanent`, `exhausted`, ...), kept as text: the stream may hold letters this
    /// version of Sluice did not write.
    pub reason: String,
    /// `Sluice-Dlq-Error`: the handler's or host's message.
    pub error: String,
    /// `Sluice-Function`: the function that gave up.
    pub function: String,
    /// `Sluice-Original-Subject`: where the event arrived, and where a replay sends it.
    pub original_subject: String,
    /// `Sluice-Attempts`: deliveries made.
    pub attempts: u32,
    /// `Sluice-Dead-Lettered-At`, RFC 3339.
    pub dead_lettered_at: String,
    /// The id the handler saw: `Nats-Msg-Id`, else `Sluice-Event-Id`; `None` for dead letters
    /// written before Sluice recorded generated ids.
    pub event_id: Option<String>,
    /// `Sluice-Replays`: how many times the event was replayed already.
    pub replays: u32,
    /// Every header of the dead letter, the event's own first.
    pub headers: Vec<(String, String)>,
    /// The event's payload, byte for byte.
    pub payload: Bytes,
}

impl DeadLetter {
    /// Parses the dead letter stored at `sequence` with `headers` and `payload`.
    pub fn new(sequence: u64, headers: Vec<(String, String)>, payload: Bytes) -> Self {
        let text = |name| headers::find(&headers, name).unwrap_or_default().to_owned();
        let number = |name| {
            headers::find(&headers, name)
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0)
        };
        let event_id = headers::find(&headers, EVENT_ID)
            .or_else(|| headers::find(&headers, header::ORIGINAL_MSG_ID))
            .map(str::to_owned);
        Self {
            sequence,
            reason: text(header::REASON),
            error: text(header::ERROR),
            function: text(header::FUNCTION),
            original_subject: text(header::ORIGINAL_SUBJECT),
            attempts: number(header::ATTEMPTS),
            dead_lettered_at: text(header::DEAD_LETTERED_AT),
            event_id,
            replays: number(header::REPLAYS),
            headers,
            payload,
        }
    }

    /// The dead letter's own id (its `Nats-Msg-Id`, `dlq:FUNCTION:EVENT:REPLAYS`), which
    /// names its transcript; `None` for a letter Sluice did not write.
    pub fn letter_id(&self) -> Option<&str> {
        headers::find(&self.headers, headers::NATS_MSG_ID)
    }

    /// Whether this dead letter was written for `function` (or names no function at all).
    pub fn belongs_to(&self, function: &str) -> bool {
        self.function.is_empty() || self.function == function
    }
}

#[cfg(test)]
mod tests {
    use sluice_protocol::DeadLetterReason;

    use super::*;

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn headers_become_fields() {
        let headers = vec![
            pair("x-tenant", "acme"),
            pair("Sluice-Event-Id", "e-1"),
            pair("Sluice-Replays", "2"),
            pair(header::REASON, DeadLetterReason::Exhausted.as_str()),
            pair(header::ERROR, "boom"),
            pair(header::FUNCTION, "totals"),
            pair(header::ORIGINAL_SUBJECT, "orders.placed"),
            pair(header::ATTEMPTS, "5"),
            pair(header::DEAD_LETTERED_AT, "2024-05-01T10:00:00Z"),
        ];
        let letter = DeadLetter::new(7, headers, Bytes::from_static(b"\x00raw"));
        assert_eq!(letter.sequence, 7);
        assert_eq!(letter.reason, "exhausted");
        assert_eq!(letter.error, "boom");
        assert_eq!(letter.original_subject, "orders.placed");
        assert_eq!((letter.attempts, letter.replays), (5, 2));
        assert_eq!(letter.event_id.as_deref(), Some("e-1"));
        assert!(letter.belongs_to("totals") && !letter.belongs_to("other"));
    }

    #[test]
    fn the_event_id_header_names_the_event_and_missing_headers_are_empty() {
        let headers = vec![pair("Sluice-Event-Id", "e-1"), pair("nats-msg-id", "dlq:f:e-1:0")];
        let letter = DeadLetter::new(1, headers, Bytes::new());
        assert_eq!(letter.event_id.as_deref(), Some("e-1"));
        let headers = vec![pair(header::ORIGINAL_MSG_ID, "m-1")];
        assert_eq!(
            DeadLetter::new(1, headers, Bytes::new()).event_id.as_deref(),
            Some("m-1")
        );
        assert_eq!(
            (letter.reason.as_str(), letter.attempts, letter.replays),
            ("", 0, 0)
        );
        assert!(letter.belongs_to("anyone"));
    }
}
