//! The names of the headers Sluice reads and writes, and what a handler's own header may
//! hold.

/// JetStream's de-duplication id; also read as the event id.
pub const NATS_MSG_ID: &str = "Nats-Msg-Id";
/// An explicit event id set by a publisher.
pub const EVENT_ID: &str = "Sluice-Event-Id";
/// Ties together every event of one business flow.
pub const CORRELATION_ID: &str = "Sluice-Correlation-Id";
/// The id of the event whose handler published this one.
pub const CAUSATION_ID: &str = "Sluice-Causation-Id";
/// On a delayed event held in the delay stream: the subject it is published to when it fires.
pub const DELAY_SUBJECT: &str = "Sluice-Delay-Subject";
/// Set by the server on a message a stream's schedule fired: the schedule's subject.
pub const NATS_SCHEDULER: &str = "Nats-Scheduler";
/// W3C trace context, propagated unchanged.
pub const TRACE_HEADERS: [&str; 2] = ["traceparent", "tracestate"];

/// Dead-letter headers (see the README's dead-letter section).
pub mod dead_letter {
    /// Why the event was dead-lettered: a [`DeadLetterReason`](crate::DeadLetterReason)'s
    /// wire name (`permanent`, `exhausted`, ...).
    pub const REASON: &str = "Sluice-Dlq-Reason";
    /// The handler's or host's message, at most 1 KiB.
    pub const ERROR: &str = "Sluice-Dlq-Error";
    /// The function that gave up.
    pub const FUNCTION: &str = "Sluice-Function";
    /// The subject the event arrived on.
    pub const ORIGINAL_SUBJECT: &str = "Sluice-Original-Subject";
    /// Deliveries made.
    pub const ATTEMPTS: &str = "Sluice-Attempts";
    /// RFC 3339 time of dead-lettering.
    pub const DEAD_LETTERED_AT: &str = "Sluice-Dead-Lettered-At";
    /// How many times `sluice dlq replay` republished the event; kept on later dead letters.
    pub const REPLAYS: &str = "Sluice-Replays";
    /// The event's own `Nats-Msg-Id`, moved aside: a dead letter's `Nats-Msg-Id` is its own.
    pub const ORIGINAL_MSG_ID: &str = "Sluice-Original-Msg-Id";
    /// The headers a dead letter adds to the event's own (dropped again on replay).
    pub const ADDED: [&str; 7] = [
        REASON,
        ERROR,
        FUNCTION,
        ORIGINAL_SUBJECT,
        ATTEMPTS,
        DEAD_LETTERED_AT,
        ORIGINAL_MSG_ID,
    ];
}

/// Checks a header a handler wants to publish: NATS header names are tokens and values are
/// single lines.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    // What NATS carries (and its client accepts): printable ASCII without ':'.
    let bad_name = name.is_empty() || name.chars().any(|c| c == ':' || !c.is_ascii_graphic());
    if bad_name {
        return Err(format!("invalid header name {name:?}"));
    }
    if value.contains(['\r', '\n']) {
        return Err(format!("header {name:?} has a line break in its value"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_validation_rejects_what_nats_cannot_carry() {
        assert!(validate("x-ok", "fine").is_ok());
        assert!(validate("", "v").is_err());
        assert!(validate("bad name", "v").is_err());
        assert!(validate("a:b", "v").is_err());
        // The NATS client panics on a name outside printable ASCII.
        assert!(validate("prix-\u{e9}", "v").is_err());
        assert!(validate("x", "two\nlines").is_err());
    }
}
