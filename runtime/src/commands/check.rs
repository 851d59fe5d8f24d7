//! `sluice check`: validate a functions folder.

use std::path::Path;
use std::process::ExitCode;

use super::UsageError;

pub async fn run(dir: &Path, state_dir: &Path) -> anyhow::Result<ExitCode> {
    if !dir.is_dir() {
        return Err(UsageError(format!("functions folder {} does not exist", dir.display())).into());
    }
    let checked = sluice_runtime::check::check_dir(dir, Some(&state_dir.join("cache"))).await?;
    let mut failed = 0;
    for function in &checked {
        match &function.result {
            Ok(summary) => println!("{}: {summary}", function.name),
            Err(error) => {
                failed += 1;
                println!("{}: error: {error}", function.name);
            }
        }
    }
    println!("{} functions checked, {failed} with errors", checked.len());
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
