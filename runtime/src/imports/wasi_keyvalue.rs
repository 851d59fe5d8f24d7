//! `wasi:keyvalue@0.2.0-draft` (store, atomics, batch), which wasmCloud components import,
//! on the same buckets and permissions as `sluice:function/kv`: `open` takes a bucket named
//! in the manifest's `[state] buckets` (`""` or `"default"` opens the first one), and every
//! call goes through the `sluice:function/kv` host functions, so keys, values, limits and
//! backends (JetStream on a host, memory under `sluice invoke`) are the same.

use wasmtime::component::Resource;

use super::State;
use crate::bindings::resources::KeyValueBucket;
use crate::bindings::sluice::function::kv::{Host as Kv, KvError};
use crate::bindings::wasmcloud::wasi::keyvalue::store::{Error, KeyResponse};
use crate::bindings::wasmcloud::wasi::keyvalue::{atomics, batch, store};

/// Keys per `list-keys` page.
const PAGE: usize = 1000;

/// How often `increment` retries its compare-and-swap when other writers get in between.
const INCREMENT_TRIES: usize = 16;

fn error(error: KvError) -> Error {
    match error {
        KvError::Denied(_) => Error::AccessDenied,
        KvError::Conflict(why) | KvError::Invalid(why) | KvError::Unavailable(why) => Error::Other(why),
    }
}

impl State {
    /// The name of the bucket `bucket` refers to.
    fn bucket_name(&self, bucket: &Resource<KeyValueBucket>) -> Result<String, Error> {
        self.table
            .get(bucket)
            .map(|bucket| bucket.name.clone())
            .map_err(|e| Error::Other(format!("no such bucket handle: {e}")))
    }
}

impl store::Host for State {
    async fn open(&mut self, identifier: String) -> Result<Resource<KeyValueBucket>, Error> {
        let manifest = &self.call.manifest;
        let name = match identifier.as_str() {
            "" | "default" => manifest.buckets.first().cloned().ok_or(Error::NoSuchStore)?,
            _ if manifest.may_use_bucket(&identifier) => identifier,
            _ => return Err(Error::AccessDenied),
        };
        self.table
            .push(KeyValueBucket { name })
            .map_err(|e| Error::Other(e.to_string()))
    }
}

impl store::HostBucket for State {
    async fn get(&mut self, bucket: Resource<KeyValueBucket>, key: String) -> Result<Option<Vec<u8>>, Error> {
        let name = self.bucket_name(&bucket)?;
        let entry = Kv::get(self, name, key).await.map_err(error)?;
        Ok(entry.map(|entry| entry.value))
    }

    async fn set(
        &mut self,
        bucket: Resource<KeyValueBucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        let name = self.bucket_name(&bucket)?;
        Kv::set(self, name, key, value).await.map(drop).map_err(error)
    }

    async fn delete(&mut self, bucket: Resource<KeyValueBucket>, key: String) -> Result<(), Error> {
        let name = self.bucket_name(&bucket)?;
        Kv::delete(self, name, key).await.map_err(error)
    }

    async fn exists(&mut self, bucket: Resource<KeyValueBucket>, key: String) -> Result<bool, Error> {
        let name = self.bucket_name(&bucket)?;
        Ok(Kv::get(self, name, key).await.map_err(error)?.is_some())
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<KeyValueBucket>,
        cursor: Option<u64>,
    ) -> Result<KeyResponse, Error> {
        let name = self.bucket_name(&bucket)?;
        let keys = Kv::keys(self, name, String::new()).await.map_err(error)?;
        Ok(page(keys, cursor))
    }

    async fn drop(&mut self, bucket: Resource<KeyValueBucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

/// The page of the sorted `keys` that starts at `cursor`, and the cursor of the next page.
fn page(keys: Vec<String>, cursor: Option<u64>) -> KeyResponse {
    let start = usize::try_from(cursor.unwrap_or(0))
        .unwrap_or(usize::MAX)
        .min(keys.len());
    let end = (start + PAGE).min(keys.len());
    let next = (end < keys.len()).then_some(end as u64);
    KeyResponse {
        keys: keys.into_iter().skip(start).take(end - start).collect(),
        cursor: next,
    }
}

impl atomics::Host for State {
    /// Counters are stored as decimal text (`"42"`), so other clients can read them; a value
    /// that is not a number is an error rather than being overwritten.
    async fn increment(
        &mut self,
        bucket: Resource<KeyValueBucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, Error> {
        let name = self.bucket_name(&bucket)?;
        for _ in 0..INCREMENT_TRIES {
            let current = Kv::get(self, name.clone(), key.clone()).await.map_err(error)?;
            let (count, revision) = match &current {
                Some(entry) => (counter(&name, &key, &entry.value)?, entry.revision),
                None => (0, 0),
            };
            let next = count.checked_add(delta).ok_or_else(|| {
                Error::Other(format!(
                    "incrementing `{key}` in bucket `{name}` by {delta} overflows u64"
                ))
            })?;
            let value = next.to_string().into_bytes();
            match Kv::compare_and_swap(self, name.clone(), key.clone(), value, revision).await {
                Ok(_) => return Ok(next),
                Err(KvError::Conflict(_)) => continue,
                Err(other) => return Err(error(other)),
            }
        }
        Err(Error::Other(format!(
            "incrementing `{key}` in bucket `{name}`: {INCREMENT_TRIES} concurrent writes got in between"
        )))
    }
}

/// The counter a value holds: decimal digits.
fn counter(bucket: &str, key: &str, value: &[u8]) -> Result<u64, Error> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| {
            Error::Other(format!(
                "`{key}` in bucket `{bucket}` does not hold a counter (decimal digits)"
            ))
        })
}

impl batch::Host for State {
    async fn get_many(
        &mut self,
        bucket: Resource<KeyValueBucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, Error> {
        let name = self.bucket_name(&bucket)?;
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            let entry = Kv::get(self, name.clone(), key.clone()).await.map_err(error)?;
            values.push(entry.map(|entry| (key, entry.value)));
        }
        Ok(values)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<KeyValueBucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), Error> {
        let name = self.bucket_name(&bucket)?;
        for (key, value) in key_values {
            Kv::set(self, name.clone(), key, value).await.map_err(error)?;
        }
        Ok(())
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<KeyValueBucket>,
        keys: Vec<String>,
    ) -> Result<(), Error> {
        let name = self.bucket_name(&bucket)?;
        for key in keys {
            Kv::delete(self, name.clone(), key).await.map_err(error)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_in_pages_with_a_cursor_to_the_next() {
        let keys: Vec<String> = (0..2500).map(|i| format!("k{i:04}")).collect();
        let first = page(keys.clone(), None);
        assert_eq!((first.keys.len(), first.cursor), (PAGE, Some(1000)));
        let last = page(keys.clone(), Some(2000));
        assert_eq!((last.keys.len(), last.cursor), (500, None));
        assert_eq!(last.keys[0], "k2000");
        assert!(page(keys, Some(9999)).keys.is_empty());
    }

    #[test]
    fn counters_are_decimal_text() {
        assert_eq!(counter("b", "k", b"41").unwrap(), 41);
        assert!(
            matches!(counter("b", "k", b"forty"), Err(Error::Other(why)) if why.contains("does not hold a counter"))
        );
    }
}
