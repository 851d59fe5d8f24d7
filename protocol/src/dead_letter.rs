//! Why an event was dead-lettered: a closed set, each with the name written in the
//! `Sluice-Dlq-Reason` header and used as the `reason` label of
//! `sluice_events_dead_lettered_total`.

use std::fmt;
use std::str::FromStr;

/// Why an event went to its function's dead-letter subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadLetterReason {
    /// The handler returned a permanent error, so no retry followed: `permanent`.
    Permanent,
    /// Retryable errors used up the attempts: `exhausted`.
    Exhausted,
    /// The last attempt ran past `limits.timeout`: `timeout`.
    Timeout,
    /// The last attempt trapped (a panic, an unreachable, a stack overflow): `trap`.
    Trap,
    /// The handler needed more memory than `limits.memory`: `out_of_memory`.
    OutOfMemory,
    /// The payload was larger than `limits.max_payload`; the handler did not run:
    /// `payload_too_large`.
    PayloadTooLarge,
    /// The event was older than `delivery.max_event_age`; the handler did not run: `expired`.
    Expired,
    /// The payload was not JSON or did not match the function's `[schema]`; the handler did
    /// not run: `schema_mismatch`.
    SchemaMismatch,
}

impl DeadLetterReason {
    /// Every reason, in the order [`index`](Self::index) numbers them (metrics list them in
    /// this order).
    pub const ALL: [Self; 8] = [
        Self::Permanent,
        Self::Exhausted,
        Self::Timeout,
        Self::Trap,
        Self::OutOfMemory,
        Self::PayloadTooLarge,
        Self::Expired,
        Self::SchemaMismatch,
    ];

    /// The name on the wire: the `Sluice-Dlq-Reason` value and the metrics label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Permanent => "permanent",
            Self::Exhausted => "exhausted",
            Self::Timeout => "timeout",
            Self::Trap => "trap",
            Self::OutOfMemory => "out_of_memory",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Expired => "expired",
            Self::SchemaMismatch => "schema_mismatch",
        }
    }

    /// The reason's position in [`ALL`](Self::ALL), for tables indexed by reason.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `Sluice-Dlq-Reason` value that names no [`DeadLetterReason`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownReason(pub String);

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown dead-letter reason {:?}", self.0)
    }
}

impl std::error::Error for UnknownReason {}

impl FromStr for DeadLetterReason {
    type Err = UnknownReason;

    /// Parses a wire name, exactly as [`as_str`](Self::as_str) writes it.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str() == text)
            .ok_or_else(|| UnknownReason(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_the_ones_sluice_has_always_written() {
        let names: Vec<&str> = DeadLetterReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "permanent",
                "exhausted",
                "timeout",
                "trap",
                "out_of_memory",
                "payload_too_large",
                "expired",
                "schema_mismatch",
            ]
        );
    }

    #[test]
    fn names_parse_back_and_index_into_all() {
        for (position, reason) in DeadLetterReason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), position);
            assert_eq!(reason.as_str().parse(), Ok(reason));
            assert_eq!(reason.to_string(), reason.as_str());
        }
        assert_eq!(
            "Permanent".parse::<DeadLetterReason>(),
            Err(UnknownReason("Permanent".into()))
        );
        assert!("".parse::<DeadLetterReason>().is_err());
    }
}
