//! A running host: connects, loads a functions folder, deploys what loads, and shuts down
//! gracefully when asked.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::task::TaskTracker;

use crate::dispatch::Dispatcher;
use crate::engine::SluiceEngine;
use crate::function::{Function, LoadError};
use crate::registry::Registry;
use crate::stats::StatsSnapshot;

/// Settings of a host.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Folder of `NAME.wasm` (+ `NAME.toml`) files.
    pub functions_dir: PathBuf,
    /// NATS server URL.
    pub nats_url: String,
    /// How long shutdown waits for in-flight events.
    pub shutdown_grace: Duration,
}

impl RuntimeConfig {
    /// Settings with the default grace period of 30 s.
    pub fn new(functions_dir: impl Into<PathBuf>, nats_url: impl Into<String>) -> Self {
        Self {
            functions_dir: functions_dir.into(),
            nats_url: nats_url.into(),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// What shutdown finished and what it had to abandon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Event tasks still running when the grace period ended.
    pub abandoned: usize,
}

/// A running Sluice host.
pub struct Runtime {
    dispatcher: Dispatcher,
    registry: Registry,
    grace: Duration,
    load_errors: Vec<LoadError>,
}

impl Runtime {
    /// Connects to NATS, loads every function in the folder and deploys those that load.
    /// A function that fails to load is logged and skipped; the others still run.
    pub async fn start(config: RuntimeConfig) -> anyhow::Result<Self> {
        let engine = Arc::new(SluiceEngine::new()?);
        let client = crate::nats::connect(&config.nats_url).await?;
        let dispatcher = Dispatcher {
            engine,
            client,
            tracker: TaskTracker::new(),
        };
        let mut runtime = Self {
            dispatcher,
            registry: Registry::default(),
            grace: config.shutdown_grace,
            load_errors: Vec::new(),
        };
        for loaded in load_dir(&runtime.dispatcher.engine, &config.functions_dir).await? {
            match loaded {
                Ok(function) => runtime.deploy(function).await?,
                Err(error) => {
                    tracing::error!("{error}");
                    runtime.load_errors.push(error);
                }
            }
        }
        runtime
            .dispatcher
            .client
            .flush()
            .await
            .context("NATS did not confirm the subscriptions")?;
        Ok(runtime)
    }

    /// Deploys (or replaces) one function.
    pub async fn deploy(&self, function: Function) -> anyhow::Result<()> {
        let name = function.name().clone();
        let manifest = function.manifest().clone();
        self.registry.deploy(&self.dispatcher, function).await?;
        let subjects: Vec<String> = manifest
            .trigger
            .subjects
            .iter()
            .map(ToString::to_string)
            .collect();
        tracing::info!(
            function = &*name,
            subjects = %subjects.join(", "),
            queue_group = manifest.trigger.queue_group.as_deref().unwrap_or("none"),
            max_concurrency = manifest.limits.max_concurrency,
            "deployed"
        );
        Ok(())
    }

    /// Names of the deployed functions.
    pub fn functions(&self) -> Vec<String> {
        self.registry.names()
    }

    /// The functions in the folder that failed to load, with why.
    pub fn load_errors(&self) -> &[LoadError] {
        &self.load_errors
    }

    /// The counters of function `name`.
    pub fn stats(&self, name: &str) -> Option<StatsSnapshot> {
        self.registry.stats(name)
    }

    /// The host's NATS connection.
    pub fn client(&self) -> &async_nats::Client {
        &self.dispatcher.client
    }

    /// Stops intake, lets in-flight events finish within the grace period, flushes what they
    /// published and closes the connection.
    pub async fn shutdown(self) -> ShutdownReport {
        tracing::info!(
            "shutting down: no new events; waiting up to {:?} for in-flight ones",
            self.grace
        );
        self.registry.stop_all().await;
        let tracker = &self.dispatcher.tracker;
        tracker.close();
        let finished = tokio::time::timeout(self.grace, tracker.wait()).await.is_ok();
        let abandoned = if finished { 0 } else { tracker.len() };
        if abandoned > 0 {
            tracing::warn!(
                "grace period over: {abandoned} events were still being handled and are abandoned"
            );
        }
        if let Err(error) = self.dispatcher.client.flush().await {
            tracing::warn!("final flush to NATS failed: {error}");
        }
        ShutdownReport { abandoned }
    }
}

/// Loads every `*.wasm` in `dir` (compiling on a blocking thread), in name order.
pub async fn load_dir(
    engine: &Arc<SluiceEngine>,
    dir: &Path,
) -> anyhow::Result<Vec<Result<Function, LoadError>>> {
    let files = component_files(dir)?;
    let engine = engine.clone();
    let loaded =
        tokio::task::spawn_blocking(move || files.iter().map(|file| Function::load(&engine, file)).collect())
            .await
            .context("function loading panicked")?;
    Ok(loaded)
}

/// The `*.wasm` files in `dir`, sorted; warns about manifests without a component.
pub fn component_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read functions folder {}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries.filter_map(|entry| entry.ok().map(|e| e.path())).collect();
    files.sort();
    for manifest in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "toml"))
    {
        if !manifest.with_extension("wasm").exists() {
            tracing::warn!(
                "{}: manifest without a {} beside it; ignored",
                manifest.display(),
                manifest.with_extension("wasm").display()
            );
        }
    }
    files.retain(|f| f.extension().is_some_and(|e| e == "wasm"));
    Ok(files)
}
