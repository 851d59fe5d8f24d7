//! A functions folder: every `NAME.wasm` in it, with its `NAME.toml` beside it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use super::{Function, LoadError};
use crate::engine::SluiceEngine;

/// Loads every `*.wasm` in `dir` (compiling on a blocking thread), in name order, each with
/// the file it came from.
pub async fn load_dir(
    engine: &Arc<SluiceEngine>,
    dir: &Path,
) -> anyhow::Result<Vec<(PathBuf, Result<Function, LoadError>)>> {
    let files = component_files(dir)?;
    let engine = engine.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        files
            .into_iter()
            .map(|file| (file.clone(), Function::load(&engine, &file)))
            .collect()
    })
    .await
    .context("function loading panicked")?;
    Ok(loaded)
}

/// The `*.wasm` files in `dir`, sorted; warns about manifests without a component.
pub fn component_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read functions folder {}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries.filter_map(|entry| entry.ok().map(|e| e.path())).collect();
    files.sort();
    for manifest in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "toml"))
    {
        if !manifest.with_extension("wasm").exists() {
            tracing::warn!(
                "{}: manifest without a {} beside it; ignored",
                manifest.display(),
                manifest.with_extension("wasm").display()
            );
        }
    }
    files.retain(|f| f.extension().is_some_and(|e| e == "wasm"));
    Ok(files)
}
