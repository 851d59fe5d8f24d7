//! `sluice check`: validate a functions folder and print one line per function.

use std::path::Path;
use std::process::ExitCode;

use sluice_runtime::Function;

use super::UsageError;

/// Loads every function in `dir` and reports each; exit code 2 if any cannot be deployed.
pub async fn run(dir: &Path, state_dir: &Path) -> anyhow::Result<ExitCode> {
    if !dir.is_dir() {
        return Err(UsageError(format!("functions folder {} does not exist", dir.display())).into());
    }
    let checked = sluice_runtime::check::check_dir(dir, Some(&state_dir.join("cache"))).await?;
    let mut failed = 0;
    for function in &checked {
        match &function.result {
            Ok(loaded) => println!("{}: {}", function.name, summary(loaded)),
            Err(error) => {
                failed += 1;
                println!("{}: error: {error}", function.name);
            }
        }
    }
    println!("{}", count_line(checked.len(), failed));
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// `1 function checked, 0 with errors`, `3 functions checked, 1 with errors`.
fn count_line(checked: usize, failed: usize) -> String {
    let functions = if checked == 1 { "function" } else { "functions" };
    format!("{checked} {functions} checked, {failed} with errors")
}

/// `ok (sluice:function/handler), listens on A, B`, what its schedule is, and for a batch
/// function how its events are grouped.
fn summary(function: &Function) -> String {
    let trigger = &function.manifest().trigger;
    let mut subjects: Vec<String> = trigger.subjects.iter().map(ToString::to_string).collect();
    if let Some(schedule) = &trigger.schedule {
        subjects.push(format!("schedule {}", schedule.describe()));
    }
    let batches = function.batch().map_or(String::new(), |batch| {
        format!(
            ", in batches of up to {} events ({} wait)",
            batch.max_events,
            sluice_runtime::text::humanize(batch.max_wait)
        )
    });
    let world = function.pre().world();
    format!("ok ({world}), listens on {}{batches}", subjects.join(", "))
}

#[cfg(test)]
mod tests {
    use super::count_line;

    #[test]
    fn the_count_agrees_with_its_number() {
        assert_eq!(count_line(1, 0), "1 function checked, 0 with errors");
        assert_eq!(count_line(3, 1), "3 functions checked, 1 with errors");
        assert_eq!(count_line(0, 0), "0 functions checked, 0 with errors");
    }
}
