//! Dead letters: the original event, byte for byte, plus headers that say what happened.

use std::borrow::Cow;

use bytes::Bytes;
use sluice_protocol::DeadLetterReason;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::outbox::{Sending, send_as};
use crate::deployment::Deployment;
use crate::dispatch::Dispatcher;
use crate::event::Event;
use crate::event::headers::dead_letter as header;
use crate::event::headers::{self, EVENT_ID, NATS_MSG_ID, find};
use crate::imports::OutgoingMessage;
use crate::invoke::InvokeError;
use crate::transcript::{Transcript, store};

/// Longest `Sluice-Dlq-Error` value.
pub const MAX_ERROR_BYTES: usize = 1024;

/// The dead letter of `event` for `subject`: original payload and headers, then the
/// `Sluice-Dlq-*` headers. `Sluice-Event-Id` records the event's id (so a replay keeps it),
/// and `Nats-Msg-Id` is `dlq:<function>:<event id>:<replays>`: the same letter written twice
/// (a host died between dead-lettering and settling) is stored once, while letters of other
/// functions or of later replays of the same event are all kept.
pub fn message(
    subject: &str,
    event: &Event,
    function: &str,
    reason: DeadLetterReason,
    error: &str,
    attempts: u32,
) -> OutgoingMessage {
    let at = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
    let error = crate::text::single_line(&crate::text::truncate(error, MAX_ERROR_BYTES));
    let mut headers = headers::outgoing(event.headers.clone());
    // The event's `Nats-Msg-Id` would make the dead-letter stream drop this letter as a
    // duplicate of another function's letter for the same event: it moves aside, the id is
    // kept in `Sluice-Event-Id`, and the letter gets an id of its own.
    if let Some(position) = headers
        .iter()
        .position(|(name, _)| name.eq_ignore_ascii_case(NATS_MSG_ID))
    {
        let (_, original) = headers.remove(position);
        headers.push((Cow::Borrowed(header::ORIGINAL_MSG_ID), original));
    }
    if find(&headers, EVENT_ID).is_none() {
        headers.push((Cow::Borrowed(EVENT_ID), event.id.clone()));
    }
    let replays = find(&headers, header::REPLAYS).unwrap_or("0").to_owned();
    headers.push((
        Cow::Borrowed(NATS_MSG_ID),
        format!("dlq:{function}:{}:{replays}", event.id),
    ));
    headers.extend([
        (Cow::Borrowed(header::REASON), reason.as_str().to_owned()),
        (Cow::Borrowed(header::ERROR), error),
        (Cow::Borrowed(header::FUNCTION), function.to_owned()),
        (Cow::Borrowed(header::ORIGINAL_SUBJECT), event.subject.clone()),
        (Cow::Borrowed(header::ATTEMPTS), attempts.to_string()),
        (Cow::Borrowed(header::DEAD_LETTERED_AT), at),
    ]);
    OutgoingMessage {
        subject: subject.to_owned(),
        payload: Bytes::clone(&event.payload),
        headers,
    }
}

/// What a dead letter says: why, the error, and how many deliveries were made.
pub struct Verdict<'a> {
    /// `Sluice-Dlq-Reason`.
    pub reason: DeadLetterReason,
    /// `Sluice-Dlq-Error`.
    pub error: &'a str,
    /// `Sluice-Attempts`.
    pub attempts: u32,
    /// The last attempt's transcript, kept beside the dead letter; `None` when the handler did
    /// not run or the function records none.
    pub transcript: Option<&'a Transcript>,
}

impl<'a> Verdict<'a> {
    /// The verdict on an event whose last attempt (number `attempts`, recorded in
    /// `transcript`) failed with `error`, `message` being its text.
    pub fn of(
        error: &InvokeError,
        message: &'a str,
        attempts: u32,
        transcript: Option<&'a Transcript>,
    ) -> Self {
        Self {
            reason: error.reason(),
            error: message,
            attempts,
            transcript,
        }
    }
}

/// Sends `event`'s dead letter to the function's dead-letter subject (`sending` says whether
/// the stream keeping it must confirm it), counting and logging it; a function with
/// `dead_letter.subject = "none"` drops the event instead (also counted and logged). Fails
/// when the letter could not be sent: the caller decides whether the event is lost (core
/// NATS) or stays in its stream (JetStream).
pub async fn send_dead_letter(
    dispatcher: &Dispatcher,
    deployment: &Deployment,
    event: &Event,
    verdict: Verdict<'_>,
    sending: Sending,
) -> Result<(), String> {
    let Verdict {
        reason,
        error,
        attempts,
        transcript,
    } = verdict;
    let Some(message) = letter(deployment, event, reason, error, attempts) else {
        return Ok(());
    };
    let subject = message.subject.clone();
    if let Some(transcript) = transcript {
        // Kept before the letter is sent, so a letter anyone can see already has its
        // transcript (`sluice dlq debug` run the moment the letter appears finds it).
        let letter_id = find(&message.headers, NATS_MSG_ID).unwrap_or_default();
        keep_transcript(dispatcher, letter_id, transcript).await;
    }
    send_as(dispatcher, message, sending).await?;
    deployment.stats.dead_lettered(reason);
    tracing::info!(
        reason = reason.as_str(),
        dead_letter_subject = subject,
        "event dead-lettered"
    );
    Ok(())
}

/// Stores `transcript` beside dead letter `letter_id`; a failure only costs the transcript,
/// so it is logged (not at all on a connection without JetStream, where nothing is kept).
async fn keep_transcript(dispatcher: &Dispatcher, letter_id: &str, transcript: &Transcript) {
    use crate::nats::JetStream;
    if dispatcher.jetstream_availability.now(&dispatcher.client) == Some(JetStream::Unavailable) {
        return;
    }
    if let Err(error) = store::keep(&dispatcher.jetstream, letter_id, transcript).await {
        tracing::warn!("{error}; the dead letter is kept without it");
    }
}

/// The dead letter of `event`, or `None` when the function drops what fails
/// (`dead_letter.subject = "none"`; counted and logged here).
fn letter(
    deployment: &Deployment,
    event: &Event,
    reason: DeadLetterReason,
    error: &str,
    attempts: u32,
) -> Option<OutgoingMessage> {
    let Some(subject) = deployment.function().manifest().dead_letter.as_deref() else {
        deployment.stats.dropped();
        tracing::error!(
            reason = reason.as_str(),
            "event dropped (dead_letter.subject = \"none\"): {error}"
        );
        return None;
    };
    let function = deployment.function().name();
    Some(message(subject, event, function, reason, error, attempts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_keep_the_event_and_explain_it() {
        let event = Event::new(
            "orders.placed".into(),
            Bytes::from_static(b"\x00raw\xffbytes"),
            vec![
                ("x-tenant".into(), "acme".into()),
                ("Sluice-Event-Id".into(), "e-7".into()),
                (header::REPLAYS.into(), "1".into()),
            ],
            None,
        );
        let long_error = "e".repeat(5000) + "\nsecond line";
        let message = message(
            "sluice.dlq.totals",
            &event,
            "totals",
            DeadLetterReason::Exhausted,
            &long_error,
            5,
        );
        assert_eq!(message.subject, "sluice.dlq.totals");
        assert_eq!(message.payload, event.payload);
        let headers = &message.headers;
        assert_eq!(find(headers, "x-tenant"), Some("acme"));
        assert_eq!(
            find(headers, header::REPLAYS),
            Some("1"),
            "a replayed event stays counted"
        );
        let ids = headers.iter().filter(|(name, _)| name == EVENT_ID).count();
        assert_eq!(ids, 1, "the publisher's id is not repeated");
        assert_eq!(find(headers, header::REASON), Some("exhausted"));
        assert_eq!(find(headers, header::FUNCTION), Some("totals"));
        assert_eq!(find(headers, header::ORIGINAL_SUBJECT), Some("orders.placed"));
        assert_eq!(find(headers, header::ATTEMPTS), Some("5"));
        let error = find(headers, header::ERROR).unwrap();
        assert!(error.len() <= MAX_ERROR_BYTES && !error.contains('\n'));
        let at = find(headers, header::DEAD_LETTERED_AT).unwrap();
        assert!(OffsetDateTime::parse(at, &Rfc3339).is_ok(), "{at}");
    }

    #[test]
    fn a_generated_event_id_is_written_down() {
        let event = Event::new("in".into(), Bytes::new(), vec![], None);
        let generated = message("sluice.dlq.f", &event, "f", DeadLetterReason::Permanent, "no", 1);
        assert_eq!(find(&generated.headers, EVENT_ID), Some(event.id.as_str()));
        let named = Event::new(
            "in".into(),
            Bytes::new(),
            vec![(NATS_MSG_ID.into(), "m-1".into())],
            None,
        );
        let named = message("sluice.dlq.f", &named, "f", DeadLetterReason::Permanent, "no", 1);
        assert_eq!(find(&named.headers, EVENT_ID), Some("m-1"));
        assert_eq!(find(&named.headers, header::ORIGINAL_MSG_ID), Some("m-1"));
        assert_eq!(
            find(&named.headers, NATS_MSG_ID),
            Some("dlq:f:m-1:0"),
            "the letter's own id, so the stream does not drop it as the event's duplicate"
        );
        let replayed = Event::new(
            "in".into(),
            Bytes::new(),
            vec![
                (EVENT_ID.into(), "e-2".into()),
                (header::REPLAYS.into(), "2".into()),
            ],
            None,
        );
        let replayed = message(
            "sluice.dlq.f",
            &replayed,
            "f",
            DeadLetterReason::Permanent,
            "no",
            1,
        );
        assert_eq!(find(&replayed.headers, NATS_MSG_ID), Some("dlq:f:e-2:2"));
    }
}
