//! `sluice dlq list`, `sluice dlq replay` and `sluice dlq debug`: a function's dead letters,
//! read back from the stream that keeps them, sent again to where they came from, or their
//! last attempt run again from its transcript.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use sluice_runtime::Manifest;
use sluice_runtime::dlq::{DeadLetter, DeadLetterQueue, ReplayReport};

use super::dlq_debug::DebugArgs;
use super::table::{row, table};
use super::{NatsArgs, UsageError};

/// Longest error shown in a `list` row.
const ERROR_WIDTH: usize = 60;

/// What to do with the dead letters.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Show a function's dead letters, oldest first.
    List {
        #[command(flatten)]
        target: Target,
        /// Show at most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Republish a function's dead-lettered events to their original subject, oldest first,
    /// and delete their dead letters.
    Replay {
        #[command(flatten)]
        target: Target,
        /// Replay at most this many (refused ones count).
        #[arg(long)]
        limit: Option<usize>,
        /// Refuse an event already replayed this many times (its `Sluice-Replays` header),
        /// so an event that can never succeed does not go round forever.
        #[arg(long, default_value_t = 3)]
        max_replays: u32,
        /// Replay only the dead letters this new version (a .wasm file) handles when its
        /// transcript is run again offline, as `sluice dlq debug --with` does; the others stay.
        #[arg(long, value_name = "NEW.wasm")]
        verify: Option<PathBuf>,
    },
    /// Run a dead letter's last attempt again offline from its transcript: the same event,
    /// the same key-value, request and HTTP answers, clock readings and random bytes; print
    /// the calls and where it failed. Exits 0 when it fails the same way (with `--with`: when
    /// the new version handles the event).
    Debug {
        #[command(flatten)]
        target: Target,
        /// The dead letter's sequence (the SEQ column of `sluice dlq list`).
        #[arg(required_unless_present = "transcript")]
        sequence: Option<u64>,
        /// Write the dead letter and its transcript to FILE (JSON), to debug it later where
        /// there is no NATS.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
        /// Read the dead letter and its transcript from FILE (written by `--save`) instead of
        /// the stream: nothing connects to NATS (unless `--live`).
        #[arg(long, value_name = "FILE", conflicts_with = "sequence")]
        transcript: Option<PathBuf>,
        /// Run this component (a fixed version) instead of NAME.wasm, with its own NAME.toml
        /// beside it if there is one, else the folder's.
        #[arg(long, value_name = "NEW.wasm")]
        with: Option<PathBuf>,
        /// Make the calls the transcript does not have for real (key-value, requests, HTTP;
        /// the manifest's permissions apply; nothing is published) instead of stopping.
        #[arg(long)]
        live: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Whose dead letters, and how to reach them.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// Function name; its NAME.toml in the functions folder may set a dead-letter subject.
    name: String,
    /// Folder of NAME.wasm (+ NAME.toml) files.
    #[arg(long, default_value = "functions")]
    functions: PathBuf,
    /// NATS server URL, or a comma-separated list of a cluster's URLs.
    #[arg(long, default_value = sluice_runtime::nats::DEFAULT_URL, env = super::NATS_URL_ENV)]
    nats: String,
    #[command(flatten)]
    connection: NatsArgs,
    /// Where compiled components are cached (`debug`, `replay --verify`).
    #[arg(long, default_value = ".sluice")]
    state_dir: PathBuf,
}

/// Runs `command`.
pub async fn run(command: DlqCommand) -> anyhow::Result<ExitCode> {
    match command {
        DlqCommand::List { target, limit } => list(&target, limit).await,
        DlqCommand::Replay {
            target,
            limit,
            max_replays,
            verify,
        } => replay(&target, limit, max_replays, verify.as_deref()).await,
        DlqCommand::Debug {
            target,
            sequence,
            save,
            transcript,
            with,
            live,
            json,
        } => {
            let args = DebugArgs {
                name: &target.name,
                functions: &target.functions,
                sequence,
                saved: transcript.as_deref(),
                save: save.as_deref(),
                with: with.as_deref(),
                live,
                json,
                cache: target.state_dir.join("cache"),
            };
            if transcript.is_some() {
                let client = match live {
                    true => Some(connect(&target).await?),
                    false => None,
                };
                return super::dlq_debug::debug(None, client.as_ref(), args).await;
            }
            let (client, queue) = open(&target).await?;
            super::dlq_debug::debug(Some(&queue), Some(&client), args).await
        }
    }
}

async fn list(target: &Target, limit: Option<usize>) -> anyhow::Result<ExitCode> {
    let (_, queue) = open(target).await?;
    let listing = queue.list(limit).await?;
    let mut rows = vec![row([
        "SEQ",
        "DEAD-LETTERED-AT",
        "REASON",
        "ATTEMPTS",
        "SUBJECT",
        "EVENT-ID",
        "ERROR",
    ])];
    rows.extend(listing.letters.iter().map(letter_row));
    print!("{}", table(&rows));
    let more = match listing.more {
        0 => String::new(),
        more => format!(", {more} more messages on the subject not read (--limit)"),
    };
    println!(
        "{} dead letters of {} in stream {} (subject {}){more}",
        listing.letters.len(),
        target.name,
        queue.stream_name(),
        queue.subject()
    );
    Ok(ExitCode::SUCCESS)
}

async fn replay(
    target: &Target,
    limit: Option<usize>,
    max_replays: u32,
    verify: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let (_, queue) = open(target).await?;
    let verdicts = match verify {
        None => Vec::new(),
        Some(new) => {
            let letters = queue.list(limit).await?.letters;
            let cache = target.state_dir.join("cache");
            super::dlq_debug::verify(&queue, &target.name, &target.functions, new, &letters, cache).await?
        }
    };
    let refuse = |letter: &DeadLetter| match verify {
        None => None,
        Some(new) => verdicts
            .iter()
            .find(|(sequence, _)| *sequence == letter.sequence)
            .map_or_else(
                || {
                    Some(format!(
                        "--verify: not checked against {} (new since)",
                        new.display()
                    ))
                },
                |(_, why)| why.clone(),
            ),
    };
    let report = queue.replay(limit, max_replays, refuse).await?;
    print_report(&report);
    match report.failed {
        Some((_, error)) => Err(error.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn print_report(report: &ReplayReport) {
    for letter in &report.replayed {
        println!(
            "replayed {} (event {}) to {} (replay {})",
            letter.sequence,
            event_id(letter),
            letter.original_subject,
            letter.replays + 1
        );
    }
    for refused in &report.refused {
        let letter = &refused.letter;
        println!(
            "refused {} (event {}): {}",
            letter.sequence,
            event_id(letter),
            refused.why
        );
    }
    println!(
        "{} replayed, {} refused",
        report.replayed.len(),
        report.refused.len()
    );
}

/// Connects to NATS as `target` says.
async fn connect(target: &Target) -> anyhow::Result<async_nats::Client> {
    let options = target.connection.options()?;
    Ok(sluice_runtime::nats::connect(&target.nats, &options).await?)
}

/// Connects and finds the stream keeping the function's dead letters.
async fn open(target: &Target) -> anyhow::Result<(async_nats::Client, DeadLetterQueue)> {
    let subject = dead_letter_subject(&target.functions, &target.name)?;
    let client = connect(target).await?;
    let queue = DeadLetterQueue::open(client.clone(), &target.name, &subject).await?;
    Ok((client, queue))
}

/// The function's dead-letter subject: from `DIR/NAME.toml` when there is one, else the
/// default `sluice.dlq.NAME`.
fn dead_letter_subject(dir: &Path, name: &str) -> Result<String, UsageError> {
    let file = dir.join(format!("{name}.toml"));
    let manifest = if file.is_file() {
        Manifest::from_file(name, &file)
    } else {
        Manifest::default_for(name)
    };
    let manifest = manifest.map_err(|error| UsageError(format!("{error:#}")))?;
    manifest.dead_letter.ok_or_else(|| {
        UsageError(format!(
            "{name} keeps no dead letters: {} sets dead_letter.subject = \"none\"",
            file.display()
        ))
    })
}

fn letter_row(letter: &DeadLetter) -> Vec<String> {
    let error = sluice_runtime::text::truncate(&letter.error, ERROR_WIDTH);
    row([
        &letter.sequence.to_string(),
        &letter.dead_lettered_at,
        &letter.reason,
        &letter.attempts.to_string(),
        &letter.original_subject,
        event_id(letter),
        &error,
    ])
}

fn event_id(letter: &DeadLetter) -> &str {
    letter.event_id.as_deref().unwrap_or("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_comes_from_the_manifest_when_there_is_one() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            dead_letter_subject(dir.path(), "orders").unwrap(),
            "sluice.dlq.orders"
        );
        std::fs::write(
            dir.path().join("orders.toml"),
            "[dead_letter]\nsubject = \"orders.failed\"",
        )
        .unwrap();
        assert_eq!(
            dead_letter_subject(dir.path(), "orders").unwrap(),
            "orders.failed"
        );
        std::fs::write(
            dir.path().join("orders.toml"),
            "[dead_letter]\nsubject = \"none\"",
        )
        .unwrap();
        assert!(dead_letter_subject(dir.path(), "orders").is_err());
    }
}
