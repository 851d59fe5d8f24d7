//! Sealed secrets: values kept in the fleet's `sluice-secrets` key-value bucket, sealed to
//! the hosts' public key with nkeys' curve25519 "xkeys" (the box NATS itself uses for
//! encrypted auth callouts), so the bucket, the manifests and anyone who can read them see
//! only ciphertext. Only a host started with the matching seed (`sluice up --secrets-key`)
//! can open them.
//!
//! A record is the sealing key's public xkey, a newline, and the sealed bytes: `sluice
//! secret set` seals each value with a fresh key of its own, so nothing but the hosts' seed
//! is needed to open it.

use std::sync::{Arc, OnceLock};

use async_nats::jetstream::{self, kv};
use nkeys::XKey;
use tokio::sync::OnceCell;

/// The bucket sealed secrets are kept in.
pub const BUCKET: &str = "sluice-secrets";

/// Seals `value` to the hosts' public xkey `recipient` (`X...`): the record to store under
/// the secret's key.
pub fn seal(value: &[u8], recipient: &str) -> Result<Vec<u8>, String> {
    let recipient = XKey::from_public_key(recipient)
        .map_err(|error| format!("{recipient:?} is not a public xkey (X...): {error}"))?;
    let sender = XKey::new();
    let sealed = sender
        .seal(value, &recipient)
        .map_err(|error| format!("cannot seal: {error}"))?;
    let mut record = sender.public_key().into_bytes();
    record.push(b'\n');
    record.extend(sealed);
    Ok(record)
}

/// Opens `record` (made by [`seal`]) with the hosts' key `key`.
pub fn open(record: &[u8], key: &XKey) -> Result<Vec<u8>, String> {
    let newline = record.iter().position(|&byte| byte == b'\n');
    let (sender, sealed) = match newline {
        Some(at) => (&record[..at], &record[at + 1..]),
        None => return Err("not a sealed secret (no sender key)".to_owned()),
    };
    let sender = std::str::from_utf8(sender)
        .ok()
        .and_then(|sender| XKey::from_public_key(sender).ok())
        .ok_or_else(|| "not a sealed secret (no sender key)".to_owned())?;
    key.open(sealed, &sender)
        .map_err(|_| "it was sealed to another key than this host's (--secrets-key)".to_owned())
}

/// A new key pair for a fleet's hosts: its seed (`SX...`, secret) and public key (`X...`).
pub fn new_key() -> (String, String) {
    let key = XKey::new();
    let seed = key.seed().expect("a new key has a seed");
    (seed, key.public_key())
}

/// What a host needs to open sealed secrets: its seed and the bucket, opened on first use.
pub struct SealedSecrets {
    key: OnceLock<Arc<XKey>>,
    jetstream: jetstream::Context,
    store: OnceCell<kv::Store>,
}

impl SealedSecrets {
    /// Sealed secrets read through `jetstream`; the host's key is set with [`Self::set_key`].
    pub fn new(jetstream: jetstream::Context) -> Self {
        Self {
            key: OnceLock::new(),
            jetstream,
            store: OnceCell::new(),
        }
    }

    /// Sets the host's seed (`SX...`). Fails when it is not an xkey seed.
    pub fn set_key(&self, seed: &str) -> anyhow::Result<()> {
        let key = XKey::from_seed(seed.trim())
            .map_err(|error| anyhow::anyhow!("--secrets-key: not an xkey seed (SX...): {error}"))?;
        let _ = self.key.set(Arc::new(key));
        Ok(())
    }

    /// The value of sealed secret `key`, opened with the host's seed.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, String> {
        let Some(host_key) = self.key.get() else {
            return Err("this host has no key to open sealed secrets (start it with --secrets-key or SLUICE_SECRETS_KEY)".to_owned());
        };
        let store = self
            .store
            .get_or_try_init(|| self.jetstream.get_key_value(BUCKET))
            .await
            .map_err(|error| format!("bucket `{BUCKET}` is unavailable: {error}"))?;
        let record = store
            .get(key)
            .await
            .map_err(|error| format!("bucket `{BUCKET}` is unavailable: {error}"))?
            .ok_or_else(|| {
                format!("bucket `{BUCKET}` has no key `{key}` (set it with `sluice secret set`)")
            })?;
        open(&record, host_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_with_the_hosts_seed_only() {
        let (seed, public) = new_key();
        let record = seal(b"sk_live_42", &public).unwrap();
        assert!(
            !record.windows(10).any(|w| w == b"sk_live_42"),
            "sealed, not plain"
        );
        let host = XKey::from_seed(&seed).unwrap();
        assert_eq!(open(&record, &host).unwrap(), b"sk_live_42");
        let (other, _) = new_key();
        let stranger = XKey::from_seed(&other).unwrap();
        assert!(
            open(&record, &stranger)
                .unwrap_err()
                .contains("sealed to another key")
        );
        assert!(open(b"plain", &host).unwrap_err().contains("not a sealed secret"));
        assert!(seal(b"x", "not-a-key").unwrap_err().contains("not a public xkey"));
    }
}
