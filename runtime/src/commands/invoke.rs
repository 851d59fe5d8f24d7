//! `sluice invoke`: one event through one function, no NATS: key-value calls use in-memory
//! buckets that start empty, requests fail.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use sluice_runtime::{Event, Function, Runner, Services, SluiceEngine};

use super::UsageError;

pub struct Args {
    pub name: String,
    pub data: String,
    pub functions: PathBuf,
    pub subject: Option<String>,
    pub headers: Vec<String>,
    pub attempt: u32,
    pub state_dir: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let wasm = args.functions.join(format!("{}.wasm", args.name));
    if !wasm.is_file() {
        return Err(UsageError(format!(
            "no function `{}`: {} does not exist",
            args.name,
            wasm.display()
        ))
        .into());
    }
    let headers = args
        .headers
        .iter()
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| UsageError(format!("--header {pair:?} is not NAME=VALUE")))?;
            Ok((name.to_owned(), value.to_owned()))
        })
        .collect::<Result<Vec<_>, UsageError>>()?;
    let engine = Arc::new(SluiceEngine::new()?.with_cache(args.state_dir.join("cache")));
    let function = tokio::task::block_in_place(|| Function::load(&engine, &wasm))
        .map_err(|e| UsageError(e.to_string()))?;
    let subject = args.subject.unwrap_or_else(|| default_subject(&function));
    let event = Arc::new(Event::new(subject, args.data.into_bytes().into(), headers, None));
    if let Err(mismatch) = function.check_schema(&event) {
        println!("outcome: schema_mismatch (would dead-letter; the handler did not run)");
        println!("error: {mismatch}");
        return Ok(ExitCode::from(1));
    }
    // Key-value calls work on empty in-memory buckets; requests fail (there is no NATS).
    let runner = Runner::new(engine, Arc::new(function), Arc::new(Services::in_memory()));
    let outcome = runner.invoke(&event, args.attempt).await;
    match outcome {
        Ok(messages) => {
            println!("outcome: ok");
            println!("would publish {} message(s):", messages.len());
            for message in messages {
                println!(
                    "  {} {}",
                    message.subject,
                    String::from_utf8_lossy(&message.payload)
                );
                for (name, value) in message.headers {
                    println!("      {name}: {value}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            println!(
                "outcome: {} ({})",
                error.reason(),
                if error.is_retryable() {
                    "would retry"
                } else {
                    "would dead-letter"
                }
            );
            println!("error: {error}");
            Ok(ExitCode::from(1))
        }
    }
}

/// The first subject without wildcards, else the function's name.
fn default_subject(function: &Function) -> String {
    let subjects = &function.manifest().trigger.subjects;
    subjects
        .iter()
        .map(|s| s.as_str())
        .find(|s| !s.split('.').any(|t| t == "*" || t == ">"))
        .map_or_else(|| function.name().to_string(), str::to_owned)
}
