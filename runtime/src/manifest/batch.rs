//! `[batch]`: how a batch function's events are grouped into one `handle-batch` call.

use std::time::Duration;

use super::KeyError;
use super::raw::RawBatch;

/// Most events one batch may hold.
pub const MAX_EVENTS: u32 = 10_000;

/// `[batch]`: a batch closes when it holds `max_events` events or `max_wait` after its first
/// event arrived, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Most events in one call, 1 to 10,000.
    pub max_events: u32,
    /// Longest time the first event of a batch waits for others.
    pub max_wait: Duration,
}

impl Default for BatchPolicy {
    /// 100 events or 50 ms: what a batch function without `[batch]` gets.
    fn default() -> Self {
        Self {
            max_events: 100,
            max_wait: Duration::from_millis(50),
        }
    }
}

/// Validates `[batch]`; `None` when the manifest has no such section.
pub(super) fn batch(raw: Option<RawBatch>) -> Result<Option<BatchPolicy>, KeyError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let defaults = BatchPolicy::default();
    let max_events = match raw.max_events {
        None => defaults.max_events,
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_EVENTS).contains(n))
            .ok_or_else(|| {
                (
                    "batch.max_events",
                    format!("expected a whole number from 1 to {MAX_EVENTS}, found {n}"),
                )
            })?,
    };
    let max_wait = super::duration("batch.max_wait", raw.max_wait, "50ms")?;
    Ok(Some(BatchPolicy { max_events, max_wait }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::Manifest;

    fn parse(text: &str) -> Result<Manifest, String> {
        Manifest::parse("agg", text, Path::new("functions/agg.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn batch_keys_are_read_with_defaults() {
        assert_eq!(parse("").unwrap().batch, None);
        assert_eq!(parse("[batch]").unwrap().batch, Some(BatchPolicy::default()));
        let batch = parse("[batch]\nmax_events = 500\nmax_wait = \"2s\"")
            .unwrap()
            .batch
            .unwrap();
        assert_eq!((batch.max_events, batch.max_wait), (500, Duration::from_secs(2)));
        assert_eq!(
            parse("[batch]\nmax_events = 10000")
                .unwrap()
                .batch
                .unwrap()
                .max_events,
            10_000
        );
    }

    #[test]
    fn batch_keys_are_checked() {
        for (text, expected) in [
            (
                "max_events = 0",
                "`batch.max_events`: expected a whole number from 1 to 10000, found 0",
            ),
            ("max_events = 10001", "found 10001"),
            ("max_events = -3", "found -3"),
            ("max_wait = \"0ms\"", "`batch.max_wait`: must be longer than zero"),
            ("max_wait = \"soon\"", "`batch.max_wait`"),
            ("max_size = 3", "unknown field `max_size`"),
        ] {
            let error = parse(&format!("[batch]\n{text}")).unwrap_err();
            assert!(error.starts_with("functions/agg.toml"), "{error}");
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
