//! How a key-value call fails, and what that means for a retry.

use std::fmt;

use crate::Error;

/// Why a key-value call failed.
///
/// Converts into an [`Error`] with `?`: [`Conflict`](Self::Conflict) and
/// [`Unavailable`](Self::Unavailable) are retryable (a later attempt may succeed),
/// [`Denied`](Self::Denied) and [`Invalid`](Self::Invalid) are permanent. It does not
/// implement [`std::error::Error`], which would make every `KvError` retryable through
/// [`Error`]'s blanket conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The bucket is not in the function's `[state] buckets`.
    Denied(String),
    /// [`compare_and_swap`](super::compare_and_swap) found another revision: someone wrote
    /// the key meanwhile.
    Conflict(String),
    /// The key or value is not acceptable (keys: letters, digits and `-_=/.`, not starting
    /// or ending with `.`; values: at most 1 MiB).
    Invalid(String),
    /// The store could not be reached or failed; trying again later may work.
    Unavailable(String),
}

impl KvError {
    /// The host's explanation.
    pub fn message(&self) -> &str {
        match self {
            Self::Denied(m) | Self::Conflict(m) | Self::Invalid(m) | Self::Unavailable(m) => m,
        }
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl From<KvError> for Error {
    fn from(error: KvError) -> Self {
        match error {
            KvError::Conflict(m) | KvError::Unavailable(m) => Error::retryable(m),
            KvError::Denied(m) | KvError::Invalid(m) => Error::permanent(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_and_outages_retry_while_denials_and_bad_keys_do_not() {
        assert!(Error::from(KvError::Conflict("c".into())).is_retryable());
        assert!(Error::from(KvError::Unavailable("u".into())).is_retryable());
        assert!(!Error::from(KvError::Denied("d".into())).is_retryable());
        let error = Error::from(KvError::Invalid("bad key".into()));
        assert!(!error.is_retryable());
        assert_eq!(error.message(), "bad key");
    }
}
