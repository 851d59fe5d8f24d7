//! One test's Sluice: a `nats-server`, a functions folder, a client and an in-process host,
//! so a test body is the scenario rather than the plumbing:
//!
//! ```no_run
//! # async fn example() {
//! use sluice_tests::{Manifest, Sluice, WAIT, next_message};
//! let sluice = Sluice::builder()
//!     .add("order-total", "order-total", Manifest::new().subjects(["orders.placed"]).publish(["orders.totalled"]))
//!     .start()
//!     .await;
//! let mut totals = sluice.subscribe("orders.totalled").await;
//! sluice.publish_event("orders.placed", "evt-1", r#"{"id":"o-1","items":[]}"#).await;
//! next_message(&mut totals, WAIT, "a total").await;
//! sluice.shutdown().await;
//! # }
//! ```
//!
//! A [`Stage`] is everything but the host (for a test that prepares streams or events
//! first, or runs several hosts); [`Stage::start`] adds the host and makes it a [`Sluice`].
//! Shutdown is explicit: [`Sluice::shutdown`] returns the host's report.

use std::fmt::Display;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use sluice_runtime::ShutdownReport;
use sluice_runtime::{Runtime, RuntimeConfig};

use crate::{FunctionsDir, NatsServer, events};

/// Sends the host's logs to the test's captured output (shown when a test fails), at
/// `RUST_LOG`'s levels when set, else at info.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A change to a host's [`RuntimeConfig`].
type Tweak = Arc<dyn Fn(&mut RuntimeConfig) + Send + Sync>;

/// How a test starts hosts: [`RuntimeConfig::new`] with a 10 s grace period, then every
/// change added with [`configure`](Self::configure). Cloned, it starts more hosts alike.
#[derive(Clone)]
pub struct HostOptions {
    tweaks: Vec<Tweak>,
}

impl Default for HostOptions {
    fn default() -> Self {
        Self { tweaks: Vec::new() }.grace(Duration::from_secs(10))
    }
}

impl HostOptions {
    /// Adds a change to the configuration, applied after the earlier ones.
    pub fn configure(mut self, tweak: impl Fn(&mut RuntimeConfig) + Send + Sync + 'static) -> Self {
        self.tweaks.push(Arc::new(tweak));
        self
    }

    /// How long shutdown waits for in-flight events.
    pub fn grace(self, grace: Duration) -> Self {
        self.configure(move |config| config.shutdown_grace = grace)
    }

    /// Watches the folder: deploys, redeploys and undeploys as files change.
    pub fn watch(self) -> Self {
        self.configure(|config| config.watch = true)
    }

    /// Keeps compiled components in `dir`, so loading an unchanged component again (a
    /// redeploy that changed only the manifest) does not compile it.
    pub fn compile_cache(self, dir: &Path) -> Self {
        let dir = dir.to_owned();
        self.configure(move |config| config.cache_dir = Some(dir.clone()))
    }

    /// Opens sealed secrets with the xkey seed `seed`.
    pub fn secrets_key(self, seed: &str) -> Self {
        let seed = seed.to_owned();
        self.configure(move |config| config.secrets_key = Some(seed.clone()))
    }

    /// Serves the admin endpoint on a free loopback port ([`Runtime::admin_addr`]).
    pub fn admin(self) -> Self {
        self.configure(|config| config.admin = Some(SocketAddr::from(([127, 0, 0, 1], 0))))
    }

    /// The configuration of a host on folder `dir` connected to `nats_url` (one URL or a
    /// comma-separated list).
    pub fn config(&self, nats_url: impl Into<String>, dir: &Path) -> RuntimeConfig {
        let mut config = RuntimeConfig::new(dir, nats_url);
        for tweak in &self.tweaks {
            tweak(&mut config);
        }
        config
    }

    /// Starts a host, or returns why it could not start.
    pub async fn try_start(&self, nats_url: impl Into<String>, dir: &Path) -> anyhow::Result<Runtime> {
        init_logging();
        Runtime::start(self.config(nats_url, dir)).await
    }

    /// Starts a host; panics if it cannot.
    pub async fn start(&self, nats_url: impl Into<String>, dir: &Path) -> Runtime {
        self.try_start(nats_url, dir).await.expect("host starts")
    }
}

/// What a test sets up before anything runs: the functions folder and how hosts start.
pub struct SluiceBuilder {
    dir: FunctionsDir,
    host: HostOptions,
    jetstream: bool,
}

impl SluiceBuilder {
    /// Deploys guest `guest` as function `name` with `manifest` (a [`Manifest`](crate::Manifest)
    /// or TOML text; empty for none).
    pub fn add(self, name: &str, guest: &str, manifest: impl Display) -> Self {
        self.dir.add(name, guest, manifest);
        self
    }

    /// Writes an arbitrary file into the folder (a schema, a broken component).
    pub fn write(self, file: &str, contents: impl AsRef<[u8]>) -> Self {
        self.dir.write(file, contents.as_ref());
        self
    }

    /// Changes how hosts start (see [`HostOptions`]).
    pub fn host(mut self, options: impl FnOnce(HostOptions) -> HostOptions) -> Self {
        self.host = options(self.host);
        self
    }

    /// Hosts watch the folder.
    pub fn watch(self) -> Self {
        self.host(HostOptions::watch)
    }

    /// Hosts serve the admin endpoint on a free loopback port.
    pub fn admin(self) -> Self {
        self.host(HostOptions::admin)
    }

    /// The nats-server runs without JetStream (core NATS only).
    pub fn core_only(mut self) -> Self {
        self.jetstream = false;
        self
    }

    fn server(&self) -> NatsServer {
        match self.jetstream {
            true => NatsServer::start(),
            false => NatsServer::start_core_only(),
        }
    }

    /// Starts a nats-server and connects a client: everything but the host.
    pub async fn stage(self) -> Stage {
        let server = self.server();
        let client = server.client().await;
        Stage {
            server,
            dir: self.dir,
            client,
            host: self.host,
        }
    }

    /// Starts a nats-server and a host, then connects a client (in that order, as a client
    /// of a running system would).
    pub async fn start(self) -> Sluice {
        let server = self.server();
        let host = self.host.start(server.url(), self.dir.path()).await;
        let client = server.client().await;
        let stage = Stage {
            server,
            dir: self.dir,
            client,
            host: self.host,
        };
        Sluice { stage, host }
    }
}

/// A nats-server, a functions folder and a client, with no host yet.
pub struct Stage {
    /// The server (kill or restart it to test the broker going away).
    pub server: NatsServer,
    /// The functions folder hosts load.
    pub dir: FunctionsDir,
    /// A plain client of the server, for publishing events and watching results.
    pub client: async_nats::Client,
    host: HostOptions,
}

impl Stage {
    /// Starts the host and makes the stage a running [`Sluice`].
    pub async fn start(self) -> Sluice {
        let host = self.start_host().await;
        Sluice { stage: self, host }
    }

    /// Starts another host on the same server and folder, configured alike; the caller
    /// shuts it down.
    pub async fn start_host(&self) -> Runtime {
        self.host.start(self.server.url(), self.dir.path()).await
    }

    /// Subscribes the client to `subject` and flushes, so the server knows the subscription
    /// before the test publishes anything.
    pub async fn subscribe(&self, subject: &str) -> async_nats::Subscriber {
        let subscriber = self
            .client
            .subscribe(subject.to_owned())
            .await
            .expect("subscribe");
        self.client.flush().await.expect("flush");
        subscriber
    }

    /// Publishes `payload` to `subject` with event id `id`, and flushes.
    pub async fn publish_event(&self, subject: &str, id: &str, payload: impl Into<bytes::Bytes>) {
        events::publish_event(&self.client, subject, id, payload).await;
    }

    /// A JetStream context over the client.
    pub fn js(&self) -> jetstream::Context {
        jetstream::new(self.client.clone())
    }
}

/// A [`Stage`] with a host running on it. Dereferences to the stage, so `sluice.client`,
/// `sluice.dir` and `sluice.subscribe(..)` work as on a stage.
pub struct Sluice {
    stage: Stage,
    /// The host, in-process.
    pub host: Runtime,
}

impl Sluice {
    /// An empty functions folder and a host configured with [`HostOptions::default`].
    pub fn builder() -> SluiceBuilder {
        Self::in_folder(FunctionsDir::new())
    }

    /// Like [`builder`](Self::builder), on a folder the test already filled.
    pub fn in_folder(dir: FunctionsDir) -> SluiceBuilder {
        SluiceBuilder {
            dir,
            host: HostOptions::default(),
            jetstream: true,
        }
    }

    /// Why the functions that failed to load at start did, one line each.
    pub fn load_errors(&self) -> Vec<String> {
        self.host.load_errors().iter().map(ToString::to_string).collect()
    }

    /// Shuts the host down (see [`Runtime::shutdown`]) and keeps the stage, e.g. to change
    /// the folder and [`start`](Stage::start) again.
    pub async fn stop(self) -> (Stage, ShutdownReport) {
        let report = self.host.shutdown().await;
        (self.stage, report)
    }

    /// Shuts the host down, then stops the server.
    pub async fn shutdown(self) -> ShutdownReport {
        self.stop().await.1
    }
}

impl Deref for Sluice {
    type Target = Stage;

    fn deref(&self) -> &Stage {
        &self.stage
    }
}

impl DerefMut for Sluice {
    fn deref_mut(&mut self) -> &mut Stage {
        &mut self.stage
    }
}
