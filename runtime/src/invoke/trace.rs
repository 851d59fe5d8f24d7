//! The span of one attempt: a child of the event's `traceparent` (or a new trace), with what
//! the attempt was about and what became of it.

use std::sync::Arc;

use sluice_protocol::DeadLetterReason;

use super::{Attempt, Outcome};
use crate::event::Event;
use crate::retry::RetryPolicy;
use crate::telemetry::{Recording, SpanContext, SpanKind, Tracer};

/// Starts the span of attempt number `attempt` of `event` by `function`. When it is
/// recorded, the log lines of the event carry its trace and span ids.
pub fn start(tracer: &Arc<Tracer>, function: &str, (event, attempt): &Attempt, log_ids: bool) -> Recording {
    let parent = SpanContext::from_headers(&event.headers);
    let mut span = tracer.start_span(parent.as_ref(), SpanKind::Consumer, || function.to_owned());
    if !span.is_recording() {
        return span;
    }
    span.set("sluice.function", function);
    span.set("messaging.system", "nats");
    span.set("messaging.operation.type", "process");
    span.set_with("messaging.destination.name", || event.subject.clone());
    span.set_with("messaging.message.id", || event.id.clone());
    span.set_with("sluice.correlation_id", || event.correlation_id.clone());
    span.set("sluice.attempt", *attempt);
    if let (1, Some((arrived, admitted))) = (*attempt, event.admission_wait) {
        // The attempt began when the event arrived; its first part was the wait for a permit.
        span.started_at(arrived);
        let mut wait = tracer.child(span.context(), SpanKind::Internal, || {
            "wait for permit".to_owned()
        });
        wait.started_at(arrived);
        wait.end_at(admitted);
    }
    if log_ids {
        let current = tracing::Span::current();
        current.record("trace_id", tracing::field::display(span.context().trace_id_hex()));
        current.record("span_id", tracing::field::display(span.context().span_id_hex()));
    }
    span
}

/// Ends `span` with `outcome`: `ok`, `retry` (another attempt follows) or `dead_letter`
/// (with the reason the dead letter gives); a failed attempt's status is an error.
pub fn end(mut span: Recording, outcome: &Outcome, attempt: u32, retry: &RetryPolicy) {
    match outcome {
        Ok(messages) => {
            span.set("sluice.outcome", "ok");
            span.set("sluice.published", messages.len() as i64);
        }
        Err(error) if error.is_retryable() && retry.allows_another(attempt) => {
            span.set("sluice.outcome", "retry");
            span.fail(|| error.to_string());
        }
        Err(error) => {
            span.set("sluice.outcome", "dead_letter");
            span.set("sluice.dead_letter.reason", error.reason().as_str());
            span.set("error.type", error.reason().as_str());
            span.fail(|| error.to_string());
        }
    }
    span.end();
}

/// Records that `function` dead-lettered `event` for `reason` without running its handler (too
/// large, too old, not matching its schema, delivered too often): one span, failed with `error`.
pub fn unhandled(tracer: &Arc<Tracer>, function: &str, event: &Event, reason: DeadLetterReason, error: &str) {
    let parent = SpanContext::from_headers(&event.headers);
    let mut span = tracer.start_span(parent.as_ref(), SpanKind::Consumer, || function.to_owned());
    span.set("sluice.function", function);
    span.set("messaging.system", "nats");
    span.set_with("messaging.destination.name", || event.subject.clone());
    span.set_with("messaging.message.id", || event.id.clone());
    span.set_with("sluice.correlation_id", || event.correlation_id.clone());
    span.set("sluice.outcome", "dead_letter");
    span.set("sluice.dead_letter.reason", reason.as_str());
    span.set("error.type", reason.as_str());
    span.set("sluice.handler_ran", false);
    span.fail(|| error.to_owned());
    span.end();
}
