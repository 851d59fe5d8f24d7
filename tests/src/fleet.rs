//! Fleet hosts (`sluice up --fleet` in-process) and what a deployer ships, for the fleet's
//! integration tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_runtime::fleet::{BucketNames, Buckets, Bundle, Fleet, FleetConfig};
use sluice_runtime::{Runtime, RuntimeConfig, SluiceEngine};
use tempfile::TempDir;

use crate::fixture::init_logging;
use crate::{FunctionsDir, KillOnDrop, sluice_command};

/// A host of the fleet, with its own state folder.
pub struct FleetHost {
    /// The running host.
    pub runtime: Runtime,
    /// Its id in the fleet.
    pub id: String,
    _state: TempDir,
}

impl FleetHost {
    /// Starts host `id` connected to `urls`, joining the fleet with nothing in a folder;
    /// compiled components are shared through `cache`.
    pub async fn start(urls: &str, id: &str, cache: &Path) -> Self {
        Self::start_beside(urls, id, cache, None).await
    }

    /// One host per id in `ids`, started in turn as [`start`](Self::start) starts one.
    pub async fn start_all(urls: &str, ids: &[&str], cache: &Path) -> Vec<Self> {
        let mut hosts = Vec::new();
        for id in ids {
            hosts.push(Self::start(urls, id, cache).await);
        }
        hosts
    }

    /// Like [`start`](Self::start), also serving (and watching) functions folder `folder`.
    pub async fn start_beside(urls: &str, id: &str, cache: &Path, folder: Option<&Path>) -> Self {
        Self::start_configured(urls, id, cache, |config| {
            config.functions_dir = folder.map(Path::to_owned);
            config.watch = folder.is_some();
        })
        .await
    }

    /// Like [`start`](Self::start), with `tweak` applied to the host's configuration.
    pub async fn start_configured(
        urls: &str,
        id: &str,
        cache: &Path,
        tweak: impl FnOnce(&mut RuntimeConfig),
    ) -> Self {
        init_logging();
        let state = tempfile::tempdir().expect("state folder");
        let mut fleet = FleetConfig::new(id, state.path());
        fleet.report_every = Duration::from_millis(500);
        let mut config = RuntimeConfig::fleet(urls, fleet);
        config.cache_dir = Some(cache.to_owned());
        config.shutdown_grace = Duration::from_secs(5);
        tweak(&mut config);
        let runtime = Runtime::start(config).await.expect("fleet host starts");
        Self {
            runtime,
            id: id.to_owned(),
            _state: state,
        }
    }

    /// The version of `name` this host serves.
    pub fn version(&self, name: &str) -> Option<String> {
        self.runtime.version(name)
    }
}

/// `sluice up --fleet` as a child process (host `id`, state under `state`, warnings only),
/// killed when dropped: a host a test can SIGKILL, SIGSTOP or drain.
pub fn spawn_fleet_process(urls: &str, id: &str, state: &Path) -> KillOnDrop {
    let child = sluice_command()
        .args(["up", "--fleet", "--host-id", id, "--nats", urls, "--state-dir"])
        .arg(state.join(id))
        .env("SLUICE_LOG", "warn")
        .spawn()
        .expect("start sluice up --fleet");
    KillOnDrop(child)
}

/// [`spawn_fleet_process`] with the admin endpoint on a free loopback port, returned.
pub fn spawn_fleet_process_with_admin(
    urls: &str,
    id: &str,
    state: &Path,
) -> (KillOnDrop, std::net::SocketAddr) {
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], crate::nats_server::free_port()));
    let child = sluice_command()
        .args(["up", "--fleet", "--host-id", id, "--nats", urls, "--admin"])
        .arg(admin.to_string())
        .arg("--state-dir")
        .arg(state.join(id))
        .env("SLUICE_LOG", "warn")
        .spawn()
        .expect("start sluice up --fleet");
    (KillOnDrop(child), admin)
}

/// Events of `function` a host with its admin endpoint at `admin` handled successfully
/// (its `sluice_events_succeeded_total`), 0 before its first.
pub fn succeeded_on(admin: std::net::SocketAddr, function: &str) -> u64 {
    let body = crate::http_get(admin, "/metrics").body;
    let series = format!("sluice_events_succeeded_total{{function=\"{function}\"}} ");
    body.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |value| value.trim().parse().expect("a counter"))
}

/// A deployer's handle on the fleet behind `client`.
pub async fn deployer(client: &async_nats::Client) -> Fleet {
    let buckets = Buckets::open(client, &BucketNames::default(), None)
        .await
        .expect("the fleet's buckets open");
    Fleet::new(buckets)
}

/// Guest `guest` as function `name` with `manifest`, validated and read as `sluice deploy`
/// reads it.
pub fn bundle(name: &str, guest: &str, manifest: impl std::fmt::Display) -> Bundle {
    let dir = FunctionsDir::new();
    dir.add(name, guest, manifest);
    let engine = SluiceEngine::new().expect("engine");
    let wasm: PathBuf = dir.path().join(format!("{name}.wasm"));
    Bundle::load(&engine, &wasm).unwrap_or_else(|error| panic!("{name} does not load: {error}"))
}
