//! A running host: connects, loads a functions folder, deploys what loads, and shuts down
//! gracefully when asked.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::admin::AdminServer;
use crate::delay::DelayService;
use crate::dispatch::Dispatcher;
use crate::engine::SluiceEngine;
use crate::fleet::{Buckets, FleetConfig, Member};
use crate::function::{Function, LoadError, load_dir};
use crate::host::Host;
use crate::host::ReloadEvent;
use crate::nats::ConnectionOptions;
use crate::registry::Deployed;
use crate::stats::StatsSnapshot;

/// Settings of a host.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Folder of `NAME.wasm` (+ `NAME.toml`) files; `None` for a host that only runs what
    /// the fleet deploys.
    pub functions_dir: Option<PathBuf>,
    /// NATS server URL, or a comma-separated list of a cluster's URLs.
    pub nats_url: String,
    /// Authentication and TLS for the NATS connection.
    pub nats_options: ConnectionOptions,
    /// How long to keep trying at start while no server accepts connections (a broker
    /// started at the same time); zero fails at once. See [`crate::nats::connect_waiting`].
    pub nats_wait: Duration,
    /// How long shutdown waits for in-flight events.
    pub shutdown_grace: Duration,
    /// Whether to watch the folder and deploy, redeploy and undeploy as files change.
    pub watch: bool,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Where to serve `/metrics` and `/healthz` over HTTP; `None` serves nothing. Port 0
    /// picks a free port (see [`Runtime::admin_addr`]).
    pub admin: Option<SocketAddr>,
    /// Join the fleet: run what `sluice deploy` put in the fleet's buckets, and report.
    pub fleet: Option<FleetConfig>,
    /// The seed (`SX...`) that opens sealed secrets (`sealed:KEY` in `[secrets]`); `None`
    /// means this host cannot open them.
    pub secrets_key: Option<String>,
    /// Where and how attempts are exported as OpenTelemetry spans; `None` traces nothing.
    pub tracing: Option<crate::telemetry::TracingConfig>,
}

impl RuntimeConfig {
    /// Settings with no NATS authentication, TLS only if the server asks for it, and the
    /// default grace period of 30 s.
    pub fn new(functions_dir: impl Into<PathBuf>, nats_url: impl Into<String>) -> Self {
        Self {
            functions_dir: Some(functions_dir.into()),
            nats_url: nats_url.into(),
            nats_options: ConnectionOptions::default(),
            nats_wait: Duration::ZERO,
            shutdown_grace: Duration::from_secs(30),
            watch: false,
            cache_dir: None,
            admin: None,
            fleet: None,
            secrets_key: None,
            tracing: None,
        }
    }

    /// Settings of a host that runs only what the fleet deploys.
    pub fn fleet(nats_url: impl Into<String>, fleet: FleetConfig) -> Self {
        Self {
            functions_dir: None,
            fleet: Some(fleet),
            ..Self::new(PathBuf::new(), nats_url)
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

/// The folder watcher and the task applying its changes.
struct Reloading {
    _watcher: notify::RecommendedWatcher,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// A fleet host's reconciling and reporting tasks.
struct Membership {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Cancelled when `sluice drain` asks this host to exit.
    exit_requested: CancellationToken,
}

/// A running Sluice host.
pub struct Runtime {
    host: Arc<Host>,
    grace: Duration,
    load_errors: Vec<LoadError>,
    reloading: Option<Reloading>,
    membership: Option<Membership>,
    admin: Option<AdminServer>,
    delays: DelayService,
}

impl Runtime {
    /// Connects to NATS, loads every function in the folder and deploys those that load.
    /// A function that fails to load is logged and skipped; the others still run. With
    /// `config.watch`, later changes to the folder are deployed while the host runs.
    pub async fn start(config: RuntimeConfig) -> anyhow::Result<Self> {
        let host = Arc::new(connect(&config).await?);
        let client = &host.dispatcher.client;
        let replicas = (config.fleet.as_ref())
            .and_then(|fleet| fleet.replicas)
            .unwrap_or_else(|| crate::fleet::default_replicas(client));
        let delays = DelayService::start(host.dispatcher.clone(), replicas).await;
        let admin = match config.admin {
            Some(addr) => Some(AdminServer::start(addr, host.clone()).await?),
            None => None,
        };
        let (load_errors, reloading) = match &config.functions_dir {
            Some(dir) => serve_folder(&host, dir, config.watch).await?,
            None => (Vec::new(), None),
        };
        let membership = match &config.fleet {
            Some(fleet) => Some(join_fleet(&host, fleet).await?),
            None => None,
        };
        Ok(Self {
            host,
            grace: config.shutdown_grace,
            load_errors,
            reloading,
            membership,
            admin,
            delays,
        })
    }

    /// Deploys (or replaces) one function.
    pub async fn deploy(&self, function: Function) -> anyhow::Result<Deployed> {
        self.host.deploy(function).await
    }

    /// Makes the component `wasm` (with the manifest beside it, run as
    /// [`Manifest::shadowed`](crate::Manifest::shadowed) with `http`) shadow deployed function
    /// `name` on this host, or stops shadowing it (`None`); see [`crate::shadow`]. The fleet
    /// does this on every host for `sluice deploy --shadow`.
    pub async fn set_shadow(
        &self,
        name: &str,
        candidate: Option<(&std::path::Path, &[String], crate::shadow::ShadowOptions)>,
    ) -> anyhow::Result<()> {
        let Some((wasm, http, options)) = candidate else {
            return self.host.set_shadow(name, None).await;
        };
        let engine = self.host.dispatcher.engine.clone();
        let wasm = wasm.to_owned();
        let function = tokio::task::block_in_place(|| Function::load(&engine, &wasm))?;
        let function = function.shadowed(http).map_err(anyhow::Error::msg)?;
        self.host.set_shadow(name, Some((function, options))).await
    }

    /// The version of the candidate shadowing `name` on this host, if any.
    pub fn shadow_version(&self, name: &str) -> Option<String> {
        self.host.shadow_of(name).map(|(version, _)| version)
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
            .map(|deployment| deployment.function().version().to_owned())
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

    /// Completes when `sluice drain` asks this fleet host to exit (never for a host outside
    /// the fleet); then [`Runtime::shutdown`] drains it as on SIGTERM.
    pub async fn exit_requested(&self) {
        match &self.membership {
            Some(membership) => membership.exit_requested.cancelled().await,
            None => std::future::pending().await,
        }
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
        // The last report (marked stopped) goes out while the connection is still open.
        if let Some(membership) = self.membership {
            membership.stop.cancel();
            for task in membership.tasks {
                let _ = task.await;
            }
        }
        // The grace period covers both the events received but not yet admitted (intakes
        // admit them before they stop) and those being handled.
        let deadline = tokio::time::Instant::now() + self.grace;
        if tokio::time::timeout_at(deadline, self.host.registry.stop_all())
            .await
            .is_err()
        {
            // Events still wait for admission (behind an open circuit, say): dropped now.
            self.host.dispatcher.abandon.cancel();
            self.host.registry.stop_all().await;
        }
        self.delays.stop().await;
        let tracker = &self.host.dispatcher.tracker;
        tracker.close();
        let finished = tokio::time::timeout_at(deadline, tracker.wait()).await.is_ok();
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
        if let Some(tracer) = &self.host.dispatcher.tracer {
            // The last spans go out; a collector that does not answer costs at most this.
            let _ = tokio::time::timeout(FINAL_EXPORT_TIME, tracer.flush()).await;
        }
        ShutdownReport { abandoned }
    }
}

/// Longest shutdown waits for the last spans to be exported.
const FINAL_EXPORT_TIME: Duration = Duration::from_secs(5);

/// The host of `config`: its engine (with the compiled-component cache) and its NATS
/// connection, nothing deployed yet.
async fn connect(config: &RuntimeConfig) -> anyhow::Result<Host> {
    let mut engine = SluiceEngine::new()?;
    if let Some(dir) = &config.cache_dir {
        engine = engine.with_cache(dir);
    }
    let client =
        crate::nats::connect_waiting(&config.nats_url, &config.nats_options, config.nats_wait).await?;
    let tracer = config.tracing.clone().map(crate::telemetry::Tracer::start);
    let dispatcher = Dispatcher::new(Arc::new(engine), client, tracer);
    if let Some(seed) = &config.secrets_key {
        dispatcher.sealed_secrets.set_key(seed)?;
    }
    // Starts learning whether JetStream is there, in the background: deploys read the answer.
    let _ = dispatcher.jetstream_availability.now(&dispatcher.client);
    Ok(Host::new(dispatcher, config.shutdown_grace))
}

/// Deploys the functions in `dir` and, with `watch`, starts hot reload of it.
async fn serve_folder(
    host: &Arc<Host>,
    dir: &Path,
    watch: bool,
) -> anyhow::Result<(Vec<LoadError>, Option<Reloading>)> {
    // Watch before loading, so a file that changes while the folder loads is not missed.
    let watched = match watch {
        true => Some(crate::watch::watch(dir).with_context(|| format!("cannot watch {}", dir.display()))?),
        false => None,
    };
    let load_errors = deploy_folder(host, dir).await?;
    let reloading = watched.map(|(watcher, changes)| {
        let stop = CancellationToken::new();
        let task = tokio::spawn(crate::reload::run(
            host.clone(),
            dir.to_owned(),
            changes,
            stop.clone(),
        ));
        Reloading {
            _watcher: watcher,
            stop,
            task,
        }
    });
    Ok((load_errors, reloading))
}

/// Opens the fleet's buckets (creating what is missing) and starts reconciling and
/// reporting.
async fn join_fleet(host: &Arc<Host>, config: &FleetConfig) -> anyhow::Result<Membership> {
    let buckets = Buckets::open(&host.dispatcher.client, &config.buckets, config.replicas).await?;
    tracing::info!(
        host_id = config.host_id,
        functions = buckets.names.functions,
        "joined the fleet: running what `sluice deploy` puts in bucket `{}`",
        buckets.names.functions
    );
    let member = Arc::new(Member::new(host.clone(), buckets, config.clone()));
    let exit_requested = member.exit_requested.clone();
    let stop = CancellationToken::new();
    let tasks = crate::fleet::start(member, &stop);
    Ok(Membership {
        stop,
        tasks,
        exit_requested,
    })
}

/// Deploys every function in `dir` that loads; returns why the others did not.
async fn deploy_folder(host: &Host, dir: &Path) -> anyhow::Result<Vec<LoadError>> {
    let mut load_errors = Vec::new();
    for (_, loaded) in load_dir(&host.dispatcher.engine, dir).await? {
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
    Ok(load_errors)
}
