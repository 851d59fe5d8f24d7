//! Checking a functions folder: load every function in it without running anything.

use std::path::Path;
use std::sync::Arc;

use crate::engine::SluiceEngine;
use crate::function::load_dir;
use crate::function::{Function, LoadError};

/// One function's verdict.
pub struct Checked {
    /// The function's name.
    pub name: String,
    /// The loaded function, or why it cannot be deployed.
    pub result: Result<Function, LoadError>,
}

/// Validates every manifest and component in `dir`, in name order, keeping compiled
/// components in `cache` when given (so a following `sluice up` does not compile them again).
pub async fn check_dir(dir: &Path, cache: Option<&Path>) -> anyhow::Result<Vec<Checked>> {
    let mut engine = SluiceEngine::new()?;
    if let Some(cache) = cache {
        engine = engine.with_cache(cache);
    }
    let engine = Arc::new(engine);
    let loaded = load_dir(&engine, dir).await?;
    Ok(loaded
        .into_iter()
        .map(|(file, result)| Checked {
            name: file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            result,
        })
        .collect())
}
