//! Every key under a prefix, however many: one `kv::keys` call returns at most 100,000
//! ([`MAX_KEYS`](sluice_protocol::kv::MAX_KEYS)) and refuses a prefix matching more.
//!
//! A refused prefix is split into one longer prefix per character a key may have next, each
//! listed the same way, plus the prefix itself when it is a key. On the host every `keys`
//! call reads the bucket's whole key list, so a split costs one such read per character
//! (66) per level; below 100,000 keys it is one call.

use sluice_protocol::kv::check_prefix;
use sluice_sdk::Error;
use sluice_sdk::kv::{self, KvError};

/// The characters a key may have, in the order the host sorts keys (byte order).
const KEY_CHARS: &str = "-./0123456789=ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

/// A prefix this long that still matches too many keys means something else is wrong.
const MAX_PREFIX: usize = 256;

/// Where keys are listed: a bucket, or a stand-in in tests.
pub trait Keys {
    /// The keys starting with `prefix`, or [`KvError::Invalid`] when there are too many.
    fn keys(&self, prefix: &str) -> Result<Vec<String>, KvError>;
    /// Whether `key` has a value.
    fn has(&self, key: &str) -> Result<bool, KvError>;
}

/// A key-value bucket the function may read.
pub struct Bucket<'a>(pub &'a str);

impl Keys for Bucket<'_> {
    fn keys(&self, prefix: &str) -> Result<Vec<String>, KvError> {
        kv::keys(self.0, prefix)
    }

    fn has(&self, key: &str) -> Result<bool, KvError> {
        match kv::get(self.0, key) {
            Ok(entry) => Ok(entry.is_some()),
            // A prefix that is no valid key (ends with `.`) is no key either.
            Err(KvError::Invalid(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }
}

/// Every key of `store` starting with `prefix`, sorted.
pub fn all(store: &impl Keys, prefix: &str) -> Result<Vec<String>, Error> {
    match store.keys(prefix) {
        Ok(keys) => Ok(keys),
        // The host refuses a valid prefix only when it matches too many keys.
        Err(KvError::Invalid(why)) if check_prefix(prefix).is_ok() => {
            if prefix.len() >= MAX_PREFIX {
                return Err(Error::permanent(format!("listing keys under {prefix:?}: {why}")));
            }
            let mut keys = Vec::new();
            if store.has(prefix)? {
                keys.push(prefix.to_owned());
            }
            for next in KEY_CHARS.chars() {
                keys.extend(all(store, &format!("{prefix}{next}"))?);
            }
            Ok(keys)
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Keys in memory, refusing a prefix that matches more than `limit`, as the host does
    /// past 100,000; counts the `keys` calls.
    struct Limited {
        keys: Vec<String>,
        limit: usize,
        calls: Cell<usize>,
    }

    impl Keys for Limited {
        fn keys(&self, prefix: &str) -> Result<Vec<String>, KvError> {
            self.calls.set(self.calls.get() + 1);
            check_prefix(prefix).map_err(KvError::Invalid)?;
            let found: Vec<String> = self
                .keys
                .iter()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            match found.len() > self.limit {
                true => Err(KvError::Invalid(format!("more than {} keys", self.limit))),
                false => Ok(found),
            }
        }

        fn has(&self, key: &str) -> Result<bool, KvError> {
            Ok(self.keys.iter().any(|k| k == key))
        }
    }

    fn store(keys: &[&str], limit: usize) -> Limited {
        let mut keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        keys.sort();
        Limited {
            keys,
            limit,
            calls: Cell::new(0),
        }
    }

    #[test]
    fn below_the_limit_one_call_lists_everything() {
        let store = store(&["event/a", "event/b", "other"], 10);
        assert_eq!(all(&store, "event/").unwrap(), ["event/a", "event/b"]);
        assert_eq!(store.calls.get(), 1);
    }

    #[test]
    fn past_the_limit_the_prefix_is_split_until_every_key_is_found_in_order() {
        let keys = [
            "event/",
            "event/a1",
            "event/a2",
            "event/a3",
            "event/b",
            "event/Z-9",
            "event/.x",
        ];
        let store = store(&keys, 2);
        let found = all(&store, "event/").unwrap();
        assert_eq!(found, store.keys, "every key once, sorted like the host");
        assert!(
            store.calls.get() > 60,
            "one call per next character: {}",
            store.calls.get()
        );
    }

    #[test]
    fn a_bad_prefix_is_an_error_not_a_split() {
        let store = store(&["a"], 0);
        let error = all(&store, "a b").unwrap_err();
        assert!(!error.is_retryable());
        assert_eq!(store.calls.get(), 1);
    }
}
