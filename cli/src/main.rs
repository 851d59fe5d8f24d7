//! The `sluice` command: flags in, a library call, a signal, out. See `sluice --help`.
//!
//! [`commands`] has one file per subcommand, each a thin caller of the `sluice-runtime`
//! library. Beside them is what only the command line needs: [`rebuild`], the build loop of
//! `sluice dev` (find function crates, build them, deploy into the folder the host watches),
//! and [`scaffold`], `sluice new`'s templates.

mod commands;
mod rebuild;
mod scaffold;

use std::process::ExitCode;

use clap::Parser;

/// Every event allocates from several threads at once (NATS client, executor workers);
/// mimalloc's per-thread heaps avoid glibc's arena lock contention (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    init_tracing(cli.verbose, cli.log_format, cli.command.runs_a_host());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(error.downcast_ref::<commands::UsageError>().map_or(1, |_| 2))
        }
    }
}

/// Logs to stderr: at info for commands that run functions (`up`, `dev`, `invoke`), at warn
/// for the others (their output is what they print), at debug with `--verbose`.
fn init_tracing(verbose: bool, format: commands::LogFormat, host: bool) {
    let default = match (verbose, host) {
        (true, _) => "sluice=debug,sluice_runtime=debug,info",
        (false, true) => "info",
        (false, false) => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        commands::LogFormat::Text => logs.init(),
        // Span fields (function, subject, event_id, correlation_id, attempt) are in "span".
        commands::LogFormat::Json => logs.json().with_current_span(true).with_span_list(false).init(),
    }
}
