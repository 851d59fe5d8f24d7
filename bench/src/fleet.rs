//! The fleet (issue 15) on a 3-node JetStream cluster on loopback (one server in smoke
//! runs): from `Fleet::deploy` returning to every host serving the new version, a host
//! starting into a fleet of 50 functions with an empty and with a filled compile cache, one
//! function served by one host against three ([`scale`]), and a host killed under a steady
//! JetStream stream ([`failover`]).

mod failover;
mod scale;

use std::path::Path;
use std::time::{Duration, Instant};

use sluice_runtime::fleet::{BucketNames, Buckets, Bundle, Fleet, FleetConfig};
use sluice_runtime::{Runtime, RuntimeConfig, SluiceEngine};
use sluice_tests::{FunctionsDir, NatsCluster, NatsServer};
use tempfile::TempDir;

use crate::report::Report;
use crate::workload::Size;

/// The guest every fleet function runs (3 MB).
const GUEST: &str = "order-total";

use crate::shipped::SHIPPED;

/// How often a host is asked what it serves.
const POLL: Duration = Duration::from_millis(1);

/// A fleet host in-process, as `sluice up --fleet` runs it, with its own state folder.
struct Host {
    runtime: Runtime,
    _state: TempDir,
}

impl Host {
    /// Starts host `id` on the nodes `urls`, keeping compiled components in `cache`.
    async fn start(urls: &str, id: &str, cache: &Path) -> anyhow::Result<Self> {
        let state = tempfile::tempdir()?;
        let mut config = RuntimeConfig::fleet(urls, FleetConfig::new(id, state.path()));
        config.cache_dir = Some(cache.to_owned());
        config.shutdown_grace = Duration::from_secs(5);
        let runtime = Runtime::start(config).await?;
        Ok(Self {
            runtime,
            _state: state,
        })
    }
}

/// Validates functions as `sluice deploy` does, compiling the guest once (its own cache,
/// not the hosts').
struct Bundler {
    engine: SluiceEngine,
    dir: FunctionsDir,
    _cache: TempDir,
}

impl Bundler {
    fn new() -> anyhow::Result<Self> {
        let cache = tempfile::tempdir()?;
        Ok(Self {
            engine: SluiceEngine::new()?.with_cache(cache.path()),
            dir: FunctionsDir::new(),
            _cache: cache,
        })
    }

    /// Function `name`, the guest on `subject` with `max_concurrency = cap`.
    fn bundle(&self, name: &str, subject: &str, cap: usize) -> anyhow::Result<Bundle> {
        let manifest = format!(
            "[trigger]\nsubjects = [\"{subject}\"]\n[limits]\nmax_concurrency = {cap}\n[permissions]\npublish = [\"orders.totalled\"]\n"
        );
        self.bundle_with(name, &manifest)
    }

    /// Function `name`, the guest with `manifest`.
    fn bundle_with(&self, name: &str, manifest: &str) -> anyhow::Result<Bundle> {
        self.dir.add(name, GUEST, manifest);
        let wasm = self.dir.path().join(format!("{name}.wasm"));
        Ok(tokio::task::block_in_place(|| Bundle::load(&self.engine, &wasm))?)
    }
}

/// Waits until every host in `hosts` serves every `(name, version)` of `wanted`, polling
/// every millisecond; the time since `since`.
async fn serving(
    hosts: &[&Host],
    wanted: &[(String, String)],
    since: Instant,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let serves = |host: &Host, (name, version): &(String, String)| {
        host.runtime.version(name).as_deref() == Some(version.as_str())
    };
    loop {
        if hosts.iter().all(|host| wanted.iter().all(|w| serves(host, w))) {
            return Ok(since.elapsed());
        }
        if since.elapsed() > timeout {
            let served: usize = hosts
                .iter()
                .map(|host| wanted.iter().filter(|w| serves(host, w)).count())
                .sum();
            anyhow::bail!(
                "after {timeout:?}, {served} of {} function versions were served",
                hosts.len() * wanted.len()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The NATS servers of a fleet scenario.
enum Servers {
    /// One server with JetStream (smoke runs: a cluster takes about 10 s to elect its
    /// JetStream meta leader).
    Single(NatsServer),
    /// Nodes routed together, JetStream replicated on three of them.
    Cluster(NatsCluster),
}

impl Servers {
    async fn start(nodes: usize) -> Self {
        match nodes {
            1 => Self::Single(NatsServer::start()),
            _ => Self::Cluster(NatsCluster::start(nodes).await),
        }
    }

    /// Every node's URL, comma-separated, as hosts take them.
    fn urls(&self) -> String {
        match self {
            Self::Single(server) => server.url(),
            Self::Cluster(cluster) => cluster.urls(0..cluster.len()),
        }
    }

    /// A plain client that knows every node.
    async fn client(&self) -> async_nats::Client {
        match self {
            Self::Single(server) => server.client().await,
            Self::Cluster(cluster) => cluster.client().await,
        }
    }

    /// A client that knows every node, with as large a buffer as the hosts' (1M messages): a
    /// collector that falls behind for a moment must not drop results and count them lost.
    async fn collector(&self) -> anyhow::Result<async_nats::Client> {
        let servers: Vec<async_nats::ServerAddr> =
            self.urls().split(',').map(str::parse).collect::<Result<_, _>>()?;
        Ok(async_nats::ConnectOptions::new()
            .subscription_capacity(1 << 20)
            .connect(servers)
            .await?)
    }

    /// Copies of each stream message: one per node.
    fn replicas(&self) -> usize {
        match self {
            Self::Single(_) => 1,
            Self::Cluster(cluster) => cluster.len(),
        }
    }

    /// The process ids of the nats-servers.
    fn pids(&self) -> Vec<u32> {
        match self {
            Self::Single(server) => vec![server.pid()],
            Self::Cluster(cluster) => cluster.pids(),
        }
    }

    fn label(&self) -> String {
        match self {
            Self::Single(_) => "1 server".into(),
            Self::Cluster(cluster) => format!("{}-node cluster", cluster.len()),
        }
    }
}

/// The fleet scenarios on one cluster (`size.fleet_nodes`).
pub async fn run(size: &Size, report: &mut Report) -> anyhow::Result<()> {
    let servers = Servers::start(size.fleet_nodes).await;
    let urls = servers.urls();
    let client = servers.client().await;
    let fleet = Fleet::new(Buckets::open(&client, &BucketNames::default(), None).await?);
    let bundler = Bundler::new()?;
    let on = servers.label();
    deploy_to_serving(size, &urls, &on, &fleet, &bundler, report).await?;
    start_into_fleet(size, &urls, &on, &fleet, &bundler, report).await?;
    scale::run(size, &servers, &fleet, &bundler, report).await?;
    failover::run(size, &servers, &fleet, &bundler, report).await
}

/// Three hosts (one shared compile cache), each connected to every node; a cold deploy, then
/// `size.fleet_deploys` versions of the same function, each timed from `Fleet::deploy`
/// returning until all three hosts serve it.
async fn deploy_to_serving(
    size: &Size,
    urls: &str,
    on: &str,
    fleet: &Fleet,
    bundler: &Bundler,
    report: &mut Report,
) -> anyhow::Result<()> {
    let cache = tempfile::tempdir()?;
    let mut hosts = Vec::new();
    for id in ["bench-a", "bench-b", "bench-c"] {
        hosts.push(Host::start(urls, id, cache.path()).await?);
    }
    let all: Vec<&Host> = hosts.iter().collect();
    // Every version differs in its manifest only: the component is uploaded and compiled once.
    let versions = (0..=size.fleet_deploys)
        .map(|i| bundler.bundle("order-total", "orders.placed", i + 1))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut calls = Vec::new();
    let mut samples = Vec::new();
    for bundle in &versions {
        let called = Instant::now();
        let shipped = fleet.deploy(bundle, Some("sluice-bench")).await?;
        anyhow::ensure!(!shipped.unchanged, "version {} was not new", bundle.version);
        let returned = Instant::now();
        calls.push(returned - called);
        let wanted = [(bundle.name.clone(), bundle.version.clone())];
        samples.push(serving(&all, &wanted, returned, size.timeout).await?);
    }
    fleet.undeploy("order-total").await?;
    for host in hosts {
        host.runtime.shutdown().await;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let scenario = format!("fleet, 3 hosts, {on}");
    report.add(
        &scenario,
        "deploy → serving everywhere, cold",
        format!("{:.0} ms", ms(samples[0])),
        format!(
            "first deploy: the call {:.0} ms (uploads the 3 MB component), then each host downloads and compiles it, all three at once (one shared cache)",
            ms(calls[0])
        ),
    );
    let (mut warm, mut calls) = (samples[1..].to_vec(), calls[1..].to_vec());
    warm.sort();
    calls.sort();
    let at = |sorted: &[Duration], q: f64| ms(sorted[((sorted.len() - 1) as f64 * q) as usize]);
    report.add(
        &scenario,
        "deploy → serving everywhere, new version",
        format!("p50 {:.0} ms", at(&warm, 0.5)),
        format!(
            "p99 {:.0} ms, max {:.0} ms over {} deploys (manifest changed, component in the store and the cache); the deploy call itself p50 {:.1} ms; target ≤ 1 s",
            at(&warm, 0.99),
            at(&warm, 1.0),
            warm.len(),
            at(&calls, 0.5)
        ),
    );
    Ok(())
}

/// `size.fleet_functions` functions (one component under as many names and subjects)
/// deployed; then, `size.fleet_starts` times, a new host starts with an empty compile cache
/// and after it another with the cache the first one filled. Each is timed from starting
/// until it serves all of them.
async fn start_into_fleet(
    size: &Size,
    urls: &str,
    on: &str,
    fleet: &Fleet,
    bundler: &Bundler,
    report: &mut Report,
) -> anyhow::Result<()> {
    let n = size.fleet_functions;
    let mut wanted = Vec::new();
    let mut uploads = 0;
    let deploying = Instant::now();
    for i in 0..n {
        let bundle = bundler.bundle(&format!("order-total-{i}"), &format!("orders.placed.{i}"), 32)?;
        uploads += usize::from(fleet.deploy(&bundle, Some("sluice-bench")).await?.uploaded);
        wanted.push((bundle.name, bundle.version));
    }
    let deployed = deploying.elapsed();
    // Rounds of a cold then a warm start, each round with a new cache: a start right after
    // another host left is not always the first one measured.
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for round in 0..size.fleet_starts {
        let cache = tempfile::tempdir()?;
        for (kind, samples) in [("cold", &mut cold), ("warm", &mut warm)] {
            let started = Instant::now();
            let host = Host::start(urls, &format!("bench-{kind}-{round}"), cache.path()).await?;
            samples.push(serving(&[&host], &wanted, started, size.timeout).await?);
            host.runtime.shutdown().await;
        }
    }
    // The scenarios after this one start hosts that would serve these too.
    for (name, _) in &wanted {
        fleet.undeploy(name).await?;
    }
    for (label, mut samples, how) in [
        ("empty compile cache", cold, "compiles the shared component once"),
        ("compile cache of the previous host", warm, "compiles nothing"),
    ] {
        samples.sort();
        let ms = |d: &Duration| format!("{:.0}", d.as_secs_f64() * 1e3);
        let all: Vec<String> = samples.iter().map(ms).collect();
        report.add(
            &format!("fleet, host joins {n} functions, {on}"),
            &format!("start → serving all, {label}"),
            format!("{} ms", ms(&samples[samples.len() / 2])),
            format!(
                "median of {} starts ({} ms); downloads {n} × 3 MB and {how}; validating and deploying the {n} before took {} ms, {uploads} upload(s)",
                samples.len(),
                all.join(", "),
                ms(&deployed)
            ),
        );
    }
    Ok(())
}
