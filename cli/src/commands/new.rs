//! `sluice new`: scaffold a function.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::scaffold::{self, Language, SdkSource};

use super::UsageError;

/// Creates function `name` in `dir` and prints how to test and build it.
pub async fn run(name: String, lang: String, dir: PathBuf) -> anyhow::Result<ExitCode> {
    let language: Language = lang.parse().map_err(UsageError)?;
    let sdk = match language {
        Language::Rust => sdk_source(&dir)?,
        _ => SdkSource::Workspace,
    };
    let created =
        scaffold::create(&dir, &name, language, &sdk).map_err(|error| UsageError(format!("{error:#}")))?;
    println!("created {}", created.display());
    let next = match language {
        Language::Rust => {
            if let (SdkSource::Path(_), Some(workspace)) = (&sdk, scaffold::enclosing_workspace(&dir)) {
                println!(
                    "note: add it to the members of the workspace in {}",
                    workspace.display()
                );
            }
            "cargo test\n  cargo build --release --target wasm32-wasip2"
        }
        Language::Python => "python3 -m unittest\n  ./build.sh",
        Language::JavaScript => "npm ci && npm test\n  ./build.sh",
    };
    println!("next:\n  cd {}\n  {next}", created.display());
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
