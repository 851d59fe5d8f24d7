//! `sluice:function/publisher`: permission-checked publishing into an outbox that is sent
//! only when the handler succeeds, now or later (a delayed event is a message schedule
//! published into the host's delay stream, see `crate::delay`).

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::State;
use crate::bindings::sluice::function::publisher::Host;
use crate::event::headers;
use crate::telemetry::{Recording, SpanKind, TRACEPARENT};
use sluice_protocol::headers::DELAY_SUBJECT;
use sluice_protocol::{delay, limits, subject};

/// A message a handler published, waiting for the handler to succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Literal subject.
    pub subject: String,
    /// Payload, as the handler gave it.
    pub payload: Bytes,
    /// The handler's headers followed by the ones the host adds (correlation, `Nats-Msg-Id`).
    pub headers: headers::Outgoing,
}

/// The buffered publishes of one attempt, in order.
#[derive(Debug, Default)]
pub struct Outbox {
    messages: Vec<OutgoingMessage>,
    bytes: usize,
}

impl Outbox {
    /// The buffered messages, in publish order.
    pub fn into_messages(self) -> Vec<OutgoingMessage> {
        self.messages
    }

    /// How many messages are buffered.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether nothing was published.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

impl Host for State {
    fn publish(
        &mut self,
        subject: String,
        payload: Vec<u8>,
        handler_headers: Vec<(String, String)>,
    ) -> Result<(), String> {
        let is_reply = self.call.event.reply_to.as_deref() == Some(subject.as_str());
        self.admit(&subject, &handler_headers, payload.len(), is_reply)?;
        let traced = self.producer_span("publish", &subject, &handler_headers);
        let call = &mut self.call;
        let sequence = call.outbox.messages.len() + 1;
        let mut headers = headers::for_publish(handler_headers, &call.event, &call.function, sequence);
        carry_trace(traced, &mut headers);
        call.outbox.push(subject, payload, headers);
        Ok(())
    }

    fn publish_after(
        &mut self,
        subject: String,
        payload: Vec<u8>,
        handler_headers: Vec<(String, String)>,
        delay_ms: u32,
    ) -> Result<String, String> {
        let delay = Duration::from_millis(delay_ms.into());
        delay::check_delay(delay)?;
        self.schedule(subject, payload, handler_headers, SystemTime::now() + delay)
    }

    fn publish_at(
        &mut self,
        subject: String,
        payload: Vec<u8>,
        handler_headers: Vec<(String, String)>,
        unix_ms: u64,
    ) -> Result<String, String> {
        let at = UNIX_EPOCH + Duration::from_millis(unix_ms);
        let delay = at.duration_since(SystemTime::now()).unwrap_or_default();
        delay::check_delay(delay).map_err(|_| {
            format!(
                "cannot schedule an event at {}: delayed events fire between 1 second and 30 days from now",
                rfc3339(at)
            )
        })?;
        self.schedule(subject, payload, handler_headers, at)
    }

    fn cancel_scheduled(&mut self, id: String) -> Result<(), String> {
        delay::check_id(&id)?;
        self.call.services.delays.check()?;
        let holder = delay::holder_subject(&self.call.function, &id);
        self.admit(&holder, &[], 0, true)?;
        let call = &mut self.call;
        let sequence = call.outbox.messages.len() + 1;
        let mut headers = headers::for_publish(Vec::new(), &call.event, &call.function, sequence);
        // Replaces the schedule on the subject, then expires: nothing is left to fire.
        headers.push((Cow::Borrowed("Nats-Rollup"), "sub".to_owned()));
        headers.push((Cow::Borrowed("Nats-TTL"), "1s".to_owned()));
        call.outbox.push(holder, Vec::new(), headers);
        Ok(())
    }
}

impl State {
    /// Checks that the handler may publish `payload_len` bytes to `subject` now (whatever
    /// `permissions.publish` says when `granted`: the event's reply subject, the function's
    /// own delayed events) and that the outbox has room.
    fn admit(
        &self,
        subject: &str,
        handler_headers: &[(String, String)],
        payload_len: usize,
        granted: bool,
    ) -> Result<(), String> {
        if self.batch.as_ref().is_some_and(|batch| batch.unselected()) {
            return Err(format!(
                "cannot publish to `{subject}`: a batch handler must say which event the output belongs to (batch.begin) first"
            ));
        }
        let call = &self.call;
        subject::validate_literal(subject).map_err(|why| format!("cannot publish: {why}"))?;
        if !granted && !call.manifest.may_publish(subject) {
            return Err(format!(
                "publish to `{subject}` denied: function `{}` may only publish to [{}] (permissions.publish)",
                call.function,
                call.manifest
                    .publish
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for (name, value) in handler_headers {
            headers::validate(name, value)?;
        }
        limits::check_outbox(call.outbox.messages.len(), call.outbox.bytes, payload_len)
    }

    /// Buffers a delayed publish of `payload` to `subject` at `at`: a message schedule on the
    /// event's holder subject in the delay stream. Returns the delayed event's id.
    fn schedule(
        &mut self,
        subject: String,
        payload: Vec<u8>,
        handler_headers: Vec<(String, String)>,
        at: SystemTime,
    ) -> Result<String, String> {
        self.call.services.delays.check()?;
        self.admit(&subject, &handler_headers, payload.len(), false)?;
        let traced = self.producer_span("schedule", &subject, &handler_headers);
        let call = &mut self.call;
        let function = &*call.function;
        let sequence = call.outbox.messages.len() + 1;
        let id = delay::id(function, &call.event.id, sequence);
        let mut headers = headers::for_publish(handler_headers, &call.event, function, sequence);
        carry_trace(traced, &mut headers);
        headers.push((Cow::Borrowed("Nats-Schedule"), format!("@at {}", rfc3339(at))));
        headers.push((
            Cow::Borrowed("Nats-Schedule-Target"),
            delay::fired_subject(function, &id),
        ));
        headers.push((Cow::Borrowed(DELAY_SUBJECT), subject));
        call.outbox
            .push(delay::holder_subject(function, &id), payload, headers);
        Ok(id)
    }
}

impl State {
    /// The span of a message the handler publishes (`operation` names how: `publish`,
    /// `schedule`) to `subject`, when tracing is on and the handler did not set its own
    /// `traceparent`.
    fn producer_span(
        &self,
        operation: &str,
        subject: &str,
        handler_headers: &[(String, String)],
    ) -> Option<Recording> {
        let parent = self.call.trace.as_ref()?;
        if headers::find(handler_headers, TRACEPARENT).is_some() {
            return None;
        }
        let mut span = parent.child(SpanKind::Producer, || format!("{operation} {subject}"));
        span.set_with("messaging.destination.name", || subject.to_owned());
        span.set(
            "messaging.operation.type",
            if operation == "publish" { "send" } else { "create" },
        );
        Some(span)
    }
}

/// Writes `span`'s context as the message's `traceparent` (the next function's span is its
/// child) and ends it.
fn carry_trace(span: Option<Recording>, headers: &mut headers::Outgoing) {
    if let Some(span) = span {
        headers::set(headers, TRACEPARENT, span.context().to_traceparent());
        span.end();
    }
}

impl Outbox {
    fn push(&mut self, subject: String, payload: Vec<u8>, headers: headers::Outgoing) {
        self.bytes += payload.len();
        self.messages.push(OutgoingMessage {
            subject,
            payload: payload.into(),
            headers,
        });
    }
}

/// `at` in RFC 3339, to the millisecond, in UTC.
fn rfc3339(at: SystemTime) -> String {
    let at = time::OffsetDateTime::from(at);
    let at = at
        .replace_nanosecond(at.millisecond() as u32 * 1_000_000)
        .unwrap_or(at);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}
