//! `sluice dlq debug`: a dead letter's last attempt run again offline from its transcript, to
//! see exactly why it failed, or whether a new version (`--with`) handles it; and the check
//! behind `sluice dlq replay --verify`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sluice_runtime::dlq::{DeadLetter, DeadLetterQueue};
use sluice_runtime::transcript::Transcript;
use sluice_runtime::{Function, Manifest, Services, SluiceEngine, rerun};

use super::UsageError;
use super::dlq_report::{RerunOf, as_json, describe};

/// What `sluice dlq debug` runs.
pub struct DebugArgs<'a> {
    /// The function's name.
    pub name: &'a str,
    /// Its folder (NAME.wasm, NAME.toml).
    pub functions: &'a Path,
    /// The dead letter's sequence, read from the stream; `None` with `saved`.
    pub sequence: Option<u64>,
    /// A file `--save` wrote, read instead of the stream.
    pub saved: Option<&'a Path>,
    /// Where to write the dead letter and its transcript, for a later `--transcript FILE`.
    pub save: Option<&'a Path>,
    /// A new version to run instead of the function's own component.
    pub with: Option<&'a Path>,
    /// Answer calls the transcript lacks for real.
    pub live: bool,
    /// Print JSON instead of text.
    pub json: bool,
    /// Where compiled components are cached.
    pub cache: PathBuf,
}

/// What the report says of the dead letter.
#[derive(Debug, Serialize, Deserialize)]
pub struct Letter {
    /// Its stream sequence.
    pub sequence: u64,
    /// `Sluice-Dlq-Reason`.
    pub reason: String,
    /// `Sluice-Dlq-Error`.
    pub error: String,
    /// `Sluice-Attempts`.
    pub attempts: u32,
    /// `Sluice-Dead-Lettered-At`.
    pub dead_lettered_at: String,
}

impl From<&DeadLetter> for Letter {
    fn from(letter: &DeadLetter) -> Self {
        Self {
            sequence: letter.sequence,
            reason: letter.reason.clone(),
            error: letter.error.clone(),
            attempts: letter.attempts,
            dead_lettered_at: letter.dead_lettered_at.clone(),
        }
    }
}

/// What `--save` writes: the dead letter and its transcript, enough to debug without NATS.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    dead_letter: Letter,
    transcript: Transcript,
}

/// Runs `args`: reads the dead letter and its transcript (from `queue`, or the file `--save`
/// wrote), runs the attempt again and prints what happened. `client` reaches NATS for
/// `--live`. Exits 0 when the rerun failed the same way (or, `--with`, handled the event), 1
/// otherwise.
pub async fn debug(
    queue: Option<&DeadLetterQueue>,
    client: Option<&async_nats::Client>,
    args: DebugArgs<'_>,
) -> anyhow::Result<ExitCode> {
    let Saved {
        dead_letter: letter,
        transcript,
    } = read(queue, &args).await?;
    if let Some(file) = args.save {
        let saved = serde_json::to_vec_pretty(&json!({"dead_letter": &letter, "transcript": &transcript}))?;
        std::fs::write(file, saved)
            .map_err(|error| UsageError(format!("cannot write {}: {error}", file.display())))?;
    }
    if transcript.function != args.name {
        return Err(UsageError(format!(
            "the transcript is of function {}, not {}",
            transcript.function, args.name
        ))
        .into());
    }
    let engine = Arc::new(SluiceEngine::new()?.with_cache(args.cache.clone()));
    let (component, function) = load(&engine, args.name, args.functions, args.with)?;
    let services = match client {
        Some(client) if args.live => {
            let js = async_nats::jetstream::new(client.clone());
            Arc::new(Services::live(&js, client, args.name, function.manifest()).await?)
        }
        _ => Arc::new(Services::in_memory()),
    };
    let transcript = Arc::new(transcript);
    let rerun = rerun(engine, function.clone(), transcript.clone(), services, args.live).await?;
    let success = match args.with {
        Some(_) => rerun.handled(),
        None => rerun.reproduces(&transcript),
    };
    let rerun_of = RerunOf {
        component: &component,
        version: function.version(),
        new: args.with.is_some(),
        live: args.live,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&as_json(&letter, &transcript, &rerun, &rerun_of))?
        );
    } else {
        print!("{}", describe(&letter, &transcript, &rerun, &rerun_of));
    }
    Ok(if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The dead letter and its transcript: from the file `--save` wrote, or from the stream.
async fn read(queue: Option<&DeadLetterQueue>, args: &DebugArgs<'_>) -> anyhow::Result<Saved> {
    if let Some(file) = args.saved {
        let text = std::fs::read(file)
            .map_err(|error| UsageError(format!("cannot read {}: {error}", file.display())))?;
        let saved = serde_json::from_slice(&text).map_err(|error| {
            UsageError(format!(
                "{} is not a transcript `sluice dlq debug --save` wrote: {error}",
                file.display()
            ))
        })?;
        return Ok(saved);
    }
    let (Some(queue), Some(sequence)) = (queue, args.sequence) else {
        return Err(UsageError("give the dead letter's sequence (SEQ) or --transcript FILE".into()).into());
    };
    let letter = queue.letter(sequence).await?;
    let Some(transcript) = queue.transcript(&letter).await? else {
        return Err(UsageError(no_transcript(args.name, sequence)).into());
    };
    Ok(Saved {
        dead_letter: Letter::from(&letter),
        transcript,
    })
}

/// Which dead letters a new version handles: for each of `letters`, `None` when running its
/// transcript with `new` handles the event, else why the letter must stay.
pub async fn verify(
    queue: &DeadLetterQueue,
    name: &str,
    functions: &Path,
    new: &Path,
    letters: &[DeadLetter],
    cache: PathBuf,
) -> anyhow::Result<Vec<(u64, Option<String>)>> {
    let engine = Arc::new(SluiceEngine::new()?.with_cache(cache));
    let (_, function) = load(&engine, name, functions, Some(new))?;
    let mut verdicts = Vec::new();
    for letter in letters {
        let why = match queue.transcript(letter).await? {
            None => Some(format!(
                "--verify: no transcript was kept, so {} cannot be checked",
                new.display()
            )),
            Some(transcript) => {
                let services = Arc::new(Services::in_memory());
                let rerun = rerun(
                    engine.clone(),
                    function.clone(),
                    Arc::new(transcript),
                    services,
                    false,
                )
                .await?;
                match (&rerun.outcome, rerun.diverged()) {
                    (_, Some(diverged)) => Some(format!("--verify: {} diverged: {diverged}", new.display())),
                    (Err(error), None) => Some(format!("--verify: {} still fails: {error}", new.display())),
                    (Ok(_), None) => None,
                }
            }
        };
        verdicts.push((letter.sequence, why));
    }
    Ok(verdicts)
}

/// Why there is nothing to debug.
fn no_transcript(name: &str, sequence: u64) -> String {
    format!(
        "dead letter {sequence} of {name} has no transcript: it was not recorded (dead_letter.transcript is on by default only for JetStream functions; a batch function's attempts and dead letters written before the handler ran have none), or the transcript stream's limits dropped it"
    )
}

/// The component to run and the function made of it: `NAME.wasm` of the folder, or `new`
/// with `new`'s own manifest beside it, else the folder's `NAME.toml`.
fn load(
    engine: &SluiceEngine,
    name: &str,
    functions: &Path,
    new: Option<&Path>,
) -> anyhow::Result<(PathBuf, Arc<Function>)> {
    let wasm = new.map_or_else(|| functions.join(format!("{name}.wasm")), Path::to_owned);
    if !wasm.is_file() {
        return Err(UsageError(format!("{} does not exist", wasm.display())).into());
    }
    let own_manifest = wasm.with_extension("toml");
    let function = if new.is_none() || own_manifest.is_file() {
        tokio::task::block_in_place(|| Function::load(engine, &wasm))
    } else {
        let file = functions.join(format!("{name}.toml"));
        let manifest = match file.is_file() {
            true => Manifest::from_file(name, &file),
            false => Manifest::default_for(name),
        }
        .map_err(|error| UsageError(format!("{error:#}")))?;
        let bytes = std::fs::read(&wasm)?;
        tokio::task::block_in_place(|| Function::from_parts(engine, name, manifest, &bytes, &wasm))
    }
    .map_err(|error| UsageError(error.to_string()))?;
    Ok((wasm, Arc::new(function)))
}
