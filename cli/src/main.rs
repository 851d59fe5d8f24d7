//! The `sluice` command: flags in, a library call, a signal, out. See `sluice --help`.
//!
//! [`commands`] has one file per subcommand, each a thin caller of the `sluice-runtime`
//! library. Beside them is what only the command line needs: [`rebuild`], the build loop of
//! `sluice dev` (find function crates, build them, deploy into the folder the host watches),
//! and [`scaffold`], `sluice new`'s templates.

#[cfg_attr(not(feature = "count-allocations"), allow(dead_code))]
mod alloc_count;
mod commands;
mod logging;
mod rebuild;
mod scaffold;

use std::process::ExitCode;

use clap::Parser;

/// Every event allocates from several threads at once (NATS client, executor workers);
/// mimalloc's per-thread heaps avoid glibc's arena lock contention (see BENCHMARKS.md).
#[cfg(not(feature = "count-allocations"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The same, counted for the host-path benchmark (see [`alloc_count`]).
#[cfg(feature = "count-allocations")]
#[global_allocator]
static ALLOCATOR: alloc_count::Counting<mimalloc::MiMalloc> = alloc_count::Counting::new(mimalloc::MiMalloc);

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    let log = logging::init(cli.verbose, cli.log_format, cli.command.runs_a_host());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    #[cfg(feature = "count-allocations")]
    {
        let _entered = runtime.enter();
        alloc_count::report_on_sigusr1(&ALLOCATOR);
    }
    let outcome = runtime.block_on(commands::run(cli.command));
    // The log's last lines go out before the error that ends the command.
    drop(log);
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(error.downcast_ref::<commands::UsageError>().map_or(1, |_| 2))
        }
    }
}
