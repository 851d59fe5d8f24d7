//! `sluice check`: load every function of a folder without running anything.

use std::path::Path;
use std::sync::Arc;

use crate::engine::SluiceEngine;
use crate::function::LoadError;
use crate::function::load_dir;

/// One function's verdict.
pub struct Checked {
    /// The function's name.
    pub name: String,
    /// `Ok` with a one-line summary, or why it cannot be deployed.
    pub result: Result<String, LoadError>,
}

/// Validates every manifest and component in `dir`, keeping compiled components in `cache`
/// when given (so a following `sluice up` does not compile them again).
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
            result: result.map(|function| {
                let trigger = &function.manifest().trigger;
                let subjects: Vec<String> = trigger.subjects.iter().map(ToString::to_string).collect();
                let batches = function.batch().map_or(String::new(), |batch| {
                    format!(
                        ", in batches of up to {} events ({} wait)",
                        batch.max_events,
                        crate::text::humanize(batch.max_wait)
                    )
                });
                format!("ok, listens on {}{batches}", subjects.join(", "))
            }),
        })
        .collect())
}
