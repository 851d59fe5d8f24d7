//! `sluice deploy`: validate locally, refuse the whole deploy if anything is broken, upload,
//! write the desired state, and with `--wait` follow the hosts until they serve it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use sluice_runtime::SluiceEngine;
use sluice_runtime::fleet::{Bundle, BundleError, component_paths};

use super::FleetArgs;
use super::status::wait_for;

/// Whether a deploy makes the functions live or shadows.
pub enum How {
    /// Live; with `wait`, wait up to that long for the hosts.
    Live {
        /// How long to wait for the hosts, if at all.
        wait: Option<Duration>,
    },
    /// As shadows of the live versions, on a `sample` share of events, calling only `http`.
    Shadow {
        /// The share of events shadowed.
        sample: f64,
        /// Hosts the shadow may call.
        http: Vec<String>,
    },
}

/// Deploys the functions at `paths` as `how` says.
pub async fn run(
    paths: &[PathBuf],
    how: How,
    by: Option<&str>,
    state_dir: &Path,
    args: &FleetArgs,
) -> anyhow::Result<ExitCode> {
    let files = component_paths(paths)?;
    if files.is_empty() {
        return Err(
            super::super::UsageError("no NAME.wasm components found in the given paths".into()).into(),
        );
    }
    let bundles = match validate(files, state_dir).await? {
        Ok(bundles) => bundles,
        Err(errors) => {
            for error in &errors {
                eprintln!("error: {error}");
            }
            eprintln!(
                "deploy refused: {} of the functions are broken; nothing was deployed",
                errors.len()
            );
            return Ok(ExitCode::from(2));
        }
    };
    let fleet = args.open().await?;
    let wait = match how {
        How::Live { wait } => wait,
        How::Shadow { sample, http } => {
            for bundle in &bundles {
                let record = fleet.shadow(bundle, sample, http.clone(), by).await?;
                println!(
                    "shadowing {} with version {} on {:.0}% of events (component sha256 {}); see `sluice shadow report {}`",
                    bundle.name,
                    record.candidate.version,
                    sample * 100.0,
                    record.candidate.short_component(),
                    bundle.name
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let mut shipped = Vec::new();
    for bundle in &bundles {
        let done = fleet.deploy(bundle, by).await?;
        let stored = if done.uploaded {
            "uploaded"
        } else {
            "already stored"
        };
        let what = if done.unchanged { "unchanged" } else { "deployed" };
        println!(
            "{what} {} version {} (component sha256 {}, {} bytes, {stored})",
            done.state.name,
            done.state.version,
            done.state.short_component(),
            done.state.size
        );
        shipped.push(done.state);
    }
    match wait {
        Some(timeout) => wait_for(&fleet, &shipped, timeout).await,
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Loads every file as `sluice check` would: all bundles, or every error.
async fn validate(
    files: Vec<PathBuf>,
    state_dir: &Path,
) -> anyhow::Result<Result<Vec<Bundle>, Vec<BundleError>>> {
    let engine = Arc::new(SluiceEngine::new()?.with_cache(state_dir.join("cache")));
    let loaded = tokio::task::spawn_blocking(move || {
        files
            .iter()
            .map(|file| Bundle::load(&engine, file))
            .collect::<Vec<_>>()
    })
    .await?;
    let (bundles, errors): (Vec<_>, Vec<_>) = loaded.into_iter().partition(Result::is_ok);
    Ok(match errors.is_empty() {
        true => Ok(bundles.into_iter().map(Result::unwrap).collect()),
        false => Err(errors
            .into_iter()
            .map(|e| e.err().expect("partitioned"))
            .collect()),
    })
}
