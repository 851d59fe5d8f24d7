//! What a replay sends and when it refuses: pure decisions, kept apart from the NATS calls
//! in the parent module.

use super::{DeadLetter, DlqError};
use crate::event::headers::{self, EVENT_ID, NATS_MSG_ID, dead_letter as header};

/// What `replay` did with each dead letter it looked at, oldest first.
#[derive(Debug, Default)]
pub struct ReplayReport {
    /// Republished to their original subject and deleted from the stream.
    pub replayed: Vec<DeadLetter>,
    /// Left in the stream, with why.
    pub refused: Vec<Refused>,
    /// The dead letter whose replay failed, stopping the run (later ones were not tried).
    pub failed: Option<(DeadLetter, DlqError)>,
}

/// A dead letter `replay` left in the stream.
#[derive(Debug)]
pub struct Refused {
    /// The dead letter.
    pub letter: DeadLetter,
    /// Why it was not replayed.
    pub why: String,
}

/// Why `letter` must not be replayed, if it must not: it has been replayed `max_replays`
/// times already (a loop guard), or it does not say where it came from.
pub fn refusal(letter: &DeadLetter, max_replays: u32) -> Option<String> {
    if letter.original_subject.is_empty() {
        return Some(format!(
            "no {} header: nowhere to replay it",
            header::ORIGINAL_SUBJECT
        ));
    }
    if letter.replays >= max_replays {
        return Some(format!(
            "replayed {} times already (--max-replays {max_replays})",
            letter.replays
        ));
    }
    None
}

/// The headers of the replayed event: the event's own, without what dead-lettering added,
/// without `Nats-Msg-Id` (the source stream would drop the event as a duplicate), with
/// `Sluice-Event-Id` keeping the event's id and `Sluice-Replays` counting this replay.
pub fn replay_headers(letter: &DeadLetter) -> Vec<(String, String)> {
    let dropped = |name: &str| {
        header::ADDED
            .iter()
            .chain(&[NATS_MSG_ID, EVENT_ID, header::REPLAYS])
            .any(|added| name.eq_ignore_ascii_case(added))
    };
    let mut replay: Vec<(String, String)> = letter
        .headers
        .iter()
        .filter(|(name, _)| !dropped(name))
        .cloned()
        .collect();
    if let Some(id) = &letter.event_id {
        replay.push((EVENT_ID.to_owned(), id.clone()));
    }
    replay.push((header::REPLAYS.to_owned(), (letter.replays + 1).to_string()));
    debug_assert!(headers::find(&replay, NATS_MSG_ID).is_none());
    replay
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use sluice_protocol::DeadLetterReason;

    use super::*;

    fn letter(headers: &[(&str, &str)]) -> DeadLetter {
        let headers = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        DeadLetter::new(3, headers, Bytes::new())
    }

    #[test]
    fn a_replay_keeps_the_event_and_its_id_but_not_the_dead_letter_headers() {
        let letter = letter(&[
            ("x-tenant", "acme"),
            ("Sluice-Correlation-Id", "flow-1"),
            (header::ORIGINAL_MSG_ID, "m-1"),
            ("Sluice-Event-Id", "m-1"),
            ("Nats-Msg-Id", "dlq:f:m-1:0"),
            (header::REASON, DeadLetterReason::Permanent.as_str()),
            (header::ERROR, "no"),
            (header::FUNCTION, "f"),
            (header::ORIGINAL_SUBJECT, "in"),
            (header::ATTEMPTS, "1"),
            (header::DEAD_LETTERED_AT, "2024-05-01T10:00:00Z"),
        ]);
        let replay = replay_headers(&letter);
        let expected = [
            ("x-tenant", "acme"),
            ("Sluice-Correlation-Id", "flow-1"),
            ("Sluice-Event-Id", "m-1"),
            ("Sluice-Replays", "1"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        assert_eq!(replay, expected);
    }

    #[test]
    fn the_replay_count_goes_up_once() {
        let letter = letter(&[("Sluice-Event-Id", "e-1"), ("sluice-replays", "2")]);
        let replay = replay_headers(&letter);
        assert_eq!(headers::find(&replay, header::REPLAYS), Some("3"));
        let replays = replay
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(header::REPLAYS));
        assert_eq!(replays.count(), 1);
    }

    #[test]
    fn replays_stop_at_the_limit_and_need_a_subject() {
        let fresh = letter(&[(header::ORIGINAL_SUBJECT, "in")]);
        assert_eq!(refusal(&fresh, 3), None);
        let tired = letter(&[(header::ORIGINAL_SUBJECT, "in"), (header::REPLAYS, "3")]);
        assert_eq!(
            refusal(&tired, 3).as_deref(),
            Some("replayed 3 times already (--max-replays 3)")
        );
        assert!(refusal(&letter(&[]), 3).unwrap().contains("nowhere to replay"));
        assert!(refusal(&fresh, 0).is_some(), "--max-replays 0 replays nothing");
    }
}
