//! What a function's host calls reach outside the store: its key-value buckets and the NATS
//! connection its requests go out on. Built once per deploy, shared by every event of that
//! version of the function.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::kv::{KvBackend, MemoryKv};
use crate::manifest::Manifest;
use crate::provision::{self, SetupError};

/// The outside world one deployed function may reach through its imports.
pub struct Services {
    /// Where `kv` calls go.
    pub kv: Arc<KvBackend>,
    /// The connection requests go out on, or why there is none.
    pub requests: Result<async_nats::Client, &'static str>,
}

impl Default for Services {
    /// Nothing reachable: key-value calls are `unavailable`, requests `failed`.
    fn default() -> Self {
        Self {
            kv: Arc::new(KvBackend::None),
            requests: Err("this host has no NATS connection for requests"),
        }
    }
}

impl Services {
    /// What `sluice invoke` offers: an in-memory key-value store that starts empty and is
    /// forgotten on exit, and no requests.
    pub fn in_memory() -> Self {
        Self {
            kv: Arc::new(KvBackend::Memory(MemoryKv::default())),
            requests: Err("sluice invoke has no NATS connection"),
        }
    }

    /// What a deployed function gets: each bucket of its `[state] buckets` (created when
    /// missing) and `client` for its requests.
    pub async fn deployed(
        js: &async_nats::jetstream::Context,
        client: &async_nats::Client,
        function: &str,
        manifest: &Manifest,
    ) -> Result<Self, SetupError> {
        let mut stores = BTreeMap::new();
        for bucket in &manifest.buckets {
            let store = provision::state_store(js, function, bucket).await?;
            stores.insert(bucket.clone(), store);
        }
        Ok(Self {
            kv: Arc::new(KvBackend::JetStream(stores)),
            requests: Ok(client.clone()),
        })
    }
}
