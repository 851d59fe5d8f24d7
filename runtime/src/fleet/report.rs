//! What a host tells the fleet about itself: the value it keeps fresh under its id in the
//! presence bucket, and what `sluice status` and `sluice deploy --wait` read.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One host's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostReport {
    /// The host's id (`sluice up --host-id`, by default `machine-pid`).
    pub host: String,
    /// The `sluice` version it runs.
    pub sluice_version: String,
    /// When it started, in RFC 3339.
    pub started_at: String,
    /// Seconds since it started.
    pub uptime_s: u64,
    /// How often it reports, in milliseconds.
    pub report_every_ms: u64,
    /// What it serves, by function name.
    pub functions: BTreeMap<String, FunctionReport>,
    /// Fleet functions it failed to load, by name: the desired version and why.
    #[serde(default)]
    pub failed: BTreeMap<String, FailedLoad>,
    /// Set in its last report, when it shut down.
    #[serde(default)]
    pub stopped: bool,
    /// Fleet functions it holds paused (`sluice pause`), with nothing of them running.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub paused: BTreeSet<String>,
    /// `draining` (in-flight events finishing) or `drained` (idle), after `sluice drain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<String>,
}

/// A function a host serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionReport {
    /// The version hash it serves.
    pub version: String,
    /// Where it came from: `fleet` or `folder`.
    pub origin: String,
    /// Events being handled now.
    pub in_flight: u64,
    /// Events received per second over the last minute.
    pub events_per_s: f64,
    /// Events dead-lettered over the last minute.
    pub dead_letters_last_minute: u64,
}

/// A fleet function a host could not load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedLoad {
    /// The desired version it tried.
    pub version: String,
    /// Why, in one line.
    pub error: String,
}

impl HostReport {
    /// Parses a value read from the presence bucket.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The value written to the presence bucket.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a host report serializes")
    }

    /// Where this host stands on `version` of function `name`.
    pub fn progress(&self, name: &str, version: &str) -> Progress {
        if self.paused.contains(name) {
            return Progress::Paused;
        }
        if let Some(failed) = self.failed.get(name).filter(|f| f.version == version) {
            return Progress::Failed(failed.error.clone());
        }
        match self.functions.get(name) {
            Some(serving) if serving.version == version => Progress::Serving,
            Some(serving) => Progress::Lagging(Some(serving.version.clone())),
            None => Progress::Lagging(None),
        }
    }
}

/// Where one host stands on one desired version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// It serves that version.
    Serving,
    /// It failed to load that version (and serves the previous one, if any).
    Failed(String),
    /// It serves another version, or none yet.
    Lagging(Option<String>),
    /// It holds the function paused, running nothing of it.
    Paused,
}
