//! Hot reload: turning "these files changed" into deploys, redeploys and undeploys.
//!
//! Strategy: the watcher reports which function's files changed and whether the change is
//! finished (the writer closed the file, or it was renamed into place or removed). A
//! function becomes due a short settle time after a finished change, or after a longer quiet
//! time after writes that never report closing; any new change pushes it back. So a slow
//! `cp` or an editor's write-then-rename is loaded once, complete. The file is then read and
//! checked to be unchanged while it was read; a version that fails to load leaves the previous one
//! serving and logs one line; an unchanged version (same hash) is not redeployed. The swap
//! itself goes through the [`Registry`](crate::registry::Registry): in-flight events finish
//! on the old version, events admitted afterwards run the new one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::function::Function;
use crate::host::{Host, ReloadEvent};
use crate::watch::Change;

/// Quiet time after a finished change before the function is loaded: lets a component and
/// its manifest copied together be loaded as one version.
pub const SETTLE: Duration = Duration::from_millis(25);

/// Quiet time after writes whose end was not seen (no close event) before loading anyway.
pub const QUIET: Duration = Duration::from_secs(2);

/// Applies reported changes to `host` until `stop` is cancelled.
pub async fn run(
    host: Arc<Host>,
    dir: PathBuf,
    mut changes: mpsc::UnboundedReceiver<Change>,
    stop: CancellationToken,
) {
    let mut due: HashMap<String, Instant> = HashMap::new();
    loop {
        let next = due.values().min().copied();
        tokio::select! {
            _ = stop.cancelled() => return,
            change = changes.recv() => match change {
                Some(change) => {
                    let wait = if change.finished { SETTLE } else { QUIET };
                    due.insert(change.name, Instant::now() + wait);
                }
                None => return,
            },
            _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now).into()), if next.is_some() => {
                let now = Instant::now();
                let ready: Vec<String> = due.iter().filter(|(_, at)| **at <= now).map(|(name, _)| name.clone()).collect();
                for name in ready {
                    due.remove(&name);
                    if let Err(Unsettled) = reconcile(&host, &dir, &name).await {
                        due.insert(name, Instant::now() + SETTLE);
                    }
                }
            }
        }
    }
}

/// The file changed while it was being read; try again after the settle time.
struct Unsettled;

/// Brings function `name` in line with the folder.
async fn reconcile(host: &Arc<Host>, dir: &std::path::Path, name: &str) -> Result<(), Unsettled> {
    let wasm = dir.join(format!("{name}.wasm"));
    if host.is_from_fleet(name) {
        if wasm.exists() {
            let error = format!(
                "`{name}` is deployed by the fleet on this host; a function comes from the folder or from the fleet, not both"
            );
            failed(host, name, &error);
        }
        return Ok(());
    }
    if !wasm.exists() {
        if host.remove_function(name) {
            tracing::info!(function = name, "undeployed: {} was removed", wasm.display());
            host.report(ReloadEvent::Undeployed {
                name: name.to_owned(),
            });
        }
        return Ok(());
    }
    let started = Instant::now();
    let before = fingerprint(&wasm);
    let engine = host.dispatcher.engine.clone();
    let path = wasm.clone();
    let loaded = tokio::task::spawn_blocking(move || Function::load(&engine, &path)).await;
    let load_ms = started.elapsed().as_millis() as u64;
    if fingerprint(&wasm) != before {
        return Err(Unsettled);
    }
    let function = match loaded {
        Ok(Ok(function)) => function,
        Ok(Err(error)) => {
            failed(host, name, &error);
            return Ok(());
        }
        Err(panic) => {
            failed(host, name, &format!("loading panicked: {panic}"));
            return Ok(());
        }
    };
    let current = host
        .registry
        .get(name)
        .map(|deployment| deployment.function().version().to_owned());
    if current.as_deref() == Some(function.version()) {
        tracing::debug!(function = name, "unchanged; not redeployed");
        host.report(ReloadEvent::Unchanged {
            name: name.to_owned(),
        });
        return Ok(());
    }
    let version = function.version().to_owned();
    match host.deploy(function).await {
        Ok(_) => {
            let took_ms = started.elapsed().as_millis() as u64;
            tracing::info!(function = name, version, took_ms, load_ms, "hot reload done");
            host.report(ReloadEvent::Deployed {
                name: name.to_owned(),
                version,
            });
        }
        Err(error) => failed(host, name, &format!("{error:#}")),
    }
    Ok(())
}

/// Logs and reports a change that could not be deployed.
fn failed(host: &Host, name: &str, error: &dyn std::fmt::Display) {
    let serving = if host.registry.get(name).is_some() {
        "; the previous version keeps serving"
    } else {
        ""
    };
    tracing::error!(function = name, "not deployed: {error}{serving}");
    host.report(ReloadEvent::Failed {
        name: name.to_owned(),
        error: error.to_string(),
    });
}

/// Size and modification time of `path`, to notice a write during a read.
fn fingerprint(path: &std::path::Path) -> Option<(u64, std::time::SystemTime)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.len(), metadata.modified().ok()?))
}
