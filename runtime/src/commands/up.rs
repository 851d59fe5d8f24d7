//! `sluice up`: run the host until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use sluice_runtime::nats::{self, LocalNatsServer};
use sluice_runtime::{Runtime, RuntimeConfig};

use super::UsageError;

pub async fn run(
    watch: bool,
    functions: PathBuf,
    nats_url: Option<String>,
    state_dir: PathBuf,
    grace: u64,
) -> anyhow::Result<ExitCode> {
    if !functions.is_dir() {
        return Err(UsageError(format!("functions folder {} does not exist", functions.display())).into());
    }
    let (url, local) = resolve_nats(nats_url, state_dir.clone()).await?;
    let mut config = RuntimeConfig::new(&functions, &url);
    config.shutdown_grace = Duration::from_secs(grace);
    config.watch = watch;
    config.cache_dir = Some(state_dir.join("cache"));
    let runtime = Runtime::start(config).await?;
    tracing::info!(
        "sluice is up: {} functions deployed from {}, {} failed to load; NATS at {url}. Ctrl-C to stop.",
        runtime.functions().len(),
        functions.display(),
        runtime.load_errors().len()
    );
    wait_for_signal().await;
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

/// The URL to use: the one given, else a server on the default port, else a local one.
pub(super) async fn resolve_nats(
    url: Option<String>,
    state_dir: PathBuf,
) -> anyhow::Result<(String, Option<LocalNatsServer>)> {
    if let Some(url) = url {
        return Ok((url, None));
    }
    if nats::answers(([127, 0, 0, 1], 4222).into()) {
        return Ok((nats::DEFAULT_URL.to_owned(), None));
    }
    tracing::info!(
        "no NATS server on 127.0.0.1:4222; starting a local nats-server (data in {})",
        state_dir.display()
    );
    let server = LocalNatsServer::start(4222, &state_dir.join("nats")).await?;
    Ok((server.url().to_owned(), Some(server)))
}

pub(super) async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("cannot install the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
