//! Key-value state in the JetStream buckets the function's manifest names.
//!
//! A function may use only the buckets listed in its manifest's `[state] buckets`; any
//! other bucket is [`KvError::Denied`]. Writes take effect at once, not through the outbox:
//! a write made by an attempt that then fails stays written. Make writes safe to repeat (set
//! the same value again), or guard them with [`compare_and_swap`] so a retried event cannot
//! apply its change twice.
//!
//! ```
//! use sluice_sdk::testing::TestHost;
//! use sluice_sdk::{Error, Event, Handler, kv};
//!
//! /// Counts orders per customer in the `order-counts` bucket.
//! struct CountOrders;
//!
//! impl Handler for CountOrders {
//!     fn handle(event: Event) -> Result<(), Error> {
//!         let key = format!("customer.{}", event.text()?);
//!         // Read, then write only if nobody wrote meanwhile; a conflict is a retryable
//!         // error, so the event is tried again and reads the newer count.
//!         let (count, revision) = match kv::get("order-counts", &key)? {
//!             Some(entry) => (entry.text()?.parse::<u64>()?, entry.revision),
//!             None => (0, 0),
//!         };
//!         kv::compare_and_swap("order-counts", &key, (count + 1).to_string(), revision)?;
//!         Ok(())
//!     }
//! }
//!
//! let host = TestHost::new().allow_bucket("order-counts");
//! for id in ["e-1", "e-2"] {
//!     let outcome = host.run::<CountOrders>(Event::new(id, "orders.placed", "c-7"));
//!     assert!(outcome.result.is_ok());
//! }
//! let entry = host.kv_entry("order-counts", "customer.c-7").unwrap();
//! assert_eq!(entry.value, b"2");
//! assert_eq!(entry.revision, 2);
//! ```

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// A stored value and the revision it was written at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The value, byte for byte.
    pub value: Vec<u8>,
    /// The key's revision: it changes on every write; [`compare_and_swap`] checks it.
    pub revision: u64,
}

impl Entry {
    /// The value as UTF-8 text; a value that is not gives a permanent error.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.value)
            .map_err(|e| Error::permanent(format!("stored value is not UTF-8 text: {e}")))
    }

    /// The value parsed as JSON; a value that does not parse as `T` gives a permanent error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.value).map_err(|e| {
            Error::permanent(format!(
                "stored value is not valid JSON for {}: {e}",
                std::any::type_name::<T>()
            ))
        })
    }
}

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
    /// [`compare_and_swap`] found another revision: someone wrote the key meanwhile.
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

/// The value of `key` in `bucket`, or `None` when it has none (never set, or deleted).
pub fn get(bucket: &str, key: &str) -> Result<Option<Entry>, KvError> {
    crate::host::kv_get(bucket, key)
}

/// Sets `key` in `bucket` to `value`; returns the new revision.
pub fn set(bucket: &str, key: &str, value: impl AsRef<[u8]>) -> Result<u64, KvError> {
    crate::host::kv_set(bucket, key, value.as_ref())
}

/// Deletes `key` from `bucket`; deleting a key that has no value is not an error.
pub fn delete(bucket: &str, key: &str) -> Result<(), KvError> {
    crate::host::kv_delete(bucket, key)
}

/// Sets `key` to `value` only if its revision is still `revision`; `0` means only if the key
/// has no value. Returns the new revision, or [`KvError::Conflict`].
pub fn compare_and_swap(
    bucket: &str,
    key: &str,
    value: impl AsRef<[u8]>,
    revision: u64,
) -> Result<u64, KvError> {
    crate::host::kv_compare_and_swap(bucket, key, value.as_ref(), revision)
}

/// The keys in `bucket` that start with `prefix` (all keys for `""`), sorted. At most
/// 100,000: when more match, the host answers [`KvError::Invalid`].
pub fn keys(bucket: &str, prefix: &str) -> Result<Vec<String>, KvError> {
    crate::host::kv_keys(bucket, prefix)
}

/// The value of `key` parsed as JSON, or `None` when it has none.
///
/// Key-value failures convert as [`KvError`] does; a stored value that is not valid JSON for
/// `T` is a permanent error.
pub fn get_json<T: DeserializeOwned>(bucket: &str, key: &str) -> Result<Option<T>, Error> {
    get(bucket, key)?.map(|entry| entry.json()).transpose()
}

/// Sets `key` to `value` serialized as JSON; returns the new revision.
///
/// Key-value failures convert as [`KvError`] does; a value that cannot be serialized is a
/// permanent error.
pub fn set_json<T: Serialize + ?Sized>(bucket: &str, key: &str, value: &T) -> Result<u64, Error> {
    let bytes = serde_json::to_vec(value).map_err(|e| {
        Error::permanent(format!(
            "cannot serialize {} as JSON for key {key}: {e}",
            std::any::type_name::<T>()
        ))
    })?;
    Ok(set(bucket, key, bytes)?)
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
