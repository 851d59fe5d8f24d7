//! The running host's shared core: the dispatcher (engine, NATS connection, event tasks), the
//! deployed functions, and the news of what hot reload did. [`crate::Runtime`] owns one; the
//! hot-reload task and the admin endpoint share it.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::dispatch::Dispatcher;
use crate::function::Function;
use crate::registry::{Deployed, Registry};

/// What a running host shares with its hot-reload task.
pub struct Host {
    /// Engine, NATS client and event tasks.
    pub dispatcher: Dispatcher,
    /// The deployed functions.
    pub registry: Registry,
    /// What hot reload did, for whoever listens.
    pub reloads: tokio::sync::broadcast::Sender<ReloadEvent>,
    /// How long in-flight events get to finish at shutdown or when their function is
    /// undeployed.
    pub grace: Duration,
    /// The deployed functions that came from the fleet rather than the functions folder.
    pub fleet_owned: Mutex<BTreeSet<String>>,
    /// Why this host deploys nothing any more (a drained host), if it does not.
    refusal: Mutex<Option<String>>,
}

impl Host {
    /// A host with nothing deployed.
    pub fn new(dispatcher: Dispatcher, grace: Duration) -> Self {
        let (reloads, _) = tokio::sync::broadcast::channel(256);
        Self {
            dispatcher,
            registry: Registry::default(),
            reloads,
            grace,
            fleet_owned: Mutex::default(),
            refusal: Mutex::default(),
        }
    }

    fn fleet_owned(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.fleet_owned.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The deployed functions that came from the fleet.
    pub fn fleet_functions(&self) -> BTreeSet<String> {
        self.fleet_owned().clone()
    }

    /// Marks `name` as the fleet's: the functions folder may not deploy it.
    pub fn claim_for_fleet(&self, name: &str) {
        self.fleet_owned().insert(name.to_owned());
    }

    /// Forgets that `name` is the fleet's; returns whether it was.
    pub fn release_from_fleet(&self, name: &str) -> bool {
        self.fleet_owned().remove(name)
    }

    /// Whether `name` came from the fleet.
    pub fn is_from_fleet(&self, name: &str) -> bool {
        self.fleet_owned().contains(name)
    }

    /// Tells listeners what hot reload did (nobody listening is fine).
    pub fn report(&self, event: ReloadEvent) {
        let _ = self.reloads.send(event);
    }

    /// Undeploys `name` for good (its file was removed, or the fleet undeployed it): as
    /// [`Registry::undeploy`], and its schedule, if it has one, stops firing. Returns whether
    /// it was deployed. (Pausing and draining undeploy through the registry and keep it.)
    pub fn remove_function(&self, name: &str) -> bool {
        let deployment = self.registry.get(name);
        if !self.registry.undeploy(name, self.grace) {
            return false;
        }
        let manifest = deployment
            .as_ref()
            .map(|deployment| deployment.function().manifest());
        if let Some(manifest) = manifest
            && manifest.trigger.schedule.is_some()
            && let crate::manifest::DeliveryMode::JetStream(trigger) = &manifest.trigger.mode
        {
            let js = self.dispatcher.jetstream.clone();
            let (function, stream) = (name.to_owned(), trigger.stream.clone());
            self.dispatcher.tracker.spawn(async move {
                crate::provision::schedule::remove(&js, &function, &stream).await;
            });
        }
        true
    }

    /// From now on, every deploy fails with `reason`.
    pub fn refuse_deploys(&self, reason: &str) {
        *self.refusal.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason.to_owned());
    }

    /// Makes `candidate` shadow deployed function `name` (replacing an earlier shadow), or
    /// stops shadowing it (`None`). Fails when `name` is not deployed here or the results
    /// stream cannot be made.
    pub async fn set_shadow(
        &self,
        name: &str,
        candidate: Option<(Function, crate::shadow::ShadowOptions)>,
    ) -> anyhow::Result<()> {
        let Some(deployment) = self.registry.get(name) else {
            anyhow::bail!("cannot shadow `{name}`: it is not deployed on this host");
        };
        let Some((function, options)) = candidate else {
            if deployment.shadow.current().is_some() {
                tracing::info!(function = name, "shadow stopped");
            }
            deployment.shadow.set(None);
            return Ok(());
        };
        let js = self.dispatcher.jetstream.clone();
        crate::shadow::results::ensure_stream(&js)
            .await
            .map_err(|error| anyhow::anyhow!("cannot shadow `{name}`: {error}"))?;
        let version = function.version().to_owned();
        let engine = self.dispatcher.engine.clone();
        let services = deployment.services().clone();
        let shadow = crate::shadow::Shadow::new(function, engine, services, options.clone(), js);
        deployment.shadow.set(Some(std::sync::Arc::new(shadow)));
        tracing::info!(function = name, version, sample = options.sample, "shadowing");
        Ok(())
    }

    /// The version and sample of the candidate shadowing `name` here, if any.
    pub fn shadow_of(&self, name: &str) -> Option<(String, f64)> {
        let shadow = self.registry.get(name)?.shadow.current()?;
        Some((shadow.version().to_owned(), shadow.options().sample))
    }

    /// Deploys (or replaces) one function and logs it.
    pub async fn deploy(&self, function: Function) -> anyhow::Result<Deployed> {
        if let Some(reason) = self
            .refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            anyhow::bail!("function `{}` not deployed: {reason}", function.name());
        }
        let name = function.name().clone();
        let version = function.version().to_owned();
        let manifest = function.manifest().clone();
        let world = function.pre().world();
        let deployed = self.registry.deploy(&self.dispatcher, function).await?;
        // Once the server has echoed a message sent after the subscriptions, it has processed
        // them: the function is reachable when this returns (a flush alone does not wait).
        // Without an answer (the connection is down) the function is deployed all the same,
        // and the client makes its subscriptions again when it reconnects.
        if let Err(error) = crate::nats::round_trip(&self.dispatcher.client).await {
            tracing::warn!(
                function = &*name,
                version,
                "deployed, but NATS did not confirm the subscriptions ({error:#}); they take effect once the connection is back"
            );
        }
        let subjects: Vec<String> = manifest
            .trigger
            .subjects
            .iter()
            .map(ToString::to_string)
            .collect();
        tracing::info!(
            function = &*name,
            version,
            world,
            subjects = %subjects.join(", "),
            queue_group = manifest.trigger.queue_group.as_deref().unwrap_or("none"),
            max_concurrency = manifest.limits.max_concurrency,
            "{deployed}"
        );
        Ok(deployed)
    }
}

/// What hot reload did about a change, for logs, `sluice dev` and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadEvent {
    /// A new function, or a new version of one, now handles events.
    Deployed {
        /// The function.
        name: String,
        /// Its version hash.
        version: String,
    },
    /// The files changed but the version hash did not: nothing to do.
    Unchanged {
        /// The function.
        name: String,
    },
    /// The new files could not be loaded or deployed; the previous version (if any) serves.
    Failed {
        /// The function.
        name: String,
        /// Why, in one line.
        error: String,
    },
    /// The component was removed and the function undeployed.
    Undeployed {
        /// The function.
        name: String,
    },
}
