//! The fleet: `sluice deploy` once and every `sluice up --fleet` host converges; versions,
//! rollback and undeploy; hosts that start late, lose a NATS node or find a tampered
//! component; and the command line (`deploy`, `status`, refusals, permissions).

mod cli;
mod cluster;
mod fleet_wide;
mod partitions;
mod rollout;
mod shadow;
mod stream;

use std::time::{Duration, Instant};

use sluice_runtime::fleet::{Fleet, Progress};
use sluice_tests::{FleetHost, Manifest, eventually, sluice_command};

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

/// Waits until every host in `ids` reports serving `version` of `name` (hosts that are
/// `sluice up --fleet` processes).
pub async fn reported_serving(fleet: &Fleet, ids: &[&str], name: &str, version: &str) {
    let what = format!("{ids:?} serve {name}");
    eventually(CONVERGE, &what, async || {
        let hosts = fleet.hosts().await.unwrap();
        ids.iter().all(|id| {
            hosts.iter().any(|seen| {
                seen.report.host == *id
                    && !seen.is_gone()
                    && seen.report.progress(name, version) == Progress::Serving
            })
        })
    })
    .await;
}

/// Runs `sluice ARGS --nats URLS` and returns its stdout, failing the test if it fails.
pub async fn sluice(args: &[&str], urls: &str) -> String {
    let mut command = sluice_command();
    command.args(args).args(["--nats", urls]);
    let output = tokio::task::spawn_blocking(move || command.output().expect("run sluice"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "sluice {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
