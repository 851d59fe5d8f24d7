//! One order's saga, followed by its correlation id across the streams.

use std::fmt::Write;

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
/// driver's duplicates are marked, since the saga ignored them.
pub fn render(trace: &[&Seen]) -> String {
    let start = trace.first().map_or(0, |seen| seen.at_nanos);
    let mut text = String::new();
    for seen in trace {
        let cause = if seen.causation.is_empty() {
            "-"
        } else {
            seen.causation.as_str()
        };
        let note = if seen.is_copy() {
            "  (a copy: ignored)"
        } else if seen.event_id.ends_with(".resubmitted") {
            "  (re-submitted: ignored)"
        } else {
            ""
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
