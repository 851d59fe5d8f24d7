//! One order's saga, followed by its correlation id across the streams.

use std::collections::BTreeSet;
use std::fmt::Write;

use saga_events::subject;

use crate::observe::{Observation, Seen};

/// The events carrying correlation id `correlation`, in the order the streams stored them.
pub fn trace<'a>(observed: &'a Observation, correlation: &str) -> Vec<&'a Seen> {
    observed
        .events
        .iter()
        .filter(|seen| seen.correlation == correlation)
        .collect()
}

/// The trace as text: one line per event with its stream, subject, id and cause; the
/// driver's duplicates and replays are marked, and so is whichever of an order's two
/// placements the inventory ignored (either may reach it first).
pub fn render(trace: &[&Seen]) -> String {
    let start = trace.first().map_or(0, |seen| seen.at_nanos);
    let causes: BTreeSet<&str> = trace.iter().map(|seen| seen.causation.as_str()).collect();
    let mut text = String::new();
    for seen in trace {
        let cause = if seen.causation.is_empty() {
            "-"
        } else {
            seen.causation.as_str()
        };
        let ignored = seen.subject == subject::ORDER_PLACED && !causes.contains(seen.event_id.as_str());
        let note = match (seen.event_id.ends_with(".resubmitted"), ignored) {
            _ if seen.is_copy() => "  (a copy: ignored)",
            _ if seen.is_replay() => "  (replayed from the dead letters)",
            (true, true) => "  (re-submitted: ignored)",
            (true, false) => "  (re-submitted: reached the inventory first)",
            (false, true) => "  (ignored: its re-submission came first)",
            (false, false) => "",
        };
        let _ = writeln!(
            text,
            "{:>8.1} ms  {:<26} {:<22} id {}  caused by {cause}{note}",
            (seen.at_nanos - start) as f64 / 1e6,
            seen.subject,
            seen.stream,
            seen.event_id,
        );
    }
    text
}
