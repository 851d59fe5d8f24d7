//! A running host: connects, loads a functions folder, deploys what loads, and shuts down
//! gracefully when asked.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::admin::AdminServer;
use crate::dispatch::Dispatcher;
use crate::engine::SluiceEngine;
use crate::function::{Function, LoadError};
use crate::nats::ConnectionOptions;
use crate::registry::{Deployed, Registry};
use crate::reload::ReloadEvent;
use crate::stats::StatsSnapshot;

/// Settings of a host.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Folder of `NAME.wasm` (+ `NAME.toml`) files.
    pub functions_dir: PathBuf,
    /// NATS server URL, or a comma-separated list of a cluster's URLs.
    pub nats_url: String,
    /// Authentication and TLS for the NATS connection.
    pub nats_options: ConnectionOptions,
    /// How long shutdown waits for in-flight events.
    pub shutdown_grace: Duration,
    /// Whether to watch the folder and deploy, redeploy and undeploy as files change.
    pub watch: bool,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Where to serve `/metrics` and `/healthz` over HTTP; `None` serves nothing. Port 0
    /// picks a free port (see [`Runtime::admin_addr`]).
    pub admin: Option<SocketAddr>,
}

impl RuntimeConfig {
    /// Settings with no NATS authentication, TLS only if the server asks for it, and the
    /// default grace period of 30 s.
    pub fn new(functions_dir: impl Into<PathBuf>, nats_url: impl Into<String>) -> Self {
        Self {
            functions_dir: functions_dir.into(),
            nats_url: nats_url.into(),
            nats_options: ConnectionOptions::default(),
            shutdown_grace: Duration::from_secs(30),
            watch: false,
            cache_dir: None,
            admin: None,
        }
    }
}

/// How long abandoned JetStream events get to be handed back to the server.
const HAND_BACK_TIME: Duration = Duration::from_secs(2);

/// What shutdown finished and what it had to abandon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Event tasks still running when the grace period ended.
    pub abandoned: usize,
}

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
}

impl Host {
    /// Tells listeners what hot reload did (nobody listening is fine).
    pub fn report(&self, event: ReloadEvent) {
        let _ = self.reloads.send(event);
    }

    /// Deploys (or replaces) one function and logs it.
    pub async fn deploy(&self, function: Function) -> anyhow::Result<Deployed> {
        let name = function.name().clone();
        let version = function.version().to_owned();
        let manifest = function.manifest().clone();
        let world = function.pre().world();
        let deployed = self.registry.deploy(&self.dispatcher, function).await?;
        // Once the server has answered a ping, it has processed the subscriptions: the
        // function is reachable when this returns.
        self.dispatcher
            .client
            .flush()
            .await
            .context("NATS did not confirm the subscriptions")?;
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

/// The folder watcher and the task applying its changes.
struct Reloading {
    _watcher: notify::RecommendedWatcher,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// A running Sluice host.
pub struct Runtime {
    host: Arc<Host>,
    grace: Duration,
    load_errors: Vec<LoadError>,
    reloading: Option<Reloading>,
    admin: Option<AdminServer>,
}

impl Runtime {
    /// Connects to NATS, loads every function in the folder and deploys those that load.
    /// A function that fails to load is logged and skipped; the others still run. With
    /// `config.watch`, later changes to the folder are deployed while the host runs.
    pub async fn start(config: RuntimeConfig) -> anyhow::Result<Self> {
        let mut engine = SluiceEngine::new()?;
        if let Some(dir) = &config.cache_dir {
            engine = engine.with_cache(dir);
        }
        let engine = Arc::new(engine);
        let client = crate::nats::connect(&config.nats_url, &config.nats_options).await?;
        let dispatcher = Dispatcher::new(engine, client);
        let (reloads, _) = tokio::sync::broadcast::channel(256);
        let host = Arc::new(Host {
            dispatcher,
            registry: Registry::default(),
            reloads,
            grace: config.shutdown_grace,
        });
        let admin = match config.admin {
            Some(addr) => Some(AdminServer::start(addr, host.clone()).await?),
            None => None,
        };
        // Watch before loading, so a file that changes while the folder loads is not missed.
        let watched = match config.watch {
            true => Some(
                crate::watch::watch(&config.functions_dir)
                    .with_context(|| format!("cannot watch {}", config.functions_dir.display()))?,
            ),
            false => None,
        };
        let mut load_errors = Vec::new();
        for (_, loaded) in load_dir(&host.dispatcher.engine, &config.functions_dir).await? {
            match loaded {
                Ok(function) => {
                    host.deploy(function).await?;
                }
                Err(error) => {
                    tracing::error!("{error}");
                    load_errors.push(error);
                }
            }
        }
        host.dispatcher
            .client
            .flush()
            .await
            .context("NATS did not confirm the subscriptions")?;
        let reloading = watched.map(|(watcher, changes)| {
            let stop = CancellationToken::new();
            let task = tokio::spawn(crate::reload::run(
                host.clone(),
                config.functions_dir.clone(),
                changes,
                stop.clone(),
            ));
            Reloading {
                _watcher: watcher,
                stop,
                task,
            }
        });
        Ok(Self {
            host,
            grace: config.shutdown_grace,
            load_errors,
            reloading,
            admin,
        })
    }

    /// Deploys (or replaces) one function.
    pub async fn deploy(&self, function: Function) -> anyhow::Result<Deployed> {
        self.host.deploy(function).await
    }

    /// Names of the deployed functions.
    pub fn functions(&self) -> Vec<String> {
        self.host.registry.names()
    }

    /// The version hash of deployed function `name`.
    pub fn version(&self, name: &str) -> Option<String> {
        self.host
            .registry
            .get(name)
            .map(|deployment| deployment.function.version().to_owned())
    }

    /// What hot reload does from now on.
    pub fn reload_events(&self) -> tokio::sync::broadcast::Receiver<ReloadEvent> {
        self.host.reloads.subscribe()
    }

    /// The functions in the folder that failed to load at start, with why.
    pub fn load_errors(&self) -> &[LoadError] {
        &self.load_errors
    }

    /// The counters of function `name`.
    pub fn stats(&self, name: &str) -> Option<StatsSnapshot> {
        self.host.registry.stats(name)
    }

    /// Where the admin endpoint listens, if `config.admin` asked for one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::addr)
    }

    /// The host's NATS connection.
    pub fn client(&self) -> &async_nats::Client {
        &self.host.dispatcher.client
    }

    /// Stops watching and intake, lets in-flight events finish within the grace period,
    /// flushes what they published and closes the connection. The admin endpoint answers
    /// until the in-flight events are done.
    pub async fn shutdown(self) -> ShutdownReport {
        tracing::info!(
            "shutting down: no new events; waiting up to {:?} for in-flight ones",
            self.grace
        );
        if let Some(reloading) = self.reloading {
            reloading.stop.cancel();
            let _ = reloading.task.await;
        }
        self.host.registry.stop_all().await;
        let tracker = &self.host.dispatcher.tracker;
        tracker.close();
        let finished = tokio::time::timeout(self.grace, tracker.wait()).await.is_ok();
        let abandoned = if finished { 0 } else { tracker.len() };
        if abandoned > 0 {
            tracing::warn!(
                "grace period over: {abandoned} events were still being handled and are abandoned \
                 (JetStream events are handed back to the server for redelivery)"
            );
            self.host.dispatcher.abandon.cancel();
            let _ = tokio::time::timeout(HAND_BACK_TIME, tracker.wait()).await;
        }
        if let Some(admin) = self.admin {
            admin.stop().await;
        }
        if let Err(error) = self.host.dispatcher.client.flush().await {
            tracing::warn!("final flush to NATS failed: {error}");
        }
        ShutdownReport { abandoned }
    }
}

/// Loads every `*.wasm` in `dir` (compiling on a blocking thread), in name order, each with
/// the file it came from.
pub async fn load_dir(
    engine: &Arc<SluiceEngine>,
    dir: &Path,
) -> anyhow::Result<Vec<(PathBuf, Result<Function, LoadError>)>> {
    let files = component_files(dir)?;
    let engine = engine.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        files
            .into_iter()
            .map(|file| (file.clone(), Function::load(&engine, &file)))
            .collect()
    })
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
