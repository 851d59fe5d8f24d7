//! Key-value buckets in memory, for `sluice invoke`: the same revisions, deletes and
//! compare-and-swap rules as a JetStream bucket, forgotten when the process exits.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::{Entry, KvError, MAX_KEYS};

/// In-memory buckets, created on first use.
#[derive(Debug, Default)]
pub struct MemoryKv {
    buckets: Mutex<BTreeMap<String, Bucket>>,
}

/// One bucket: like a JetStream stream, one sequence numbers every write.
#[derive(Debug, Default)]
struct Bucket {
    /// The last revision handed out.
    revision: u64,
    /// Each key's last write: the value (`None` for a delete) and its revision.
    entries: BTreeMap<String, (Option<Vec<u8>>, u64)>,
}

impl Bucket {
    fn write(&mut self, key: &str, value: Option<Vec<u8>>) -> u64 {
        self.revision += 1;
        self.entries.insert(key.to_owned(), (value, self.revision));
        self.revision
    }
}

impl MemoryKv {
    /// The value of `key`, unless never set or deleted.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Entry> {
        let buckets = self.lock();
        let (value, revision) = buckets.get(bucket)?.entries.get(key)?;
        value.as_ref().map(|value| Entry {
            value: value.clone(),
            revision: *revision,
        })
    }

    /// Writes `value`; returns its revision.
    pub fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> u64 {
        self.lock()
            .entry(bucket.to_owned())
            .or_default()
            .write(key, Some(value))
    }

    /// Writes a delete marker (also for a key that has no value, as JetStream does).
    pub fn delete(&self, bucket: &str, key: &str) {
        self.lock().entry(bucket.to_owned()).or_default().write(key, None);
    }

    /// Writes `value` if the key's last write has revision `revision`; 0 means "if it has
    /// no value" (never set, or deleted).
    pub fn compare_and_swap(
        &self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        revision: u64,
    ) -> Result<u64, KvError> {
        let mut buckets = self.lock();
        let store = buckets.entry(bucket.to_owned()).or_default();
        let current = store.entries.get(key);
        let matches = match (revision, current) {
            (0, None | Some((None, _))) => true,
            (0, Some((Some(_), _))) => false,
            (expected, Some((_, actual))) => expected == *actual,
            (_, None) => false,
        };
        if !matches {
            return Err(KvError::Conflict(match revision {
                0 => format!(
                    "key `{key}` in bucket `{bucket}` already has a value (compare-and-swap expected none)"
                ),
                _ => format!(
                    "key `{key}` in bucket `{bucket}` is no longer at revision {revision}: it was written meanwhile"
                ),
            }));
        }
        Ok(store.write(key, Some(value)))
    }

    /// The keys with a value that start with `prefix`, sorted; at most one more than
    /// [`MAX_KEYS`].
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let buckets = self.lock();
        let Some(store) = buckets.get(bucket) else {
            return Vec::new();
        };
        store
            .entries
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter(|(_, (value, _))| value.is_some())
            .map(|(key, _)| key.clone())
            .take(MAX_KEYS + 1)
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Bucket>> {
        self.buckets.lock().expect("memory key-value lock poisoned")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_grow_per_bucket_and_deletes_hide_values() {
        let kv = MemoryKv::default();
        assert_eq!(kv.set("b", "k", b"1".to_vec()), 1);
        assert_eq!(kv.set("b", "k", b"2".to_vec()), 2);
        assert_eq!(kv.set("other", "k", b"x".to_vec()), 1);
        let entry = kv.get("b", "k").unwrap();
        assert_eq!((entry.value.as_slice(), entry.revision), (&b"2"[..], 2));
        kv.delete("b", "k");
        assert!(kv.get("b", "k").is_none());
        assert!(kv.get("missing", "k").is_none());
    }

    #[test]
    fn compare_and_swap_checks_the_last_revision() {
        let kv = MemoryKv::default();
        assert_eq!(kv.compare_and_swap("b", "k", b"1".to_vec(), 0).unwrap(), 1);
        assert!(matches!(
            kv.compare_and_swap("b", "k", b"x".to_vec(), 0),
            Err(KvError::Conflict(_))
        ));
        assert!(matches!(
            kv.compare_and_swap("b", "k", b"x".to_vec(), 7),
            Err(KvError::Conflict(_))
        ));
        assert_eq!(kv.compare_and_swap("b", "k", b"2".to_vec(), 1).unwrap(), 2);
        kv.delete("b", "k");
        assert_eq!(kv.compare_and_swap("b", "k", b"3".to_vec(), 0).unwrap(), 4);
    }

    #[test]
    fn keys_match_the_prefix_and_skip_deleted_ones() {
        let kv = MemoryKv::default();
        for key in ["orders.2", "orders.1", "order", "users.1", "orders.3"] {
            kv.set("b", key, Vec::new());
        }
        kv.delete("b", "orders.3");
        assert_eq!(kv.keys("b", "orders."), ["orders.1", "orders.2"]);
        assert_eq!(kv.keys("b", "").len(), 4);
        assert!(kv.keys("none", "").is_empty());
    }
}
