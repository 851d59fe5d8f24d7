//! Events as the host sees them: what arrived on a subject, with the id and correlation id
//! the host settled on, converted to and from NATS messages and the WIT record.

pub mod headers;

use std::time::SystemTime;

use bytes::Bytes;

use crate::bindings::sluice::function::types as wit;

/// One event, immutable once received. Shared (in an `Arc`) by every attempt to handle it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event's id: `Nats-Msg-Id` or `Sluice-Event-Id` when the publisher set one, else
    /// generated. Stable across retries.
    pub id: String,
    /// Subject the event arrived on.
    pub subject: String,
    /// Payload, byte for byte.
    pub payload: Bytes,
    /// Headers as received.
    pub headers: Vec<(String, String)>,
    /// Reply subject of a request.
    pub reply_to: Option<String>,
    /// `Sluice-Correlation-Id` as received, or the event id when it starts a new flow.
    pub correlation_id: String,
    /// When the event was published: the stream's time in JetStream mode, the host's
    /// receipt in core mode. `delivery.max_event_age` counts from here.
    pub published_at: SystemTime,
    /// Core mode with tracing on: when the event arrived and when a permit admitted it (the
    /// wait its first attempt's span shows). `None` otherwise.
    pub admission_wait: Option<(SystemTime, SystemTime)>,
}

impl Event {
    /// Builds an event from its parts, settling its id and correlation id.
    pub fn new(
        subject: String,
        payload: Bytes,
        headers: Vec<(String, String)>,
        reply_to: Option<String>,
    ) -> Self {
        Self::with_fallback_id(subject, payload, headers, reply_to, || nuid::next().to_string())
    }

    /// Like [`Event::new`], with `fallback` naming the event when no header does.
    pub fn with_fallback_id(
        subject: String,
        payload: Bytes,
        headers: Vec<(String, String)>,
        reply_to: Option<String>,
        fallback: impl FnOnce() -> String,
    ) -> Self {
        let id = headers::find(&headers, headers::NATS_MSG_ID)
            .or_else(|| headers::find(&headers, headers::EVENT_ID))
            .map_or_else(fallback, str::to_owned);
        let correlation_id = headers::find(&headers, headers::CORRELATION_ID)
            .unwrap_or(&id)
            .to_owned();
        Self {
            id,
            subject,
            payload,
            headers,
            reply_to,
            correlation_id,
            published_at: SystemTime::now(),
            admission_wait: None,
        }
    }

    /// Builds an event from a NATS message.
    pub fn from_message(message: async_nats::Message) -> Self {
        let headers = headers::from_nats(message.headers.as_ref());
        let reply_to = message.reply.map(|subject| subject.to_string());
        Self::new(
            message.subject.as_str().to_owned(),
            message.payload,
            headers,
            reply_to,
        )
    }

    /// Builds an event from a JetStream delivery. Without an id header the event is named
    /// `STREAM:SEQUENCE`, which every redelivery shares, and a firing of a function's
    /// schedule `schedule:FUNCTION:TIME` (the second it fired, UTC), which names the firing;
    /// the ack subject is not a reply-to.
    pub fn from_jetstream(
        message: async_nats::Message,
        stream: &str,
        sequence: u64,
        published: SystemTime,
    ) -> Self {
        let headers = headers::from_nats(message.headers.as_ref());
        let scheduler = headers::find(&headers, headers::NATS_SCHEDULER).map(str::to_owned);
        let mut event = Self::with_fallback_id(
            message.subject.to_string(),
            message.payload,
            headers,
            None,
            || match scheduler {
                Some(scheduler) => firing_id(&scheduler, published),
                None => format!("{stream}:{sequence}"),
            },
        );
        event.published_at = published;
        event
    }

    /// How long ago the event was published.
    pub fn age(&self) -> std::time::Duration {
        self.published_at.elapsed().unwrap_or_default()
    }

    /// The WIT record handed to the handler for delivery number `attempt`.
    pub fn to_wit(&self, attempt: u32) -> wit::Event {
        wit::Event {
            id: self.id.clone(),
            subject: self.subject.clone(),
            payload: self.payload.to_vec(),
            headers: self.headers.clone(),
            reply_to: self.reply_to.clone(),
            attempt,
        }
    }
}

/// The id of a schedule's firing: `schedule:FUNCTION:TIME`, from the schedule's subject
/// (`sluice.schedules.FUNCTION`) and the second the firing was stored (the server fires on
/// whole seconds, a millisecond or so late).
fn firing_id(scheduler: &str, fired: SystemTime) -> String {
    let name = scheduler
        .strip_prefix(sluice_protocol::subject::SCHEDULE_HOLDER_PREFIX)
        .unwrap_or(scheduler);
    let seconds = fired
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let at = time::OffsetDateTime::from_unix_timestamp(seconds as i64)
        .ok()
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| seconds.to_string());
    format!("schedule:{name}:{at}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn a_schedules_firing_is_named_by_its_function_and_second() {
        let fired = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_796_000_000_001);
        let mut map = async_nats::HeaderMap::new();
        map.insert(headers::NATS_SCHEDULER, "sluice.schedules.report");
        let message = async_nats::Message {
            subject: "sluice.ticks.report".into(),
            reply: None,
            payload: bytes::Bytes::new(),
            headers: Some(map),
            status: None,
            description: None,
            length: 0,
        };
        let event = Event::from_jetstream(message, "SLUICE_REPORT", 7, fired);
        assert_eq!(event.id, "schedule:report:2026-11-30T00:53:20Z");
        assert_eq!(event.correlation_id, event.id);
    }

    #[test]
    fn ids_come_from_headers_when_present() {
        let event = Event::new("a".into(), Bytes::new(), vec![header("nats-msg-id", "m-1")], None);
        assert_eq!(event.id, "m-1");
        assert_eq!(event.correlation_id, "m-1");
        let event = Event::new(
            "a".into(),
            Bytes::new(),
            vec![
                header("Sluice-Event-Id", "e-1"),
                header("Sluice-Correlation-Id", "flow-9"),
            ],
            None,
        );
        assert_eq!(event.id, "e-1");
        assert_eq!(event.correlation_id, "flow-9");
    }

    #[test]
    fn ids_are_generated_and_unique_otherwise() {
        let first = Event::new("a".into(), Bytes::new(), vec![], None);
        let second = Event::new("a".into(), Bytes::new(), vec![], None);
        assert_ne!(first.id, second.id);
        assert_eq!(first.correlation_id, first.id);
    }
}
