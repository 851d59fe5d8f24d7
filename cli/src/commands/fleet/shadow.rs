//! `sluice shadow report`, `sluice shadow stop` and `sluice promote`: what a function's
//! shadow version did beside the live one, and what to do with it.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};
use sluice_runtime::shadow::{ShadowResult, Summary, Verdict, diff, read};

use super::FleetArgs;

/// What to do with a shadow.
#[derive(Debug, Subcommand)]
pub enum ShadowCommand {
    /// Compare, event by event, the shadow's outcomes and outputs with the live version's:
    /// counts of each verdict and a few examples of each difference.
    Report {
        /// The function.
        name: String,
        /// Examples shown per verdict.
        #[arg(long, default_value_t = 3)]
        examples: usize,
        /// Count the results of every candidate version shadowed, not only the current one.
        #[arg(long)]
        all_versions: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Stop shadowing a function on every host (its results stay for `report`).
    Stop {
        /// The function.
        name: String,
        #[command(flatten)]
        fleet: FleetArgs,
    },
}

/// Runs `command`.
pub async fn run(command: ShadowCommand) -> anyhow::Result<ExitCode> {
    match command {
        ShadowCommand::Report {
            name,
            examples,
            all_versions,
            json,
            fleet,
        } => report(&name, examples, all_versions, json, &fleet).await,
        ShadowCommand::Stop { name, fleet } => {
            match fleet.open().await?.stop_shadow(&name).await? {
                true => {
                    println!("stopped shadowing {name} (its results stay; see `sluice shadow report {name}`)")
                }
                false => println!("{name} has no shadow version"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `sluice promote NAME`.
pub async fn promote(name: &str, by: Option<&str>, args: &FleetArgs) -> anyhow::Result<ExitCode> {
    let state = args.open().await?.promote(name, by).await?;
    println!(
        "promoted {name}: version {} is now the desired state of every host (component sha256 {})",
        state.version,
        state.short_component()
    );
    Ok(ExitCode::SUCCESS)
}

async fn report(
    name: &str,
    examples: usize,
    all_versions: bool,
    json: bool,
    args: &FleetArgs,
) -> anyhow::Result<ExitCode> {
    let fleet = args.open().await?;
    let shadow = fleet.shadow_of(name).await?;
    let version = shadow.as_ref().map(|record| record.candidate.version.clone());
    let only = version.as_deref().filter(|_| !all_versions);
    let results = read(&fleet.buckets().js, name, only).await.map_err(|error| {
        super::super::UsageError(format!(
            "{error} (has `{name}` been shadowed? see `sluice deploy --shadow`)"
        ))
    })?;
    let summary = Summary::of(&results, examples);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&as_json(name, version.as_deref(), &summary))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let running = match &shadow {
        Some(record) => format!(
            "version {} on {:.0}% of events",
            record.candidate.version,
            record.sample * 100.0
        ),
        None => "no shadow running now".to_owned(),
    };
    println!(
        "shadow of {name}: {running}; {} events compared",
        summary.compared
    );
    for verdict in Verdict::ALL {
        println!("  {:<18} {}", verdict.as_str(), summary.count(verdict));
    }
    for (verdict, (count, shown)) in &summary.verdicts {
        if *verdict == Verdict::Same {
            continue;
        }
        println!("{} ({count}, first {}):", verdict.as_str(), shown.len());
        for result in shown {
            print!("{}", example(result));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One differing event, as the report shows it.
fn example(result: &ShadowResult) -> String {
    let mut out = format!("  event {} on {}\n", result.event_id, result.subject);
    let mut line = |text: String| {
        out.push_str("    ");
        out.push_str(&text);
        out.push('\n');
    };
    match result.verdict {
        Verdict::DifferentOutputs => diff(&result.live, &result.candidate)
            .into_iter()
            .for_each(&mut line),
        _ => {
            if let Some(error) = &result.live.error {
                line(format!("live: {error}"));
            }
            if let Some(error) = &result.candidate.error {
                line(format!("candidate: {error}"));
            }
        }
    }
    out
}

fn as_json(name: &str, version: Option<&str>, summary: &Summary<'_>) -> Value {
    let counts: serde_json::Map<String, Value> = Verdict::ALL
        .iter()
        .map(|verdict| (verdict.as_str().replace(' ', "_"), summary.count(*verdict).into()))
        .collect();
    let examples: serde_json::Map<String, Value> = summary
        .verdicts
        .iter()
        .map(|(verdict, (_, shown))| (verdict.as_str().replace(' ', "_"), json!(shown)))
        .collect();
    json!({
        "function": name,
        "candidate_version": version,
        "compared": summary.compared,
        "skipped": summary.skipped,
        "counts": counts,
        "examples": examples,
    })
}
