//! `sluice:function/kv`: key-value state in the buckets a function's manifest names.
//!
//! Every call first resolves the bucket: one the manifest does not list is `denied`; a
//! listed one goes to the function's backend (JetStream on a running host, memory under
//! `sluice invoke`). Keys are checked here, the same way for both backends.

mod jetstream;
mod memory;
mod overlay;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_nats::jetstream::kv::Store;

use super::{State, taped};
use crate::bindings::sluice::function::kv::{Entry, Host, KvError};
use crate::telemetry::{self, Recording, SpanKind};
use crate::transcript::HostCall;
pub use memory::MemoryKv;
pub use overlay::Overlay;
use sluice_protocol::kv::{self, MAX_KEYS};

/// Where a function's key-value calls go.
pub enum KvBackend {
    /// Nowhere: every call to a declared bucket is `unavailable`.
    None,
    /// JetStream key-value stores, one per declared bucket.
    JetStream(BTreeMap<String, Store>),
    /// Memory that lives as long as the function (`sluice invoke`).
    Memory(MemoryKv),
    /// A shadow version's: live reads, writes kept to the event.
    Overlay(Overlay),
}

/// One bucket a call may use.
enum Bucket<'a> {
    JetStream(&'a Store),
    Memory(&'a MemoryKv),
    Overlay(&'a Overlay),
}

impl State {
    /// The function's key-value backend, once `bucket` is checked against its manifest.
    fn backend_for(&self, bucket: &str) -> Result<Arc<KvBackend>, KvError> {
        let call = &self.call;
        if !call.manifest.may_use_bucket(bucket) {
            let listed: Vec<String> = call.manifest.buckets.iter().map(|b| format!("`{b}`")).collect();
            return Err(KvError::Denied(format!(
                "bucket `{bucket}` denied: function `{}` may only use [{}] (state.buckets)",
                call.function,
                listed.join(", ")
            )));
        }
        Ok(call.services.kv.clone())
    }
}

impl KvBackend {
    fn resolve(&self, bucket: &str) -> Result<Bucket<'_>, KvError> {
        match self {
            Self::JetStream(stores) => stores.get(bucket).map(Bucket::JetStream),
            Self::Memory(memory) => Some(Bucket::Memory(memory)),
            Self::Overlay(overlay) => overlay.has(bucket).then_some(Bucket::Overlay(overlay)),
            Self::None => None,
        }
        .ok_or_else(|| {
            KvError::Unavailable(format!(
                "bucket `{bucket}` is unavailable: this host has no key-value store for the function"
            ))
        })
    }
}

/// Checks a key by the rule the SDK's `TestHost` shares ([`kv::check_key`]).
fn check_key(key: &str) -> Result<(), KvError> {
    kv::check_key(key).map_err(KvError::Invalid)
}

fn check_value(value: &[u8]) -> Result<(), KvError> {
    kv::check_value(value).map_err(KvError::Invalid)
}

impl Host for State {
    async fn get(&mut self, bucket: String, key: String) -> Result<Option<Entry>, KvError> {
        let span = self.kv_span("get", &bucket, &key);
        let backend = self.backend_for(&bucket);
        let call = || HostCall::new("kv.get", format!("{bucket}/{key}"));
        let result = taped(
            self.tape.as_ref(),
            call,
            |why| Err(KvError::Unavailable(why)),
            async {
                let backend = backend?;
                check_key(&key)?;
                match backend.resolve(&bucket)? {
                    Bucket::JetStream(store) => jetstream::get(store, &bucket, &key).await,
                    Bucket::Memory(memory) => Ok(memory.get(&bucket, &key)),
                    Bucket::Overlay(overlay) => overlay.get(&bucket, &key).await,
                }
            },
        )
        .await;
        telemetry::end_with(span, result, describe)
    }

    async fn set(&mut self, bucket: String, key: String, value: Vec<u8>) -> Result<u64, KvError> {
        let span = self.kv_span("set", &bucket, &key);
        let backend = self.backend_for(&bucket);
        let call = || HostCall::new("kv.set", format!("{bucket}/{key}"));
        let result = taped(
            self.tape.as_ref(),
            call,
            |why| Err(KvError::Unavailable(why)),
            async {
                let backend = backend?;
                check_key(&key)?;
                check_value(&value)?;
                match backend.resolve(&bucket)? {
                    Bucket::JetStream(store) => jetstream::set(store, &bucket, &key, value).await,
                    Bucket::Memory(memory) => Ok(memory.set(&bucket, &key, value)),
                    Bucket::Overlay(overlay) => overlay.set(&bucket, &key, value).await,
                }
            },
        )
        .await;
        telemetry::end_with(span, result, describe)
    }

    async fn delete(&mut self, bucket: String, key: String) -> Result<(), KvError> {
        let span = self.kv_span("delete", &bucket, &key);
        let backend = self.backend_for(&bucket);
        let call = || HostCall::new("kv.delete", format!("{bucket}/{key}"));
        let result = taped(
            self.tape.as_ref(),
            call,
            |why| Err(KvError::Unavailable(why)),
            async {
                let backend = backend?;
                check_key(&key)?;
                match backend.resolve(&bucket)? {
                    Bucket::JetStream(store) => jetstream::delete(store, &bucket, &key).await,
                    Bucket::Memory(memory) => {
                        memory.delete(&bucket, &key);
                        Ok(())
                    }
                    Bucket::Overlay(overlay) => overlay.delete(&bucket, &key).await,
                }
            },
        )
        .await;
        telemetry::end_with(span, result, describe)
    }

    async fn compare_and_swap(
        &mut self,
        bucket: String,
        key: String,
        value: Vec<u8>,
        revision: u64,
    ) -> Result<u64, KvError> {
        let span = self.kv_span("compare-and-swap", &bucket, &key);
        let backend = self.backend_for(&bucket);
        let call = || HostCall::new("kv.compare-and-swap", format!("{bucket}/{key}"));
        let result = taped(
            self.tape.as_ref(),
            call,
            |why| Err(KvError::Unavailable(why)),
            async {
                let backend = backend?;
                check_key(&key)?;
                check_value(&value)?;
                match backend.resolve(&bucket)? {
                    Bucket::JetStream(store) => {
                        jetstream::compare_and_swap(store, &bucket, &key, value, revision).await
                    }
                    Bucket::Memory(memory) => memory.compare_and_swap(&bucket, &key, value, revision),
                    Bucket::Overlay(overlay) => {
                        overlay.compare_and_swap(&bucket, &key, value, revision).await
                    }
                }
            },
        )
        .await;
        telemetry::end_with(span, result, describe)
    }

    async fn keys(&mut self, bucket: String, prefix: String) -> Result<Vec<String>, KvError> {
        let span = self.kv_span("keys", &bucket, &prefix);
        let backend = self.backend_for(&bucket);
        let call = || HostCall::new("kv.keys", format!("{bucket}/{prefix}*"));
        let result = taped(
            self.tape.as_ref(),
            call,
            |why| Err(KvError::Unavailable(why)),
            async {
                let backend = backend?;
                kv::check_prefix(&prefix).map_err(KvError::Invalid)?;
                let keys = match backend.resolve(&bucket)? {
                    Bucket::JetStream(store) => jetstream::keys(store, &bucket, &prefix).await?,
                    Bucket::Memory(memory) => memory.keys(&bucket, &prefix),
                    Bucket::Overlay(overlay) => overlay.keys(&bucket, &prefix).await?,
                };
                bounded(keys, &bucket, &prefix)
            },
        )
        .await;
        telemetry::end_with(span, result, describe)
    }
}

impl State {
    /// The span of key-value `operation` on `key` of `bucket`, when tracing is on.
    fn kv_span(&self, operation: &'static str, bucket: &str, key: &str) -> Option<Recording> {
        let mut span = self.child_span(SpanKind::Client, || format!("kv {operation} {bucket}"))?;
        span.set_with("sluice.kv.bucket", || bucket.to_owned());
        span.set_with("sluice.kv.key", || key.to_owned());
        Some(span)
    }
}

/// The text of a failed key-value call, for its span.
fn describe(error: &KvError) -> String {
    match error {
        KvError::Denied(text)
        | KvError::Conflict(text)
        | KvError::Invalid(text)
        | KvError::Unavailable(text) => text.clone(),
    }
}

/// Sorts `keys`, or refuses when there are more than [`MAX_KEYS`].
fn bounded(mut keys: Vec<String>, bucket: &str, prefix: &str) -> Result<Vec<String>, KvError> {
    if keys.len() > MAX_KEYS {
        return Err(too_many_keys(bucket, prefix));
    }
    keys.sort_unstable();
    Ok(keys)
}

fn too_many_keys(bucket: &str, prefix: &str) -> KvError {
    KvError::Invalid(format!(
        "more than {MAX_KEYS} keys in bucket `{bucket}` start with {prefix:?}; use a longer prefix"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_keys_and_values_are_invalid_errors() {
        assert!(matches!(check_key("a b"), Err(KvError::Invalid(_))));
        assert!(matches!(
            check_value(&vec![0; kv::MAX_VALUE + 1]),
            Err(KvError::Invalid(_))
        ));
    }

    #[test]
    fn key_lists_are_sorted_and_bounded() {
        let keys = bounded(vec!["b".into(), "a".into()], "x", "").unwrap();
        assert_eq!(keys, ["a", "b"]);
        let many = vec![String::new(); MAX_KEYS + 1];
        assert!(matches!(bounded(many, "x", ""), Err(KvError::Invalid(_))));
    }
}
