//! `sluice invoke`: one event through one function, no NATS: key-value calls use in-memory
//! buckets that start empty, requests fail.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use sluice_runtime::{Event, Function, InvokeError, Outcome, Runner, Services, SluiceEngine};

use super::UsageError;

/// The flags of `sluice invoke`.
pub struct Args {
    /// Function name (NAME.wasm in the functions folder).
    pub name: String,
    /// The event payload.
    pub data: String,
    /// Folder of NAME.wasm (+ NAME.toml) files.
    pub functions: PathBuf,
    /// Subject of the event; defaults to the function's first literal subject.
    pub subject: Option<String>,
    /// Headers, as NAME=VALUE.
    pub headers: Vec<String>,
    /// The delivery number the handler sees.
    pub attempt: u32,
    /// Where compiled components are cached.
    pub state_dir: PathBuf,
}

/// Loads the function, runs the event through it and prints the outcome; exit code 1 if the
/// event would be retried or dead-lettered.
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
            let (name, value) = super::split_header(pair)?;
            Ok((name.to_owned(), value.to_owned()))
        })
        .collect::<Result<Vec<_>, UsageError>>()?;
    let engine = Arc::new(SluiceEngine::new()?.with_cache(args.state_dir.join("cache")));
    let function = tokio::task::block_in_place(|| Function::load(&engine, &wasm))
        .map_err(|e| UsageError(e.to_string()))?;
    let subject = args.subject.unwrap_or_else(|| default_subject(&function));
    let event = Arc::new(Event::new(subject, args.data.into_bytes().into(), headers, None));
    if let Err(mismatch) = function.check_schema(&event) {
        println!("outcome: schema_mismatch (a host would dead-letter it; the handler did not run)");
        println!("error: {mismatch}");
        return Ok(ExitCode::from(1));
    }
    // Key-value calls work on empty in-memory buckets; requests fail (there is no NATS).
    let max_attempts = function.manifest().retry.max_attempts.get();
    let runner = Runner::new(engine, Arc::new(function), Arc::new(Services::in_memory()));
    let outcome = runner.invoke(&event, args.attempt).await;
    Ok(print_outcome(outcome, args.attempt, max_attempts))
}

/// Prints what the handler did: the messages it would publish, or why it failed and what a
/// host would do next.
fn print_outcome(outcome: Outcome, attempt: u32, max_attempts: u32) -> ExitCode {
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
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("outcome: {}", failure(&error, attempt, max_attempts));
            println!("error: {error}");
            ExitCode::from(1)
        }
    }
}

/// What a host would do after attempt `attempt` of `max_attempts` failed with `error`:
/// `retryable (a host would retry: attempt 1 of 3)`,
/// `exhausted (a host would dead-letter it: attempt 3 of 3 was the last)`.
fn failure(error: &InvokeError, attempt: u32, max_attempts: u32) -> String {
    let reason = error.reason();
    if !error.is_retryable() {
        return format!("{reason} (a host would dead-letter it without retrying)");
    }
    if attempt < max_attempts {
        let what = match error {
            InvokeError::Retryable { .. } | InvokeError::Instantiate(_) => "retryable".to_owned(),
            _ => format!("{reason}, retryable"),
        };
        return format!("{what} (a host would retry: attempt {attempt} of {max_attempts})");
    }
    format!("{reason} (a host would dead-letter it: attempt {attempt} of {max_attempts} was the last)")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_say_what_a_host_would_do() {
        let retryable = InvokeError::Retryable {
            message: "db down".into(),
            retry_after: None,
        };
        assert_eq!(
            failure(&retryable, 1, 3),
            "retryable (a host would retry: attempt 1 of 3)"
        );
        assert_eq!(
            failure(&retryable, 3, 3),
            "exhausted (a host would dead-letter it: attempt 3 of 3 was the last)"
        );
        let timeout = InvokeError::Timeout(std::time::Duration::from_secs(1));
        assert_eq!(
            failure(&timeout, 2, 5),
            "timeout, retryable (a host would retry: attempt 2 of 5)"
        );
        let permanent = InvokeError::Permanent {
            message: "bad".into(),
        };
        assert_eq!(
            failure(&permanent, 1, 3),
            "permanent (a host would dead-letter it without retrying)"
        );
    }
}
