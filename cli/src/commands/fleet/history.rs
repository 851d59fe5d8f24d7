//! `sluice undeploy`, `sluice versions` and `sluice rollback`: the desired state's history.

use std::process::ExitCode;

use sluice_runtime::fleet::Version;

use super::FleetArgs;

/// Removes `name` from the fleet.
pub async fn undeploy(name: &str, args: &FleetArgs) -> anyhow::Result<ExitCode> {
    let fleet = args.open().await?;
    if fleet.undeploy(name).await? {
        println!("undeployed {name}: every fleet host stops it");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: `{name}` is not deployed to the fleet");
        Ok(ExitCode::from(1))
    }
}

/// Prints `name`'s history, oldest first.
pub async fn versions(name: &str, args: &FleetArgs) -> anyhow::Result<ExitCode> {
    let fleet = args.open().await?;
    let history = fleet.versions(name).await?;
    if history.is_empty() {
        eprintln!("error: `{name}` has never been deployed to the fleet");
        return Ok(ExitCode::from(1));
    }
    let current = fleet.desired(name).await?.map(|state| state.version);
    println!("{:<13} {:<13} {:<22} BY", "VERSION", "COMPONENT", "WHEN");
    for version in &history {
        match version {
            Version::Deployed(state) => {
                let mark = match &state.rolled_back_from {
                    Some(from) => format!("  (rollback from {from})"),
                    None => String::new(),
                };
                println!(
                    "{:<13} {:<13} {:<22} {}{mark}",
                    state.version,
                    state.short_component(),
                    state.deployed_at,
                    state.deployed_by
                );
            }
            Version::Undeployed(at) => println!("{:<13} {:<13} {at:<22}", "(undeployed)", ""),
        }
    }
    match current {
        Some(version) => println!("current: {version}"),
        None => println!("current: not deployed"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Makes an earlier version the desired state.
pub async fn rollback(
    name: &str,
    to: Option<&str>,
    by: Option<&str>,
    args: &FleetArgs,
) -> anyhow::Result<ExitCode> {
    let fleet = args.open().await?;
    let state = fleet.rollback(name, to, by).await?;
    println!(
        "rolled {name} back to version {} (component sha256 {}){}",
        state.version,
        state.short_component(),
        state
            .rolled_back_from
            .as_ref()
            .map_or(String::new(), |from| format!(", from {from}"))
    );
    Ok(ExitCode::SUCCESS)
}
