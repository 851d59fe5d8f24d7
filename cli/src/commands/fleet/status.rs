//! `sluice status` (the fleet table, once, as JSON, or redrawn) and `sluice deploy --wait`
//! (following the hosts until they serve what was deployed).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sluice_runtime::fleet::{DesiredState, Fleet, FleetStatus, Progress};

use super::FleetArgs;

/// How often `--wait` and `--watch` read the hosts' reports.
const POLL: Duration = Duration::from_millis(100);

/// Prints the fleet's status; exit code 1 when a live host lags or failed a load.
pub async fn run(json: bool, watch: bool, args: &FleetArgs) -> anyhow::Result<ExitCode> {
    let fleet = args.open().await?;
    loop {
        let status = FleetStatus::new(&fleet.records().await?, &fleet.hosts().await?);
        if json {
            println!("{}", serde_json::to_string_pretty(&status)?);
        } else {
            if watch {
                // Clear the screen and go home, then redraw.
                print!("\x1b[2J\x1b[H");
            }
            print!("{}", status.render());
        }
        if !watch {
            return Ok(match status.problems() {
                0 => ExitCode::SUCCESS,
                _ => ExitCode::from(1),
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Waits until every live host serves (or failed to load) each state in `deployed`, printing
/// a line per host and function as each settles; exit code 1 if a host failed or `timeout`
/// passed first.
pub async fn wait_for(
    fleet: &Fleet,
    deployed: &[DesiredState],
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut settled: BTreeMap<(String, String), bool> = BTreeMap::new();
    loop {
        let hosts = fleet.hosts().await?;
        let live: Vec<_> = hosts.iter().filter(|host| !host.is_gone()).collect();
        let mut pending = Vec::new();
        for host in &live {
            for state in deployed {
                let key = (host.report.host.clone(), state.name.clone());
                if settled.contains_key(&key) {
                    continue;
                }
                let took = started.elapsed().as_secs_f64();
                match host.report.progress(&state.name, &state.version) {
                    Progress::Serving => {
                        println!(
                            "{}: serving {} {} ({took:.2} s)",
                            key.0, state.name, state.version
                        );
                        settled.insert(key, true);
                    }
                    Progress::Failed(error) => {
                        println!("{}: FAILED {} {}: {error}", key.0, state.name, state.version);
                        settled.insert(key, false);
                    }
                    Progress::Paused => {
                        println!(
                            "{}: {} is paused; {} runs when it is resumed",
                            key.0, state.name, state.version
                        );
                        settled.insert(key, true);
                    }
                    Progress::Lagging(_) => pending.push(key),
                }
            }
        }
        if live.is_empty() {
            println!("no live hosts: the desired state is written; hosts converge when they start");
            return Ok(ExitCode::SUCCESS);
        }
        if pending.is_empty() {
            let failed = settled.values().filter(|ok| !**ok).count();
            println!(
                "done: {} serving, {failed} failed ({} live hosts, {} functions)",
                settled.len() - failed,
                live.len(),
                deployed.len()
            );
            return Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        if started.elapsed() > timeout {
            for (host, name) in pending {
                println!("{host}: still not serving {name} after {} s", timeout.as_secs());
            }
            return Ok(ExitCode::from(1));
        }
        tokio::time::sleep(POLL).await;
    }
}
