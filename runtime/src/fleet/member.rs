//! A host's membership in the fleet: its settings, what it loaded from the fleet and what it
//! failed to load, shared by the reconciling task and the reporting task.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::buckets::{BucketNames, Buckets};
use super::records::Pause;
use super::report::FailedLoad;
use crate::host::Host;

/// How a host joins the fleet (`sluice up --fleet`).
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// This host's id in reports (unique in the fleet).
    pub host_id: String,
    /// The fleet's bucket names.
    pub buckets: BucketNames,
    /// Replicas of buckets this host has to create; `None` picks 3 on a cluster, else 1.
    pub replicas: Option<usize>,
    /// How often the host reports (it also reports at once after each change).
    pub report_every: Duration,
    /// Where downloaded functions are written before loading (a private folder).
    pub files_dir: PathBuf,
}

impl FleetConfig {
    /// Settings for host `host_id`, keeping downloaded functions under `state_dir/fleet`.
    pub fn new(host_id: impl Into<String>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            host_id: host_id.into(),
            buckets: BucketNames::default(),
            replicas: None,
            report_every: super::REPORT_EVERY,
            files_dir: state_dir.into().join("fleet"),
        }
    }

    /// The default host id: this machine's name and the process id.
    pub fn default_host_id() -> String {
        format!("{}-{}", super::desired::machine_name(), std::process::id())
    }
}

/// What a host could not load from the fleet (what it did load is
/// [`Host::fleet_functions`]), and what it holds paused.
#[derive(Debug, Default)]
pub struct Loads {
    /// Desired versions that failed to load here, with why; `retry` for failures that may
    /// pass on the next try (a download that failed).
    pub failed: BTreeMap<String, (FailedLoad, bool)>,
    /// The fleet's pauses, by function name, as last read.
    pub pauses: BTreeMap<String, Pause>,
    /// Paused functions whose events in flight are still finishing.
    pub pausing: BTreeSet<String>,
    /// Paused functions this host runs nothing of.
    pub paused: BTreeSet<String>,
    /// Shadow versions that failed to load here, by function name: the version and why.
    pub failed_shadows: BTreeMap<String, (String, String)>,
}

/// Where a host stands on a drain request (`sluice drain`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DrainState {
    /// Serving.
    #[default]
    Serving,
    /// Stopped taking events; those in flight are finishing.
    Draining,
    /// Runs nothing, and stays up (`--stay`).
    Drained,
}

/// A host as a member of the fleet.
pub struct Member {
    /// The host.
    pub host: Arc<Host>,
    /// The fleet's buckets.
    pub buckets: Buckets,
    /// Its settings.
    pub config: FleetConfig,
    /// What it loaded and failed to load.
    pub loads: Mutex<Loads>,
    /// Woken after each change, so the report goes out at once.
    pub changed: Notify,
    /// When it started.
    pub started: std::time::Instant,
    /// When it started, in RFC 3339.
    pub started_at: String,
    /// Cancelled when a drain asks this host to exit (`sluice up` then shuts down).
    pub exit_requested: CancellationToken,
    /// Where it stands on a drain.
    pub drain: Mutex<DrainState>,
}

impl Member {
    /// A member of the fleet of `buckets`.
    pub fn new(host: Arc<Host>, buckets: Buckets, config: FleetConfig) -> Self {
        Self {
            host,
            buckets,
            config,
            loads: Mutex::default(),
            changed: Notify::new(),
            started: std::time::Instant::now(),
            started_at: super::desired::now_rfc3339(),
            exit_requested: CancellationToken::new(),
            drain: Mutex::default(),
        }
    }

    /// Where the host stands on a drain.
    pub fn drain_state(&self) -> DrainState {
        *self
            .drain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records where the host stands on a drain, and reports it.
    pub fn set_drain_state(&self, state: DrainState) {
        *self
            .drain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state;
        self.changed.notify_one();
    }

    /// The loads, locked.
    pub fn loads(&self) -> std::sync::MutexGuard<'_, Loads> {
        self.loads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
