//! Why a request got no answer, and what that means for a retry.

use std::fmt;

use crate::Error;

/// Why a [`request`](super::request) got no answer.
///
/// Converts into an [`Error`] with `?`: [`Timeout`](Self::Timeout),
/// [`NoResponders`](Self::NoResponders) and [`Failed`](Self::Failed) are retryable,
/// [`Denied`](Self::Denied) is permanent. (Like [`KvError`](crate::kv::KvError), it does not
/// implement [`std::error::Error`].)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The subject matches none of the function's `permissions.request` patterns.
    Denied(String),
    /// Nobody answered within the timeout.
    Timeout(String),
    /// Nobody listens on the subject.
    NoResponders(String),
    /// The request could not be sent or answered (an invalid subject or header, no
    /// connection, a connection failure).
    Failed(String),
}

impl RequestError {
    /// The host's explanation.
    pub fn message(&self) -> &str {
        match self {
            Self::Denied(m) | Self::Timeout(m) | Self::NoResponders(m) | Self::Failed(m) => m,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl From<RequestError> for Error {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::Denied(m) => Error::permanent(m),
            RequestError::Timeout(m) | RequestError::NoResponders(m) | RequestError::Failed(m) => {
                Error::retryable(m)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_denials_are_permanent() {
        assert!(!Error::from(RequestError::Denied("d".into())).is_retryable());
        for error in [
            RequestError::Timeout("t".into()),
            RequestError::NoResponders("n".into()),
            RequestError::Failed("f".into()),
        ] {
            assert!(Error::from(error).is_retryable());
        }
    }
}
