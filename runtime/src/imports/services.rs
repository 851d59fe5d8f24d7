//! What a function's host calls reach outside the store: its key-value buckets and the NATS
//! connection its requests go out on. Built once per deploy, shared by every event of that
//! version of the function.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::kv::{KvBackend, MemoryKv};
use crate::manifest::Manifest;
use crate::provision::{self, SetupError};
use crate::secrets::SealedSecrets;

/// The outside world one deployed function may reach through its imports.
pub struct Services {
    /// Where `kv` calls go.
    pub kv: Arc<KvBackend>,
    /// The connection requests go out on, or why there is none.
    pub requests: Result<async_nats::Client, &'static str>,
    /// Whether delayed publishes are taken.
    pub delays: Delays,
    /// Where sealed secrets are opened; `None` without a NATS connection.
    pub sealed: Option<Arc<SealedSecrets>>,
    /// Whether what handlers publish is shown to a person (`sluice invoke`) rather than sent:
    /// then secret values in it are written as `[redacted]` too.
    pub shown: bool,
    /// Records the function's attempts and host calls as spans; `None` when tracing is off.
    pub tracer: Option<Arc<crate::telemetry::Tracer>>,
    /// How many handler log lines the function may write per second on this host.
    pub log_budget: super::LogBudget,
}

/// Whether a function's delayed publishes (`publish-after`, `publish-at`) are taken.
#[derive(Debug, Clone)]
pub enum Delays {
    /// Refused, for this reason (no NATS connection).
    Refused(&'static str),
    /// Taken and shown, never sent (`sluice invoke`).
    Shown,
    /// Taken once the host's delay stream is ready.
    Host(Arc<DelayReadiness>),
}

impl Delays {
    /// `Ok` when a delayed publish can be taken now; otherwise why not.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Self::Refused(reason) => Err((*reason).to_owned()),
            Self::Shown => Ok(()),
            Self::Host(readiness) => readiness.check(),
        }
    }
}

impl Default for Services {
    /// Nothing reachable: key-value calls are `unavailable`, requests `failed`.
    fn default() -> Self {
        Self {
            kv: Arc::new(KvBackend::None),
            requests: Err("this host has no NATS connection for requests"),
            delays: Delays::Refused("this host has no NATS connection for delayed events"),
            sealed: None,
            shown: false,
            tracer: None,
            log_budget: super::LogBudget::unlimited(),
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
            delays: Delays::Shown,
            sealed: None,
            shown: true,
            tracer: None,
            log_budget: super::LogBudget::unlimited(),
        }
    }

    /// What a deployed function gets: each bucket of its `[state] buckets` (created when
    /// missing), `client` for its requests, the host's delay stream and its key to sealed
    /// secrets.
    pub async fn deployed(
        js: &async_nats::jetstream::Context,
        client: &async_nats::Client,
        delays: &Arc<DelayReadiness>,
        sealed: &Arc<SealedSecrets>,
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
            delays: Delays::Host(delays.clone()),
            sealed: Some(sealed.clone()),
            shown: false,
            tracer: None,
            log_budget: super::LogBudget::per_second(manifest.limits.log_lines_per_second),
        })
    }
}

impl Services {
    /// What `sluice dlq debug --live` offers a call the transcript lacks: the function's
    /// buckets (created when missing) and requests on `client`; what it publishes, delayed or
    /// not, is shown and never sent, and sealed secrets cannot be opened.
    pub async fn live(
        js: &async_nats::jetstream::Context,
        client: &async_nats::Client,
        function: &str,
        manifest: &Manifest,
    ) -> Result<Self, SetupError> {
        let mut stores = BTreeMap::new();
        for bucket in &manifest.buckets {
            stores.insert(
                bucket.clone(),
                provision::state_store(js, function, bucket).await?,
            );
        }
        Ok(Self {
            kv: Arc::new(KvBackend::JetStream(stores)),
            requests: Ok(client.clone()),
            delays: Delays::Shown,
            sealed: None,
            shown: true,
            tracer: None,
            log_budget: super::LogBudget::unlimited(),
        })
    }
}

impl Services {
    /// What a shadow version's attempt at one event reaches, beside the live function whose
    /// imports reach `live`: the live buckets for reading, with writes kept to the attempt
    /// (see `kv::Overlay`); no requests; delayed and plain publishes kept,
    /// never sent.
    pub fn shadowing(live: &Services) -> Self {
        let kv = match &*live.kv {
            KvBackend::JetStream(stores) => KvBackend::Overlay(super::kv::Overlay::new(stores.clone())),
            _ => KvBackend::None,
        };
        Self {
            kv: Arc::new(kv),
            requests: Err("a shadow version sends no requests (they could act twice)"),
            delays: Delays::Shown,
            sealed: live.sealed.clone(),
            shown: true,
            tracer: None,
            log_budget: super::LogBudget::unlimited(),
        }
    }
}

/// Whether this host can take delayed events now, or why not.
#[derive(Debug)]
pub struct DelayReadiness(RwLock<Result<(), String>>);

impl Default for DelayReadiness {
    fn default() -> Self {
        Self(RwLock::new(Err(
            "the host is still setting up its delay stream".to_owned()
        )))
    }
}

impl DelayReadiness {
    /// `Ok` once the delay stream is set up; otherwise why a delayed publish is refused.
    pub fn check(&self) -> Result<(), String> {
        self.0.read().expect("delay readiness lock poisoned").clone()
    }

    pub(crate) fn set(&self, state: Result<(), String>) {
        *self.0.write().expect("delay readiness lock poisoned") = state;
    }
}
