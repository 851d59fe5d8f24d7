//! The subcommands. Each parses nothing itself: clap did that; each calls the library.

mod check;
mod invoke;
mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Sluice runs NATS events through sandboxed WebAssembly component functions.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
pub struct Cli {
    /// Log more (or set SLUICE_LOG, e.g. SLUICE_LOG=sluice_runtime=debug).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A `sluice` subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the host: deploy every function in the folder and handle their events.
    Up {
        /// Folder of NAME.wasm (+ NAME.toml) files.
        #[arg(long, default_value = "functions")]
        functions: PathBuf,
        /// NATS server URL. Without it, uses nats://127.0.0.1:4222 if a server answers there,
        /// else starts a local nats-server and stops it on exit.
        #[arg(long)]
        nats: Option<String>,
        /// Where a local nats-server keeps its data.
        #[arg(long, default_value = ".sluice")]
        state_dir: PathBuf,
        /// Seconds to let in-flight events finish on shutdown.
        #[arg(long, default_value_t = 30)]
        grace: u64,
    },
    /// Validate every manifest and component in a folder; exit non-zero on a problem.
    Check {
        /// Folder of NAME.wasm (+ NAME.toml) files.
        #[arg(default_value = "functions")]
        dir: PathBuf,
    },
    /// Run one event through a function without NATS and print what happened.
    Invoke {
        /// Function name (NAME.wasm in the functions folder).
        name: String,
        /// The event payload (usually JSON).
        #[arg(long)]
        data: String,
        /// Folder of NAME.wasm (+ NAME.toml) files.
        #[arg(long, default_value = "functions")]
        functions: PathBuf,
        /// Subject of the event; defaults to the function's first literal subject.
        #[arg(long)]
        subject: Option<String>,
        /// A header, as NAME=VALUE; repeatable.
        #[arg(long = "header", value_name = "NAME=VALUE")]
        headers: Vec<String>,
        /// The delivery number the handler sees.
        #[arg(long, default_value_t = 1)]
        attempt: u32,
    },
}

/// A mistake in how sluice was called or configured (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs `command`.
pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Up {
            functions,
            nats,
            state_dir,
            grace,
        } => up::run(functions, nats, state_dir, grace).await,
        Command::Check { dir } => check::run(&dir).await,
        Command::Invoke {
            name,
            data,
            functions,
            subject,
            headers,
            attempt,
        } => {
            invoke::run(invoke::Args {
                name,
                data,
                functions,
                subject,
                headers,
                attempt,
            })
            .await
        }
    }
}
