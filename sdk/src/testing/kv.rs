//! The [`TestHost`](super::TestHost)'s key-value buckets: in memory, shared by every run of
//! one host (and its clones), with the host's revision, delete and compare-and-swap rules.

use std::collections::BTreeMap;

use sluice_protocol::kv;

use super::with_run;
use crate::kv::entry::Entry;
use crate::kv::error::KvError;

/// Every bucket of one test host.
#[derive(Debug, Default)]
pub(super) struct MemoryKv {
    buckets: BTreeMap<String, Bucket>,
}

/// One bucket: one sequence numbers every write, as in a JetStream stream.
#[derive(Debug, Default)]
struct Bucket {
    revision: u64,
    /// Each key's last write: the value (`None` for a delete) and its revision.
    entries: BTreeMap<String, (Option<Vec<u8>>, u64)>,
}

impl MemoryKv {
    pub(super) fn get(&self, bucket: &str, key: &str) -> Option<Entry> {
        let (value, revision) = self.buckets.get(bucket)?.entries.get(key)?;
        value.as_ref().map(|value| Entry {
            value: value.clone(),
            revision: *revision,
        })
    }

    pub(super) fn write(&mut self, bucket: &str, key: &str, value: Option<Vec<u8>>) -> u64 {
        let bucket = self.buckets.entry(bucket.to_owned()).or_default();
        bucket.revision += 1;
        bucket.entries.insert(key.to_owned(), (value, bucket.revision));
        bucket.revision
    }

    /// The revision of the key's last write, if any (deletes count).
    fn last_revision(&self, bucket: &str, key: &str) -> Option<(bool, u64)> {
        let (value, revision) = self.buckets.get(bucket)?.entries.get(key)?;
        Some((value.is_some(), *revision))
    }

    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.buckets.get(bucket).map_or_else(Vec::new, |bucket| {
            bucket
                .entries
                .iter()
                .filter(|(key, (value, _))| key.starts_with(prefix) && value.is_some())
                .map(|(key, _)| key.clone())
                .collect()
        })
    }
}

/// Runs `action` on the buckets once the bucket is allowed and `key` (the key's check) is ok.
fn with_bucket<T>(
    call: &str,
    bucket: &str,
    key: Result<(), KvError>,
    action: impl FnOnce(&mut MemoryKv) -> Result<T, KvError>,
) -> Result<T, KvError> {
    with_run(call, |run| {
        if let Some(allowed) = &run.host.buckets
            && !allowed.iter().any(|b| b == bucket)
        {
            return Err(KvError::Denied(format!(
                "bucket `{bucket}` denied: not in state.buckets"
            )));
        }
        key?;
        action(&mut run.host.kv.lock().expect("test key-value lock poisoned"))
    })
}

/// The host's key rule ([`kv::check_key`]).
fn check_key(key: &str) -> Result<(), KvError> {
    kv::check_key(key).map_err(KvError::Invalid)
}

/// The host's rule for a prefix of keys ([`kv::check_prefix`]).
fn check_prefix(prefix: &str) -> Result<(), KvError> {
    kv::check_prefix(prefix).map_err(KvError::Invalid)
}

pub(crate) fn kv_get(bucket: &str, key: &str) -> Result<Option<Entry>, KvError> {
    with_bucket("kv::get", bucket, check_key(key), |kv| Ok(kv.get(bucket, key)))
}

pub(crate) fn kv_set(bucket: &str, key: &str, value: &[u8]) -> Result<u64, KvError> {
    with_bucket("kv::set", bucket, check_key(key), |kv| {
        Ok(kv.write(bucket, key, Some(value.to_vec())))
    })
}

pub(crate) fn kv_delete(bucket: &str, key: &str) -> Result<(), KvError> {
    with_bucket("kv::delete", bucket, check_key(key), |kv| {
        kv.write(bucket, key, None);
        Ok(())
    })
}

pub(crate) fn kv_compare_and_swap(
    bucket: &str,
    key: &str,
    value: &[u8],
    revision: u64,
) -> Result<u64, KvError> {
    with_bucket("kv::compare_and_swap", bucket, check_key(key), |kv| {
        let ok = match (revision, kv.last_revision(bucket, key)) {
            (0, None | Some((false, _))) => true,
            (expected, Some((_, actual))) => expected != 0 && expected == actual,
            _ => false,
        };
        if !ok {
            return Err(KvError::Conflict(format!(
                "key `{key}` in bucket `{bucket}` is not at revision {revision}"
            )));
        }
        Ok(kv.write(bucket, key, Some(value.to_vec())))
    })
}

pub(crate) fn kv_keys(bucket: &str, prefix: &str) -> Result<Vec<String>, KvError> {
    with_bucket("kv::keys", bucket, check_prefix(prefix), |kv| {
        Ok(kv.keys(bucket, prefix))
    })
}
