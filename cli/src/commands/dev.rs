//! `sluice dev`: the host plus builds of the function crates, rebuilt as their sources change.

use std::path::PathBuf;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use super::up::{Session, wait_for_signal};
use super::{HostArgs, UsageError};
use crate::rebuild;

/// Starts the host on a deploy folder under the state folder, builds the crates in `dir` into
/// it and rebuilds them as they change, until a signal.
pub async fn run(dir: PathBuf, args: HostArgs) -> anyhow::Result<ExitCode> {
    let crates = rebuild::discover(&dir).map_err(|error| UsageError(format!("{error:#}")))?;
    if crates.is_empty() {
        return Err(UsageError(format!("no function crates (cdylib) in {}", dir.display())).into());
    }
    // The host hot-reloads this folder; builds are copied into it.
    let deploy = args.state_dir.join("dev").join("functions");
    let _ = std::fs::remove_dir_all(&deploy);
    std::fs::create_dir_all(&deploy)?;
    let session = Session::start(&args, &deploy, true).await?;
    let names: Vec<&str> = crates.iter().map(|c| c.name.as_str()).collect();
    tracing::info!(
        "sluice dev: {} crates ({}); NATS at {}. Ctrl-C to stop.",
        names.len(),
        names.join(", "),
        session.url
    );
    let stop = CancellationToken::new();
    let builds = tokio::spawn(rebuild::run(crates, deploy, stop.clone()));
    wait_for_signal().await;
    stop.cancel();
    if let Ok(Err(error)) = builds.await {
        tracing::error!("sluice dev: {error:#}");
    }
    Ok(session.stop().await)
}
