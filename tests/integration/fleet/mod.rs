//! The fleet: `sluice deploy` once and every `sluice up --fleet` host converges; versions,
//! rollback and undeploy; hosts that start late, lose a NATS node or find a tampered
//! component; and the command line (`deploy`, `status`, refusals, permissions).

mod cli;
mod cluster;
mod fleet_wide;
mod rollout;
mod stream;

use std::time::{Duration, Instant};

use sluice_tests::{FleetHost, Manifest, eventually};

/// How long hosts get to converge on a change (they usually take well under a second).
pub const CONVERGE: Duration = Duration::from_secs(60);

/// A core-mode probe on `fleet.in`; `cap` makes versions differ.
pub fn probe(cap: u64) -> Manifest {
    Manifest::new().subjects(["fleet.in"]).max_concurrency(cap)
}

/// Waits until every host in `hosts` serves `version` of `name` (`None`: does not run it) and
/// returns how long that took.
pub async fn converged(hosts: &[&FleetHost], name: &str, version: Option<&str>) -> Duration {
    let started = Instant::now();
    let what = format!("every host serves {name} {version:?}");
    eventually(CONVERGE, &what, async || {
        hosts.iter().all(|host| host.version(name).as_deref() == version)
    })
    .await;
    started.elapsed()
}
