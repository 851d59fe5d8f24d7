//! Key-value calls on a JetStream bucket. A key's revision is the stream sequence of its
//! last write; deletes leave a marker that reads as no value.

use async_nats::jetstream::kv::{CreateErrorKind, Operation, Store, UpdateErrorKind};
use futures::StreamExt;

use super::{Entry, KvError, MAX_KEYS};

/// The value of `key`, unless it was never set or its last write was a delete or purge.
pub async fn get(store: &Store, bucket: &str, key: &str) -> Result<Option<Entry>, KvError> {
    let entry = store
        .entry(key)
        .await
        .map_err(|error| unavailable(bucket, "get", key, &error))?;
    Ok(entry
        .filter(|entry| entry.operation == Operation::Put)
        .map(|entry| Entry {
            value: entry.value.to_vec(),
            revision: entry.revision,
        }))
}

/// Writes `value`; returns its revision.
pub async fn set(store: &Store, bucket: &str, key: &str, value: Vec<u8>) -> Result<u64, KvError> {
    store
        .put(key, value.into())
        .await
        .map_err(|error| unavailable(bucket, "set", key, &error))
}

/// Writes a delete marker.
pub async fn delete(store: &Store, bucket: &str, key: &str) -> Result<(), KvError> {
    store
        .delete(key)
        .await
        .map_err(|error| unavailable(bucket, "delete", key, &error))
}

/// Writes `value` if the key's revision is `revision` (0: if it has no value).
pub async fn compare_and_swap(
    store: &Store,
    bucket: &str,
    key: &str,
    value: Vec<u8>,
    revision: u64,
) -> Result<u64, KvError> {
    if revision == 0 {
        return store
            .create(key, value.into())
            .await
            .map_err(|error| match error.kind() {
                CreateErrorKind::AlreadyExists => KvError::Conflict(format!(
                    "key `{key}` in bucket `{bucket}` already has a value (compare-and-swap expected none)"
                )),
                _ => unavailable(bucket, "compare-and-swap", key, &error),
            });
    }
    store
        .update(key, value.into(), revision)
        .await
        .map_err(|error| match error.kind() {
            UpdateErrorKind::WrongLastRevision => KvError::Conflict(format!(
                "key `{key}` in bucket `{bucket}` is no longer at revision {revision}: it was written meanwhile"
            )),
            _ => unavailable(bucket, "compare-and-swap", key, &error),
        })
}

/// The keys with a value that start with `prefix`, unsorted; at most one more than
/// [`MAX_KEYS`], so the caller can tell there were too many.
pub async fn keys(store: &Store, bucket: &str, prefix: &str) -> Result<Vec<String>, KvError> {
    let mut stream = store
        .keys()
        .await
        .map_err(|error| unavailable(bucket, "list keys", prefix, &error))?;
    let mut keys = Vec::new();
    while let Some(key) = stream.next().await {
        let key = key.map_err(|error| unavailable(bucket, "list keys", prefix, &error))?;
        if key.starts_with(prefix) {
            keys.push(key);
            if keys.len() > MAX_KEYS {
                break;
            }
        }
    }
    Ok(keys)
}

/// A failure of the store: the operation, the bucket and key, and NATS's error chain.
fn unavailable(bucket: &str, operation: &str, key: &str, error: &dyn std::error::Error) -> KvError {
    let mut message = format!("{operation} `{key}` in bucket `{bucket}` failed: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    KvError::Unavailable(message)
}
