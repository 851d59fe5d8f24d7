//! Key-value calls of a shadow version: reads go through to the live buckets, writes stay in
//! a scratch layer of the one event being shadowed, so the candidate sees its own writes and
//! the live data never changes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_nats::jetstream::kv::Store;

use super::{Entry, KvError, jetstream};

/// A key the event wrote: its value (`None`: deleted) and revision.
type Written = (Option<Vec<u8>>, u64);

/// The live buckets, and what the shadowed event wrote over them.
pub struct Overlay {
    live: BTreeMap<String, Store>,
    /// Each written key's value (`None`: deleted) and revision, by bucket and key.
    scratch: Mutex<BTreeMap<(String, String), Written>>,
}

impl Overlay {
    /// An empty overlay over `live`.
    pub fn new(live: BTreeMap<String, Store>) -> Self {
        Self {
            live,
            scratch: Mutex::default(),
        }
    }

    /// Whether `bucket` is one of the live buckets.
    pub fn has(&self, bucket: &str) -> bool {
        self.live.contains_key(bucket)
    }

    fn written(&self, bucket: &str, key: &str) -> Option<Written> {
        let scratch = self.scratch.lock().expect("overlay lock poisoned");
        scratch.get(&(bucket.to_owned(), key.to_owned())).cloned()
    }

    fn write(&self, bucket: &str, key: &str, value: Option<Vec<u8>>, revision: u64) {
        let mut scratch = self.scratch.lock().expect("overlay lock poisoned");
        scratch.insert((bucket.to_owned(), key.to_owned()), (value, revision));
    }

    fn store(&self, bucket: &str) -> Result<&Store, KvError> {
        self.live
            .get(bucket)
            .ok_or_else(|| KvError::Unavailable(format!("bucket `{bucket}` is unavailable")))
    }

    /// The value the event wrote, else the live one.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Option<Entry>, KvError> {
        if let Some((value, revision)) = self.written(bucket, key) {
            return Ok(value.map(|value| Entry { value, revision }));
        }
        jetstream::get(self.store(bucket)?, bucket, key).await
    }

    /// The key's current revision (0 when it has no value).
    async fn revision(&self, bucket: &str, key: &str) -> Result<u64, KvError> {
        Ok(self.get(bucket, key).await?.map_or(0, |entry| entry.revision))
    }

    /// Writes `value` to the scratch layer; its revision is one past the key's current one.
    pub async fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<u64, KvError> {
        let revision = self.revision(bucket, key).await? + 1;
        self.write(bucket, key, Some(value), revision);
        Ok(revision)
    }

    /// Deletes the key in the scratch layer.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), KvError> {
        let revision = self.revision(bucket, key).await? + 1;
        self.write(bucket, key, None, revision);
        Ok(())
    }

    /// Writes `value` to the scratch layer if the key's current revision is `revision`.
    pub async fn compare_and_swap(
        &self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        revision: u64,
    ) -> Result<u64, KvError> {
        let current = self.revision(bucket, key).await?;
        if current != revision {
            return Err(KvError::Conflict(format!(
                "key `{key}` in bucket `{bucket}` is at revision {current}, not {revision}"
            )));
        }
        self.write(bucket, key, Some(value), current + 1);
        Ok(current + 1)
    }

    /// The live keys under `prefix`, with the event's own writes and deletes applied.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, KvError> {
        let mut keys = jetstream::keys(self.store(bucket)?, bucket, prefix).await?;
        let scratch = self.scratch.lock().expect("overlay lock poisoned");
        for ((written_bucket, key), (value, _)) in scratch.iter() {
            if written_bucket != bucket || !key.starts_with(prefix) {
                continue;
            }
            match value {
                Some(_) if !keys.contains(key) => keys.push(key.clone()),
                None => keys.retain(|known| known != key),
                Some(_) => {}
            }
        }
        Ok(keys)
    }
}
