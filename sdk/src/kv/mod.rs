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

pub(crate) mod entry;
pub(crate) mod error;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use entry::Entry;
pub use error::KvError;

use crate::Error;

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
