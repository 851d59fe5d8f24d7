//! NATS subjects and subject patterns (`orders.*`, `audit.>`), validated once and matched
//! without allocation.

use std::fmt;

/// What the subject holding a scheduled function's schedule starts with; the function's name
/// follows (`sluice.schedules.report`). The server names it in a firing's `Nats-Scheduler`.
pub const SCHEDULE_HOLDER_PREFIX: &str = "sluice.schedules.";

/// What the subject a scheduled function's firings land on starts with; the function's name
/// follows (`sluice.ticks.report`).
pub const SCHEDULE_TICKS_PREFIX: &str = "sluice.ticks.";

/// A validated NATS subject pattern: dot-separated tokens where `*` matches exactly one
/// token and a final `>` matches one or more.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubjectPattern(String);

impl SubjectPattern {
    /// Validates `text` as a subject pattern.
    pub fn parse(text: &str) -> Result<Self, String> {
        validate(text, true)?;
        Ok(Self(text.to_owned()))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the literal subject `subject` matches this pattern.
    pub fn matches(&self, subject: &str) -> bool {
        let mut tokens = subject.split('.');
        for want in self.0.split('.') {
            match (want, tokens.next()) {
                (">", Some(_)) => return true,
                ("*", Some(_)) => {}
                (want, Some(got)) if want == got => {}
                _ => return false,
            }
        }
        tokens.next().is_none()
    }
}

/// Whether some subject matches both patterns `a` and `b` (`*` is one token, `>` one or more):
/// whether what is published to one can reach a subscriber of the other.
pub fn overlap(a: &str, b: &str) -> bool {
    let a: Vec<&str> = a.split('.').collect();
    let b: Vec<&str> = b.split('.').collect();
    tokens_overlap(&a, &b)
}

fn tokens_overlap(a: &[&str], b: &[&str]) -> bool {
    match (a.first(), b.first()) {
        (None, None) => true,
        (Some(&">"), _) => !b.is_empty(),
        (_, Some(&">")) => !a.is_empty(),
        (Some(x), Some(y)) => (*x == "*" || *y == "*" || x == y) && tokens_overlap(&a[1..], &b[1..]),
        _ => false,
    }
}

impl fmt::Display for SubjectPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks that `subject` is a literal subject a message can be published to (no wildcards).
pub fn validate_literal(subject: &str) -> Result<(), String> {
    if is_plain_literal(subject) {
        return Ok(());
    }
    validate(subject, false)
}

/// The common case in one pass (every publish checks its subject): printable ASCII without
/// wildcard characters and without an empty token. Anything else gets the full check and
/// its explanation.
fn is_plain_literal(subject: &str) -> bool {
    let mut previous = b'.';
    for &byte in subject.as_bytes() {
        let bad = !byte.is_ascii_graphic() || byte == b'*' || byte == b'>';
        if bad || (byte == b'.' && previous == b'.') {
            return false;
        }
        previous = byte;
    }
    previous != b'.'
}

fn validate(text: &str, wildcards: bool) -> Result<(), String> {
    if text.is_empty() {
        return Err("a subject cannot be empty".into());
    }
    let count = text.split('.').count();
    for (index, token) in text.split('.').enumerate() {
        if token.is_empty() {
            return Err(format!(
                "`{text}` has an empty token (leading, trailing or double dot)"
            ));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{text}` contains whitespace"));
        }
        let wild = token == "*" || token == ">";
        if wild && !wildcards {
            return Err(format!(
                "`{text}` contains a wildcard; publish to a literal subject"
            ));
        }
        if token == ">" && index + 1 != count {
            return Err(format!("`{text}`: `>` may only be the last token"));
        }
        if !wild && (token.contains('*') || token.contains('>')) {
            return Err(format!("`{text}`: wildcards must be whole tokens"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn wildcards_overlap_where_a_subject_matches_both() {
        use super::overlap;
        assert!(overlap("orders.placed", "orders.placed"));
        assert!(overlap("orders.*", "orders.placed"));
        assert!(overlap("orders.>", "orders.eu.placed"));
        assert!(overlap("*.placed", "orders.*"));
        assert!(overlap(">", "a.b.c"));
        assert!(!overlap("orders.placed", "orders.paid"));
        assert!(!overlap("orders.*", "orders.eu.placed"));
        assert!(!overlap("orders.>", "orders"));
        assert!(!overlap("a.b", "a.b.c"));
    }

    use super::*;

    fn pattern(text: &str) -> SubjectPattern {
        SubjectPattern::parse(text).unwrap()
    }

    #[test]
    fn matching_follows_nats_rules() {
        assert!(pattern("orders.placed").matches("orders.placed"));
        assert!(!pattern("orders.placed").matches("orders.placed.eu"));
        assert!(pattern("orders.*").matches("orders.placed"));
        assert!(!pattern("orders.*").matches("orders"));
        assert!(!pattern("orders.*").matches("orders.placed.eu"));
        assert!(pattern("orders.>").matches("orders.placed.eu"));
        assert!(!pattern("orders.>").matches("orders"));
        assert!(pattern("*.placed").matches("orders.placed"));
        assert!(!pattern("a.b").matches("a"));
    }

    #[test]
    fn invalid_patterns_are_explained() {
        assert!(SubjectPattern::parse("").is_err());
        assert!(SubjectPattern::parse("a..b").unwrap_err().contains("empty token"));
        assert!(SubjectPattern::parse("a.>.b").unwrap_err().contains("last token"));
        assert!(
            SubjectPattern::parse("a.b*")
                .unwrap_err()
                .contains("whole tokens")
        );
        assert!(SubjectPattern::parse("a b").unwrap_err().contains("whitespace"));
        assert!(validate_literal("a.*").unwrap_err().contains("wildcard"));
        assert!(validate_literal("a.b").is_ok());
    }

    #[test]
    fn the_fast_literal_check_agrees_with_the_full_one() {
        for subject in [
            "",
            ".",
            "a",
            "a.b",
            "orders.totalled",
            ".a",
            "a.",
            "a..b",
            "a.*",
            "a.>",
            "a.b*",
            "a b",
            "a\tb",
            "ä.b",
            "a.b-c_d",
            "_INBOX.x",
        ] {
            assert_eq!(
                validate_literal(subject).is_ok(),
                validate(subject, false).is_ok(),
                "{subject:?}"
            );
            if is_plain_literal(subject) {
                assert!(validate(subject, false).is_ok(), "{subject:?}");
            }
        }
    }
}
