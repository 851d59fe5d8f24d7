//! What a handler returns when it fails.

use std::fmt;
use std::time::Duration;

use crate::bindings::sluice::function::types;

/// Why an event could not be handled, and whether trying again can help.
///
/// Build one with [`Error::retryable`] or [`Error::permanent`]. Any
/// [`std::error::Error`] converts into a *retryable* `Error`, so `?` retries by default:
///
/// ```
/// use sluice_sdk::Error;
///
/// fn parse(n: &str) -> Result<u32, Error> {
///     Ok(n.parse::<u32>()?) // a ParseIntError becomes a retryable Error
/// }
/// assert!(parse("x").unwrap_err().is_retryable());
/// ```
///
/// Like `anyhow::Error`, this type does not implement [`std::error::Error`] itself; that is
/// what makes the blanket conversion possible.
pub struct Error {
    kind: Kind,
    message: String,
}

/// The two outcomes the host distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Retryable { retry_after: Option<Duration> },
    Permanent,
}

impl Error {
    /// A failure that a later attempt may not have: a dependency was down, a lock was busy.
    ///
    /// The host delivers the event again with backoff until `retry.max_attempts` is used
    /// up, then dead-letters it.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Retryable { retry_after: None },
            message: message.into(),
        }
    }

    /// A failure that retrying cannot fix: the event is malformed or a rule rejects it.
    ///
    /// The host dead-letters the event at once, keeping `message` in its headers.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Permanent,
            message: message.into(),
        }
    }

    /// Asks the host to wait at least `delay` before the next attempt.
    ///
    /// The host caps it at the function's `retry.max_delay`. Has no effect on a permanent
    /// error, which is never retried.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sluice_sdk::Error;
    ///
    /// let err = Error::retryable("rate limited").retry_after(Duration::from_secs(30));
    /// assert_eq!(err.retry_delay(), Some(Duration::from_secs(30)));
    /// ```
    pub fn retry_after(mut self, delay: Duration) -> Self {
        if let Kind::Retryable { retry_after } = &mut self.kind {
            *retry_after = Some(delay);
        }
        self
    }

    /// Whether the host should try the event again.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, Kind::Retryable { .. })
    }

    /// The delay requested with [`Error::retry_after`], if any.
    pub fn retry_delay(&self) -> Option<Duration> {
        match self.kind {
            Kind::Retryable { retry_after } => retry_after,
            Kind::Permanent => None,
        }
    }

    /// What went wrong, as the host logs it and puts on a dead-lettered event.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Converts into the WIT `failure` variant, with the retry-after in milliseconds.
    pub(crate) fn into_wit(self) -> types::Failure {
        match self.kind {
            Kind::Retryable { retry_after } => types::Failure::Retryable(types::RetryableError {
                message: self.message,
                retry_after_ms: retry_after.map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX)),
            }),
            Kind::Permanent => types::Failure::Permanent(self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Retryable { retry_after: None } => write!(f, "retryable: {}", self.message),
            Kind::Retryable {
                retry_after: Some(delay),
            } => write!(f, "retryable (after {delay:?}): {}", self.message),
            Kind::Permanent => write!(f, "permanent: {}", self.message),
        }
    }
}

/// Any standard error becomes a retryable [`Error`] whose message is the error followed by
/// its sources, separated by `": "`.
impl<E: std::error::Error + Send + Sync + 'static> From<E> for Error {
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::retryable(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("loading prices")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn std_errors_become_retryable_with_their_chain() {
        let err = Error::from(Outer(std::io::Error::other("connection reset")));
        assert!(err.is_retryable());
        assert_eq!(err.message(), "loading prices: connection reset");
    }

    #[test]
    fn retry_after_applies_to_retryable_errors_only() {
        let err = Error::permanent("bad").retry_after(Duration::from_secs(1));
        assert!(!err.is_retryable());
        assert_eq!(err.retry_delay(), None);
        assert_eq!(format!("{err:?}"), "permanent: bad");
    }

    #[test]
    fn converts_to_the_wit_variant_in_milliseconds() {
        let wit = Error::retryable("busy")
            .retry_after(Duration::from_millis(1500))
            .into_wit();
        match wit {
            types::Failure::Retryable(r) => {
                assert_eq!(r.message, "busy");
                assert_eq!(r.retry_after_ms, Some(1500));
            }
            types::Failure::Permanent(_) => panic!("expected retryable"),
        }
        match Error::permanent("no").into_wit() {
            types::Failure::Permanent(m) => assert_eq!(m, "no"),
            types::Failure::Retryable(_) => panic!("expected permanent"),
        }
    }

    #[test]
    fn display_is_the_message() {
        assert_eq!(Error::retryable("busy").to_string(), "busy");
    }
}
