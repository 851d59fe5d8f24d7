//! `sluice dev`: the host plus builds of the function crates, rebuilt as their sources change.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use sluice_runtime::{Runtime, RuntimeConfig, dev};
use tokio_util::sync::CancellationToken;

use super::UsageError;
use super::up::{resolve_nats, wait_for_signal};

pub async fn run(
    dir: PathBuf,
    nats_url: Option<String>,
    state_dir: PathBuf,
    grace: u64,
) -> anyhow::Result<ExitCode> {
    let crates = dev::discover(&dir).map_err(|error| UsageError(format!("{error:#}")))?;
    if crates.is_empty() {
        return Err(UsageError(format!("no function crates (cdylib) in {}", dir.display())).into());
    }
    let deploy = state_dir.join("dev").join("functions");
    let _ = std::fs::remove_dir_all(&deploy);
    std::fs::create_dir_all(&deploy)?;
    let (url, local) = resolve_nats(nats_url, state_dir.clone()).await?;
    let mut config = RuntimeConfig::new(&deploy, &url);
    config.watch = true;
    config.shutdown_grace = Duration::from_secs(grace);
    config.cache_dir = Some(state_dir.join("cache"));
    let runtime = Runtime::start(config).await?;
    let names: Vec<&str> = crates.iter().map(|c| c.name.as_str()).collect();
    tracing::info!(
        "sluice dev: {} crates ({}); NATS at {url}. Ctrl-C to stop.",
        names.len(),
        names.join(", ")
    );
    let stop = CancellationToken::new();
    let builds = tokio::spawn(dev::run(crates, deploy, stop.clone()));
    wait_for_signal().await;
    stop.cancel();
    if let Ok(Err(error)) = builds.await {
        tracing::error!("sluice dev: {error:#}");
    }
    let report = runtime.shutdown().await;
    if let Some(server) = local {
        server.stop().await;
    }
    Ok(if report.abandoned == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
