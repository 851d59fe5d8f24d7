//! `sluice new`: scaffold a function.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sluice_runtime::scaffold::{self, SdkSource};

use super::UsageError;

pub async fn run(name: String, lang: String, dir: PathBuf) -> anyhow::Result<ExitCode> {
    if lang != "rust" {
        return Err(UsageError(format!("--lang {lang}: only `rust` is available yet")).into());
    }
    let sdk = sdk_source(&dir)?;
    let created = scaffold::rust(&dir, &name, &sdk).map_err(|error| UsageError(format!("{error:#}")))?;
    println!("created {}", created.display());
    if let (SdkSource::Path(_), Some(workspace)) = (&sdk, scaffold::enclosing_workspace(&dir)) {
        println!(
            "note: add it to the members of the workspace in {}",
            workspace.display()
        );
    }
    println!(
        "next:\n  cd {}\n  cargo test\n  cargo build --release --target wasm32-wasip2",
        created.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Inside a workspace that already declares `sluice-sdk` (this repository's), reuse it;
/// otherwise point at the SDK this binary was built with.
fn sdk_source(dir: &Path) -> anyhow::Result<SdkSource> {
    if let Some(workspace) = scaffold::enclosing_workspace(dir) {
        let manifest = std::fs::read_to_string(workspace.join("Cargo.toml")).unwrap_or_default();
        if manifest
            .lines()
            .any(|line| line.trim_start().starts_with("sluice-sdk"))
        {
            return Ok(SdkSource::Workspace);
        }
    }
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    match std::fs::canonicalize(&sdk) {
        Ok(path) => Ok(SdkSource::Path(path)),
        Err(_) => Err(UsageError(format!(
            "the Sluice SDK is not at {} (where this sluice was built from); create the function inside a Sluice checkout",
            sdk.display()
        ))
        .into()),
    }
}
